//! Compile-time evaluation: generic arguments, sizes, conditions, initialisers, bounds and
//! overrides are expressions over constants, evaluated during elaboration.

use std::collections::HashMap;

use reef_lang::ast::{BinaryOp, Expr, ExprKind, UnaryOp};
use reef_lang::{Diagnostic, Span};

use crate::graph::Init;

/// A value known at compile time.
#[derive(Clone, Debug, PartialEq)]
pub enum Const {
    /// A number in SI units with the power of seconds of its unit.
    Number(f64, i32),
    /// A boolean.
    Bool(bool),
    /// The name of a function (a `fn` generic argument).
    Function(String),
    /// A random initialiser such as `kaiming(n)`.
    Init(Init),
}

impl Const {
    /// What kind of value this is, for error messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Const::Number(..) => "a number",
            Const::Bool(_) => "a boolean",
            Const::Function(_) => "a function",
            Const::Init(_) => "an initialiser",
        }
    }
}

/// Names visible to compile-time expressions.
pub struct ConstEnv<'e> {
    /// Values by name (generic arguments, `dt`, constants declared so far).
    pub values: HashMap<String, Const>,
    /// Function names a `fn` argument may name.
    pub functions: &'e dyn Fn(&str) -> bool,
}

/// Builtin elementwise functions usable as `fn` generic arguments and in equations.
pub const UNARY_BUILTINS: [&str; 8] = ["exp", "log", "tanh", "sqrt", "abs", "floor", "sin", "cos"];

