//! Instantiates a model: binds generic arguments and overrides, resolves `if`s on generics,
//! declares parameters, constants and states, and turns the equations into a fragment.

use std::collections::HashMap;

use reef_lang::ast::{Arg, ArgLabel, Decl, Expr, GenericKind, Model, Stmt, StmtKind};
use reef_lang::{Diagnostic, Diagnostics, Ident, Span};

use super::consteval::{Const, ConstEnv, INITIALISERS_HELP};
use super::equation::{Binding, Equations};
use super::fragment::{FragmentBuilder, Typed};
use super::scope::{Scope, suggestion};
use super::units;
use crate::graph::{ConstInfo, Init, Instance, ParamInfo};
use crate::step::{Op, ParamId, Shape, StateId, StateInit, StateSlot};

/// Network-wide tables that instantiation appends to.
pub struct Tables {
    /// Parameters of every instance so far.
    pub params: Vec<ParamInfo>,
    /// Constants of every instance so far.
    pub consts: Vec<ConstInfo>,
    /// States of every instance so far.
    pub states: Vec<StateSlot>,
    /// The network's time step, seconds.
    pub dt: f64,
}

/// Instantiates `model` at `path` with the call's arguments. Errors go to `diagnostics`;
/// `None` means the instance could not be built.
pub fn instantiate(
    scope: &Scope<'_>,
    tables: &mut Tables,
    model: &Model,
    args: &[Arg],
    call_span: Span,
    path: &str,
    diagnostics: &mut Diagnostics,
) -> Option<Instance> {
    let functions = |name: &str| scope.functions.contains_key(name);
    let mut env = ConstEnv { values: HashMap::new(), functions: &functions };
    env.values.insert("dt".to_string(), Const::Number(tables.dt, 1));
    let network_env = ConstEnv { values: env.values.clone(), functions: &functions };

    // Positional arguments bind generics in order; named ones bind generics or override
    // parameters and constants.
    let mut bound: HashMap<&str, (Const, Span)> = HashMap::new();
    let mut overrides: Vec<(&Ident, &Expr)> = Vec::new();
    let mut positional = model.generics.iter();
    let mut ok = true;
    for arg in args {
        match &arg.label {
            None => match positional.next() {
                Some(generic) => match network_env.eval(&arg.value) {
                    Ok(value) => {
                        bound.insert(&generic.name.node, (value, arg.value.span));
                    }
                    Err(error) => {
                        diagnostics.push(error);
                        ok = false;
                    }
                },
                None => {
                    diagnostics.push(
                        Diagnostic::error("E0208", format!("too many arguments for `{}`", model.name.node))
                            .primary(arg.value.span, "unexpected argument")
                            .secondary(
                                model.name.span,
                                format!("`{}` takes {} generic arguments", model.name.node, model.generics.len()),
                            )
                            .help("parameters are overridden by name, e.g. `tau = 30 ms`"),
                    );
                    ok = false;
                }
            },
            Some(ArgLabel::Named(name)) => {
                if model.generics.iter().any(|g| g.name.node == name.node) {
                    if bound.contains_key(name.as_str()) {
                        diagnostics.push(
                            Diagnostic::error("E0204", format!("`{}` is given twice", name.node))
                                .primary(name.span, "given again here"),
                        );
                        ok = false;
                        continue;
                    }
                    match network_env.eval(&arg.value) {
                        Ok(value) => {
                            bound.insert(&name.node, (value, arg.value.span));
                        }
                        Err(error) => {
                            diagnostics.push(error);
                            ok = false;
                        }
                    }
                } else {
                    overrides.push((name, &arg.value));
                }
            }
            Some(ArgLabel::Member(name)) => {
                diagnostics.push(
                    Diagnostic::error("E0205", "a model's arguments cannot be labelled with `:`")
                        .primary(name.span, "a `name:` label names a member of `Sequential` or `Residual`")
                        .help(format!("to set a parameter write `{} = value`", name.node)),
                );
                ok = false;
            }
        }
    }

    // Check kinds, apply defaults, report missing generics.
    let mut generics_text = Vec::new();
    for generic in &model.generics {
        let (value, span) = match bound.remove(generic.name.as_str()) {
            Some(found) => found,
            None => match &generic.default {
                Some(default) => match env.eval(default) {
                    Ok(value) => (value, default.span),
                    Err(error) => {
                        diagnostics.push(error);
                        ok = false;
                        continue;
                    }
                },
                None => {
                    diagnostics.push(
                        Diagnostic::error(
                            "E0206",
                            format!("missing argument `{}` of `{}`", generic.name.node, model.name.node),
                        )
                        .primary(call_span, format!("`{}` needs a value for `{}`", model.name.node, generic.name.node))
                        .secondary(
                            generic.name.span,
                            format!("`{}: {}` declared here", generic.name.node, generic.kind.node.keyword()),
                        ),
                    );
                    ok = false;
                    continue;
                }
            },
        };
        let kind_ok = matches!(
            (generic.kind.node, &value),
            (GenericKind::Size, Const::Number(v, 0)) if *v >= 0.0 && v.fract() == 0.0
        ) || matches!(
            (generic.kind.node, &value),
            (GenericKind::Bool, Const::Bool(_))
                | (GenericKind::Fn, Const::Function(_))
                | (GenericKind::Number, Const::Number(..))
        );
        if !kind_ok {
            diagnostics.push(
                Diagnostic::error(
                    "E0207",
                    format!(
                        "`{}` expects a {}, found {}",
                        generic.name.node,
                        kind_description(generic.kind.node),
                        value.describe()
                    ),
                )
                .primary(span, format!("this is {}", value.describe()))
                .secondary(
                    generic.name.span,
                    format!("declared as `{}: {}`", generic.name.node, generic.kind.node.keyword()),
                ),
            );
            ok = false;
            continue;
        }
        generics_text.push((generic.name.node.clone(), const_text(&value)));
        env.values.insert(generic.name.node.clone(), value);
    }
    if !ok {
        return None;
    }

    let mut walker = Walker {
        scope,
        tables,
        env,
        path,
        overrides: overrides.iter().map(|(name, value)| (name.node.clone(), (*name, *value, false))).collect(),
        bindings: HashMap::new(),
        equations_builder: FragmentBuilder::default(),
        input: None,
        input_name: String::new(),
        output: None,
        params: Vec::new(),
        states: Vec::new(),
        diagnostics: Diagnostics::new(),
    };
    walker.stmts(&model.body);
    // Overrides that named nothing.
    let declared: Vec<String> = walker.declared_names();
    for (name, (ident, _, used)) in &walker.overrides {
        if !used {
            let help = suggestion(
                name,
                declared.iter().map(String::as_str).chain(model.generics.iter().map(|g| g.name.as_str())),
            );
            let mut diagnostic =
                Diagnostic::error("E0205", format!("`{}` has no parameter or argument `{name}`", model.name.node))
                    .primary(ident.span, "not a generic argument, parameter or constant of this model")
                    .secondary(model.name.span, format!("`{}` is defined here", model.name.node));
            if let Some(help) = help {
                diagnostic = diagnostic.help(help);
            }
            walker.diagnostics.push(diagnostic);
        }
    }
    if walker.output.is_none() && !walker.diagnostics.has_errors() {
        walker.diagnostics.push(
            Diagnostic::error("E0211", format!("model `{}` has no `output`", model.name.node))
                .primary(model.name.span, "this model never says what it outputs")
                .help("add `output <expression>` to the model's body"),
        );
    }
    let failed = walker.diagnostics.has_errors();
    let Walker { equations_builder, input, input_name, output, params, states, diagnostics: own, bindings, .. } =
        walker;
    diagnostics.extend(own);
    if failed {
        return None;
    }
    let output = output?;
    let mut builder = equations_builder;
    let state_updates = states
        .iter()
        .map(|state: &StateId| match bindings.get(&state_binding_key(*state)) {
            Some(Binding::State { current, .. }) => (*state, *current),
            _ => (*state, builder.push(Op::State(*state), Shape::Scalar)),
        })
        .collect();
    let out_size = match builder.shape(output) {
        Shape::Vector(n) => n,
        Shape::Scalar | Shape::Matrix(..) => 0,
    };
    let mut fragment = builder.finish();
    fragment.output = Some(output);
    fragment.state_updates = state_updates;
    Some(Instance {
        path: path.to_string(),
        model: model.name.node.clone(),
        generics: generics_text,
        in_size: input.unwrap_or(0),
        input_name,
        out_size,
        params,
        states,
        fragment,
        span: call_span,
    })
}

