//! Lowers model equations to fragment instructions, checking shapes and units and inlining
//! functions (a function with declared derivatives is also recorded as a custom call).

use std::collections::HashMap;

use reef_lang::ast::{self, Expr, ExprKind};
use reef_lang::{Diagnostic, Span};

use super::consteval::{Const, ConstEnv, UNARY_BUILTINS};
use super::fragment::{FragmentBuilder, Typed};
use super::scope::{Scope, suggestion};
use super::units;
use crate::step::{BinaryOp, Op, ParamId, Shape, StateId, UnaryOp, ValueId};

/// What a name in an equation stands for.
#[derive(Clone, Debug)]
pub enum Binding {
    /// An input, `let` value or constant.
    Value(Typed),
    /// A parameter.
    Param {
        /// Its value.
        value: Typed,
        /// Its id.
        id: ParamId,
    },
    /// A state: its current value (the previous step's until reassigned).
    State {
        /// Its id.
        id: StateId,
        /// Its value at this point of the step.
        current: ValueId,
        /// Power of seconds of its unit.
        time: i32,
        /// Where it was declared.
        declared: Span,
    },
}

/// Lowers equations of one model body.
pub struct Equations<'b, 's, 'a, 'e> {
    /// Items in scope (functions).
    pub scope: &'s Scope<'a>,
    /// Where instructions go.
    pub builder: &'b mut FragmentBuilder,
    /// Compile-time values (generics, constants, `dt`).
    pub env: &'b ConstEnv<'e>,
    /// Names declared so far.
    pub bindings: &'b HashMap<String, Binding>,
    /// Time step, seconds.
    pub dt: f64,
    /// Depth of function inlining, to stop runaway recursion.
    pub depth: usize,
}

/// Functions nest at most this deep (a recursive function is an error).
const MAX_INLINE_DEPTH: usize = 32;

impl Equations<'_, '_, '_, '_> {
    /// Lowers one expression.
    pub fn lower(&mut self, expr: &Expr) -> Result<Typed, Diagnostic> {
        match &expr.kind {
            ExprKind::Number(number) => Ok(Typed {
                value: self.builder.number(number.si_value()),
                time: number.unit.map_or(0, |u| u.time_power()),
            }),
            ExprKind::Bool(value) => Ok(Typed { value: self.builder.number(if *value { 1.0 } else { 0.0 }), time: 0 }),
            ExprKind::Paren(inner) => self.lower(inner),
            ExprKind::Ident(name) => self.name(name, expr.span),
            ExprKind::Unary(op, operand) => {
                let typed = self.lower(operand)?;
                let value = match op {
                    ast::UnaryOp::Neg => match self.builder.constant(typed.value) {
                        Some(number) => self.builder.number(-number),
                        None => {
                            let shape = self.builder.shape(typed.value);
                            self.builder.push(Op::Unary(UnaryOp::Neg, typed.value), shape)
                        }
                    },
                    ast::UnaryOp::Not => {
                        let zero = self.builder.number(0.0);
                        self.builder.binary(BinaryOp::Eq, (typed.value, operand.span), (zero, operand.span))?
                    }
                };
                Ok(Typed { value, time: typed.time })
            }
            ExprKind::Binary(op, left, right) => self.binary(*op, left, right),
            ExprKind::If(cond, then, otherwise) => match self.env.eval(cond) {
                // A condition on generic arguments picks a branch at compile time.
                Ok(Const::Bool(true)) => self.lower(then),
                Ok(Const::Bool(false)) => self.lower(otherwise),
                _ => {
                    let c = self.lower(cond)?;
                    let a = self.lower(then)?;
                    let b = self.lower(otherwise)?;
                    if a.time != b.time {
                        return Err(units::mismatch("if", a.time, b.time, then.span, otherwise.span));
                    }
                    self.select(c.value, (a.value, then.span), (b.value, otherwise.span), expr.span, a.time)
                }
            },
            ExprKind::Call { callee, args } => self.call(callee, args, expr.span),
            ExprKind::Str(_) => {
                Err(Diagnostic::error("E0302", "text is not a value in an equation").primary(expr.span, "a string"))
            }
            ExprKind::Path(path) => Err(Diagnostic::error(
                "E0209",
                format!("`{}` is a parameter path; equations use plain names", path.join(".")),
            )
            .primary(expr.span, "a dotted path")
            .help("dotted paths name parameters of a network in `train` blocks and losses")),
        }
    }

