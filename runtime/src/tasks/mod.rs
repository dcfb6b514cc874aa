//! Task name + arguments + seed → `Dataset`: the seed tutorials' data, generated so examples need
//! no downloads.
//!
//! | task | tutorial | input | target |
//! |---|---|---|---|
//! | [`pulse_chirp`](PulseChirp) | Rockpool `sgd_recurrent_net` | a 50 ms pulse of ones | a chirp after it |
//! | [`frozen_noise_chirp`](FrozenNoiseChirp) | Rockpool `jax_lif_sgd` | a frozen Poisson raster | a chirp |
//! | [`random_sin_mapping`](RandomSinMapping) | Rockpool `jax-training` | one frozen noise per class | one sinusoid per class and channel |
//! | [`white_noise_integration`](WhiteNoiseIntegration) | BrainPy integrator RNN | biased white noise | its running sum |
//!
//! Every task is a struct with public fields and defaults (the tutorial's settings) and a
//! `generate(seed)` method; [`task_by_name`] builds one from `name = value` arguments in SI
//! units, as a `train` block's `data = pulse_chirp(pulse = 50 ms)` does. Random draws use
//! PCG-64 seeded with `Pcg64::seed_from_u64(seed)`, so a seed gives the same data everywhere.
//!
//! ```
//! # use reef_runtime::tasks::task_by_name;
//! let data = task_by_name("pulse_chirp", &[("pulse".into(), 0.02)], 0)?;
//! assert_eq!(data.input().shape(), [1, 3000, 1]);
//! assert_eq!(data.input().sum(), 20.0);
//! # Ok::<(), reef_runtime::tasks::TaskError>(())
//! ```

mod dataset;
mod frozen_noise_chirp;
mod pulse_chirp;
mod random_sin_mapping;
mod white_noise_integration;

pub use dataset::{Batch, DataError, Dataset};
pub use frozen_noise_chirp::FrozenNoiseChirp;
pub use pulse_chirp::PulseChirp;
pub use random_sin_mapping::RandomSinMapping;
pub use white_noise_integration::WhiteNoiseIntegration;

use thiserror::Error;

/// The most elements (input plus target) a generated dataset may hold: 2²⁷ `f64`s, 1 GiB.
pub const MAX_ELEMENTS: usize = 1 << 27;

/// Every built-in task, in the order the documentation lists them.
pub const TASKS: [&TaskInfo; 4] =
    [&PulseChirp::INFO, &FrozenNoiseChirp::INFO, &RandomSinMapping::INFO, &WhiteNoiseIntegration::INFO];

/// A built-in task: its name, what it is, and its arguments.
#[derive(Debug)]
pub struct TaskInfo {
    /// The name `task_by_name` and `train` blocks use.
    pub name: &'static str,
    /// One line on what the task is and where it comes from.
    pub summary: &'static str,
    /// The arguments, with defaults.
    pub arguments: &'static [TaskArgument],
    /// Builds the dataset from resolved arguments and a seed.
    build: fn(&Arguments, u64) -> Result<Dataset, TaskError>,
}

/// One named argument of a task.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TaskArgument {
    /// The name, e.g. `pulse`.
    pub name: &'static str,
    /// The value when not given, in SI units.
    pub default: f64,
    /// The SI unit values are in (`s`, `Hz`, or `""`), for help text.
    pub unit: &'static str,
    /// Which values are allowed.
    pub kind: ArgumentKind,
    /// What it means.
    pub doc: &'static str,
}

/// Which values an argument accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgumentKind {
    /// A whole number ≥ 1 (a count of samples, channels, steps).
    Count,
    /// A finite number > 0 (a duration, a rate, a time step).
    Positive,
    /// A finite number ≥ 0.
    NonNegative,
    /// Any finite number.
    Real,
}

impl ArgumentKind {
    /// What the kind accepts, completing "expected ...".
    pub fn expectation(self) -> &'static str {
        match self {
            ArgumentKind::Count => "a whole number ≥ 1",
            ArgumentKind::Positive => "a finite number > 0",
            ArgumentKind::NonNegative => "a finite number ≥ 0",
            ArgumentKind::Real => "a finite number",
        }
    }

    /// Whether `value` is one of the values this kind allows.
    pub fn accepts(self, value: f64) -> bool {
        value.is_finite()
            && match self {
                ArgumentKind::Count => value >= 1.0 && value.fract() == 0.0 && value <= u32::MAX as f64,
                ArgumentKind::Positive => value > 0.0,
                ArgumentKind::NonNegative => value >= 0.0,
                ArgumentKind::Real => true,
            }
    }
}

/// A task's argument values after defaults and overrides, checked against their kinds.
#[derive(Clone, Debug)]
pub(crate) struct Arguments {
    info: &'static TaskInfo,
    values: Vec<f64>,
}

impl Arguments {
    /// Every argument at its default.
    pub(crate) fn defaults(info: &'static TaskInfo) -> Self {
        Arguments { info, values: info.arguments.iter().map(|argument| argument.default).collect() }
    }

