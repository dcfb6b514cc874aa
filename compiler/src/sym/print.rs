//! Prints values of a step program as equations a person can check against a paper:
//! sources by name, operators with minimal parentheses, values used more than once bound once
//! with `let`.

use std::collections::HashMap;
use std::fmt::Write;

use crate::step::{BinaryOp, Op, StepProgram, UnaryOp, ValueId};

/// Names for a program's sources.
#[derive(Clone, Debug, Default)]
pub struct Naming {
    /// Parameters, by id.
    pub params: Vec<String>,
    /// States (their value at the previous step), by id.
    pub states: Vec<String>,
    /// Inputs, by index.
    pub inputs: Vec<String>,
    /// Loss seeds, by output.
    pub seeds: Vec<String>,
    /// Adjoints of the states' new values, by id.
    pub state_adjoints: Vec<String>,
}

/// Prints `lhs = expression` for each root, after `let` lines for shared subexpressions.
pub fn print_equations(program: &StepProgram, naming: &Naming, roots: &[(String, ValueId)]) -> String {
    // Count uses among everything the roots reach.
    let mut uses: HashMap<ValueId, usize> = HashMap::new();
    let mut order: Vec<ValueId> = Vec::new();
    let mut stack: Vec<ValueId> = roots.iter().map(|(_, v)| *v).collect();
    let mut seen: HashMap<ValueId, bool> = HashMap::new();
    while let Some(value) = stack.pop() {
        if seen.insert(value, true).is_some() {
            continue;
        }
        order.push(value);
        for operand in program.inst(value).op.operands() {
            *uses.entry(operand).or_default() += 1;
            stack.push(operand);
        }
    }
    for (_, root) in roots {
        *uses.entry(*root).or_default() += 1;
    }
    order.sort();
    let mut printer = Printer { program, naming, bound: HashMap::new() };
    let mut out = String::new();
    let mut next = 1;
    for value in order {
        let shared = uses.get(&value).copied().unwrap_or(0) > 1;
        if shared && !is_leaf(&program.inst(value).op) {
            let text = printer.expr(value, 0);
            let name = format!("t{next}");
            next += 1;
            let _ = writeln!(out, "let {name} = {text}");
            printer.bound.insert(value, name);
        }
    }
    for (lhs, value) in roots {
        let text = printer.expr(*value, 0);
        let _ = writeln!(out, "{lhs} = {text}");
    }
    out
}

fn is_leaf(op: &Op) -> bool {
    matches!(
        op,
        Op::Const(_)
            | Op::Param(_)
            | Op::State(_)
            | Op::Input(_)
            | Op::Noise(_)
            | Op::Seed(_)
            | Op::StateAdjoint(_)
            | Op::NextState(_)
    )
}

struct Printer<'p> {
    program: &'p StepProgram,
    naming: &'p Naming,
    bound: HashMap<ValueId, String>,
}

fn name_or(names: &[String], index: usize, fallback: &str) -> String {
    names.get(index).cloned().unwrap_or_else(|| format!("{fallback}{index}"))
}

impl Printer<'_> {
    /// The expression for `value`, parenthesised if its precedence is below `context`.
    fn expr(&self, value: ValueId, context: u8) -> String {
        if let Some(name) = self.bound.get(&value) {
            return name.clone();
        }
        let (text, precedence) = match self.program.inst(value).op {
            Op::Const(number) => (format!("{number}"), if number < 0.0 { 3 } else { 9 }),
            Op::Param(p) => (name_or(&self.naming.params, p.0 as usize, "p"), 9),
            Op::State(s) => (name_or(&self.naming.states, s.0 as usize, "s"), 9),
            Op::Input(i) => (name_or(&self.naming.inputs, i as usize, "u"), 9),
            Op::Noise(stream) => (format!("noise#{stream}"), 9),
            Op::Seed(o) => (name_or(&self.naming.seeds, o as usize, "seed"), 9),
            Op::StateAdjoint(s) => (name_or(&self.naming.state_adjoints, s.0 as usize, "λ"), 9),
            Op::NextState(s) => (format!("{}⁺", name_or(&self.naming.states, s.0 as usize, "s")), 9),
            Op::Unary(UnaryOp::Neg, a) => (format!("-{}", self.expr(a, 4)), 3),
            Op::Unary(op, a) => (format!("{}({})", op.name(), self.expr(a, 0)), 9),
            Op::Binary(op, a, b) => {
                let (symbol, precedence) = match op {
                    BinaryOp::Add => ("+", 1),
                    BinaryOp::Sub => ("-", 1),
                    BinaryOp::Mul => ("*", 2),
                    BinaryOp::Div => ("/", 2),
                    BinaryOp::Pow => ("^", 5),
                    BinaryOp::Lt => ("<", 0),
                    BinaryOp::Le => ("<=", 0),
                    BinaryOp::Gt => (">", 0),
                    BinaryOp::Ge => (">=", 0),
                    BinaryOp::Eq => ("==", 0),
                    BinaryOp::Ne => ("!=", 0),
                    BinaryOp::Min | BinaryOp::Max => {
                        return format!("{}({}, {})", op.name(), self.expr(a, 0), self.expr(b, 0));
                    }
                };
                let text = format!("{} {symbol} {}", self.expr(a, precedence), self.expr(b, precedence + 1));
                (text, precedence)
            }
            Op::Select(c, a, b) => {
                (format!("select({}, {}, {})", self.expr(c, 0), self.expr(a, 0), self.expr(b, 0)), 9)
            }
            Op::VecMat(x, w) => (format!("{} @ {}", self.expr(x, 2), self.expr(w, 3)), 2),
            Op::ScaledProduct(c, x, w) => {
                (format!("{} * ({} @ {})", self.expr(c, 2), self.expr(x, 2), self.expr(w, 3)), 2)
            }
            Op::VecMatT(x, w) => (format!("{} @ {}ᵀ", self.expr(x, 2), self.expr(w, 9)), 2),
            Op::Outer(x, y) => (format!("outer({}, {})", self.expr(x, 0), self.expr(y, 0)), 9),
            Op::Sum(a) => (format!("sum({})", self.expr(a, 0)), 9),
            Op::Broadcast(a) => return self.expr(a, context),
        };
        if precedence < context { format!("({text})") } else { text }
    }
}
