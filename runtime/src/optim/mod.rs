//! Parameters + gradients → updated parameters: Adam and SGD, learning-rate schedules, clipping
//! by global norm and projection onto bounds.
//!
//! An [`Optimiser`] holds the rule's state (Adam's moments, the step counter) keyed like the
//! [`ParamSet`] it updates; [`Optimiser::state_entries`] and [`Optimiser::from_state_entries`]
//! turn that state into `.npz` entries and back, so a checkpoint resumes bit for bit.
//!
//! ```
//! # use ndarray::{ArrayD, IxDyn};
//! # use reef_runtime::params::ParamSet;
//! # use reef_runtime::optim::{AdamConfig, Optimiser, OptimiserKind, Schedule};
//! let mut params = ParamSet::new();
//! params.insert("w", ArrayD::from_elem(IxDyn(&[2]), 1.0));
//! let mut grads = ParamSet::new();
//! grads.insert("w", ArrayD::from_elem(IxDyn(&[2]), 0.5));
//!
//! let mut optimiser = Optimiser::new(OptimiserKind::Adam(AdamConfig::default()), &params);
//! let learning_rate = Schedule::Constant.learning_rate(1e-3, optimiser.step_count());
//! optimiser.step(&mut params, &grads, learning_rate)?;
//! // Adam's first step moves every element by about the learning rate.
//! assert!((params.get("w").unwrap()[0] - (1.0 - 1e-3)).abs() < 1e-9);
//! # Ok::<(), reef_runtime::optim::OptimError>(())
//! ```

mod adam;
mod bounds;
mod schedule;
mod sgd;

pub use adam::{Adam, AdamConfig};
pub use bounds::{Bounds, clip_by_global_norm, global_norm};
pub use schedule::Schedule;
pub use sgd::Sgd;

use ndarray::ArrayD;
use thiserror::Error;

use crate::params::ParamSet;

/// Which update rule to use, with its constants; [`Optimiser::new`] turns it into a fresh state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptimiserKind {
    /// Adam as in `jax.example_libraries.optimizers.adam`.
    Adam(AdamConfig),
    /// Plain gradient descent: `x ← x − lr·g`.
    Sgd,
}

impl OptimiserKind {
    /// The rule's name as written in `.net` files and checkpoint keys (`adam`, `sgd`).
    pub fn name(&self) -> &'static str {
        match self {
            OptimiserKind::Adam(_) => "adam",
            OptimiserKind::Sgd => "sgd",
        }
    }
}

impl Default for OptimiserKind {
    /// Adam with JAX's defaults, what the seed tutorials use.
    fn default() -> Self {
        OptimiserKind::Adam(AdamConfig::default())
    }
}

/// An update rule with its state, for one [`ParamSet`]'s names and shapes.
#[derive(Clone, Debug, PartialEq)]
pub enum Optimiser {
    /// Adam's moments and step counter.
    Adam(Adam),
    /// SGD's step counter.
    Sgd(Sgd),
}

impl Optimiser {
    /// A fresh state (zero moments, step 0) shaped like `params`.
    pub fn new(kind: OptimiserKind, params: &ParamSet) -> Self {
        match kind {
            OptimiserKind::Adam(config) => Optimiser::Adam(Adam::new(config, params)),
            OptimiserKind::Sgd => Optimiser::Sgd(Sgd::new()),
        }
    }

    /// The rule and its constants.
    pub fn kind(&self) -> OptimiserKind {
        match self {
            Optimiser::Adam(adam) => OptimiserKind::Adam(adam.config()),
            Optimiser::Sgd(_) => OptimiserKind::Sgd,
        }
    }

    /// How many updates were applied: JAX's `i`, which the next update's bias correction and
    /// learning-rate schedule use.
    pub fn step_count(&self) -> u64 {
        match self {
            Optimiser::Adam(adam) => adam.step_count(),
            Optimiser::Sgd(sgd) => sgd.step_count(),
        }
    }

    /// Applies one update with `learning_rate` (already taken from a [`Schedule`] at
    /// [`step_count`](Self::step_count)). `grads` must hold exactly the names of `params`, with
    /// the same shapes; otherwise nothing changes and the mismatch is returned.
    pub fn step(&mut self, params: &mut ParamSet, grads: &ParamSet, learning_rate: f64) -> Result<(), OptimError> {
        match self {
            Optimiser::Adam(adam) => adam.update(params, grads, learning_rate),
            Optimiser::Sgd(sgd) => sgd.update(params, grads, learning_rate),
        }
    }

    /// The state as `.npz` entries: `adam.step` (a scalar), `adam.m.<name>`, `adam.v.<name>` for
    /// Adam; `sgd.step` for SGD. Step counts are stored as `f64`, exact below 2⁵³.
    pub fn state_entries(&self) -> Vec<(String, ArrayD<f64>)> {
        match self {
            Optimiser::Adam(adam) => adam.state_entries(),
            Optimiser::Sgd(sgd) => sgd.state_entries(),
        }
    }