    fn name(&mut self, name: &str, span: Span) -> Result<Typed, Diagnostic> {
        if let Some(binding) = self.bindings.get(name) {
            return Ok(match binding {
                Binding::Value(typed) | Binding::Param { value: typed, .. } => *typed,
                Binding::State { current, time, .. } => Typed { value: *current, time: *time },
            });
        }
        match self.env.values.get(name) {
            Some(Const::Number(number, time)) => Ok(Typed { value: self.builder.number(*number), time: *time }),
            Some(Const::Bool(value)) => {
                Ok(Typed { value: self.builder.number(if *value { 1.0 } else { 0.0 }), time: 0 })
            }
            Some(Const::Function(_)) | Some(Const::Init(_)) => {
                Err(Diagnostic::error("E0209", format!("`{name}` is a function; call it"))
                    .primary(span, format!("write `{name}(...)`")))
            }
            None => {
                let candidates: Vec<&str> = self
                    .bindings
                    .keys()
                    .map(String::as_str)
                    .chain(self.env.values.keys().map(String::as_str))
                    .filter(|k| !k.starts_with('#'))
                    .collect();
                let mut diagnostic = Diagnostic::error("E0209", format!("unknown name `{name}`"))
                    .primary(span, "not declared in this model");
                if let Some(help) = suggestion(name, candidates) {
                    diagnostic = diagnostic.help(help);
                }
                Err(diagnostic)
            }
        }
    }

    fn binary(&mut self, op: ast::BinaryOp, left: &Expr, right: &Expr) -> Result<Typed, Diagnostic> {
        let a = self.lower(left)?;
        let b = self.lower(right)?;
        let (la, lb) = ((a.value, left.span), (b.value, right.span));
        let same_unit = |time: i32| {
            if a.time == b.time {
                Ok(time)
            } else {
                Err(units::mismatch(op.symbol(), a.time, b.time, left.span, right.span))
            }
        };
        let (step_op, time) = match op {
            ast::BinaryOp::Add => (BinaryOp::Add, same_unit(a.time)?),
            ast::BinaryOp::Sub => (BinaryOp::Sub, same_unit(a.time)?),
            ast::BinaryOp::Mul => (BinaryOp::Mul, a.time + b.time),
            ast::BinaryOp::Div => (BinaryOp::Div, a.time - b.time),
            ast::BinaryOp::Pow => {
                if b.time != 0 {
                    return Err(units::needs_dimensionless("^", b.time, right.span));
                }
                let exponent = self.builder.constant(b.value);
                let time = match exponent {
                    Some(e) if e.fract() == 0.0 => a.time * e as i32,
                    _ if a.time == 0 => 0,
                    _ => return Err(units::needs_dimensionless("^", a.time, left.span)),
                };
                (BinaryOp::Pow, time)
            }
            ast::BinaryOp::Lt => (BinaryOp::Lt, same_unit(0)?),
            ast::BinaryOp::Le => (BinaryOp::Le, same_unit(0)?),
            ast::BinaryOp::Gt => (BinaryOp::Gt, same_unit(0)?),
            ast::BinaryOp::Ge => (BinaryOp::Ge, same_unit(0)?),
            ast::BinaryOp::Eq => (BinaryOp::Eq, same_unit(0)?),
            ast::BinaryOp::Ne => (BinaryOp::Ne, same_unit(0)?),
            // Truth values are 0 and 1: `a && b` is `a * b != 0`, `a || b` is `max(a, b) != 0`.
            ast::BinaryOp::And => (BinaryOp::Mul, 0),
            ast::BinaryOp::Or => (BinaryOp::Max, 0),
            ast::BinaryOp::MatMul => return self.matmul(a, b, left.span, right.span),
        };
        let value = self.builder.binary(step_op, la, lb)?;
        Ok(Typed { value, time })
    }

    fn matmul(&mut self, a: Typed, b: Typed, left: Span, right: Span) -> Result<Typed, Diagnostic> {
        let (sa, sb) = (self.builder.shape(a.value), self.builder.shape(b.value));
        match (sa, sb) {
            (Shape::Vector(n), Shape::Matrix(rows, cols)) if n == rows => {
                let value = self.builder.push(Op::VecMat(a.value, b.value), Shape::Vector(cols));
                Ok(Typed { value, time: a.time + b.time })
            }
            (Shape::Vector(n), Shape::Matrix(rows, cols)) => {
                Err(Diagnostic::error("E0302", format!("cannot multiply a vector [{n}] by a matrix [{rows}, {cols}]"))
                    .primary(left, format!("{n} elements"))
                    .secondary(right, format!("{rows} rows"))
                    .help("`x @ W` needs as many elements in `x` as rows in `W`"))
            }
            _ => Err(Diagnostic::error("E0302", format!("`@` multiplies a vector by a matrix, not {sa} by {sb}"))
                .primary(left, format!("shape {sa}"))
                .secondary(right, format!("shape {sb}"))),
        }
    }

