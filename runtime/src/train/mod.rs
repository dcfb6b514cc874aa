//! Objective + initial parameters + dataset + settings → trained parameters, the best epoch's
//! parameters, a loss history and a run folder (`params.npz`, `best.npz`, `loss.csv`,
//! `checkpoint.npz`, plots).
//!
//! The loop is generic over the [`Objective`], anything that returns a loss and its gradient
//! for a batch; networks plug in through their `value_and_grad`. Each epoch visits the dataset
//! once in minibatches (shuffled from the seed), takes one optimiser step per minibatch, clips
//! and projects as configured, and stops with an error naming the parameter and epoch as soon
//! as a loss, gradient or parameter is NaN or infinite. Checkpoints hold everything the loop
//! needs, so a resumed run continues exactly as if it had not stopped.
//!
//! ```
//! # use ndarray::{ArrayD, IxDyn};
//! # use reef_runtime::params::ParamSet;
//! # use reef_runtime::tasks::{Batch, Dataset};
//! # use reef_runtime::train::{train, Control, Objective, ProgressMode, TrainError, TrainSettings};
//! /// Fits a scalar gain `g` so that `g·input ≈ target`.
//! struct Gain;
//! impl Objective for Gain {
//!     fn value_and_grad(&mut self, params: &ParamSet, batch: &Batch) -> Result<(f64, ParamSet), TrainError> {
//!         let g = params.get("g").map_or(0.0, |g| g[[]]);
//!         let errors = (&batch.input * g) - &batch.target;
//!         let count = errors.len() as f64;
//!         let loss = errors.mapv(|e| e * e).sum() / count;
//!         let slope = 2.0 * (&errors * &batch.input).sum() / count;
//!         let grads = std::iter::once(("g".to_owned(), ArrayD::from_elem(IxDyn(&[]), slope))).collect();
//!         Ok((loss, grads))
//!     }
//! }
//! let input = ArrayD::from_shape_fn(IxDyn(&[4, 10, 1]), |i| (i[0] + i[1]) as f64 / 10.0);
//! let data = Dataset::new(input.clone(), &input * 3.0)?;
//! let initial: ParamSet = std::iter::once(("g".to_owned(), ArrayD::from_elem(IxDyn(&[]), 0.0))).collect();
//! let settings = TrainSettings { epochs: 300, learning_rate: 0.05, progress: ProgressMode::Hidden, ..TrainSettings::default() };
//! let result = train(&mut Gain, initial, &data, &settings, None, |_| Control::Continue)?;
//! assert!((result.params.get("g").unwrap()[[]] - 3.0).abs() < 1e-3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod best;
mod block;
mod checkpoint;
mod history;
mod objective;
mod progress;
mod run_folder;
#[path = "loop.rs"]
mod training_loop;

pub use best::BestEpoch;
pub use block::{DataSpec, SETTINGS, TrainBlock, read_train_block};
pub use checkpoint::Checkpoint;
pub use history::{EpochRecord, History};
pub use objective::{NetworkObjective, first_spiking_module};
pub use progress::ProgressMode;
pub use run_folder::RunFolder;
pub use training_loop::train;

pub use crate::tasks::{Batch, Dataset};

use std::path::PathBuf;

use thiserror::Error;

use crate::io::IoError;
use crate::optim::{Bounds, OptimError, Optimiser, OptimiserKind, Schedule};
use crate::params::ParamSet;
use crate::plot::PlotError;
use crate::tasks::DataError;

/// What training minimises: a loss for a batch at some parameters, and its gradient keyed like
/// the parameters (every parameter, same shapes).
pub trait Objective {
    /// The loss at `params` on `batch`, and `∂loss/∂param` for every parameter. Failures the
    /// objective detects are returned as [`TrainError::objective`].
    fn value_and_grad(&mut self, params: &ParamSet, batch: &Batch) -> Result<(f64, ParamSet), TrainError>;
}