impl ConstEnv<'_> {
    /// Evaluates `expr`, or explains why it is not a compile-time constant.
    pub fn eval(&self, expr: &Expr) -> Result<Const, Diagnostic> {
        match &expr.kind {
            ExprKind::Number(number) => Ok(Const::Number(number.si_value(), number.unit.map_or(0, |u| u.time_power()))),
            ExprKind::Bool(value) => Ok(Const::Bool(*value)),
            ExprKind::Paren(inner) => self.eval(inner),
            ExprKind::Ident(name) => {
                if let Some(value) = self.values.get(name) {
                    Ok(value.clone())
                } else if (self.functions)(name) || UNARY_BUILTINS.contains(&name.as_str()) {
                    Ok(Const::Function(name.clone()))
                } else {
                    Err(not_constant(expr.span, &format!("`{name}` is not known at compile time here")))
                }
            }
            ExprKind::Unary(op, operand) => match (op, self.eval(operand)?) {
                (UnaryOp::Neg, Const::Number(value, dim)) => Ok(Const::Number(-value, dim)),
                (UnaryOp::Not, Const::Bool(value)) => Ok(Const::Bool(!value)),
                (_, other) => Err(not_constant(
                    expr.span,
                    &format!("cannot apply `{}` to {}", unary_symbol(*op), other.describe()),
                )),
            },
            ExprKind::Binary(op, left, right) => self.binary(*op, left, right, expr.span),
            ExprKind::If(cond, then, otherwise) => match self.eval(cond)? {
                Const::Bool(true) => self.eval(then),
                Const::Bool(false) => self.eval(otherwise),
                other => {
                    Err(not_constant(cond.span, &format!("a condition must be a boolean, not {}", other.describe())))
                }
            },
            ExprKind::Call { callee, args } => self.initialiser(callee.as_str(), args, expr.span),
            ExprKind::Str(_) | ExprKind::Path(_) => {
                Err(not_constant(expr.span, "expected a number, boolean or function here"))
            }
        }
    }

    /// Evaluates a size: a non-negative integer without unit.
    pub fn eval_size(&self, expr: &Expr) -> Result<usize, Diagnostic> {
        match self.eval(expr)? {
            Const::Number(value, 0) if value >= 0.0 && value.fract() == 0.0 && value < 1e9 => Ok(value as usize),
            other => Err(Diagnostic::error("E0307", "a size must be a non-negative whole number")
                .primary(expr.span, format!("this is {}", describe_value(&other)))),
        }
    }

    /// Evaluates a condition.
    pub fn eval_bool(&self, expr: &Expr) -> Result<bool, Diagnostic> {
        match self.eval(expr)? {
            Const::Bool(value) => Ok(value),
            other => Err(Diagnostic::error("E0207", "a condition must be a boolean")
                .primary(expr.span, format!("this is {}", other.describe()))),
        }
    }

    fn binary(&self, op: BinaryOp, left: &Expr, right: &Expr, span: Span) -> Result<Const, Diagnostic> {
        let (a, b) = (self.eval(left)?, self.eval(right)?);
        let result = match (a, b) {
            (Const::Number(x, dx), Const::Number(y, dy)) => {
                let same = |value: Const| {
                    if dx == dy {
                        Ok(value)
                    } else {
                        Err(super::units::mismatch(op.symbol(), dx, dy, left.span, right.span))
                    }
                };
                match op {
                    BinaryOp::Add => same(Const::Number(x + y, dx))?,
                    BinaryOp::Sub => same(Const::Number(x - y, dx))?,
                    BinaryOp::Mul => Const::Number(x * y, dx + dy),
                    BinaryOp::Div => Const::Number(x / y, dx - dy),
                    BinaryOp::Pow if dx == 0 && dy == 0 => Const::Number(x.powf(y), 0),
                    BinaryOp::Lt => same(Const::Bool(x < y))?,
                    BinaryOp::Le => same(Const::Bool(x <= y))?,
                    BinaryOp::Gt => same(Const::Bool(x > y))?,
                    BinaryOp::Ge => same(Const::Bool(x >= y))?,
                    BinaryOp::Eq => same(Const::Bool(x == y))?,
                    BinaryOp::Ne => same(Const::Bool(x != y))?,
                    BinaryOp::Pow | BinaryOp::And | BinaryOp::Or | BinaryOp::MatMul => {
                        return Err(not_constant(span, &format!("`{}` does not apply to these numbers", op.symbol())));
                    }
                }
            }
            (Const::Bool(x), Const::Bool(y)) => match op {
                BinaryOp::And => Const::Bool(x && y),
                BinaryOp::Or => Const::Bool(x || y),
                BinaryOp::Eq => Const::Bool(x == y),
                BinaryOp::Ne => Const::Bool(x != y),
                _ => return Err(not_constant(span, &format!("`{}` does not apply to booleans", op.symbol()))),
            },
            (a, b) => {
                return Err(not_constant(
                    span,
                    &format!("`{}` cannot combine {} with {}", op.symbol(), a.describe(), b.describe()),
                ));
            }
        };
        Ok(result)
    }

    fn initialiser(&self, name: &str, args: &[reef_lang::ast::Arg], span: Span) -> Result<Const, Diagnostic> {
        let numbers: Vec<f64> = args
            .iter()
            .map(|arg| match self.eval(&arg.value)? {
                Const::Number(value, _) => Ok(value),
                other => Err(not_constant(arg.value.span, &format!("expected a number, found {}", other.describe()))),
            })
            .collect::<Result<_, _>>()?;
        let init = match (name, numbers.as_slice()) {
            ("kaiming", [fan_in]) => {
                let bound = (6.0 / fan_in).sqrt();
                Init::Uniform { low: -bound, high: bound }
            }
            ("uniform_sqrt", [n]) => {
                let bound = (1.0 / n).sqrt();
                Init::Uniform { low: -bound, high: bound }
            }
            ("unit_eigs", [n]) => Init::Normal { mean: 0.0, std: 1.0 / n.sqrt() },
            ("uniform", [low, high]) => Init::Uniform { low: *low, high: *high },
            ("normal", [mean, std]) => Init::Normal { mean: *mean, std: *std },
            ("kaiming" | "uniform_sqrt" | "unit_eigs" | "uniform" | "normal", _) => {
                return Err(Diagnostic::error("E0208", format!("wrong number of arguments to `{name}`"))
                    .primary(span, format!("{} given", numbers.len()))
                    .help(INITIALISERS_HELP));
            }
            _ => {
                return Err(not_constant(span, &format!("`{name}(...)` is not an initialiser")).help(INITIALISERS_HELP));
            }
        };
        Ok(Const::Init(init))
    }
}

/// The initialisers a declaration may use.
pub const INITIALISERS_HELP: &str = "initialisers are `kaiming(fan_in)`, `unit_eigs(n)`, `uniform_sqrt(n)`, `uniform(low, high)` and `normal(mean, std)`";

fn unary_symbol(op: UnaryOp) -> &'static str {
    match op {
        UnaryOp::Neg => "-",
        UnaryOp::Not => "!",
    }
}

fn describe_value(value: &Const) -> String {
    match value {
        Const::Number(number, 0) => format!("the number {number}"),
        Const::Number(number, _) => format!("a quantity with a unit ({number} in SI units)"),
        other => other.describe().to_string(),
    }
}

fn not_constant(span: Span, why: &str) -> Diagnostic {
    Diagnostic::error("E0209", "expected a value known at compile time").primary(span, why.to_string()).note(
        "sizes, conditions, generic arguments, initial values and bounds are evaluated when the network is compiled",
    )
}
