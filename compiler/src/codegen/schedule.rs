//! The order in which generated code computes a step's values. Fused runs are broken by the
//! instructions emitted on their own (kernel calls, native `tanh`, host functions, dot
//! products), and a value a run computes before such a call and another reads after it goes
//! through memory. Program order puts work that does not depend on a call wherever the
//! symbolic derivation left it: A's backward step computed τ's gradient term after the
//! recurrent product although it reads nothing the product gives, so two of its operands were
//! stored before the call and loaded again after it. Scheduled by *level* (the number of
//! single instructions on the value's longest path of dependencies), each run computes all
//! it can before the next call.

use super::compile::Element;
use super::fuse::is_scaled_row;
use crate::step::{BinaryOp, Op, StepProgram, UnaryOp, ValueId};

/// Which instructions fused runs compute, for one element type and kernel choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fusion {
    /// Whether the element type is f32 (whose `tanh` is a rational approximation).
    pub f32: bool,
    /// Whether long f32 `tanh`s call the native 256-bit function (see [`super::tanh`]).
    pub native_tanh: bool,
}

impl Fusion {
    /// The fusion of generated code for `element`, with or without the native kernels.
    pub fn new(element: Element, kernels: bool) -> Self {
        let f32 = element == Element::F32;
        Fusion { f32, native_tanh: f32 && kernels && super::tanh::native_available() }
    }

    /// Whether `len` elements of f32 `tanh` call the native function.
    pub fn calls_native_tanh(&self, len: usize) -> bool {
        self.native_tanh && len >= super::tanh::NATIVE_MIN_LEN
    }

    /// Whether instruction `value` can be fused (an elementwise op computed inline, or a row
    /// scaled by one element, [`is_scaled_row`]).
    pub fn fusable(&self, program: &StepProgram, value: ValueId) -> bool {
        let inst = program.insts[value.index()];
        match &inst.op {
            _ if is_scaled_row(program, value) => true,
            Op::Unary(UnaryOp::Tanh, _) if self.calls_native_tanh(inst.shape.len()) => false,
            Op::Unary(UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sqrt | UnaryOp::Floor, _) => true,
            Op::Unary(UnaryOp::Tanh, _) => self.f32,
            Op::Binary(op, _, _) => *op != BinaryOp::Pow,
            Op::Select(..) => true,
            _ => false,
        }
    }

    /// Whether `value` is computed in a fused run (fusable and longer than one element).
    pub fn in_run(&self, program: &StepProgram, value: ValueId) -> bool {
        self.fusable(program, value) && program.shape(value).len() > 1
    }

    /// `(a, b)` if `value` is a native `tanh(a - b)` of two buffers read in place (states and
    /// parameters of its own length: a Rate's `tanh(x - threshold)`): one call computes it
    /// from them (`tanh_difference_f32`), and the difference itself is not computed unless
    /// something else reads it. Stored and loaded back, the difference had been on the
    /// forward loop's critical path (stores of 128 bits that a 256-bit load cannot take its
    /// value from).
    pub fn difference(&self, program: &StepProgram, value: ValueId) -> Option<(ValueId, ValueId)> {
        let inst = program.insts[value.index()];
        let Op::Unary(UnaryOp::Tanh, inner) = inst.op else { return None };
        let Op::Binary(BinaryOp::Sub, a, b) = program.inst(inner).op else { return None };
        let len = inst.shape.len();
        let in_place = |v: ValueId| {
            matches!(program.inst(v).op, Op::State(_) | Op::NextState(_) | Op::Param(_))
                && program.shape(v).len() == len
        };
        (self.calls_native_tanh(len) && in_place(a) && in_place(b)).then_some((a, b))
    }

    /// The values generated code reads to compute `value`: its operands, or the two buffers of
    /// a [`Fusion::difference`].
    pub fn operands(&self, program: &StepProgram, value: ValueId) -> Vec<ValueId> {
        match self.difference(program, value) {
            Some((a, b)) => vec![a, b],
            None => program.inst(value).op.operands(),
        }
    }
}

/// Whether `op` emits no code (its value lives in a buffer already).
pub fn silent(op: &Op) -> bool {
    matches!(
        op,
        Op::Const(_)
            | Op::Param(_)
            | Op::State(_)
            | Op::Input(_)
            | Op::Seed(_)
            | Op::StateAdjoint(_)
            | Op::NextState(_)
            | Op::Broadcast(_)
    )
}