    /// Defaults overridden by `given`, each checked; a name given twice or unknown is an error.
    fn resolve(info: &'static TaskInfo, given: &[(String, f64)]) -> Result<Self, TaskError> {
        let mut arguments = Arguments::defaults(info);
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in given {
            let Some(position) = info.arguments.iter().position(|argument| argument.name == name) else {
                let known: Vec<&'static str> = info.arguments.iter().map(|argument| argument.name).collect();
                let closest = closest(name, &known);
                return Err(TaskError::UnknownArgument { task: info.name, name: name.clone(), closest, known });
            };
            if seen.contains(&name.as_str()) {
                return Err(TaskError::RepeatedArgument { task: info.name, name: name.clone() });
            }
            seen.push(name);
            let argument = &info.arguments[position];
            if !argument.kind.accepts(*value) {
                return Err(invalid(info.name, argument.name, *value, argument.kind.expectation()));
            }
            arguments.values[position] = *value;
        }
        Ok(arguments)
    }

    /// The value of `name` (a name from the task's own table).
    pub(crate) fn get(&self, name: &str) -> f64 {
        let position = self.info.arguments.iter().position(|argument| argument.name == name);
        position.and_then(|position| self.values.get(position)).copied().unwrap_or(f64::NAN)
    }

    /// The value of a `Count` argument.
    pub(crate) fn count(&self, name: &str) -> usize {
        let value = self.get(name);
        if value.is_finite() && value >= 0.0 { value as usize } else { 0 }
    }
}

/// Builds the task `name` with `args` (`(argument, value in SI units)`; the rest keep their
/// defaults) from `seed`.
pub fn task_by_name(name: &str, args: &[(String, f64)], seed: u64) -> Result<Dataset, TaskError> {
    let Some(info) = TASKS.into_iter().find(|info| info.name == name) else {
        let known: Vec<&'static str> = TASKS.iter().map(|info| info.name).collect();
        return Err(TaskError::UnknownTask { name: name.to_owned(), closest: closest(name, &known) });
    };
    let arguments = Arguments::resolve(info, args)?;
    (info.build)(&arguments, seed)
}

