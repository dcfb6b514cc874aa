//! A `train` block → [`TrainBlock`]: its `data`, `optimizer`, `epochs`, `batch`, `seed` and
//! `project_bounds` settings, checked, with located errors for unknown settings (and a "did you mean") and bad
//! values. `loss` and `bound` statements belong to `reef_compiler::loss::loss_setup`.

use std::path::PathBuf;

use reef_compiler::elaborate::did_you_mean;
use reef_lang::ast::{Arg, ArgLabel, Expr, ExprKind, File, ItemKind, Train, TrainStmtKind, UnaryOp, Unit};
use reef_lang::{Diagnostic, Diagnostics, Span};

use crate::optim::{AdamConfig, OptimiserKind};
use crate::tasks::{TASKS, TaskInfo};

/// Every setting a train block may hold, besides `bound` statements.
pub const SETTINGS: [&str; 7] = ["data", "loss", "optimizer", "epochs", "batch", "seed", "project_bounds"];

/// The optimisers a train block can name.
const OPTIMISERS: [&str; 2] = ["adam", "sgd"];

/// Where a run's data come from, as a train block says.
#[derive(Clone, Debug, PartialEq)]
pub enum DataSpec {
    /// `data = pulse_chirp(pulse = 50 ms)`: a built-in task and its arguments in SI units.
    Task {
        /// The task's name (one of [`TASKS`]).
        task: &'static str,
        /// `(argument, value in SI units)` as written; the others keep their defaults.
        args: Vec<(String, f64)>,
        /// The setting's value, for errors found while generating.
        span: Span,
    },
    /// `data = "chirp.npz"`: a file holding `input` and `target`, as written (a relative path
    /// is taken from the `.net` file's folder).
    File {
        /// The path as written.
        path: PathBuf,
        /// The string, for errors found while reading.
        span: Span,
    },
}

/// What one network's train block says; `None` where it says nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrainBlock {
    /// `data = ...`.
    pub data: Option<DataSpec>,
    /// The rule of `optimizer = adam(...)` or `sgd(...)`.
    pub optimiser: Option<OptimiserKind>,
    /// `lr = ...` in the optimizer setting.
    pub learning_rate: Option<f64>,
    /// `epochs = N`.
    pub epochs: Option<usize>,
    /// `batch = B`: samples per minibatch.
    pub batch: Option<usize>,
    /// `seed = S`: parameter initialisation, data generation and minibatch order.
    pub seed: Option<u64>,
    /// `project_bounds = true`: clamp parameters into their bounds after every step (the
    /// models' `where` bounds and the block's `bound`s), besides any `bounds_cost` penalty.
    pub project_bounds: Option<bool>,
}

/// Reads the train block of `network` (an empty [`TrainBlock`] if it has none) and checks every
/// train block of `file`: each names one of `networks`, at most one per network, and holds only
/// known settings with usable values. All problems are reported together.
pub fn read_train_block(file: &File, network: &str, networks: &[&str]) -> Result<TrainBlock, Diagnostics> {
    let mut diagnostics = Diagnostics::new();
    let mut block = TrainBlock::default();
    let mut seen: Vec<&Train> = Vec::new();
    for item in &file.items {
        let ItemKind::Train(train) = &item.kind else { continue };
        let name = &train.network;
        if !networks.contains(&name.node.as_str()) {
            let mut error = Diagnostic::error("E0515", format!("this train block names no network: `{}`", name.node))
                .primary(name.span, "unknown network");
            if let Some(candidate) = did_you_mean(&name.node, networks.iter().copied()) {
                error = error.help(format!("did you mean `{candidate}`?"));
            }
            diagnostics.push(error.note(format!("the networks are {}", quoted(networks))));
        } else if let Some(first) = seen.iter().find(|first| first.network.node == name.node) {
            diagnostics.push(
                Diagnostic::error("E0511", format!("network `{}` has two train blocks", name.node))
                    .primary(name.span, "second train block")
                    .secondary(first.network.span, "first train block")
                    .help("merge them into one"),
            );
            continue;
        }
        seen.push(train);
        let settings = read_settings(train, &mut diagnostics);
        if name.node == network {
            block = settings;
        }
    }
    diagnostics.into_result(block)
}