    /// Rebuilds the state written by [`state_entries`](Self::state_entries) for `kind`, checking
    /// that every moment is present with the shape of its parameter in `params`. Entries with
    /// other keys are ignored, so a whole checkpoint can be passed.
    pub fn from_state_entries(
        kind: OptimiserKind,
        params: &ParamSet,
        entries: &[(String, ArrayD<f64>)],
    ) -> Result<Self, OptimError> {
        match kind {
            OptimiserKind::Adam(config) => Ok(Optimiser::Adam(Adam::from_state_entries(config, params, entries)?)),
            OptimiserKind::Sgd => Ok(Optimiser::Sgd(Sgd::from_state_entries(entries)?)),
        }
    }
}

/// What stops an update or a state from being restored; nothing is changed when one is returned.
#[derive(Clone, Debug, PartialEq, Error)]
pub enum OptimError {
    /// A parameter has no gradient.
    #[error("no gradient for parameter `{name}`")]
    MissingGradient {
        /// The parameter.
        name: String,
    },
    /// A gradient names no parameter.
    #[error("a gradient is given for `{name}`, which is not a parameter")]
    UnexpectedGradient {
        /// The gradient's name.
        name: String,
    },
    /// A gradient's shape differs from its parameter's.
    #[error("the gradient of `{name}` has shape {gradient:?} but the parameter has shape {parameter:?}")]
    GradientShape {
        /// The parameter.
        name: String,
        /// The parameter's shape.
        parameter: Vec<usize>,
        /// The gradient's shape.
        gradient: Vec<usize>,
    },
    /// Saved optimiser state lacks an entry.
    #[error("the optimiser state has no entry `{key}`")]
    MissingState {
        /// The missing key, e.g. `adam.m.1_Rate.tau`.
        key: String,
    },
    /// Saved optimiser state has an entry of the wrong shape.
    #[error("the optimiser state entry `{key}` has shape {found:?}; expected {expected:?}")]
    StateShape {
        /// The entry's key.
        key: String,
        /// The shape it should have.
        expected: Vec<usize>,
        /// The shape it has.
        found: Vec<usize>,
    },
    /// A bound names no parameter.
    #[error("a bound is given for `{name}`, which is not a parameter{}", closest_hint(.closest.as_deref()))]
    UnknownBound {
        /// The name in the bound.
        name: String,
        /// The most similar parameter name, if one is close.
        closest: Option<String>,
    },
    /// A bound's interval is empty or not a number.
    #[error("the bounds of `{name}` leave no value: lower {lower}, upper {upper}")]
    EmptyBound {
        /// The parameter.
        name: String,
        /// The lower bound.
        lower: f64,
        /// The upper bound.
        upper: f64,
    },
    /// A saved step count is not a whole number ≥ 0.
    #[error("the optimiser state entry `{key}` holds {value}, which is not a step count")]
    BadStepCount {
        /// The entry's key.
        key: String,
        /// What it holds.
        value: f64,
    },
}

fn closest_hint(closest: Option<&str>) -> String {
    closest.map(|name| format!(" (did you mean `{name}`?)")).unwrap_or_default()
}

/// Checks that `grads` has exactly the names of `params`, each with its parameter's shape.
pub(crate) fn check_gradients(params: &ParamSet, grads: &ParamSet) -> Result<(), OptimError> {
    for (name, value) in params.iter() {
        let Some(gradient) = grads.get(name) else {
            return Err(OptimError::MissingGradient { name: name.to_owned() });
        };
        if gradient.shape() != value.shape() {
            return Err(OptimError::GradientShape {
                name: name.to_owned(),
                parameter: value.shape().to_vec(),
                gradient: gradient.shape().to_vec(),
            });
        }
    }
    match grads.names().find(|name| !params.contains(name)) {
        Some(name) => Err(OptimError::UnexpectedGradient { name: name.to_owned() }),
        None => Ok(()),
    }
}

/// The step count stored under `key` (a one-element array holding a whole number ≥ 0).
pub(crate) fn read_step_count(entries: &[(String, ArrayD<f64>)], key: &str) -> Result<u64, OptimError> {
    let array = find_entry(entries, key)?;
    let value = match array.iter().next() {
        Some(&value) if array.len() == 1 => value,
        _ => {
            return Err(OptimError::StateShape {
                key: key.to_owned(),
                expected: vec![],
                found: array.shape().to_vec(),
            });
        }
    };
    if value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value < 2f64.powi(53) {
        Ok(value as u64)
    } else {
        Err(OptimError::BadStepCount { key: key.to_owned(), value })
    }
}

/// The entry stored under `key`.
pub(crate) fn find_entry<'a>(entries: &'a [(String, ArrayD<f64>)], key: &str) -> Result<&'a ArrayD<f64>, OptimError> {
    entries
        .iter()
        .find(|(entry, _)| entry == key)
        .map(|(_, array)| array)
        .ok_or_else(|| OptimError::MissingState { key: key.to_owned() })
}

/// A step count as a scalar `.npz` entry.
pub(crate) fn step_entry(key: &str, step: u64) -> (String, ArrayD<f64>) {
    (key.to_owned(), ArrayD::from_elem(ndarray::IxDyn(&[]), step as f64))
}
