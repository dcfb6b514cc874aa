//! Outputs computed one step late. An output that depends only on the states' new values and
//! loop invariants, `y[t] = g(x⁺)` (a Rate layer's readout `tanh(x⁺ − θ) @ W_out`, a tanh
//! RNN's `h⁺ @ W_out`), equals `g(x)` at step t + 1, where `g(x)` often shares its work with
//! the step itself (the Rate's `tanh(x − θ)` feeds its recurrent product). The forward loop
//! then computes output t − 1 at step t, beside the recurrent product rather than after the
//! `tanh` that the next step's product waits for (measured: A's forward 0.350 → 0.323 ms with
//! the readout moved next to the product), and after the loop computes the last output from
//! the final states (see `function::build`).

use crate::step::{Op, StateId, StepProgram, ValueId};
use crate::sym::key;

/// `program` with every output computed from the states instead of their new values, when
/// each output can be (it reads the new states, and no inputs, noise or current states); the
/// extra instructions are appended. `None` when some output cannot.
pub fn skew_outputs(program: &StepProgram) -> Option<StepProgram> {
    if program.outputs.is_empty() || program.state_updates.is_empty() {
        return None;
    }
    let mut out = program.clone();
    let mut table = super::carry::values_by_key(program);
    // shifted[v]: the value computing v's expression with each new state replaced by the
    // state; `reads_new[v]`: whether v's expression reads a new state at all.
    let mut shifted: Vec<Option<ValueId>> = vec![None; program.insts.len()];
    let mut reads_new = vec![false; program.insts.len()];
    for (index, inst) in program.insts.iter().enumerate() {
        let value = ValueId(index as u32);
        let mut find_or_push = |op: Op| {
            let k = key(&op, inst.shape);
            *table.entry(k).or_insert_with(|| out.push(op, inst.shape))
        };
        if let Some(state) = program.state_updates.iter().position(|u| *u == value) {
            shifted[index] = Some(find_or_push(Op::State(StateId(state as u32))));
            reads_new[index] = true;
            continue;
        }
        shifted[index] = match inst.op {
            Op::Input(_) | Op::Noise(_) | Op::State(_) | Op::Seed(_) | Op::StateAdjoint(_) | Op::NextState(_) => None,
            Op::Const(_) | Op::Param(_) => Some(value),
            op => {
                let operands = op.operands();
                reads_new[index] = operands.iter().any(|o| reads_new[o.index()]);
                if !reads_new[index] && operands.iter().all(|o| shifted[o.index()] == Some(*o)) {
                    Some(value)
                } else if operands.iter().all(|o| shifted[o.index()].is_some()) {
                    Some(find_or_push(op.map_operands(|o| shifted[o.index()].unwrap_or(o))))
                } else {
                    None
                }
            }
        };
    }
    let outputs: Option<Vec<ValueId>> =
        program.outputs.iter().map(|o| if reads_new[o.index()] { shifted[o.index()] } else { None }).collect();
    out.outputs = outputs?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step::{BinaryOp, ParamId, ParamSlot, Shape, StateInit, StateSlot, UnaryOp, verify};

    /// `x⁺ = x + u`, output `tanh(x⁺ − θ) @ W`; with `input_in_output`, output `+ u` as well.
    fn readout(input_in_output: bool) -> StepProgram {
        let v = Shape::Vector(4);
        let mut p = StepProgram {
            params: vec![
                ParamSlot { name: "theta".into(), shape: v },
                ParamSlot { name: "w".into(), shape: Shape::Matrix(4, 2) },
            ],
            states: vec![StateSlot { name: "x".into(), shape: v, init: StateInit::Constant(0.0) }],
            inputs: vec![4],
            ..StepProgram::default()
        };
        let theta = p.push(Op::Param(ParamId(0)), v);
        let w = p.push(Op::Param(ParamId(1)), Shape::Matrix(4, 2));
        let x = p.push(Op::State(StateId(0)), v);
        let u = p.push(Op::Input(0), v);
        let next = p.push(Op::Binary(BinaryOp::Add, x, u), v);
        let d = p.push(Op::Binary(BinaryOp::Sub, next, theta), v);
        let t = p.push(Op::Unary(UnaryOp::Tanh, d), v);
        let t = if input_in_output { p.push(Op::Binary(BinaryOp::Add, t, u), v) } else { t };
        let y = p.push(Op::VecMat(t, w), Shape::Vector(2));
        p.state_updates.push(next);
        p.outputs.push(y);
        p
    }

    #[test]
    fn an_output_of_the_new_states_is_computed_from_the_states() {
        let p = readout(false);
        let skewed = skew_outputs(&p).expect("skewable");
        assert_eq!(verify(&skewed), Ok(()));
        // tanh(x − θ) @ W, x the state.
        let Op::VecMat(t, _) = skewed.inst(skewed.outputs[0]).op else { panic!() };
        let Op::Unary(UnaryOp::Tanh, d) = skewed.inst(t).op else { panic!() };
        let Op::Binary(BinaryOp::Sub, x, _) = skewed.inst(d).op else { panic!() };
        assert_eq!(skewed.inst(x).op, Op::State(StateId(0)));
        assert_eq!(skewed.state_updates, p.state_updates);
    }

    #[test]
    fn outputs_reading_the_input_stay() {
        assert!(skew_outputs(&readout(true)).is_none());
    }
}
