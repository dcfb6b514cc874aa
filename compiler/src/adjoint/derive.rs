//! The reverse sweep: from a step program, the adjoint step program. It recomputes the forward
//! step from the taped states, then walks the instructions backwards accumulating adjoints
//! (`λ`), using declared partial derivatives for custom calls.

use std::collections::HashMap;

use super::rules::pullback;
use super::{AdjointProgram, Marks};
use crate::step::{Op, StateId, StepProgram, ValueId};
use crate::sym::Builder;

/// Derives the adjoint of `forward`.
pub fn derive(forward: &StepProgram) -> AdjointProgram {
    derive_with(forward, false)
}

/// Derives the adjoint; with `inputs_active` also the adjoints of the inputs (what a module
/// sends back to the module before it — used when printing one module's adjoint).
pub fn derive_with(forward: &StepProgram, inputs_active: bool) -> AdjointProgram {
    let mut builder = Builder::like(forward);
    // 1. Recompute the forward step, except the states' new values, which the forward pass
    //    taped: `h⁺ = tanh(x @ w_in + h @ w_rec)` is read, not recomputed, so its recurrent
    //    product disappears from the backward step unless something else needs it.
    let mut taped: HashMap<ValueId, StateId> = HashMap::new();
    for (index, update) in forward.state_updates.iter().enumerate() {
        if !forward.inst(*update).op.operands().is_empty() {
            taped.entry(*update).or_insert(StateId(index as u32));
        }
    }
    let mut recomputed: Vec<ValueId> = Vec::with_capacity(forward.insts.len());
    for (index, inst) in forward.insts.iter().enumerate() {
        let op = match taped.get(&ValueId(index as u32)) {
            Some(state) => Op::NextState(*state),
            None => inst.op.map_operands(|v| recomputed[v.index()]),
        };
        recomputed.push(builder.emit(op, inst.shape));
    }
    // 2. Which values depend on parameters or states (only those need adjoints), and which on
    //    states (for the feed-forward marks).
    let mut active = vec![false; forward.insts.len()];
    let mut stateful = vec![false; forward.insts.len()];
    for (index, inst) in forward.insts.iter().enumerate() {
        let operands = inst.op.operands();
        active[index] = matches!(inst.op, Op::Param(_) | Op::State(_))
            || (inputs_active && matches!(inst.op, Op::Input(_)))
            || operands.iter().any(|v| active[v.index()]);
        stateful[index] = matches!(inst.op, Op::State(_)) || operands.iter().any(|v| stateful[v.index()]);
    }
    let mut sweep = Sweep {
        builder,
        lambda: HashMap::new(),
        param_grads: vec![None; forward.params.len()],
        state_adjoints: vec![None; forward.states.len()],
        input_adjoints: vec![None; forward.inputs.len()],
        weight_gradients: Vec::new(),
    };
    // 3. Seeds: the loss's ∂L/∂output[t] and the adjoints of the new states.
    for (index, output) in forward.outputs.iter().enumerate() {
        if active[output.index()] {
            let seed = sweep.builder.emit(Op::Seed(index as u32), forward.shape(*output));
            sweep.accumulate(forward, *output, seed);
        }
    }
    for (index, update) in forward.state_updates.iter().enumerate() {
        if active[update.index()] {
            let state = crate::step::StateId(index as u32);
            let seed = sweep.builder.emit(Op::StateAdjoint(state), forward.states[index].shape);
            sweep.accumulate(forward, *update, seed);
        }
    }
    let custom: HashMap<ValueId, &crate::step::CustomCall> =
        forward.custom_calls.iter().map(|c| (c.result, c)).collect();
    // 4. The reverse sweep.
    for index in (0..forward.insts.len()).rev() {
        let value = ValueId(index as u32);
        let Some(lambda) = sweep.lambda.remove(&value) else { continue };
        let inst = forward.insts[index];
        match inst.op {
            Op::Param(param) => {
                let slot = &mut sweep.param_grads[param.0 as usize];
                *slot = Some(match *slot {
                    Some(sum) => sweep.builder.add(sum, lambda),
                    None => lambda,
                });
                continue;
            }
            Op::Input(input) => {
                let slot = &mut sweep.input_adjoints[input as usize];
                *slot = Some(match *slot {
                    Some(sum) => sweep.builder.add(sum, lambda),
                    None => lambda,
                });
                continue;
            }
            Op::State(state) => {
                let slot = &mut sweep.state_adjoints[state.0 as usize];
                *slot = Some(match *slot {
                    Some(sum) => sweep.builder.add(sum, lambda),
                    None => lambda,
                });
                continue;
            }
            _ => {}
        }
        if let Some(call) = custom.get(&value) {
            // Declared derivatives replace the body's.
            for (arg, partial) in call.args.iter().zip(&call.partials) {
                if let Some(partial) = partial
                    && active[arg.index()]
                {
                    let contribution = sweep.builder.mul(lambda, recomputed[partial.index()]);
                    sweep.accumulate(forward, *arg, contribution);
                }
            }
            continue;
        }
        let operands: Vec<ValueId> = inst.op.operands();
        let mapped: Vec<ValueId> = operands.iter().map(|v| recomputed[v.index()]).collect();
        for (position, contribution) in pullback(&mut sweep.builder, inst.op, recomputed[index], &mapped, lambda) {
            let operand = operands[position];
            if active[operand.index()] {
                if let (Op::VecMat(..) | Op::VecMatT(..), Op::Param(_)) = (inst.op, forward.inst(operand).op) {
                    sweep.weight_gradients.push(contribution);
                }
                sweep.accumulate(forward, operand, contribution);
            }
        }
    }
    let Sweep { mut builder, mut param_grads, state_adjoints, input_adjoints, weight_gradients, .. } = sweep;
    let state_adjoints: Vec<ValueId> = state_adjoints
        .iter()
        .zip(&forward.states)
        .map(|(value, state)| value.unwrap_or_else(|| builder.filled(0.0, state.shape)))
        .collect();
    // 5. Gradient terms linear in a product used nowhere else get the product deferred to
    //    after the loop (see `contract`).
    for index in 0..param_grads.len() {
        let Some(root) = param_grads[index] else { continue };
        let mut roots: Vec<ValueId> = state_adjoints.clone();
        roots.extend(param_grads.iter().flatten());
        roots.extend(input_adjoints.iter().flatten());
        roots.extend(weight_gradients.iter());
        let uses = super::contract::live_uses(&builder.program, &roots);
        param_grads[index] = Some(super::contract::contract(&mut builder, root, &uses));
    }
    let feedforward = forward
        .insts
        .iter()
        .enumerate()
        .filter(|(index, inst)| matches!(inst.op, Op::VecMat(..)) && !stateful[*index])
        .map(|(index, _)| ValueId(index as u32))
        .collect();
    let mut program = builder.program;
    program.state_updates = state_adjoints;
    // Keep only what the adjoints and gradients need (the forward recomputation shrinks to
    // the values the reverse sweep reads).
    let mut roots: Vec<ValueId> = param_grads.iter().flatten().copied().collect();
    roots.extend(input_adjoints.iter().flatten().copied());
    roots.extend(weight_gradients.iter().copied());
    let (program, kept) = crate::sym::eliminate_dead_code(&program, &roots);
    let mut kept = kept.into_iter();
    let mut next = || kept.next().unwrap_or(ValueId(0));
    let param_grads: Vec<Option<ValueId>> = param_grads.iter().map(|g| g.map(|_| next())).collect();
    let input_adjoints: Vec<Option<ValueId>> = input_adjoints.iter().map(|g| g.map(|_| next())).collect();
    let weight_gradients: Vec<ValueId> = weight_gradients.iter().map(|_| next()).collect();
    let state_adjoints = program.state_updates.clone();
    AdjointProgram {
        program,
        state_adjoints,
        param_grads,
        input_adjoints,
        marks: Marks { weight_gradients, feedforward },
    }
}

struct Sweep {
    builder: Builder,
    lambda: HashMap<ValueId, ValueId>,
    param_grads: Vec<Option<ValueId>>,
    state_adjoints: Vec<Option<ValueId>>,
    input_adjoints: Vec<Option<ValueId>>,
    weight_gradients: Vec<ValueId>,
}

impl Sweep {
    /// Adds `contribution` to the adjoint of forward value `value`, summed to its shape.
    fn accumulate(&mut self, forward: &StepProgram, value: ValueId, contribution: ValueId) {
        let shape = forward.shape(value);
        let contribution = self.builder.fit(contribution, shape);
        let total = match self.lambda.get(&value) {
            Some(sum) => self.builder.add(*sum, contribution),
            None => contribution,
        };
        self.lambda.insert(value, total);
    }
}
