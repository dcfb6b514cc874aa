//! Values carried from one step to the next instead of recomputed. A value `f(x)` of the
//! states (and loop invariants) that the step also computes for the new states, `f(x⁺)`, is the
//! same number one step apart: the forward loop computes `f(x⁺)` at step t and reads it as
//! `f(x)` at step t + 1; the backward loop, which runs from the last step down, computes
//! `f(x)` at step t + 1 and reads it as `f(x⁺)` at step t. A Rate neuron's `tanh(x − θ)` (its
//! output and the input of its recurrent product) is computed once per step instead of twice,
//! in both loops.
//!
//! Generated code computes the carried value once before the loop from the first step's states
//! (the prologue) and reads it from its scratch slot at every step. The value produced for the
//! next step is written straight into that slot where nothing of the step reads the carried
//! value after it is produced ([`in_place`]: a Rate's forward step); else it is copied there at
//! the end of each step.

use std::collections::HashMap;

use crate::step::{Op, StepProgram, UnaryOp, ValueId};
use crate::sym::{Key, key};

/// One carried value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Carry {
    /// Read from its slot at every step (computed only by the prologue).
    pub carried: ValueId,
    /// Computed at every step and copied into the carried value's slot for the next step.
    pub produced: ValueId,
}

/// The carries of a forward program (`forward`: new states are its `state_updates`) or an
/// adjoint program (new states are its `NextState` reads). Only values worth it: elementwise
/// transcendental functions (a few dozen instructions per vector) whose both forms `needed`
/// marks; `invariant` marks the loop invariants.
pub fn carries(program: &StepProgram, invariant: &[bool], needed: &[bool], forward: bool) -> Vec<Carry> {
    let table = values_by_key(program);
    // shift[v]: the value computing v's expression on the new states, if the program has one.
    let mut shift: Vec<Option<ValueId>> = vec![None; program.insts.len()];
    for (index, inst) in program.insts.iter().enumerate() {
        shift[index] = match inst.op {
            _ if invariant[index] => Some(ValueId(index as u32)),
            Op::State(state) if forward => program.state_updates.get(state.0 as usize).copied(),
            Op::State(state) => table.get(&key(&Op::NextState(state), inst.shape)).copied(),
            Op::Input(_) | Op::Noise(_) | Op::Seed(_) | Op::StateAdjoint(_) | Op::NextState(_) => None,
            op => {
                let operands = op.operands();
                if operands.iter().all(|v| shift[v.index()].is_some()) {
                    let moved = op.map_operands(|v| shift[v.index()].unwrap_or(v));
                    table.get(&key(&moved, inst.shape)).copied()
                } else {
                    None
                }
            }
        };
    }
    let mut list = Vec::new();
    for (index, inst) in program.insts.iter().enumerate() {
        let worth =
            matches!(inst.op, Op::Unary(UnaryOp::Tanh | UnaryOp::Exp | UnaryOp::Log | UnaryOp::Sin | UnaryOp::Cos, _));
        let Some(moved) = shift[index] else { continue };
        if !worth || invariant[index] || moved.index() == index || !needed[index] || !needed[moved.index()] {
            continue;
        }
        let this = ValueId(index as u32);
        let carry =
            if forward { Carry { carried: this, produced: moved } } else { Carry { carried: moved, produced: this } };
        // One carry per value (a value is carried or produced at most once).
        if !list
            .iter()
            .any(|c: &Carry| [c.carried, c.produced].iter().any(|v| *v == carry.carried || *v == carry.produced))
        {
            list.push(carry);
        }
    }
    list
}

/// The first value of `program` computing each expression (by [`key`]): where a rewrite finds
/// an instruction it would otherwise add.
pub fn values_by_key(program: &StepProgram) -> HashMap<Key, ValueId> {
    let mut table = HashMap::new();
    for (index, inst) in program.insts.iter().enumerate() {
        table.entry(key(&inst.op, inst.shape)).or_insert(ValueId(index as u32));
    }
    table
}

