//! Parameter-gradient terms linear in a product: Rate's `∂L/∂τ += -(λ/τ²) ⊙ (… + a @ W)` needs
//! the recurrent product `a @ W` at every step of the backward pass only for this term. Written
//! as `rest + ScaledProduct(c, a, W)` (`c ⊙ (a @ W)`), its sum over time is
//! `Σ_t c_t ⊙ (a_t @ W) = Σ_i W[i, j] (Aᵀ C)[i, j]`: the JIT stores the rows `a_t` and `c_t` and
//! computes that once after the loop, so the step has no product left. The interpreter
//! evaluates `ScaledProduct` as written (the same value, per step).

use crate::step::{BinaryOp, Op, Shape, StepProgram, UnaryOp, ValueId};
use crate::sym::Builder;

/// Rewrites `root` as `rest + ScaledProduct(c, x, W)` if it is linear in one product
/// `x @ W` (`W` a parameter) through elementwise `+`, `-`, `*`, `/` and negation, and neither
/// that product nor the values between it and `root` are used elsewhere (`uses` counts the
/// users of each value among the live ones). Returns `root` unchanged otherwise.
pub fn contract(builder: &mut Builder, root: ValueId, uses: &[usize]) -> ValueId {
    let program = &builder.program;
    let Some(path) = find(program, root, uses, true) else { return root };
    let product = *path.last().unwrap_or(&root);
    let Op::VecMat(x, w) = program.inst(product).op else { return root };
    let shape = program.shape(product);
    let (rest, coefficient) = split(builder, root, &path);
    let coefficient =
        if builder.shape(coefficient) == shape { coefficient } else { builder.emit(Op::Broadcast(coefficient), shape) };
    let scaled = builder.emit(Op::ScaledProduct(coefficient, x, w), shape);
    builder.add(rest, scaled)
}

/// The path from `value` down to a product it is linear in (`value` first, the product last).
fn find(program: &StepProgram, value: ValueId, uses: &[usize], top: bool) -> Option<Vec<ValueId>> {
    if !top && uses[value.index()] != 1 {
        return None;
    }
    let inst = program.inst(value);
    let same = |v: ValueId| program.shape(v) == inst.shape;
    let below = |v: ValueId| {
        find(program, v, uses, false).map(|mut path| {
            path.insert(0, value);
            path
        })
    };
    match inst.op {
        Op::VecMat(x, w)
            if !top
                && matches!(program.inst(w).op, Op::Param(_))
                && matches!(inst.shape, Shape::Vector(_))
                && !matches!(program.inst(x).op, Op::Input(_)) =>
        {
            Some(vec![value])
        }
        Op::Unary(UnaryOp::Neg, a) if same(a) => below(a),
        Op::Binary(BinaryOp::Add | BinaryOp::Sub, a, b) => {
            let first = if same(a) { below(a) } else { None };
            first.or_else(|| if same(b) { below(b) } else { None })
        }
        Op::Binary(BinaryOp::Mul, a, b) => {
            let first = if same(a) { below(a).filter(|p| !depends(program, b, p)) } else { None };
            first.or_else(|| if same(b) { below(b).filter(|p| !depends(program, a, p)) } else { None })
        }
        Op::Binary(BinaryOp::Div, a, b) if same(a) => below(a).filter(|p| !depends(program, b, p)),
        _ => None,
    }
}

/// Whether `value` depends on the product at the end of `path`.
fn depends(program: &StepProgram, value: ValueId, path: &[ValueId]) -> bool {
    let Some(product) = path.last() else { return false };
    let mut seen = vec![false; program.insts.len()];
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        if v == *product {
            return true;
        }
        if !std::mem::replace(&mut seen[v.index()], true) {
            stack.extend(program.inst(v).op.operands());
        }
    }
    false
}

/// `(rest, c)` with `path[0] = rest + c ⊙ product`, rebuilt along the path.
fn split(builder: &mut Builder, value: ValueId, path: &[ValueId]) -> (ValueId, ValueId) {
    let Some(next) = path.get(1).copied() else {
        return (builder.number(0.0), builder.number(1.0));
    };
    let op = builder.program.inst(value).op;
    let (rest, c) = split(builder, next, &path[1..]);
    match op {
        Op::Unary(UnaryOp::Neg, _) => (builder.neg(rest), builder.neg(c)),
        Op::Binary(BinaryOp::Add, a, b) => {
            if a == next {
                (builder.add(rest, b), c)
            } else {
                (builder.add(a, rest), c)
            }
        }
        Op::Binary(BinaryOp::Sub, a, b) => {
            if a == next {
                (builder.sub(rest, b), c)
            } else {
                (builder.sub(a, rest), builder.neg(c))
            }
        }
        Op::Binary(BinaryOp::Mul, a, b) => {
            let other = if a == next { b } else { a };
            (builder.mul(rest, other), builder.mul(c, other))
        }
        Op::Binary(BinaryOp::Div, _, b) => (builder.div(rest, b), builder.div(c, b)),
        _ => unreachable!("`find` only follows negation, +, -, * and /"),
    }
}

/// Users of each value among those `roots` need (liveness as dead-code elimination sees it).
pub fn live_uses(program: &StepProgram, roots: &[ValueId]) -> Vec<usize> {
    let live = crate::sym::live_values(program, roots);
    let mut uses = vec![0; program.insts.len()];
    for (index, inst) in program.insts.iter().enumerate() {
        if live[index] {
            for operand in inst.op.operands() {
                uses[operand.index()] += 1;
            }
        }
    }
    for root in roots {
        uses[root.index()] += 1;
    }
    uses
}