/// Checks one block's settings, pushing every problem.
fn read_settings(train: &Train, diagnostics: &mut Diagnostics) -> TrainBlock {
    let mut block = TrainBlock::default();
    let mut given: Vec<(&str, Span)> = Vec::new();
    for stmt in &train.body {
        let TrainStmtKind::Setting(setting) = &stmt.kind else { continue };
        let (name, value) = (setting.name.node.as_str(), &setting.value);
        if !SETTINGS.contains(&name) {
            let mut error = Diagnostic::error("E0510", format!("unknown train setting `{name}`"))
                .primary(setting.name.span, "not a train setting");
            if let Some(candidate) = did_you_mean(name, SETTINGS) {
                error = error.help(format!("did you mean `{candidate}`?"));
            }
            diagnostics.push(error.note(format!("the settings are {}, and `bound` statements", quoted(&SETTINGS))));
            continue;
        }
        if let Some((_, first)) = given.iter().find(|(seen, _)| *seen == name) {
            diagnostics.push(
                Diagnostic::error("E0511", format!("`{name}` is set twice"))
                    .primary(setting.name.span, "set again here")
                    .secondary(*first, "first set here"),
            );
            continue;
        }
        given.push((name, setting.name.span));
        let result = match name {
            "data" => data(value).map(|data| block.data = Some(data)),
            "optimizer" => {
                optimiser(value).map(|(kind, rate)| (block.optimiser, block.learning_rate) = (Some(kind), rate))
            }
            "epochs" => count(value, "epochs").map(|n| block.epochs = Some(n)),
            "batch" => count(value, "batch").map(|n| block.batch = Some(n)),
            "seed" => whole(value, 0.0, "seed").map(|n| block.seed = Some(n as u64)),
            "project_bounds" => match value.kind {
                ExprKind::Bool(project) => {
                    block.project_bounds = Some(project);
                    Ok(())
                }
                _ => Err(bad_value(value.span, "expected `true` or `false`").into()),
            },
            _ => Ok(()), // `loss` is parsed by the loss setup, with its own errors.
        };
        if let Err(errors) = result {
            diagnostics.extend(errors);
        }
    }
    block
}

/// `data = task(name = value, ...)` or `data = "file.npz"`.
fn data(value: &Expr) -> Result<DataSpec, Diagnostics> {
    match &value.kind {
        ExprKind::Str(path) => Ok(DataSpec::File { path: PathBuf::from(path), span: value.span }),
        ExprKind::Call { callee, args } => {
            let names = TASKS.map(|info| info.name);
            let Some(task) = TASKS.into_iter().find(|info| info.name == callee.node) else {
                let mut error = Diagnostic::error("E0513", format!("no task named `{}`", callee.node))
                    .primary(callee.span, "unknown task");
                if let Some(candidate) = did_you_mean(&callee.node, names) {
                    error = error.help(format!("did you mean `{candidate}`?"));
                }
                return Err(error.note(format!("the tasks are {}", quoted(&names))).into());
            };
            let mut diagnostics = Diagnostics::new();
            let mut values: Vec<(String, f64)> = Vec::new();
            let mut spans: Vec<Span> = Vec::new();
            for arg in args {
                match task_argument(task, arg) {
                    Ok((name, value, span)) => match values.iter().position(|(seen, _)| *seen == name) {
                        Some(first) => diagnostics.push(
                            Diagnostic::error("E0511", format!("argument `{name}` is given twice"))
                                .primary(span, "given again here")
                                .secondary(spans[first], "first given here"),
                        ),
                        None => {
                            values.push((name, value));
                            spans.push(span);
                        }
                    },
                    Err(error) => diagnostics.push(error),
                }
            }
            diagnostics.into_result(DataSpec::Task { task: task.name, args: values, span: value.span })
        }
        _ => {
            Err(bad_value(value.span, "expected a task such as `pulse_chirp(pulse = 50 ms)` or a file name in quotes")
                .help(format!("the tasks are {}", quoted(&TASKS.map(|info| info.name))))
                .into())
        }
    }
}

/// One `name = value` argument of a task: a known name, a number of the argument's unit.
fn task_argument(task: &'static TaskInfo, arg: &Arg) -> Result<(String, f64, Span), Diagnostic> {
    let Some(ArgLabel::Named(name)) = &arg.label else {
        let first = task.arguments.first().map_or("pulse", |argument| argument.name);
        return Err(bad_value(arg.value.span, "task arguments are named").help(format!(
            "write `{first} = ...`; `{}` takes {}",
            task.name,
            argument_names(task)
        )));
    };
    let Some(argument) = task.arguments.iter().find(|argument| argument.name == name.node) else {
        let mut error = Diagnostic::error("E0513", format!("`{}` has no argument `{}`", task.name, name.node))
            .primary(name.span, "unknown argument");
        if let Some(candidate) = did_you_mean(&name.node, task.arguments.iter().map(|argument| argument.name)) {
            error = error.help(format!("did you mean `{candidate}`?"));
        }
        return Err(error.note(format!("`{}` takes {}", task.name, argument_names(task))));
    };
    let span = name.span.to(arg.value.span);
    let Some((number, unit)) = number(&arg.value) else {
        return Err(bad_value(arg.value.span, &format!("expected a number for `{}`", argument.name)));
    };
    let written = unit.map_or("", |unit| match unit {
        Unit::Hertz => "Hz",
        Unit::Second | Unit::Millisecond | Unit::Microsecond => "s",
    });
    if written != argument.unit {
        let expected = match argument.unit {
            "" => "a plain number, without a unit".to_owned(),
            "Hz" => format!("a rate with its unit, e.g. `{} = 10 Hz`", argument.name),
            _ => format!("a duration with its unit, e.g. `{} = 50 ms`", argument.name),
        };
        return Err(bad_value(arg.value.span, &format!("expected {expected}")));
    }
    if !argument.kind.accepts(number) {
        return Err(bad_value(arg.value.span, &format!("expected {}", argument.kind.expectation())));
    }
    Ok((argument.name.to_owned(), number, span))
}

