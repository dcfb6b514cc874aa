//! The canonical text form of a step program (`reef ir --step`, snapshots).

use std::fmt;

use super::{BinaryOp, Op, Shape, StateInit, StepProgram, UnaryOp};

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Scalar => write!(f, "[]"),
            Shape::Vector(n) => write!(f, "[{n}]"),
            Shape::Matrix(rows, cols) => write!(f, "[{rows}, {cols}]"),
        }
    }
}

impl UnaryOp {
    /// The op's name in the text form.
    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Abs => "abs",
            UnaryOp::Floor => "floor",
            UnaryOp::Sin => "sin",
            UnaryOp::Cos => "cos",
        }
    }
}

impl BinaryOp {
    /// The op's name in the text form.
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Pow => "pow",
            BinaryOp::Min => "min",
            BinaryOp::Max => "max",
            BinaryOp::Lt => "lt",
            BinaryOp::Le => "le",
            BinaryOp::Gt => "gt",
            BinaryOp::Ge => "ge",
            BinaryOp::Eq => "eq",
            BinaryOp::Ne => "ne",
        }
    }
}

/// Formats a number so that it reads back exactly and integers stay short.
pub fn number(value: f64) -> String {
    if value == value.trunc() && value.abs() < 1e15 { format!("{value:.1}") } else { format!("{value:e}") }
}

impl fmt::Display for StepProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, param) in self.params.iter().enumerate() {
            writeln!(f, "param p{index} {} {}", param.name, param.shape)?;
        }
        for (index, state) in self.states.iter().enumerate() {
            let init = match &state.init {
                StateInit::Constant(value) => number(*value),
                StateInit::Param(param) => format!("p{}", param.0),
            };
            writeln!(f, "state s{index} {} {} = {init}", state.name, state.shape)?;
        }
        for (index, size) in self.inputs.iter().enumerate() {
            writeln!(f, "input i{index} [{size}]")?;
        }
        for (index, inst) in self.insts.iter().enumerate() {
            let v = |id: super::ValueId| format!("%{}", id.0);
            let text = match inst.op {
                Op::Const(value) => format!("const {}", number(value)),
                Op::Param(param) => format!("param p{}", param.0),
                Op::State(state) => format!("state s{}", state.0),
                Op::Input(input) => format!("input i{input}"),
                Op::Noise(stream) => format!("noise #{stream}"),
                Op::Seed(output) => format!("seed o{output}"),
                Op::StateAdjoint(state) => format!("adjoint s{}", state.0),
                Op::NextState(state) => format!("next s{}", state.0),
                Op::Unary(op, a) => format!("{} {}", op.name(), v(a)),
                Op::Binary(op, a, b) => format!("{} {}, {}", op.name(), v(a), v(b)),
                Op::Select(c, a, b) => format!("select {}, {}, {}", v(c), v(a), v(b)),
                Op::ScaledProduct(c, x, w) => format!("scaledproduct {}, {}, {}", v(c), v(x), v(w)),
                Op::VecMat(a, b) => format!("vecmat {}, {}", v(a), v(b)),
                Op::VecMatT(a, b) => format!("vecmatT {}, {}", v(a), v(b)),
                Op::Outer(a, b) => format!("outer {}, {}", v(a), v(b)),
                Op::Sum(a) => format!("sum {}", v(a)),
                Op::Broadcast(a) => format!("broadcast {}", v(a)),
            };
            writeln!(f, "%{index} = {text} : {}", inst.shape)?;
        }
        for call in &self.custom_calls {
            let args: Vec<String> = call.args.iter().map(|a| format!("%{}", a.0)).collect();
            let partials: Vec<String> =
                call.partials.iter().map(|p| p.map_or("0".to_string(), |v| format!("%{}", v.0))).collect();
            writeln!(
                f,
                "custom %{} = {}({}) partials ({})",
                call.result.0,
                call.function,
                args.join(", "),
                partials.join(", ")
            )?;
        }
        for (index, value) in self.state_updates.iter().enumerate() {
            writeln!(f, "s{index} <- %{}", value.0)?;
        }
        for (name, value) in &self.records {
            writeln!(f, "record {name} = %{}", value.0)?;
        }
        for value in &self.outputs {
            writeln!(f, "output %{}", value.0)?;
        }
        Ok(())
    }
}