/// How to train: the optimiser, its step size and schedule, constraints, minibatches,
/// checkpoints and progress display. [`Default`] is Adam (JAX's constants) at 1e-3 for 100
/// epochs on the whole dataset per step, seed 0, checkpoints only at the end.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSettings {
    /// Epochs to reach (a resumed run counts the epochs already done).
    pub epochs: usize,
    /// The base learning rate (step size).
    pub learning_rate: f64,
    /// How the learning rate changes with the optimiser's step count.
    pub schedule: Schedule,
    /// The update rule.
    pub optimiser: OptimiserKind,
    /// Clip gradients to this global norm before each step; `None` leaves them alone.
    pub clip_norm: Option<f64>,
    /// Intervals parameters are projected onto after each step.
    pub bounds: Bounds,
    /// Samples per minibatch; `None` (or a size ≥ the dataset) takes every sample, in order,
    /// for one step per epoch.
    pub batch_size: Option<usize>,
    /// Seeds the minibatch shuffling: epoch `e`'s order comes from PCG-64 seeded with `seed`
    /// and advanced by `e·2⁶⁴` steps, so it depends on nothing but `seed` and `e`.
    pub seed: u64,
    /// Write `checkpoint.npz` every this many epochs (and always at the end); `None`: only at the end.
    pub checkpoint_every: Option<usize>,
    /// Continue from the run folder's `checkpoint.npz` (its parameters replace the initial ones).
    pub resume: bool,
    /// How progress is shown on stderr.
    pub progress: ProgressMode,
}

impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings {
            epochs: 100,
            learning_rate: 1e-3,
            schedule: Schedule::Constant,
            optimiser: OptimiserKind::default(),
            clip_norm: None,
            bounds: Bounds::new(),
            batch_size: None,
            seed: 0,
            checkpoint_every: None,
            resume: false,
            progress: ProgressMode::Auto,
        }
    }
}

impl TrainSettings {
    /// Checks the settings against the parameters they will train: a finite learning rate ≥ 0,
    /// a usable schedule, clip norm > 0, batch size and checkpoint interval ≥ 1, bounds that name
    /// parameters and leave non-empty intervals.
    pub fn check(&self, params: &ParamSet) -> Result<(), TrainError> {
        let settings = |detail: String| Err(TrainError::Settings { detail });
        if !(self.learning_rate.is_finite() && self.learning_rate >= 0.0) {
            return settings(format!("the learning rate must be finite and ≥ 0, not {}", self.learning_rate));
        }
        if let Some(problem) = self.schedule.problem() {
            return settings(problem);
        }
        if let Some(norm) = self.clip_norm.filter(|norm| !(norm.is_finite() && *norm > 0.0)) {
            return settings(format!("the clip norm must be finite and > 0, not {norm}"));
        }
        if self.batch_size == Some(0) {
            return settings("the batch size must be at least 1".to_owned());
        }
        if self.checkpoint_every == Some(0) {
            return settings("checkpoints must be written every 1 or more epochs".to_owned());
        }
        Ok(self.bounds.check(params)?)
    }
}

/// What one finished epoch looked like, for the observer passed to [`train`].
#[derive(Debug)]
pub struct EpochReport<'a> {
    /// The epoch just finished, counting from 1.
    pub epoch: usize,
    /// The epoch the run will stop at.
    pub epochs: usize,
    /// The mean of the epoch's minibatch losses (each taken before its step).
    pub loss: f64,
    /// Seconds of training so far, including earlier runs of a resumed training.
    pub seconds: f64,
    /// The parameters after the epoch.
    pub params: &'a ParamSet,
}

/// The observer's answer after each epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Go on.
    Continue,
    /// Stop now; the run folder is still written as at a normal end.
    Stop,
}

/// What a training run produced.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainResult {
    /// The final parameters.
    pub params: ParamSet,
    /// One record per epoch done, including those before a resume.
    pub history: History,
    /// The epoch with the lowest finite loss and the parameters it started from (also in the
    /// run folder's `best.npz`); `None` if no epoch ran. A resumed run counts the epochs before
    /// the resume too, unless its checkpoint predates best epochs (then only those after).
    pub best: Option<BestEpoch>,
    /// The optimiser's final state.
    pub optimiser: Optimiser,
    /// The epoch the run resumed after, if it resumed.
    pub resumed_from: Option<usize>,
    /// Whether the observer stopped the run before `epochs`.
    pub stopped_early: bool,
}