/// `adam`, `adam(lr = 1e-4, b1 = 0.9, b2 = 0.999, eps = 1e-8)`, `sgd`, `sgd(lr = 0.1)`.
fn optimiser(value: &Expr) -> Result<(OptimiserKind, Option<f64>), Diagnostics> {
    let (name, name_span, args): (&str, Span, &[Arg]) = match &value.kind {
        ExprKind::Call { callee, args } => (&callee.node, callee.span, args),
        ExprKind::Ident(name) => (name, value.span, &[]),
        _ => return Err(bad_value(value.span, "expected `adam(lr = 1e-3)` or `sgd(lr = 0.1)`").into()),
    };
    let (mut kind, allowed): (OptimiserKind, &[&str]) = match name {
        "adam" => (OptimiserKind::Adam(AdamConfig::default()), &["lr", "b1", "b2", "eps"]),
        "sgd" => (OptimiserKind::Sgd, &["lr"]),
        other => {
            let mut error = Diagnostic::error("E0514", format!("no optimizer named `{other}`"))
                .primary(name_span, "unknown optimizer");
            if let Some(candidate) = did_you_mean(other, OPTIMISERS) {
                error = error.help(format!("did you mean `{candidate}`?"));
            }
            return Err(error.note(format!("the optimizers are {}", quoted(&OPTIMISERS))).into());
        }
    };
    let mut diagnostics = Diagnostics::new();
    let mut learning_rate = None;
    for arg in args {
        let Some(ArgLabel::Named(label)) = &arg.label else {
            diagnostics.push(
                bad_value(arg.value.span, "optimizer arguments are named").help(format!("write `{name}(lr = ...)`")),
            );
            continue;
        };
        let Some(&argument) = allowed.iter().find(|allowed| **allowed == label.node) else {
            let mut error = Diagnostic::error("E0514", format!("`{name}` has no argument `{}`", label.node))
                .primary(label.span, "unknown argument");
            if let Some(candidate) = did_you_mean(&label.node, allowed.iter().copied()) {
                error = error.help(format!("did you mean `{candidate}`?"));
            }
            diagnostics.push(error.note(format!("`{name}` takes {}", quoted(allowed))));
            continue;
        };
        let (in_range, expected): (fn(f64) -> bool, &str) = match argument {
            "lr" => (|x| x > 0.0, "a learning rate > 0"),
            "eps" => (|x| x > 0.0, "a number > 0"),
            _ => (|x| (0.0..1.0).contains(&x), "a number in [0, 1)"),
        };
        let number = match number(&arg.value) {
            Some((number, None)) if number.is_finite() && in_range(number) => number,
            _ => {
                diagnostics.push(bad_value(arg.value.span, &format!("expected {expected}, without a unit")));
                continue;
            }
        };
        match (&mut kind, argument) {
            (_, "lr") => learning_rate = Some(number),
            (OptimiserKind::Adam(config), "b1") => config.b1 = number,
            (OptimiserKind::Adam(config), "b2") => config.b2 = number,
            (OptimiserKind::Adam(config), _) => config.eps = number,
            (OptimiserKind::Sgd, _) => {}
        }
    }
    diagnostics.into_result((kind, learning_rate))
}

/// A whole number ≥ 1 without a unit.
fn count(value: &Expr, what: &str) -> Result<usize, Diagnostics> {
    whole(value, 1.0, what).map(|n| n as usize)
}

/// A whole number ≥ `minimum`, below 2⁵³, without a unit.
fn whole(value: &Expr, minimum: f64, what: &str) -> Result<f64, Diagnostics> {
    match number(value) {
        Some((number, None)) if number.fract() == 0.0 && number >= minimum && number < 2f64.powi(53) => Ok(number),
        _ => {
            Err(bad_value(value.span, &format!("expected a whole number ≥ {minimum} for `{what}`, without a unit"))
                .into())
        }
    }
}

/// A literal number, possibly negated or parenthesised, with its unit.
fn number(expr: &Expr) -> Option<(f64, Option<Unit>)> {
    match &expr.kind {
        ExprKind::Number(number) => Some((number.si_value(), number.unit)),
        ExprKind::Paren(inner) => number(inner),
        ExprKind::Unary(UnaryOp::Neg, inner) => number(inner).map(|(value, unit)| (-value, unit)),
        _ => None,
    }
}

fn bad_value(span: Span, why: &str) -> Diagnostic {
    Diagnostic::error("E0512", "invalid train setting").primary(span, why.to_owned())
}

fn quoted(names: &[&str]) -> String {
    names.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ")
}

fn argument_names(task: &TaskInfo) -> String {
    quoted(&task.arguments.iter().map(|argument| argument.name).collect::<Vec<_>>())
}

#[cfg(test)]
#[path = "block_tests.rs"]
mod tests;
