//! Step programs: typed SSA for ONE time step of a whole network.
//!
//! Invariants (checked by [`verify`]):
//! - every value is defined before it is used: operands of instruction `i` have ids `< i`;
//! - shapes are concrete and consistent with each op's typing rule (see [`Op`]);
//! - a program reads parameters, the states of the previous step (`State`) and the network
//!   input of this step (`Input`), and names the values that become the new states
//!   (`state_updates`, one per state) and the outputs of this step.
//!
//! The element type (f32 or f64) is not part of the program: it is chosen when the program is
//! run or compiled. Batch is a dimension of the data, not of the program.

mod display;
pub use display::number;
mod verify;

pub use verify::verify;

/// A value of a step program: the index of the instruction that defines it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub u32);

impl ValueId {
    /// The index into [`StepProgram::insts`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A parameter: an index into the network's parameter table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId(pub u32);

/// A state variable: an index into [`StepProgram::states`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StateId(pub u32);

/// The shape of a value. Vectors are row vectors (`x @ W`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shape {
    /// One number.
    Scalar,
    /// `[n]`.
    Vector(usize),
    /// `[rows, cols]`.
    Matrix(usize, usize),
}

impl Shape {
    /// Number of elements.
    pub fn len(self) -> usize {
        match self {
            Shape::Scalar => 1,
            Shape::Vector(n) => n,
            Shape::Matrix(rows, cols) => rows * cols,
        }
    }

    /// Whether it holds no elements.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// The dimensions as a list (`[]` for a scalar).
    pub fn dims(self) -> Vec<usize> {
        match self {
            Shape::Scalar => vec![],
            Shape::Vector(n) => vec![n],
            Shape::Matrix(rows, cols) => vec![rows, cols],
        }
    }

    /// The shape with these dimensions, if it has at most two.
    pub fn from_dims(dims: &[usize]) -> Option<Shape> {
        match dims {
            [] => Some(Shape::Scalar),
            [n] => Some(Shape::Vector(*n)),
            [rows, cols] => Some(Shape::Matrix(*rows, *cols)),
            _ => None,
        }
    }

    /// The shape of an elementwise result of `a` and `b` (a scalar broadcasts), if compatible.
    pub fn broadcast(a: Shape, b: Shape) -> Option<Shape> {
        match (a, b) {
            (Shape::Scalar, other) | (other, Shape::Scalar) => Some(other),
            (a, b) if a == b => Some(a),
            _ => None,
        }
    }
}

/// Elementwise functions of one argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `-x`.
    Neg,
    /// `eˣ`.
    Exp,
    /// Natural logarithm.
    Log,
    /// Hyperbolic tangent.
    Tanh,
    /// Square root.
    Sqrt,
    /// Absolute value.
    Abs,
    /// Round down.
    Floor,
    /// Sine.
    Sin,
    /// Cosine.
    Cos,
}

/// Elementwise functions of two arguments (scalars broadcast). Comparisons give 1 or 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a * b`.
    Mul,
    /// `a / b`.
    Div,
    /// `a ^ b`.
    Pow,
    /// The smaller.
    Min,
    /// The larger.
    Max,
    /// `a < b`.
    Lt,
    /// `a <= b`.
    Le,
    /// `a > b`.
    Gt,
    /// `a >= b`.
    Ge,
    /// `a == b`.
    Eq,
    /// `a != b`.
    Ne,
}

/// The operations of a step program, with their typing rules.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    /// A constant scalar.
    Const(f64),
    /// A parameter tensor (shape from the parameter table).
    Param(ParamId),
    /// A state's value at the end of the previous step.
    State(StateId),
    /// The network input of this step (a vector), by input index.
    Input(u32),
    /// Standard normal noise of the instruction's shape, drawn per step (a constant for the
    /// gradient). The number names the stream: the same stream at the same batch element and
    /// step gives the same numbers, so the adjoint's recomputation sees the forward's noise.
    Noise(u32),
    /// Adjoint programs only: ∂L/∂output[t] of the given output (the loss's seed).
    Seed(u32),
    /// Adjoint programs only: λ of the state's new value, ∂L/∂state[t], from the step after.
    StateAdjoint(StateId),
    /// Adjoint programs only: the state's new value `state[t]`, read from the forward pass's
    /// tape instead of recomputed (the update may contain a recurrent product).
    NextState(StateId),
    /// Elementwise function of one value.
    Unary(UnaryOp, ValueId),
    /// Elementwise function of two values; a scalar broadcasts against the other shape.
    Binary(BinaryOp, ValueId, ValueId),
    /// `if c != 0 { a } else { b }`, elementwise with broadcast.
    Select(ValueId, ValueId, ValueId),
    /// `x[n] @ W[n, m] → [m]`.
    VecMat(ValueId, ValueId),
    /// `x[m] @ Wᵀ` for `W[n, m]` → `[n]` (appears in adjoints).
    VecMatT(ValueId, ValueId),
    /// `x[n]ᵀ y[m] → [n, m]` (appears in adjoints).
    Outer(ValueId, ValueId),
    /// `c ⊙ (x @ W)` (adjoints only: a parameter-gradient term whose time sum the JIT computes
    /// after the loop as `Σ_i W[i, j] (Xᵀ C)[i, j]`, with no product per step).
    ScaledProduct(ValueId, ValueId, ValueId),
    /// Sum of all elements → scalar.
    Sum(ValueId),
    /// A scalar repeated into the instruction's shape.
    Broadcast(ValueId),
}