/// `values` (in program order) in the order generated code computes them: by level, where a
/// value's level is the most single instructions (not silent, not in a run) on any path to it
/// from the values outside `values`; within a level, run values before single instructions,
/// each in program order. A run value that reads only buffers and other such values (A's
/// `−x + i + bias`, from the state, the input and parameters) instead goes to the latest level
/// its readers allow, so that it is not stored before a call and loaded after it. Every value
/// comes after its operands.
pub fn schedule(program: &StepProgram, values: &[ValueId], fusion: Fusion) -> Vec<ValueId> {
    let mut chosen = vec![false; program.insts.len()];
    for value in values {
        chosen[value.index()] = true;
    }
    let single = |v: ValueId| {
        let op = &program.inst(v).op;
        !silent(op) && !fusion.in_run(program, v)
    };
    let readers = |v: ValueId| values.iter().filter(move |r| fusion.operands(program, **r).contains(&v));
    // Levels in program order (operands come first). `free`: a run value whose operands are
    // outside `values` (buffers, loop invariants) or free values that only it reads, so that
    // moving it (and them) later stores nothing new.
    let mut level = vec![0usize; program.insts.len()];
    let mut free = vec![false; program.insts.len()];
    for value in values {
        let op = &program.inst(*value).op;
        let operands = fusion.operands(program, *value);
        let inside = || operands.iter().filter(|o| chosen[o.index()]);
        level[value.index()] = inside().map(|o| level[o.index()] + usize::from(single(*o))).max().unwrap_or(0);
        // A buffer is read where it is; a broadcast reads where its inner value was computed.
        let buffer = |o: ValueId| silent(&program.inst(o).op) && !matches!(program.inst(o).op, Op::Broadcast(_));
        free[value.index()] = !silent(op)
            && !single(*value)
            && inside().all(|o| buffer(*o) || (free[o.index()] && readers(*o).count() == 1));
    }
    // Free values move down to their earliest reader's level (readers come later in program
    // order, so they are placed first); a value no step value reads stays where it is.
    let mut placed = level.clone();
    for value in values.iter().rev() {
        if let (true, Some(latest)) = (free[value.index()], readers(*value).map(|r| placed[r.index()]).min()) {
            placed[value.index()] = latest.max(level[value.index()]);
        }
    }
    let mut order = values.to_vec();
    order.sort_by_key(|v| (placed[v.index()], single(*v), v.index()));
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step::{ParamId, ParamSlot, Shape, StateId, StateInit, StateSlot};

    #[test]
    fn work_that_does_not_need_a_call_runs_before_it() {
        let v = Shape::Vector(40);
        let mut p = StepProgram {
            params: vec![ParamSlot { name: "w".into(), shape: Shape::Matrix(40, 40) }],
            states: vec![StateSlot { name: "x".into(), shape: v, init: StateInit::Constant(0.0) }],
            ..StepProgram::default()
        };
        let w = p.push(Op::Param(ParamId(0)), Shape::Matrix(40, 40));
        let x = p.push(Op::State(StateId(0)), v);
        let a = p.push(Op::Binary(BinaryOp::Mul, x, x), v);
        let product = p.push(Op::VecMat(a, w), v);
        let after = p.push(Op::Binary(BinaryOp::Add, product, a), v);
        // Reads nothing the product gives, but comes after it in program order.
        let free = p.push(Op::Binary(BinaryOp::Sub, a, x), v);
        // Reads only the state, and only a value after the product reads it.
        let late = p.push(Op::Unary(UnaryOp::Neg, x), v);
        let tail = p.push(Op::Binary(BinaryOp::Add, after, late), v);
        let values: Vec<ValueId> = (0..p.insts.len() as u32).map(ValueId).collect();
        let fusion = Fusion { f32: true, native_tanh: false };
        let order = schedule(&p, &values, fusion);
        let position = |v: ValueId| order.iter().position(|o| *o == v).unwrap();
        assert!(position(free) < position(product), "{order:?}");
        assert!(position(a) < position(product) && position(product) < position(after));
        assert_eq!(order.len(), values.len());
        // A value of buffers alone, read only after the product, is computed after it.
        assert!(position(product) < position(late) && position(late) < position(tail), "{order:?}");
        // Every value after its operands.
        for value in &order {
            for operand in p.inst(*value).op.operands() {
                assert!(position(operand) < position(*value));
            }
        }
    }
}