/// Why a task could not be built.
#[derive(Debug, Error)]
pub enum TaskError {
    /// No built-in task has this name.
    #[error("no task named `{name}`{}; the tasks are {}", hint(.closest), task_names())]
    UnknownTask {
        /// The name asked for.
        name: String,
        /// The most similar task name, if one is close.
        closest: Option<&'static str>,
    },
    /// The task has no argument of this name.
    #[error("`{task}` has no argument `{name}`{}; its arguments are {}", hint(.closest), .known.join(", "))]
    UnknownArgument {
        /// The task.
        task: &'static str,
        /// The argument given.
        name: String,
        /// The most similar argument, if one is close.
        closest: Option<&'static str>,
        /// All of the task's arguments.
        known: Vec<&'static str>,
    },
    /// An argument was given twice.
    #[error("`{task}`: argument `{name}` is given twice")]
    RepeatedArgument {
        /// The task.
        task: &'static str,
        /// The argument.
        name: String,
    },
    /// An argument's value is outside what it accepts.
    #[error("`{task}`: `{name}` = {value} is not allowed; expected {expected}")]
    InvalidArgument {
        /// The task.
        task: &'static str,
        /// The argument (or a quantity derived from arguments, such as the number of steps).
        name: String,
        /// The value given or derived.
        value: f64,
        /// What is allowed.
        expected: String,
    },
    /// The arguments ask for more data than reef generates at once.
    #[error("`{task}` would hold {elements} values (more than {MAX_ELEMENTS}); use fewer samples, channels or steps")]
    TooLarge {
        /// The task.
        task: &'static str,
        /// The number of values asked for (saturated at `usize::MAX`).
        elements: usize,
    },
    /// The generated arrays do not form a dataset (a bug in the task).
    #[error(transparent)]
    Data(#[from] DataError),
}

fn hint(closest: &Option<&'static str>) -> String {
    closest.map(|name| format!(" (did you mean `{name}`?)")).unwrap_or_default()
}

fn task_names() -> String {
    TASKS.iter().map(|info| format!("`{}`", info.name)).collect::<Vec<_>>().join(", ")
}

fn closest(name: &str, candidates: &[&'static str]) -> Option<&'static str> {
    candidates
        .iter()
        .map(|candidate| (strsim::jaro_winkler(name, candidate), *candidate))
        .filter(|(similarity, _)| *similarity > 0.75)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

pub(crate) fn invalid(task: &'static str, name: &str, value: f64, expected: &str) -> TaskError {
    TaskError::InvalidArgument { task, name: name.to_owned(), value, expected: expected.to_owned() }
}

/// Checks a struct-built task's field: `kind` must accept `value`.
pub(crate) fn check(task: &'static str, name: &str, value: f64, kind: ArgumentKind) -> Result<(), TaskError> {
    if kind.accepts(value) { Ok(()) } else { Err(invalid(task, name, value, kind.expectation())) }
}

/// `round(duration / dt)` steps (numpy's rounding, half to even), at least `minimum`.
pub(crate) fn steps(
    task: &'static str,
    name: &str,
    duration: f64,
    dt: f64,
    minimum: usize,
) -> Result<usize, TaskError> {
    check(task, "dt", dt, ArgumentKind::Positive)?;
    let steps = (duration / dt).round_ties_even();
    if steps.is_finite() && steps >= minimum as f64 && steps <= MAX_ELEMENTS as f64 {
        Ok(steps as usize)
    } else {
        Err(invalid(task, name, duration, &format!("at least {minimum} step(s) of dt = {dt} s, and not too many")))
    }
}

/// Refuses datasets of more than [`MAX_ELEMENTS`] values (`sizes` are multiplied per array).
pub(crate) fn check_size(task: &'static str, arrays: &[&[usize]]) -> Result<(), TaskError> {
    let product = |shape: &&[usize]| shape.iter().try_fold(1_usize, |total, &length| total.checked_mul(length));
    let elements = arrays.iter().map(product).try_fold(0_usize, |total, count| total.checked_add(count?));
    match elements {
        Some(elements) if elements <= MAX_ELEMENTS => Ok(()),
        elements => Err(TaskError::TooLarge { task, elements: elements.unwrap_or(usize::MAX) }),
    }
}

/// `numpy.linspace(0, steps·dt, steps)`: `steps` times from 0 to `steps·dt` inclusive, computed
/// as numpy does (`i·step`, the last one exactly `steps·dt`).
pub(crate) fn linspace_time(steps: usize, dt: f64) -> Vec<f64> {
    let stop = steps as f64 * dt;
    if steps < 2 {
        return vec![0.0; steps];
    }
    let step = stop / (steps - 1) as f64;
    let mut times: Vec<f64> = (0..steps).map(|index| index as f64 * step).collect();
    if let Some(last) = times.last_mut() {
        *last = stop;
    }
    times
}

/// The tutorials' chirp `sin(t·2π·(t·f))` at each time, evaluated in numpy's order.
pub(crate) fn chirp(times: &[f64], frequency: f64) -> impl Iterator<Item = f64> + '_ {
    times.iter().map(move |&t| (t * 2.0 * std::f64::consts::PI * (t * frequency)).sin())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_arguments_are_checked_with_suggestions() {
        let error = task_by_name("pulse_chrip", &[], 0).err().map(|error| error.to_string()).unwrap_or_default();
        assert!(
            error.contains("did you mean `pulse_chirp`?") && error.contains("`white_noise_integration`"),
            "{error}"
        );
        let error = task_by_name("pulse_chirp", &[("puls".into(), 0.05)], 0).err();
        assert!(matches!(error, Some(TaskError::UnknownArgument { closest: Some("pulse"), .. })), "{error:?}");
        let error = task_by_name("random_sin_mapping", &[("classes".into(), 2.5)], 0).err();
        assert!(matches!(&error, Some(TaskError::InvalidArgument { name, .. }) if name == "classes"), "{error:?}");
        let twice = [("pulse".into(), 0.05), ("pulse".into(), 0.06)];
        assert!(matches!(task_by_name("pulse_chirp", &twice, 0), Err(TaskError::RepeatedArgument { .. })));
        let huge = [("channels".into(), 1e9)];
        assert!(matches!(task_by_name("frozen_noise_chirp", &huge, 0), Err(TaskError::TooLarge { .. })));
        let no_steps = [("duration".into(), 1e-4)];
        assert!(matches!(task_by_name("frozen_noise_chirp", &no_steps, 0), Err(TaskError::InvalidArgument { .. })));
    }

    #[test]
    fn every_task_builds_from_its_defaults_and_is_reproducible() -> Result<(), TaskError> {
        for info in TASKS {
            let small: Vec<(String, f64)> = info
                .arguments
                .iter()
                .filter(|argument| argument.name == "channels" || argument.name == "batch")
                .map(|argument| (argument.name.to_owned(), 3.0))
                .collect();
            let first = task_by_name(info.name, &small, 7)?;
            assert_eq!(first, task_by_name(info.name, &small, 7)?, "{}", info.name);
            assert!(first.input().iter().chain(first.target()).all(|value| value.is_finite()), "{}", info.name);
            let defaults = Arguments::defaults(info);
            assert!(info.arguments.iter().all(|argument| argument.kind.accepts(defaults.get(argument.name))));
        }
        Ok(())
    }

    #[test]
    fn linspace_matches_numpy() {
        assert_eq!(linspace_time(3, 0.5), [0.0, 0.75, 1.5]);
        assert_eq!(linspace_time(1, 0.5), [0.0]);
        assert!(linspace_time(0, 0.5).is_empty());
    }
}
