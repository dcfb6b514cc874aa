//! Division by a loop invariant as multiplication by its reciprocal: `a / τ` becomes
//! `a · (1/τ)`, with `1/τ` computed once before the loop. A vector division costs several times
//! a multiplication (and the divider is shared with `tanh`'s); τ-style parameters divide at
//! every step in most neuron models. A constant factor multiplying the quotient joins the
//! reciprocal (`k · (a / τ)` → `a · (k/τ)`) when the quotient has no other use.
//!
//! The result differs from the interpreter's by rounding only (at most two units in the last
//! place per division).

use crate::adjoint::AdjointProgram;
use crate::step::{BinaryOp, Op, Shape, StepProgram, ValueId};

/// `program` with the divisions rewritten, and the new id of every old value.
pub fn rewrite_program(program: &StepProgram) -> (StepProgram, Vec<ValueId>) {
    let mut uses = vec![0usize; program.insts.len()];
    for inst in &program.insts {
        for operand in inst.op.operands() {
            uses[operand.index()] += 1;
        }
    }
    let mut out = StepProgram { insts: Vec::new(), ..program.clone() };
    let mut invariant: Vec<bool> = Vec::new();
    let mut map: Vec<ValueId> = Vec::with_capacity(program.insts.len());
    // Old values rewritten as `a · k` with `k` invariant and used once: (a, k) in new ids.
    let mut scaled: Vec<Option<(ValueId, ValueId)>> = vec![None; program.insts.len()];
    let mut one = None;
    // One reciprocal per divisor (a parameter however many times the program reads it): A's
    // backward step divided by τ at three places, and loaded three copies of `1/τ`.
    let mut reciprocals: Vec<(Op, ValueId)> = Vec::new();
    for (index, inst) in program.insts.iter().enumerate() {
        let op = inst.op.map_operands(|v| map[v.index()]);
        let is_invariant = |invariant: &[bool], v: ValueId| invariant[v.index()];
        let new = match op {
            Op::Binary(BinaryOp::Div, a, b) if is_invariant(&invariant, b) && !is_invariant(&invariant, a) => {
                let one = *one.get_or_insert_with(|| push(&mut out, &mut invariant, Op::Const(1.0), Shape::Scalar));
                let shape = out.shape(b);
                // The divisor by what it reads: a parameter, else the value itself.
                let key = match out.inst(b).op {
                    Op::Param(param) => Op::Param(param),
                    _ => Op::Binary(BinaryOp::Div, one, b),
                };
                let reciprocal = match reciprocals.iter().find(|(k, r)| *k == key && out.shape(*r) == shape) {
                    Some((_, reciprocal)) => *reciprocal,
                    None => {
                        let reciprocal = push(&mut out, &mut invariant, Op::Binary(BinaryOp::Div, one, b), shape);
                        reciprocals.push((key, reciprocal));
                        reciprocal
                    }
                };
                if uses[index] == 1 {
                    scaled[index] = Some((a, reciprocal));
                }
                push(&mut out, &mut invariant, Op::Binary(BinaryOp::Mul, a, reciprocal), inst.shape)
            }
            Op::Binary(BinaryOp::Mul, x, y) => {
                let old = inst.op.operands();
                let factor = |k: ValueId, other: usize| match scaled[old[other].index()] {
                    Some((a, reciprocal)) if invariant[k.index()] => Some((a, reciprocal)),
                    _ => None,
                };
                match factor(x, 1).map(|s| (x, s)).or_else(|| factor(y, 0).map(|s| (y, s))) {
                    Some((k, (a, reciprocal))) => {
                        let shape = Shape::broadcast(out.shape(k), out.shape(reciprocal)).unwrap_or(inst.shape);
                        let joined = push(&mut out, &mut invariant, Op::Binary(BinaryOp::Mul, k, reciprocal), shape);
                        push(&mut out, &mut invariant, Op::Binary(BinaryOp::Mul, a, joined), inst.shape)
                    }
                    None => push(&mut out, &mut invariant, op, inst.shape),
                }
            }
            op => push(&mut out, &mut invariant, op, inst.shape),
        };
        map.push(new);
    }
    let remap = |v: &ValueId| map[v.index()];
    out.state_updates = program.state_updates.iter().map(remap).collect();
    out.outputs = program.outputs.iter().map(remap).collect();
    out.records = program.records.iter().map(|(name, v)| (name.clone(), map[v.index()])).collect();
    for call in &mut out.custom_calls {
        call.result = map[call.result.index()];
        call.args = call.args.iter().map(remap).collect();
        call.partials = call.partials.iter().map(|p| p.map(|v| map[v.index()])).collect();
    }
    (out, map)
}

