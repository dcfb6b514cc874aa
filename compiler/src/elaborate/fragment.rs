//! Builds a module's [`Fragment`]: step-program instructions with shape and unit checks, light
//! constant folding (`x + 0`, `x * 1`, `noise(0)`), and inlining of functions.

use reef_lang::{Diagnostic, Span};

use crate::graph::Fragment;
use crate::step::{BinaryOp, CustomCall, Inst, Op, Shape, ValueId};

/// A value being built: its id and the power of seconds of its unit.
#[derive(Clone, Copy, Debug)]
pub struct Typed {
    /// The value.
    pub value: ValueId,
    /// Power of seconds.
    pub time: i32,
}

/// Appends instructions to a fragment.
#[derive(Default)]
pub struct FragmentBuilder {
    /// The fragment so far.
    pub fragment: Fragment,
}

impl FragmentBuilder {
    /// Appends an instruction.
    pub fn push(&mut self, op: Op, shape: Shape) -> ValueId {
        self.fragment.insts.push(Inst { op, shape });
        ValueId(u32::try_from(self.fragment.insts.len() - 1).unwrap_or(u32::MAX))
    }

    /// The shape of a value.
    pub fn shape(&self, value: ValueId) -> Shape {
        self.fragment.insts[value.index()].shape
    }

    /// The number a value is, if it is a constant.
    pub fn constant(&self, value: ValueId) -> Option<f64> {
        match self.fragment.insts[value.index()].op {
            Op::Const(number) => Some(number),
            _ => None,
        }
    }

    /// A scalar constant.
    pub fn number(&mut self, value: f64) -> ValueId {
        self.push(Op::Const(value), Shape::Scalar)
    }

    /// Records a call of a function with declared derivatives.
    pub fn custom_call(&mut self, function: &str, result: ValueId, args: Vec<ValueId>, partials: Vec<Option<ValueId>>) {
        self.fragment.custom_calls.push(CustomCall { function: function.to_string(), result, args, partials });
    }

    /// An elementwise binary op with broadcast, folding constants and identities.
    pub fn binary(
        &mut self,
        op: BinaryOp,
        (a, a_span): (ValueId, Span),
        (b, b_span): (ValueId, Span),
    ) -> Result<ValueId, Diagnostic> {
        let (sa, sb) = (self.shape(a), self.shape(b));
        let Some(shape) = Shape::broadcast(sa, sb) else {
            return Err(Diagnostic::error("E0302", format!("shapes {sa} and {sb} do not match"))
                .primary(a_span, format!("this has shape {sa}"))
                .secondary(b_span, format!("this has shape {sb}"))
                .help("elementwise operations need equal shapes or a scalar; use `@` for a vector-matrix product"));
        };
        if let (Some(x), Some(y)) = (self.constant(a), self.constant(b)) {
            return Ok(self.number(fold(op, x, y)));
        }
        // Identities that keep the result's shape: x + 0, 0 + x, x - 0, x * 1, 1 * x, x / 1.
        let keep = |builder: &Self, value: ValueId| builder.shape(value) == shape;
        match (op, self.constant(a), self.constant(b)) {
            (BinaryOp::Add, _, Some(zero)) | (BinaryOp::Sub, _, Some(zero)) if zero == 0.0 && keep(self, a) => {
                return Ok(a);
            }
            (BinaryOp::Add, Some(zero), _) if zero == 0.0 && keep(self, b) => return Ok(b),
            (BinaryOp::Mul | BinaryOp::Div, _, Some(one)) if one == 1.0 && keep(self, a) => return Ok(a),
            (BinaryOp::Mul, Some(one), _) if one == 1.0 && keep(self, b) => return Ok(b),
            _ => {}
        }
        Ok(self.push(Op::Binary(op, a, b), shape))
    }

    /// Makes `value` have `shape`, broadcasting a scalar.
    pub fn broadcast_to(&mut self, value: ValueId, shape: Shape) -> ValueId {
        if self.shape(value) == shape || shape == Shape::Scalar {
            value
        } else {
            self.push(Op::Broadcast(value), shape)
        }
    }

    /// Finishes the fragment.
    pub fn finish(self) -> Fragment {
        self.fragment
    }
}

/// The value of `op` on two constants (comparisons give 1 or 0).
pub fn fold(op: BinaryOp, x: f64, y: f64) -> f64 {
    let truth = |b: bool| if b { 1.0 } else { 0.0 };
    match op {
        BinaryOp::Add => x + y,
        BinaryOp::Sub => x - y,
        BinaryOp::Mul => x * y,
        BinaryOp::Div => x / y,
        BinaryOp::Pow => x.powf(y),
        BinaryOp::Min => x.min(y),
        BinaryOp::Max => x.max(y),
        BinaryOp::Lt => truth(x < y),
        BinaryOp::Le => truth(x <= y),
        BinaryOp::Gt => truth(x > y),
        BinaryOp::Ge => truth(x >= y),
        BinaryOp::Eq => truth(x == y),
        BinaryOp::Ne => truth(x != y),
    }
}