    fn select(
        &mut self,
        cond: ValueId,
        a: (ValueId, Span),
        b: (ValueId, Span),
        span: Span,
        time: i32,
    ) -> Result<Typed, Diagnostic> {
        let shapes = (self.builder.shape(cond), self.builder.shape(a.0), self.builder.shape(b.0));
        let shape = Shape::broadcast(shapes.1, shapes.2).and_then(|s| Shape::broadcast(s, shapes.0));
        let Some(shape) = shape else {
            return Err(Diagnostic::error("E0302", format!("the branches have shapes {} and {}", shapes.1, shapes.2))
                .primary(a.1, format!("shape {}", shapes.1))
                .secondary(b.1, format!("shape {}", shapes.2))
                .secondary(span, "in this selection"));
        };
        Ok(Typed { value: self.builder.push(Op::Select(cond, a.0, b.0), shape), time })
    }

    fn arity(&self, name: &str, args: &[ast::Arg], expected: usize, span: Span) -> Result<(), Diagnostic> {
        if args.len() != expected {
            return Err(Diagnostic::error(
                "E0208",
                format!("`{name}` takes {expected} argument(s), {} given", args.len()),
            )
            .primary(span, "here"));
        }
        if let Some(arg) = args.iter().find(|a| a.label.is_some()) {
            return Err(Diagnostic::error("E0208", format!("`{name}` takes positional arguments"))
                .primary(arg.value.span, "labelled argument"));
        }
        Ok(())
    }

    fn call(&mut self, callee: &reef_lang::Ident, args: &[ast::Arg], span: Span) -> Result<Typed, Diagnostic> {
        let mut name = callee.node.as_str();
        // A `fn` generic argument stands for the function it names.
        let resolved;
        if let Some(Const::Function(target)) = self.env.values.get(name) {
            resolved = target.clone();
            name = resolved.as_str();
        }
        if let Some(op) = unary_builtin(name) {
            self.arity(name, args, 1, span)?;
            let typed = self.lower(&args[0].value)?;
            let time = match op {
                UnaryOp::Abs | UnaryOp::Floor | UnaryOp::Neg => typed.time,
                UnaryOp::Sqrt if typed.time % 2 == 0 => typed.time / 2,
                UnaryOp::Sqrt | UnaryOp::Exp | UnaryOp::Log | UnaryOp::Tanh | UnaryOp::Sin | UnaryOp::Cos => {
                    if typed.time != 0 {
                        return Err(units::needs_dimensionless(name, typed.time, args[0].value.span));
                    }
                    0
                }
            };
            let shape = self.builder.shape(typed.value);
            let value = match self.builder.constant(typed.value) {
                Some(number) => self.builder.number(apply_unary(op, number)),
                None => self.builder.push(Op::Unary(op, typed.value), shape),
            };
            return Ok(Typed { value, time });
        }
        match name {
            "min" | "max" => {
                self.arity(name, args, 2, span)?;
                let op = if name == "min" { BinaryOp::Min } else { BinaryOp::Max };
                let (a, b) = (self.lower(&args[0].value)?, self.lower(&args[1].value)?);
                if a.time != b.time {
                    return Err(units::mismatch(name, a.time, b.time, args[0].value.span, args[1].value.span));
                }
                let value = self.builder.binary(op, (a.value, args[0].value.span), (b.value, args[1].value.span))?;
                Ok(Typed { value, time: a.time })
            }
            "clip" => {
                self.arity(name, args, 3, span)?;
                let x = self.lower(&args[0].value)?;
                let low = self.lower(&args[1].value)?;
                let high = self.lower(&args[2].value)?;
                for (bound, arg) in [(low, &args[1]), (high, &args[2])] {
                    if bound.time != x.time {
                        return Err(units::mismatch("clip", x.time, bound.time, args[0].value.span, arg.value.span));
                    }
                }
                let raised = self.builder.binary(
                    BinaryOp::Max,
                    (x.value, args[0].value.span),
                    (low.value, args[1].value.span),
                )?;
                let value = self.builder.binary(
                    BinaryOp::Min,
                    (raised, args[0].value.span),
                    (high.value, args[2].value.span),
                )?;
                Ok(Typed { value, time: x.time })
            }
            "select" => {
                self.arity(name, args, 3, span)?;
                let c = self.lower(&args[0].value)?;
                let a = self.lower(&args[1].value)?;
                let b = self.lower(&args[2].value)?;
                if a.time != b.time {
                    return Err(units::mismatch("select", a.time, b.time, args[1].value.span, args[2].value.span));
                }
                self.select(c.value, (a.value, args[1].value.span), (b.value, args[2].value.span), span, a.time)
            }
            "sum" | "mean" => {
                self.arity(name, args, 1, span)?;
                let x = self.lower(&args[0].value)?;
                let length = self.builder.shape(x.value).len();
                let total = self.builder.push(Op::Sum(x.value), Shape::Scalar);
                let value = if name == "mean" {
                    let count = self.builder.number(length as f64);
                    self.builder.binary(BinaryOp::Div, (total, span), (count, span))?
                } else {
                    total
                };
                Ok(Typed { value, time: x.time })
            }
            "noise" => {
                self.arity(name, args, 1, span)?;
                let std = self.lower(&args[0].value)?;
                let shape = self.builder.shape(std.value);
                // `noise(0)` draws nothing (Rockpool: with noise_std = 0 nothing is drawn).
                if self.builder.constant(std.value) == Some(0.0) {
                    return Ok(Typed { value: self.builder.number(0.0), time: std.time });
                }
                let normal =
                    self.builder.push(Op::Noise(0), if shape == Shape::Scalar { Shape::Scalar } else { shape });
                let scale = self.builder.number(self.dt.sqrt());
                let scaled = self.builder.binary(BinaryOp::Mul, (std.value, span), (scale, span))?;
                let value = self.builder.binary(BinaryOp::Mul, (scaled, span), (normal, span))?;
                Ok(Typed { value, time: std.time })
            }
            "kaiming" | "unit_eigs" | "uniform_sqrt" | "uniform" | "normal" => {
                Err(Diagnostic::error("E0209", format!("`{name}` is an initialiser, not a function"))
                    .primary(span, "initialisers give the starting value of a `param`"))
            }
            _ => self.inline_function(name, callee, args, span),
        }
    }