/// `adjoint` with its program's divisions rewritten (its value lists follow).
pub fn rewrite_adjoint(adjoint: &AdjointProgram) -> AdjointProgram {
    let (program, map) = rewrite_program(&adjoint.program);
    let remap = |v: &ValueId| map[v.index()];
    AdjointProgram {
        program,
        state_adjoints: adjoint.state_adjoints.iter().map(remap).collect(),
        param_grads: adjoint.param_grads.iter().map(|g| g.map(|v| map[v.index()])).collect(),
        input_adjoints: adjoint.input_adjoints.iter().map(|g| g.map(|v| map[v.index()])).collect(),
        marks: crate::adjoint::Marks {
            weight_gradients: adjoint.marks.weight_gradients.iter().map(remap).collect(),
            // Ids of the forward program, which this does not touch.
            feedforward: adjoint.marks.feedforward.clone(),
        },
    }
}

/// Appends an instruction, tracking whether it is a loop invariant.
fn push(out: &mut StepProgram, invariant: &mut Vec<bool>, op: Op, shape: Shape) -> ValueId {
    invariant.push(super::compile::is_invariant(&op, invariant));
    out.push(op, shape)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step::{ParamId, ParamSlot, StateId, StateInit, StateSlot, verify};

    /// A program with a parameter `tau` and a state `x` of three elements, and their values.
    fn tau_and_x() -> (StepProgram, ValueId, ValueId) {
        let v = Shape::Vector(3);
        let mut p = StepProgram {
            params: vec![ParamSlot { name: "tau".into(), shape: v }],
            states: vec![StateSlot { name: "x".into(), shape: v, init: StateInit::Constant(0.0) }],
            ..StepProgram::default()
        };
        let tau = p.push(Op::Param(ParamId(0)), v);
        let x = p.push(Op::State(StateId(0)), v);
        (p, tau, x)
    }

    #[test]
    fn division_by_a_parameter_becomes_a_product_with_the_scale_joined() {
        let (mut p, tau, x) = tau_and_x();
        let v = p.shape(x);
        let quotient = p.push(Op::Binary(BinaryOp::Div, x, tau), v);
        let k = p.push(Op::Const(0.001), Shape::Scalar);
        let scaled = p.push(Op::Binary(BinaryOp::Mul, k, quotient), v);
        // A division of an invariant by an invariant stays (it runs once anyway).
        let fixed = p.push(Op::Binary(BinaryOp::Div, k, tau), v);
        let sum = p.push(Op::Binary(BinaryOp::Add, scaled, fixed), v);
        p.state_updates.push(sum);
        let (out, map) = rewrite_program(&p);
        assert_eq!(verify(&out), Ok(()));
        let text = |v: ValueId| format!("{:?}", out.inst(v).op);
        // x · (0.001 · (1 / τ)); the quotient itself is computed but no longer used.
        let Op::Binary(BinaryOp::Mul, a, joined) = out.inst(map[scaled.index()]).op else {
            panic!("{}", text(map[scaled.index()]))
        };
        assert_eq!(a, map[x.index()]);
        let Op::Binary(BinaryOp::Mul, factor, reciprocal) = out.inst(joined).op else { panic!("{}", text(joined)) };
        assert_eq!(factor, map[k.index()]);
        assert!(
            matches!(out.inst(reciprocal).op, Op::Binary(BinaryOp::Div, one, t) if t == map[tau.index()] && out.inst(one).op == Op::Const(1.0))
        );
        assert!(matches!(out.inst(map[fixed.index()]).op, Op::Binary(BinaryOp::Div, ..)));
        assert_eq!(out.state_updates, vec![map[sum.index()]]);
    }

    #[test]
    fn divisions_by_one_parameter_share_its_reciprocal() {
        let (mut p, tau, x) = tau_and_x();
        let v = p.shape(x);
        let once = p.push(Op::Binary(BinaryOp::Div, x, tau), v);
        let twice = p.push(Op::Binary(BinaryOp::Div, once, tau), v);
        // The same parameter read by another instruction.
        let tau_again = p.push(Op::Param(ParamId(0)), v);
        let again = p.push(Op::Binary(BinaryOp::Div, x, tau_again), v);
        let sum = p.push(Op::Binary(BinaryOp::Add, twice, again), v);
        p.state_updates.push(sum);
        let (out, _) = rewrite_program(&p);
        assert_eq!(verify(&out), Ok(()));
        let reciprocals = out.insts.iter().filter(|inst| matches!(inst.op, Op::Binary(BinaryOp::Div, ..))).count();
        assert_eq!(reciprocals, 1, "{:?}", out.insts);
    }
}
