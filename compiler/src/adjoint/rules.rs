//! The derivative of every step-program op: given the adjoint `λ` of an instruction's result,
//! its contribution to the adjoint of each operand. One arm per op, nothing else here.

use crate::step::{BinaryOp, Op, UnaryOp, ValueId};
use crate::sym::Builder;

/// What an op sends back to its operands: `(operand position, contribution)`. Contributions
/// may have the result's shape; the caller sums them down to a scalar operand's shape.
/// `result` and `operands` are the op's values in the adjoint program (the recomputed forward).
pub fn pullback(
    builder: &mut Builder,
    op: Op,
    result: ValueId,
    operands: &[ValueId],
    lambda: ValueId,
) -> Vec<(usize, ValueId)> {
    match op {
        // Sources: handled by the caller (parameters and states collect their adjoints).
        Op::Const(_)
        | Op::Param(_)
        | Op::State(_)
        | Op::Input(_)
        | Op::Noise(_)
        | Op::Seed(_)
        | Op::StateAdjoint(_)
        | Op::NextState(_) => {
            vec![]
        }
        Op::Unary(unary, _) => {
            let a = operands[0];
            let contribution = match unary {
                UnaryOp::Neg => builder.neg(lambda),
                // d exp(a) = exp(a): reuse the result.
                UnaryOp::Exp => builder.mul(lambda, result),
                UnaryOp::Log => builder.div(lambda, a),
                // d tanh(a) = 1 - tanh(a)^2.
                UnaryOp::Tanh => {
                    let one = builder.number(1.0);
                    let square = builder.mul(result, result);
                    let slope = builder.sub(one, square);
                    builder.mul(lambda, slope)
                }
                // d sqrt(a) = 1 / (2 sqrt(a)).
                UnaryOp::Sqrt => {
                    let two = builder.number(2.0);
                    let twice = builder.mul(two, result);
                    builder.div(lambda, twice)
                }
                // d |a| = sign(a).
                UnaryOp::Abs => {
                    let zero = builder.number(0.0);
                    let positive = builder.binary(BinaryOp::Gt, a, zero);
                    let negative = builder.binary(BinaryOp::Lt, a, zero);
                    let sign = builder.sub(positive, negative);
                    builder.mul(lambda, sign)
                }
                // floor is piecewise constant.
                UnaryOp::Floor => return vec![],
                UnaryOp::Sin => {
                    let cos = builder.unary(UnaryOp::Cos, a);
                    builder.mul(lambda, cos)
                }
                UnaryOp::Cos => {
                    let sin = builder.unary(UnaryOp::Sin, a);
                    let product = builder.mul(lambda, sin);
                    builder.neg(product)
                }
            };
            vec![(0, contribution)]
        }
        Op::Binary(binary, _, _) => {
            let (a, b) = (operands[0], operands[1]);
            match binary {
                BinaryOp::Add => vec![(0, lambda), (1, lambda)],
                BinaryOp::Sub => vec![(0, lambda), (1, builder.neg(lambda))],
                BinaryOp::Mul => vec![(0, builder.mul(lambda, b)), (1, builder.mul(lambda, a))],
                // d(a/b)/da = 1/b; d(a/b)/db = -(a/b)/b.
                BinaryOp::Div => {
                    let over_b = builder.div(lambda, b);
                    let quotient_over_b = builder.div(result, b);
                    let product = builder.mul(lambda, quotient_over_b);
                    vec![(0, over_b), (1, builder.neg(product))]
                }
                // d(a^b)/da = b a^(b-1); d(a^b)/db = a^b ln a.
                BinaryOp::Pow => {
                    let one = builder.number(1.0);
                    let exponent = builder.sub(b, one);
                    let power = builder.binary(BinaryOp::Pow, a, exponent);
                    let slope = builder.mul(b, power);
                    let log = builder.unary(UnaryOp::Log, a);
                    let slope_b = builder.mul(result, log);
                    vec![(0, builder.mul(lambda, slope)), (1, builder.mul(lambda, slope_b))]
                }
                // min/max pass the adjoint to the operand they chose (the first on ties, as the
                // interpreter chooses).
                BinaryOp::Min | BinaryOp::Max => {
                    let compare = if binary == BinaryOp::Min { BinaryOp::Le } else { BinaryOp::Ge };
                    let first = builder.binary(compare, a, b);
                    let zero = builder.number(0.0);
                    vec![(0, builder.select(first, lambda, zero)), (1, builder.select(first, zero, lambda))]
                }
                // Comparisons are piecewise constant.
                BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge | BinaryOp::Eq | BinaryOp::Ne => vec![],
            }
        }
        // The condition is piecewise constant.
        Op::Select(..) => {
            let c = operands[0];
            let zero = builder.number(0.0);
            vec![(1, builder.select(c, lambda, zero)), (2, builder.select(c, zero, lambda))]
        }
        // y = x @ W: λx = λ @ Wᵀ, λW = xᵀ λ (an outer product; summed over time it is one
        // matrix product, see `Marks::weight_gradients`).
        Op::VecMat(..) => {
            let (x, w) = (operands[0], operands[1]);
            let shape_x = builder.shape(x);
            let shape_w = builder.shape(w);
            let lambda_x = builder.emit(Op::VecMatT(lambda, w), shape_x);
            let lambda_w = builder.emit(Op::Outer(x, lambda), shape_w);
            vec![(0, lambda_x), (1, lambda_w)]
        }
        // y = c ⊙ (x @ W): λc = λ ⊙ (x @ W), λx = (λ ⊙ c) @ Wᵀ, λW = xᵀ (λ ⊙ c).
        Op::ScaledProduct(..) => {
            let (c, x, w) = (operands[0], operands[1], operands[2]);
            let (shape_x, shape_w, shape_y) = (builder.shape(x), builder.shape(w), builder.shape(lambda));
            let product = builder.emit(Op::VecMat(x, w), shape_y);
            let lambda_c = builder.mul(lambda, product);
            let scaled = builder.mul(lambda, c);
            let lambda_x = builder.emit(Op::VecMatT(scaled, w), shape_x);
            let lambda_w = builder.emit(Op::Outer(x, scaled), shape_w);
            vec![(0, lambda_c), (1, lambda_x), (2, lambda_w)]
        }
        // y = x @ Wᵀ: λx = λ @ W, λW = λᵀ x.
        Op::VecMatT(..) => {
            let (x, w) = (operands[0], operands[1]);
            let shape_x = builder.shape(x);
            let shape_w = builder.shape(w);
            let lambda_x = builder.emit(Op::VecMat(lambda, w), shape_x);
            let lambda_w = builder.emit(Op::Outer(lambda, x), shape_w);
            vec![(0, lambda_x), (1, lambda_w)]
        }
        // Y = xᵀ y: λx = y @ λᵀ, λy = x @ λ.
        Op::Outer(..) => {
            let (x, y) = (operands[0], operands[1]);
            let shape_x = builder.shape(x);
            let shape_y = builder.shape(y);
            let lambda_x = builder.emit(Op::VecMatT(y, lambda), shape_x);
            let lambda_y = builder.emit(Op::VecMat(x, lambda), shape_y);
            vec![(0, lambda_x), (1, lambda_y)]
        }
        Op::Sum(_) => {
            let shape = builder.shape(operands[0]);
            vec![(0, builder.fit(lambda, shape))]
        }
        Op::Broadcast(_) => vec![(0, builder.sum(lambda))],
    }
}