/// Why training stopped or could not start.
#[derive(Debug, Error)]
pub enum TrainError {
    /// The settings are unusable.
    #[error("invalid training settings: {detail}")]
    Settings {
        /// What is wrong.
        detail: String,
    },
    /// The optimiser refused the gradients or a bound (names or shapes disagree).
    #[error(transparent)]
    Optimiser(#[from] OptimError),
    /// The dataset could not be batched.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] IoError),
    /// A plot could not be drawn.
    #[error(transparent)]
    Plot(#[from] PlotError),
    /// The loss became NaN or infinite.
    #[error("training stopped in epoch {epoch} (batch {batch}): the loss is {value}")]
    NonFiniteLoss {
        /// The epoch, counting from 1.
        epoch: usize,
        /// The minibatch within the epoch, counting from 1.
        batch: usize,
        /// The loss.
        value: f64,
    },
    /// A gradient element became NaN or infinite.
    #[error(
        "training stopped in epoch {epoch} (batch {batch}): the gradient of `{name}` is {value} at index {index:?}"
    )]
    NonFiniteGradient {
        /// The epoch, counting from 1.
        epoch: usize,
        /// The minibatch within the epoch, counting from 1.
        batch: usize,
        /// The parameter whose gradient is bad (the first in parameter order).
        name: String,
        /// The first bad element's index.
        index: Vec<usize>,
        /// Its value.
        value: f64,
    },
    /// A parameter became NaN or infinite after a step.
    #[error("training stopped in epoch {epoch} (batch {batch}): parameter `{name}` became {value} at index {index:?}")]
    NonFiniteParameter {
        /// The epoch, counting from 1.
        epoch: usize,
        /// The minibatch within the epoch, counting from 1.
        batch: usize,
        /// The parameter.
        name: String,
        /// The first bad element's index.
        index: Vec<usize>,
        /// Its value.
        value: f64,
    },
    /// A starting parameter (from the initial set or a checkpoint) is NaN or infinite.
    #[error("cannot train: parameter `{name}` starts as {value} at index {index:?}")]
    NonFiniteInitial {
        /// The parameter.
        name: String,
        /// The first bad element's index.
        index: Vec<usize>,
        /// Its value.
        value: f64,
    },
    /// The objective failed.
    #[error("the objective failed{}: {source}", .epoch.map(|epoch| format!(" in epoch {epoch}")).unwrap_or_default())]
    Objective {
        /// The epoch, once the loop knows it.
        epoch: Option<usize>,
        /// The objective's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// `resume` was asked for but there is nothing to resume from.
    #[error("cannot resume: `{}` does not exist", .path.display())]
    NoCheckpoint {
        /// The checkpoint path looked at.
        path: PathBuf,
    },
    /// A checkpoint does not fit this training run.
    #[error("cannot resume from `{}`: {detail}", .path.display())]
    Checkpoint {
        /// The checkpoint.
        path: PathBuf,
        /// What does not fit.
        detail: String,
    },
    /// A run folder holds none of the files plots are drawn from.
    #[error("`{}` holds none of loss.csv, output.npy with target.npy, or raster.npy: nothing to plot", .path.display())]
    NothingToPlot {
        /// The folder.
        path: PathBuf,
    },
    /// A loss history file is malformed.
    #[error("`{}` line {line}: {detail}", .path.display())]
    History {
        /// The CSV file.
        path: PathBuf,
        /// The line, counting from 1.
        line: usize,
        /// What is wrong.
        detail: String,
    },
}

impl TrainError {
    /// Wraps an objective's own error (a compile or shape error, say).
    pub fn objective(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        TrainError::Objective { epoch: None, source: error.into() }
    }

    /// Records the epoch in an objective error that lacks one.
    fn in_epoch(self, epoch: usize) -> Self {
        match self {
            TrainError::Objective { epoch: None, source } => TrainError::Objective { epoch: Some(epoch), source },
            other => other,
        }
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
