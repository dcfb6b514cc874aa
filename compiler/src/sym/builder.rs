//! Builds step programs through hash-consing: every instruction is simplified first
//! ([`super::simplify`]), then looked up, so an expression already built is reused (CSE).

use std::collections::HashMap;

use crate::step::{BinaryOp, Op, Shape, StepProgram, UnaryOp, ValueId};

/// The identity of an instruction for hash-consing: op, operands, constant bits and shape.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    tag: u8,
    sub: u8,
    operands: [u32; 3],
    bits: u64,
    shape: Shape,
}

/// The hash-consing identity of `op` with result `shape`: equal keys compute equal values.
pub fn key(op: &Op, shape: Shape) -> Key {
    let mut operands = [u32::MAX; 3];
    for (slot, value) in operands.iter_mut().zip(op.operands()) {
        *slot = value.0;
    }
    let (tag, sub, bits) = match *op {
        Op::Const(value) => (0, 0, value.to_bits()),
        Op::Param(p) => (1, 0, u64::from(p.0)),
        Op::State(s) => (2, 0, u64::from(s.0)),
        Op::Input(i) => (3, 0, u64::from(i)),
        Op::Noise(stream) => (4, 0, u64::from(stream)),
        Op::Seed(o) => (5, 0, u64::from(o)),
        Op::StateAdjoint(s) => (6, 0, u64::from(s.0)),
        Op::NextState(s) => (15, 0, u64::from(s.0)),
        Op::Unary(u, _) => (7, u as u8, 0),
        Op::Binary(b, _, _) => (8, b as u8, 0),
        Op::Select(..) => (9, 0, 0),
        Op::VecMat(..) => (10, 0, 0),
        Op::VecMatT(..) => (11, 0, 0),
        Op::Outer(..) => (12, 0, 0),
        Op::Sum(_) => (13, 0, 0),
        Op::Broadcast(_) => (14, 0, 0),
        Op::ScaledProduct(..) => (16, 0, 0),
    };
    Key { tag, sub, operands, bits, shape }
}

/// A step program under construction, with CSE and simplification on every instruction.
pub struct Builder {
    /// The program so far.
    pub program: StepProgram,
    table: HashMap<Key, ValueId>,
}

impl Builder {
    /// An empty program with the parameter, state and input tables of `template`.
    pub fn like(template: &StepProgram) -> Self {
        let program = StepProgram {
            params: template.params.clone(),
            states: template.states.clone(),
            inputs: template.inputs.clone(),
            ..StepProgram::default()
        };
        Builder { program, table: HashMap::new() }
    }

    /// The shape of a value.
    pub fn shape(&self, value: ValueId) -> Shape {
        self.program.shape(value)
    }

    /// The op defining a value.
    pub fn op(&self, value: ValueId) -> Op {
        self.program.inst(value).op
    }

    /// The number a value is everywhere, if it is a constant (or a broadcast constant).
    pub fn constant(&self, value: ValueId) -> Option<f64> {
        match self.op(value) {
            Op::Const(number) => Some(number),
            Op::Broadcast(inner) => self.constant(inner),
            _ => None,
        }
    }

    /// Emits an instruction after simplification, reusing an identical one.
    pub fn emit(&mut self, op: Op, shape: Shape) -> ValueId {
        if let Some(simpler) = super::simplify::simplify(self, op, shape) {
            return simpler;
        }
        self.intern(op, shape)
    }

    /// Emits without simplifying (still shared).
    pub(crate) fn intern(&mut self, op: Op, shape: Shape) -> ValueId {
        let key = key(&op, shape);
        if let Some(value) = self.table.get(&key) {
            return *value;
        }
        let value = self.program.push(op, shape);
        self.table.insert(key, value);
        value
    }

    /// A scalar constant.
    pub fn number(&mut self, value: f64) -> ValueId {
        self.intern(Op::Const(value), Shape::Scalar)
    }

    /// A constant of the given shape.
    pub fn filled(&mut self, value: f64, shape: Shape) -> ValueId {
        let scalar = self.number(value);
        if shape == Shape::Scalar { scalar } else { self.intern(Op::Broadcast(scalar), shape) }
    }

    /// An elementwise binary op with broadcast. Panics only on a shape bug in the compiler,
    /// which the verifier would report; shapes are checked at elaboration.
    pub fn binary(&mut self, op: BinaryOp, a: ValueId, b: ValueId) -> ValueId {
        let shape = Shape::broadcast(self.shape(a), self.shape(b)).unwrap_or(self.shape(a));
        self.emit(Op::Binary(op, a, b), shape)
    }

    /// `a + b`.
    pub fn add(&mut self, a: ValueId, b: ValueId) -> ValueId {
        self.binary(BinaryOp::Add, a, b)
    }

    /// `a - b`.
    pub fn sub(&mut self, a: ValueId, b: ValueId) -> ValueId {
        self.binary(BinaryOp::Sub, a, b)
    }

    /// `a * b`.
    pub fn mul(&mut self, a: ValueId, b: ValueId) -> ValueId {
        self.binary(BinaryOp::Mul, a, b)
    }

    /// `a / b`.
    pub fn div(&mut self, a: ValueId, b: ValueId) -> ValueId {
        self.binary(BinaryOp::Div, a, b)
    }

    /// `-a`.
    pub fn neg(&mut self, a: ValueId) -> ValueId {
        let shape = self.shape(a);
        self.emit(Op::Unary(UnaryOp::Neg, a), shape)
    }

    /// An elementwise function.
    pub fn unary(&mut self, op: UnaryOp, a: ValueId) -> ValueId {
        let shape = self.shape(a);
        self.emit(Op::Unary(op, a), shape)
    }

    /// `if c { a } else { b }`.
    pub fn select(&mut self, c: ValueId, a: ValueId, b: ValueId) -> ValueId {
        let shape = Shape::broadcast(self.shape(a), self.shape(b))
            .and_then(|s| Shape::broadcast(s, self.shape(c)))
            .unwrap_or(self.shape(a));
        self.emit(Op::Select(c, a, b), shape)
    }

    /// Sum of all elements.
    pub fn sum(&mut self, a: ValueId) -> ValueId {
        self.emit(Op::Sum(a), Shape::Scalar)
    }

    /// `value` reduced or broadcast to `shape`: a scalar target sums, a scalar value repeats.
    pub fn fit(&mut self, value: ValueId, shape: Shape) -> ValueId {
        let own = self.shape(value);
        if own == shape {
            value
        } else if shape == Shape::Scalar {
            self.sum(value)
        } else {
            self.emit(Op::Broadcast(value), shape)
        }
    }
}