fn kind_description(kind: GenericKind) -> &'static str {
    match kind {
        GenericKind::Size => "size (a whole number)",
        GenericKind::Bool => "boolean",
        GenericKind::Fn => "function name",
        GenericKind::Number => "number",
    }
}

fn const_text(value: &Const) -> String {
    match value {
        Const::Number(number, 0) => crate::step::number(*number).trim_end_matches(".0").to_string(),
        Const::Number(number, 1) => format!("{} s", crate::step::number(*number)),
        Const::Number(number, power) => format!("{} s^{power}", crate::step::number(*number)),
        Const::Bool(value) => value.to_string(),
        Const::Function(name) => name.clone(),
        Const::Init(init) => init.to_string(),
    }
}

/// Bindings of states are stored under a key no identifier can take, so the walker can find
/// each state's final value by id.
fn state_binding_key(state: StateId) -> String {
    format!("#state{}", state.0)
}

/// Walks a model body.
struct Walker<'s, 'a, 'e> {
    scope: &'s Scope<'a>,
    tables: &'s mut Tables,
    env: ConstEnv<'e>,
    path: &'s str,
    /// name → (name as written, value, used?)
    overrides: HashMap<String, (&'s Ident, &'s Expr, bool)>,
    bindings: HashMap<String, Binding>,
    equations_builder: FragmentBuilder,
    input: Option<usize>,
    input_name: String,
    output: Option<crate::step::ValueId>,
    params: Vec<ParamId>,
    states: Vec<StateId>,
    diagnostics: Diagnostics,
}

