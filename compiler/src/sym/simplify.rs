//! Simplification rules, applied to every instruction before it is built. Each rule is a named
//! arm; rules only ever return an existing value or a smaller expression, so building
//! terminates, and they are deterministic.

use super::builder::Builder;
use crate::step::ValueId;
use crate::step::{BinaryOp, Op, Shape, UnaryOp};

/// A simpler value equal to `op`, if a rule applies.
pub fn simplify(builder: &mut Builder, op: Op, shape: Shape) -> Option<ValueId> {
    let keeps_shape = |b: &Builder, v: ValueId| b.shape(v) == shape;
    match op {
        // fold: a unary function of a constant is a constant (`exp` of a constant, ...).
        Op::Unary(unary, a) => {
            if let Some(x) = builder.constant(a) {
                return Some(builder.filled(crate::elaborate::apply_unary(unary, x), shape));
            }
            // neg-neg: -(-x) = x.
            if let (UnaryOp::Neg, Op::Unary(UnaryOp::Neg, inner)) = (unary, builder.op(a)) {
                return Some(inner);
            }
            None
        }
        Op::Binary(binary, a, b) => {
            let (ca, cb) = (builder.constant(a), builder.constant(b));
            // fold: both constant.
            if let (Some(x), Some(y)) = (ca, cb) {
                return Some(builder.filled(crate::elaborate::fold(binary, x, y), shape));
            }
            match (binary, ca, cb) {
                // x + 0 = x, 0 + x = x, x - 0 = x.
                (BinaryOp::Add | BinaryOp::Sub, _, Some(zero)) if zero == 0.0 && keeps_shape(builder, a) => Some(a),
                (BinaryOp::Add, Some(zero), _) if zero == 0.0 && keeps_shape(builder, b) => Some(b),
                // 0 - x = -x.
                (BinaryOp::Sub, Some(zero), _) if zero == 0.0 && keeps_shape(builder, b) => Some(builder.neg(b)),
                // x * 1 = x, 1 * x = x, x / 1 = x.
                (BinaryOp::Mul | BinaryOp::Div, _, Some(one)) if one == 1.0 && keeps_shape(builder, a) => Some(a),
                (BinaryOp::Mul, Some(one), _) if one == 1.0 && keeps_shape(builder, b) => Some(b),
                // x * -1 = -x, -1 * x = -x.
                (BinaryOp::Mul, _, Some(minus)) if minus == -1.0 && keeps_shape(builder, a) => Some(builder.neg(a)),
                (BinaryOp::Mul, Some(minus), _) if minus == -1.0 && keeps_shape(builder, b) => Some(builder.neg(b)),
                // x * 0 = 0, 0 * x = 0, 0 / x = 0 (the adjoint never relies on 0 * inf).
                (BinaryOp::Mul, Some(zero), _) | (BinaryOp::Mul, _, Some(zero)) | (BinaryOp::Div, Some(zero), _)
                    if zero == 0.0 =>
                {
                    Some(builder.filled(0.0, shape))
                }
                _ => {
                    // x + (-y) = x - y;  x - (-y) = x + y.
                    if let Op::Unary(UnaryOp::Neg, inner) = builder.op(b) {
                        match binary {
                            BinaryOp::Add => return Some(builder.sub(a, inner)),
                            BinaryOp::Sub => return Some(builder.add(a, inner)),
                            _ => {}
                        }
                    }
                    // (-x) * y = -(x * y);  x * (-y) = -(x * y).
                    if binary == BinaryOp::Mul {
                        if let Op::Unary(UnaryOp::Neg, inner) = builder.op(a) {
                            let product = builder.mul(inner, b);
                            return Some(builder.neg(product));
                        }
                        if let Op::Unary(UnaryOp::Neg, inner) = builder.op(b) {
                            let product = builder.mul(a, inner);
                            return Some(builder.neg(product));
                        }
                    }
                    None
                }
            }
        }
        Op::Select(c, a, b) => match builder.constant(c) {
            // A constant condition picks its branch.
            Some(x) => {
                let chosen = if x != 0.0 { a } else { b };
                Some(builder.fit(chosen, shape))
            }
            None if a == b => Some(builder.fit(a, shape)),
            None => None,
        },
        // sum of a broadcast scalar: n * x.
        Op::Sum(a) => match builder.op(a) {
            Op::Broadcast(inner) => {
                let count = builder.number(builder.shape(a).len() as f64);
                Some(builder.mul(count, inner))
            }
            _ => builder.constant(a).filter(|x| *x == 0.0).map(|_| builder.number(0.0)),
        },
        // A product with a zero vector or matrix is zero.
        Op::VecMat(x, w) | Op::VecMatT(x, w) | Op::Outer(x, w)
            if builder.constant(x) == Some(0.0) || builder.constant(w) == Some(0.0) =>
        {
            Some(builder.filled(0.0, shape))
        }
        Op::Broadcast(a) if builder.shape(a) == shape => Some(a),
        _ => None,
    }
}