impl Op {
    /// The values this op reads.
    pub fn operands(&self) -> Vec<ValueId> {
        match *self {
            Op::Const(_)
            | Op::Param(_)
            | Op::State(_)
            | Op::Input(_)
            | Op::Noise(_)
            | Op::Seed(_)
            | Op::StateAdjoint(_)
            | Op::NextState(_) => vec![],
            Op::Unary(_, a) | Op::Sum(a) | Op::Broadcast(a) => vec![a],
            Op::Binary(_, a, b) | Op::VecMat(a, b) | Op::VecMatT(a, b) | Op::Outer(a, b) => vec![a, b],
            Op::Select(c, a, b) | Op::ScaledProduct(c, a, b) => vec![c, a, b],
        }
    }

    /// The same op with every operand passed through `map`.
    pub fn map_operands(&self, mut map: impl FnMut(ValueId) -> ValueId) -> Op {
        match *self {
            Op::Const(_)
            | Op::Param(_)
            | Op::State(_)
            | Op::Input(_)
            | Op::Noise(_)
            | Op::Seed(_)
            | Op::StateAdjoint(_)
            | Op::NextState(_) => *self,
            Op::Unary(op, a) => Op::Unary(op, map(a)),
            Op::Sum(a) => Op::Sum(map(a)),
            Op::Broadcast(a) => Op::Broadcast(map(a)),
            Op::Binary(op, a, b) => Op::Binary(op, map(a), map(b)),
            Op::VecMat(a, b) => Op::VecMat(map(a), map(b)),
            Op::VecMatT(a, b) => Op::VecMatT(map(a), map(b)),
            Op::Outer(a, b) => Op::Outer(map(a), map(b)),
            Op::Select(c, a, b) => Op::Select(map(c), map(a), map(b)),
            Op::ScaledProduct(c, x, w) => Op::ScaledProduct(map(c), map(x), map(w)),
        }
    }
}

/// One instruction: an op and the shape of its result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Inst {
    /// What it computes.
    pub op: Op,
    /// The shape of the result.
    pub shape: Shape,
}

/// A parameter as a step program sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamSlot {
    /// Full name, `1_Rate.w_rec`.
    pub name: String,
    /// Its shape.
    pub shape: Shape,
}

/// How a state starts at t = 0.
#[derive(Clone, Debug, PartialEq)]
pub enum StateInit {
    /// Every element equal to this number.
    Constant(f64),
    /// The value of a parameter of the same shape (a trainable initial state).
    Param(ParamId),
}

/// A state variable.
#[derive(Clone, Debug, PartialEq)]
pub struct StateSlot {
    /// Full name, `1_LIF.vmem`.
    pub name: String,
    /// Its shape.
    pub shape: Shape,
    /// Its value before the first step.
    pub init: StateInit,
}

/// A function with declared derivatives applied in the program, such as `step_pwl`. Its
/// forward body is inlined (its value is `result`); the adjoint uses the declared partial
/// derivatives (`partials`, computed in the program beside the body) instead of differentiating
/// the body.
#[derive(Clone, Debug, PartialEq)]
pub struct CustomCall {
    /// The function's name.
    pub function: String,
    /// The value of the call.
    pub result: ValueId,
    /// The arguments.
    pub args: Vec<ValueId>,
    /// ∂result/∂arg for each argument; `None` where none is declared (zero).
    pub partials: Vec<Option<ValueId>>,
}

/// One time step of a network. See the module doc for the invariants.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct StepProgram {
    /// Instructions in dependency order; `ValueId(i)` is `insts[i]`.
    pub insts: Vec<Inst>,
    /// The parameter table, by [`ParamId`].
    pub params: Vec<ParamSlot>,
    /// The states, by [`StateId`].
    pub states: Vec<StateSlot>,
    /// Sizes of the network inputs, by input index.
    pub inputs: Vec<usize>,
    /// The value each state holds at the end of the step, by [`StateId`].
    pub state_updates: Vec<ValueId>,
    /// The network outputs of this step.
    pub outputs: Vec<ValueId>,
    /// Named intermediate values worth recording (`1_Rate.output`).
    pub records: Vec<(String, ValueId)>,
    /// Calls of functions with declared derivatives.
    pub custom_calls: Vec<CustomCall>,
}

impl StepProgram {
    /// The instruction defining `value`.
    pub fn inst(&self, value: ValueId) -> &Inst {
        &self.insts[value.index()]
    }

    /// Appends an instruction and returns its value.
    pub fn push(&mut self, op: Op, shape: Shape) -> ValueId {
        self.insts.push(Inst { op, shape });
        ValueId(u32::try_from(self.insts.len() - 1).unwrap_or(u32::MAX))
    }

    /// The shape of a value.
    pub fn shape(&self, value: ValueId) -> Shape {
        self.inst(value).shape
    }
}