impl Walker<'_, '_, '_> {
    fn declared_names(&self) -> Vec<String> {
        self.bindings.keys().filter(|k| !k.starts_with('#')).cloned().collect()
    }

    fn stmts(&mut self, stmts: &[Stmt]) {
        for stmt in stmts {
            self.stmt(stmt);
        }
    }

    fn condition_holds(&mut self, condition: Option<&Expr>) -> bool {
        match condition {
            None => true,
            Some(cond) => match self.env.eval_bool(cond) {
                Ok(value) => value,
                Err(error) => {
                    self.diagnostics.push(error);
                    false
                }
            },
        }
    }

    fn shape(&mut self, dims: Option<&[Expr]>) -> Option<Shape> {
        let Some(dims) = dims else { return Some(Shape::Scalar) };
        let mut sizes = Vec::new();
        for dim in dims {
            match self.env.eval_size(dim) {
                Ok(size) => sizes.push(size),
                Err(error) => {
                    self.diagnostics.push(error);
                    return None;
                }
            }
        }
        let shape = Shape::from_dims(&sizes);
        if shape.is_none()
            && let (Some(first), Some(last)) = (dims.first(), dims.last())
        {
            self.diagnostics.push(
                Diagnostic::error("E0302", "values have at most two dimensions")
                    .primary(first.span.to(last.span), format!("{} dimensions", sizes.len())),
            );
        }
        shape
    }

    fn already_declared(&mut self, name: &Ident) -> bool {
        if self.bindings.contains_key(name.as_str()) {
            self.diagnostics.push(
                Diagnostic::error("E0204", format!("`{}` is declared twice in this model", name.node))
                    .primary(name.span, "declared again here"),
            );
            return true;
        }
        false
    }

    /// The declaration's value: the override if one is given, else its own initialiser.
    fn value_of(&mut self, decl: &Decl) -> Option<(Const, Span, Option<Span>)> {
        let own = match self.env.eval(&decl.init) {
            Ok(value) => value,
            Err(error) => {
                self.diagnostics.push(error);
                return None;
            }
        };
        let Some((ident, expr, used)) = self.overrides.get_mut(decl.name.as_str()) else {
            return Some((own, decl.init.span, None));
        };
        *used = true;
        let (ident_span, expr) = (ident.span, *expr);
        let value = match self.env.eval(expr) {
            Ok(value) => value,
            Err(error) => {
                self.diagnostics.push(error);
                return Some((own, decl.init.span, None));
            }
        };
        let own_time = match own {
            Const::Number(_, time) => time,
            _ => 0,
        };
        match &value {
            Const::Number(_, time) if *time != own_time => {
                self.diagnostics.push(
                    Diagnostic::error(
                        "E0404",
                        format!(
                            "`{}` is {}, but the override is {}",
                            decl.name.node,
                            units::describe(own_time),
                            units::describe(*time)
                        ),
                    )
                    .primary(expr.span, units::describe(*time))
                    .secondary(decl.init.span, format!("declared as {}", units::describe(own_time)))
                    .help(if own_time == 1 {
                        "write the time with a unit, e.g. `30 ms`".to_string()
                    } else {
                        "remove the unit".to_string()
                    }),
                );
                // Go on with the declared value so later equations are still checked.
                Some((own, decl.init.span, None))
            }
            Const::Number(..) | Const::Init(_) => Some((value, expr.span, Some(ident_span))),
            Const::Bool(_) | Const::Function(_) => {
                self.diagnostics.push(
                    Diagnostic::error("E0303", format!("cannot set `{}` to {}", decl.name.node, value.describe()))
                        .primary(expr.span, format!("this is {}", value.describe()))
                        .secondary(decl.init.span, "the parameter is a number")
                        .help(format!("give a number or an initialiser; {INITIALISERS_HELP}")),
                );
                Some((own, decl.init.span, None))
            }
        }
    }

    fn stmt(&mut self, stmt: &Stmt) {
        match &stmt.kind {
            StmtKind::Param(decl) => self.param(decl),
            StmtKind::Const(decl) => self.constant(decl),
            StmtKind::State(decl) => self.state(decl),
            StmtKind::Input { name, shape } => {
                if self.already_declared(name) {
                    return;
                }
                if self.input.is_some() {
                    self.diagnostics.push(
                        Diagnostic::error("E0212", "a model has one input")
                            .primary(name.span, "second input")
                            .help("several signals into a node are summed; declare one input"),
                    );
                    return;
                }
                let shape = match self.shape(shape.as_deref()) {
                    Some(Shape::Vector(n)) => Shape::Vector(n),
                    Some(other) => {
                        self.diagnostics.push(
                            Diagnostic::error("E0302", "a model's input must be a vector `[n]`")
                                .primary(name.span, format!("declared with shape {other}")),
                        );
                        return;
                    }
                    None => return,
                };
                self.input = Some(shape.len());
                self.input_name = name.node.clone();
                let value = self.equations_builder.push(Op::Input(0), shape);
                self.bindings.insert(name.node.clone(), Binding::Value(Typed { value, time: 0 }));
            }
            StmtKind::Let { name, value } => {
                if self.already_declared(name) {
                    return;
                }
                if let Some(typed) = self.equation(value) {
                    self.bindings.insert(name.node.clone(), Binding::Value(typed));
                }
            }
            StmtKind::Assign { target, value } => {
                if let Some(typed) = self.equation(value) {
                    self.update_state(target, typed, value.span, false);
                }
            }
            StmtKind::Ode { target, rate } => {
                if let Some(typed) = self.equation(rate) {
                    self.update_state(target, typed, rate.span, true);
                }
            }
            StmtKind::Output(value) => {
                if self.output.is_some() {
                    self.diagnostics.push(
                        Diagnostic::error("E0211", "a model has one `output`").primary(stmt.span, "second output"),
                    );
                    return;
                }
                if let Some(typed) = self.equation(value) {
                    if !matches!(self.equations_builder.shape(typed.value), Shape::Vector(_)) {
                        let shape = self.equations_builder.shape(typed.value);
                        self.diagnostics.push(
                            Diagnostic::error(
                                "E0302",
                                format!("a model's output must be a vector, this has shape {shape}"),
                            )
                            .primary(value.span, format!("shape {shape}")),
                        );
                        return;
                    }
                    self.output = Some(typed.value);
                }
            }
            StmtKind::If { cond, then, otherwise } => match self.env.eval_bool(cond) {
                Ok(true) => self.stmts(then),
                Ok(false) => {
                    if let Some(otherwise) = otherwise {
                        self.stmts(otherwise);
                    }
                }
                Err(error) => self.diagnostics.push(error),
            },
        }
    }

    fn param(&mut self, decl: &Decl) {
        if !self.condition_holds(decl.condition.as_ref()) || self.already_declared(&decl.name) {
            return;
        }
        let Some(shape) = self.shape(decl.shape.as_deref()) else { return };
        let Some((value, _, _)) = self.value_of(decl) else { return };
        let (init, time) = match value {
            Const::Number(number, time) => (Init::Constant(number), time),
            Const::Init(init) => (init, 0),
            Const::Bool(_) | Const::Function(_) => {
                self.diagnostics.push(
                    Diagnostic::error("E0303", format!("a parameter is a number, not {}", value.describe()))
                        .primary(decl.init.span, "expected a number or an initialiser")
                        .help(INITIALISERS_HELP),
                );
                return;
            }
        };
        let (mut lower, mut upper) = (None, None);
        for bound in &decl.bounds {
            if bound.target.node != decl.name.node {
                self.diagnostics.push(
                    Diagnostic::error(
                        "E0209",
                        format!("a bound of `{}` must name `{}`", decl.name.node, decl.name.node),
                    )
                    .primary(bound.target.span, format!("this names `{}`", bound.target.node)),
                );
                continue;
            }
            match self.env.eval(&bound.value) {
                Ok(Const::Number(number, bound_time)) if bound_time == time => match bound.kind {
                    reef_lang::ast::BoundKind::Lower => lower = Some(number),
                    reef_lang::ast::BoundKind::Upper => upper = Some(number),
                },
                Ok(Const::Number(_, bound_time)) => self.diagnostics.push(units::mismatch(
                    if bound.kind == reef_lang::ast::BoundKind::Lower { ">=" } else { "<=" },
                    time,
                    bound_time,
                    decl.init.span,
                    bound.value.span,
                )),
                Ok(other) => self.diagnostics.push(
                    Diagnostic::error("E0209", "a bound must be a number")
                        .primary(bound.value.span, format!("this is {}", other.describe())),
                ),
                Err(error) => self.diagnostics.push(error),
            }
        }
        let id = ParamId(u32::try_from(self.tables.params.len()).unwrap_or(u32::MAX));
        self.tables.params.push(ParamInfo {
            name: format!("{}.{}", self.path, decl.name.node),
            shape,
            init,
            lower,
            upper,
            time_power: time,
            span: decl.name.span,
        });
        self.params.push(id);
        let value = self.equations_builder.push(Op::Param(id), shape);
        self.bindings.insert(decl.name.node.clone(), Binding::Param { value: Typed { value, time }, id });
    }

    fn constant(&mut self, decl: &Decl) {
        if !self.condition_holds(decl.condition.as_ref()) || self.already_declared(&decl.name) {
            return;
        }
        let Some(shape) = self.shape(decl.shape.as_deref()) else { return };
        let Some((value, span, _)) = self.value_of(decl) else { return };
        let Const::Number(number, time) = value else {
            self.diagnostics.push(
                Diagnostic::error("E0303", format!("a constant is a number, not {}", value.describe()))
                    .primary(span, "expected a number"),
            );
            return;
        };
        self.tables.consts.push(ConstInfo { name: format!("{}.{}", self.path, decl.name.node), shape, value: number });
        self.env.values.insert(decl.name.node.clone(), Const::Number(number, time));
        let scalar = self.equations_builder.number(number);
        let value = self.equations_builder.broadcast_to(scalar, shape);
        let value = if shape == Shape::Scalar { scalar } else { value };
        self.bindings.insert(decl.name.node.clone(), Binding::Value(Typed { value, time }));
    }

    fn state(&mut self, decl: &Decl) {
        if !self.condition_holds(decl.condition.as_ref()) || self.already_declared(&decl.name) {
            return;
        }
        let Some(shape) = self.shape(decl.shape.as_deref()) else { return };
        // A state starts from a number or from a parameter (a trainable initial state).
        let (init, time) = match decl.init.as_ident().and_then(|name| self.bindings.get(name)) {
            Some(Binding::Param { id, value }) => {
                let param_shape = self.tables.params[id.0 as usize].shape;
                if param_shape != shape {
                    self.diagnostics.push(
                        Diagnostic::error(
                            "E0306",
                            format!(
                                "state `{}` {shape} cannot start from a parameter of shape {param_shape}",
                                decl.name.node
                            ),
                        )
                        .primary(decl.init.span, format!("shape {param_shape}")),
                    );
                    return;
                }
                (StateInit::Param(*id), value.time)
            }
            _ => match self.value_of(decl) {
                Some((Const::Number(number, time), _, _)) => (StateInit::Constant(number), time),
                Some((other, span, _)) => {
                    self.diagnostics.push(
                        Diagnostic::error(
                            "E0303",
                            format!("a state starts from a number or a parameter, not {}", other.describe()),
                        )
                        .primary(span, "expected a number or a parameter name"),
                    );
                    return;
                }
                None => return,
            },
        };
        let id = StateId(u32::try_from(self.tables.states.len()).unwrap_or(u32::MAX));
        self.tables.states.push(StateSlot { name: format!("{}.{}", self.path, decl.name.node), shape, init });
        self.states.push(id);
        let value = self.equations_builder.push(Op::State(id), shape);
        let binding = Binding::State { id, current: value, time, declared: decl.name.span };
        self.bindings.insert(decl.name.node.clone(), binding.clone());
        self.bindings.insert(state_binding_key(id), binding);
    }

    fn equation(&mut self, expr: &Expr) -> Option<Typed> {
        let mut equations = Equations {
            scope: self.scope,
            builder: &mut self.equations_builder,
            env: &self.env,
            bindings: &self.bindings,
            dt: self.tables.dt,
            depth: 0,
        };
        match equations.lower(expr) {
            Ok(typed) => Some(typed),
            Err(error) => {
                self.diagnostics.push(error);
                None
            }
        }
    }

    fn update_state(&mut self, target: &Ident, new: Typed, span: Span, is_rate: bool) {
        let Some(Binding::State { id, current, time, declared }) = self.bindings.get(target.as_str()).cloned() else {
            let what = match self.bindings.get(target.as_str()) {
                Some(Binding::Param { .. }) => "a parameter",
                Some(Binding::Value(_)) => "not a state",
                Some(Binding::State { .. }) | None => "not declared",
            };
            let form = if is_rate { format!("{}'", target.node) } else { format!("{} <-", target.node) };
            self.diagnostics.push(
                Diagnostic::error("E0210", format!("`{form}` needs a state, but `{}` is {what}", target.node))
                    .primary(target.span, format!("`{}` is {what}", target.node))
                    .help(format!("declare it with `state {}[n] = 0`", target.node)),
            );
            return;
        };
        let expected_time = if is_rate { time - 1 } else { time };
        if new.time != expected_time {
            let message = if is_rate {
                format!(
                    "the rate of `{}` must be {} (its unit per second), but it is {}",
                    target.node,
                    units::describe(expected_time),
                    units::describe(new.time)
                )
            } else {
                format!(
                    "`{}` is {}, but the new value is {}",
                    target.node,
                    units::describe(time),
                    units::describe(new.time)
                )
            };
            self.diagnostics.push(
                Diagnostic::error(if is_rate { "E0403" } else { "E0401" }, message)
                    .primary(span, units::describe(new.time))
                    .secondary(declared, format!("`{}` is declared here", target.node))
                    .help(if is_rate {
                        "an ODE right-hand side is divided by a time constant, e.g. `(-x + i) / tau`"
                    } else {
                        "both sides must have the same unit"
                    }),
            );
            return;
        }
        let state_shape = self.tables.states[id.0 as usize].shape;
        let value = if is_rate {
            let builder = &mut self.equations_builder;
            let dt = builder.number(self.tables.dt);
            let step = builder.binary(crate::step::BinaryOp::Mul, (dt, span), (new.value, span));
            let result =
                step.and_then(|step| builder.binary(crate::step::BinaryOp::Add, (current, span), (step, span)));
            match result {
                Ok(value) => value,
                Err(error) => {
                    self.diagnostics.push(error);
                    return;
                }
            }
        } else {
            new.value
        };
        let value_shape = self.equations_builder.shape(value);
        if Shape::broadcast(value_shape, state_shape) != Some(state_shape) {
            self.diagnostics.push(
                Diagnostic::error(
                    "E0306",
                    format!("state `{}` has shape {state_shape}, the new value has shape {value_shape}", target.node),
                )
                .primary(span, format!("shape {value_shape}"))
                .secondary(declared, format!("declared with shape {state_shape}")),
            );
            return;
        }
        let value = self.equations_builder.broadcast_to(value, state_shape);
        let binding = Binding::State { id, current: value, time, declared };
        self.bindings.insert(target.node.clone(), binding.clone());
        self.bindings.insert(state_binding_key(id), binding);
    }
}