/// Whether `carry`'s produced value may be written into the carried value's slot: the step's
/// instructions (`order`, the order generated code computes them in, see
/// [`super::schedule`]) read the carried value only before the one producing the new value,
/// and the end of the step (which reads `roots`) does not read it.
pub fn in_place(program: &StepProgram, order: &[ValueId], roots: &[ValueId], carry: Carry) -> bool {
    let reads_carried = |value: &ValueId| program.inst(*value).op.operands().contains(&carry.carried);
    let produced_at = order.iter().position(|v| *v == carry.produced);
    !roots.contains(&carry.carried) && produced_at.is_some_and(|at| !order[at..].iter().any(reads_carried))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step::{BinaryOp, ParamId, ParamSlot, Shape, StateId, StateInit, StateSlot};

    /// `x⁺ = x + tanh(x − θ)`, output `tanh(x⁺ − θ)`; the adjoint form reads `x⁺` as NextState.
    fn rate_like(forward: bool) -> (StepProgram, ValueId, ValueId) {
        let mut p = StepProgram {
            params: vec![ParamSlot { name: "theta".into(), shape: Shape::Vector(4) }],
            states: vec![StateSlot { name: "x".into(), shape: Shape::Vector(4), init: StateInit::Constant(0.0) }],
            ..StepProgram::default()
        };
        let v4 = Shape::Vector(4);
        let theta = p.push(Op::Param(ParamId(0)), v4);
        let x = p.push(Op::State(StateId(0)), v4);
        let d = p.push(Op::Binary(BinaryOp::Sub, x, theta), v4);
        let t = p.push(Op::Unary(UnaryOp::Tanh, d), v4);
        let next =
            if forward { p.push(Op::Binary(BinaryOp::Add, x, t), v4) } else { p.push(Op::NextState(StateId(0)), v4) };
        let d2 = p.push(Op::Binary(BinaryOp::Sub, next, theta), v4);
        let t2 = p.push(Op::Unary(UnaryOp::Tanh, d2), v4);
        p.state_updates.push(next);
        p.outputs.push(t2);
        (p, t, t2)
    }

    /// Every value, in program order.
    fn all(p: &StepProgram) -> Vec<ValueId> {
        (0..p.insts.len() as u32).map(ValueId).collect()
    }

    fn invariant(p: &StepProgram) -> Vec<bool> {
        p.insts.iter().map(|i| matches!(i.op, Op::Param(_) | Op::Const(_))).collect()
    }

    #[test]
    fn the_forward_carries_f_of_the_new_state_to_the_next_step() {
        let (p, t, t2) = rate_like(true);
        let all = vec![true; p.insts.len()];
        assert_eq!(carries(&p, &invariant(&p), &all, true), vec![Carry { carried: t, produced: t2 }]);
    }

    #[test]
    fn the_backward_carries_f_of_the_state_to_the_step_before() {
        let (p, t, t2) = rate_like(false);
        let all = vec![true; p.insts.len()];
        assert_eq!(carries(&p, &invariant(&p), &all, false), vec![Carry { carried: t2, produced: t }]);
    }

    #[test]
    fn a_carry_is_in_place_only_if_nothing_reads_the_old_value_after_the_new_one() {
        // Forward: `tanh(x − θ)` is read by `x + t` before `tanh(x⁺ − θ)` is produced.
        let (p, t, t2) = rate_like(true);
        let carry = Carry { carried: t, produced: t2 };
        assert!(in_place(&p, &all(&p), &[], carry));
        // Not if the end of the step reads the old value, or an instruction after the new one.
        assert!(!in_place(&p, &all(&p), &[t], carry));
        let mut late = p.clone();
        late.push(Op::Binary(BinaryOp::Mul, t, t2), Shape::Vector(4));
        assert!(!in_place(&late, &all(&late), &[], carry));
        // Nor if the step does not compute the new value at all.
        assert!(!in_place(&p, &[t], &[], carry));
        // Backward: the old value `tanh(x⁺ − θ)` is produced after the new `tanh(x − θ)`, and
        // read by the output only after that.
        let (p, t, t2) = rate_like(false);
        let mut reads = p.clone();
        reads.push(Op::Binary(BinaryOp::Mul, t2, t2), Shape::Vector(4));
        assert!(!in_place(&reads, &all(&reads), &[], Carry { carried: t2, produced: t }));
    }

    #[test]
    fn values_of_the_input_or_unneeded_ones_are_not_carried() {
        let (mut p, t, _) = rate_like(true);
        let mut needed = vec![true; p.insts.len()];
        needed[t.index()] = false;
        assert!(carries(&p, &invariant(&p), &needed, true).is_empty());
        // The same shape of program where θ is an input: no longer a function of the state.
        p.insts[0].op = Op::Input(0);
        p.inputs = vec![4];
        let all = vec![true; p.insts.len()];
        assert!(carries(&p, &invariant(&p), &all, true).is_empty());
    }
}