    fn inline_function(
        &mut self,
        name: &str,
        callee: &reef_lang::Ident,
        args: &[ast::Arg],
        span: Span,
    ) -> Result<Typed, Diagnostic> {
        let Some(function) = self.scope.functions.get(name).copied() else {
            let known = self
                .scope
                .functions
                .keys()
                .copied()
                .chain(UNARY_BUILTINS)
                .chain(["min", "max", "clip", "select", "sum", "mean", "noise"]);
            let mut diagnostic =
                Diagnostic::error("E0201", format!("unknown function `{name}`")).primary(callee.span, "not a function");
            if let Some(help) = suggestion(name, known) {
                diagnostic = diagnostic.help(help);
            }
            return Err(diagnostic);
        };
        self.arity(name, args, function.params.len(), span)?;
        if self.depth >= MAX_INLINE_DEPTH {
            return Err(Diagnostic::error("E0213", format!("`{name}` calls itself (functions cannot be recursive)"))
                .primary(function.name.span, "recursive function"));
        }
        let mut values = Vec::new();
        let mut bindings = HashMap::new();
        for (param, arg) in function.params.iter().zip(args) {
            let typed = self.lower(&arg.value)?;
            values.push(typed.value);
            bindings.insert(param.node.clone(), Binding::Value(typed));
        }
        let functions = |name: &str| self.scope.functions.contains_key(name);
        let mut env = ConstEnv { values: HashMap::new(), functions: &functions };
        env.values.insert("dt".to_string(), Const::Number(self.dt, 1));
        let mut inner = Equations {
            scope: self.scope,
            builder: &mut *self.builder,
            env: &env,
            bindings: &bindings,
            dt: self.dt,
            depth: self.depth + 1,
        };
        let result =
            inner.lower(&function.body).map_err(|error| error.secondary(span, format!("in this call of `{name}`")))?;
        if !function.grads.is_empty() {
            // Declared derivatives replace the body's for the adjoint. They are computed beside
            // the body (checked for shapes, units and names here) and used only by the adjoint.
            let mut partials = vec![None; function.params.len()];
            for grad in &function.grads {
                let Some(position) = function.params.iter().position(|p| p.node == grad.param.node) else {
                    return Err(Diagnostic::error(
                        "E0209",
                        format!("`{}` is not an argument of `{name}`", grad.param.node),
                    )
                    .primary(grad.param.span, "not an argument"));
                };
                let mut check = Equations {
                    scope: self.scope,
                    builder: &mut *self.builder,
                    env: &env,
                    bindings: &bindings,
                    dt: self.dt,
                    depth: self.depth + 1,
                };
                partials[position] = Some(check.lower(&grad.expr)?.value);
            }
            self.builder.custom_call(name, result.value, values, partials);
        }
        Ok(result)
    }
}

/// The step op of a builtin elementwise function.
fn unary_builtin(name: &str) -> Option<UnaryOp> {
    Some(match name {
        "exp" => UnaryOp::Exp,
        "log" => UnaryOp::Log,
        "tanh" => UnaryOp::Tanh,
        "sqrt" => UnaryOp::Sqrt,
        "abs" => UnaryOp::Abs,
        "floor" => UnaryOp::Floor,
        "sin" => UnaryOp::Sin,
        "cos" => UnaryOp::Cos,
        _ => return None,
    })
}

/// A unary op on a constant (the interpreter's f64 arithmetic).
pub fn apply_unary(op: UnaryOp, x: f64) -> f64 {
    <f64 as crate::interp::Real>::unary(op, x)
}
