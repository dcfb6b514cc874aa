//! A network (a `.net` file or [`network!`](crate::network)) + its `train` block + overrides →
//! trained parameters and a run folder: [`Trainer`], the API behind `reef train`.
//!
//! Settings come from the network's `train` block (`data`, `loss`, `bound`s, `optimizer`,
//! `epochs`, `batch`, `seed`, `project_bounds`) and are overridden by the builder's methods, as `reef train`'s
//! flags override them. [`Trainer::run`] trains with [`reef_runtime::train::train`] and leaves
//! in the run folder `params.npz`, `best.npz` (the parameters of the epoch with the lowest loss,
//! also in the result's `best`), `loss.csv`, `checkpoint.npz`, `loss.png`, the first sample's
//! output against its target (`output.npy`, `target.npy`, `output.png`) and, for a spiking
//! network, a raster of its first spiking module (`raster.npy`, `raster.png`).
//!
//! ```no_run
//! let outcome = reef::train::Trainer::from_file("examples/chirp_rate.net")?
//!     .epochs(100)
//!     .learning_rate(1e-3)
//!     .out("runs/chirp")
//!     .run()?;
//! println!("loss {} -> {}", outcome.initial_loss(), outcome.final_loss);
//! # Ok::<(), reef::train::TrainFailure>(())
//! ```

mod failure;
mod prepare;

pub use failure::TrainFailure;
pub use prepare::Prepared;

use std::path::{Path, PathBuf};

use ndarray::ArrayD;
use reef_lang::{SourceId, Sources};
use reef_runtime::io::Precision;
use reef_runtime::optim::OptimiserKind;
use reef_runtime::params::ParamSet;
use reef_runtime::tasks::Dataset;
use reef_runtime::train::{ProgressMode, TrainResult};

use crate::InlineNetwork;

/// Trains one network of a reef source: a builder whose settings override the `train` block's.
/// Nothing is read or compiled until [`prepare`](Self::prepare) or [`run`](Self::run); their
/// source errors are [`Diagnostics`](reef_lang::Diagnostics) to render with
/// [`sources`](Self::sources).
#[derive(Clone, Debug)]
pub struct Trainer {
    sources: Sources,
    id: SourceId,
    folder: PathBuf,
    network: Option<String>,
    epochs: Option<usize>,
    learning_rate: Option<f64>,
    seed: Option<u64>,
    init: Option<InitSource>,
    data: Option<DataSource>,
    loss: Option<SourceId>,
    bounds: Vec<SourceId>,
    batch: Option<usize>,
    out: Option<PathBuf>,
    resume: bool,
    precision: Precision,
    backend: reef_runtime::executable::Backend,
    optimiser: Option<OptimiserKind>,
    checkpoint_every: Option<usize>,
    project_bounds: Option<bool>,
    progress: ProgressMode,
}

/// Where the starting parameters come from, when not initialised from the seed.
#[derive(Clone, Debug)]
enum InitSource {
    File(PathBuf),
    Params(ParamSet),
}

/// Where the data come from, when not from the train block.
#[derive(Clone, Debug)]
enum DataSource {
    Dataset(Dataset),
    File(PathBuf),
    Arrays { input: PathBuf, target: PathBuf },
}

impl Trainer {
    /// Trains a network of the `.net` file at `path`; a data file named in its train block is
    /// looked up beside it.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, TrainFailure> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| TrainFailure::Read { path: path.to_path_buf(), source })?;
        let folder = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut trainer = Trainer::from_source(&path.display().to_string(), &String::from_utf8_lossy(&bytes));
        trainer.folder = folder;
        Ok(trainer)
    }

    /// Trains a network of reef source `text`, shown as `name` in diagnostics.
    pub fn from_source(name: &str, text: &str) -> Self {
        let mut sources = Sources::with_prelude();
        let id = sources.add(name, text);
        Trainer {
            sources,
            id,
            folder: PathBuf::new(),
            network: None,
            epochs: None,
            learning_rate: None,
            seed: None,
            init: None,
            data: None,
            loss: None,
            bounds: Vec::new(),
            batch: None,
            out: None,
            resume: false,
            precision: Precision::F32,
            backend: reef_runtime::executable::Backend::Jit,
            optimiser: None,
            checkpoint_every: None,
            project_bounds: None,
            progress: ProgressMode::Auto,
        }
    }

    /// Trains a network written with [`network!`](crate::network).
    pub fn from_inline(network: &InlineNetwork) -> Self {
        Trainer::from_source("<network! macro>", &network.source)
    }

    /// The sources diagnostics point into: the file, the prelude, `--loss` and `--bound` texts.
    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    /// Which network of the source (default: the first).
    pub fn network(mut self, name: impl Into<String>) -> Self {
        self.network = Some(name.into());
        self
    }

    /// Epochs to reach (a resumed run counts those already done). Default: the train block's, else 100.
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.epochs = Some(epochs);
        self
    }

    /// The learning rate (step size). Default: the train block's `lr`, else 1e-3.
    pub fn learning_rate(mut self, learning_rate: f64) -> Self {
        self.learning_rate = Some(learning_rate);
        self
    }

    /// Seeds parameter initialisation, task data, noise and minibatch order. Default: the
    /// train block's, else 0.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Starts from the parameters in an `.npz` file (reef or Rockpool names) instead of
    /// initialising them from the seed.
    pub fn init_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.init = Some(InitSource::File(path.into()));
        self
    }

    /// Starts from these parameters (reef or Rockpool names; every parameter must be given).
    pub fn init_params(mut self, params: ParamSet) -> Self {
        self.init = Some(InitSource::Params(params));
        self
    }

    /// Trains on this dataset instead of the train block's `data`.
    pub fn data(mut self, data: Dataset) -> Self {
        self.data = Some(DataSource::Dataset(data));
        self
    }

    /// Trains on an `.npz` file holding `input` and `target`.
    pub fn data_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.data = Some(DataSource::File(path.into()));
        self
    }

    /// Trains on an input and a target `.npy` file (`[T, C]` or `[B, T, C]` each).
    pub fn data_arrays(mut self, input: impl Into<PathBuf>, target: impl Into<PathBuf>) -> Self {
        self.data = Some(DataSource::Arrays { input: input.into(), target: target.into() });
        self
    }

    /// The loss, as reef text (`mse(output, target) + 0.1 * l2sqr_norm()`), instead of the
    /// train block's. Errors in it are reported as in a source named `--loss`.
    pub fn loss(mut self, text: &str) -> Self {
        self.loss = Some(self.sources.add("--loss", text));
        self
    }

    /// One more bound for `bounds_cost` (`1_Rate.tau >= 11 ms`), after the train block's.
    pub fn bound(mut self, text: &str) -> Self {
        self.bounds.push(self.sources.add("--bound", text));
        self
    }

    /// Samples per minibatch. Default: the train block's, else the whole dataset.
    pub fn batch(mut self, batch: usize) -> Self {
        self.batch = Some(batch);
        self
    }

    /// The run folder. Default: `runs/<network name>`.
    pub fn out(mut self, folder: impl Into<PathBuf>) -> Self {
        self.out = Some(folder.into());
        self
    }

    /// Continue from the run folder's checkpoint.
    pub fn resume(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }

    /// The arithmetic precision of the network's runs (default f32, as Rockpool); parameters
    /// and the optimiser's state are always kept in f64.
    pub fn precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// The engine: native code (the default) or the reference interpreter.
    pub fn backend(mut self, backend: reef_runtime::executable::Backend) -> Self {
        self.backend = backend;
        self
    }

    /// The update rule, instead of the train block's (default Adam).
    pub fn optimiser(mut self, optimiser: OptimiserKind) -> Self {
        self.optimiser = Some(optimiser);
        self
    }

    /// Write a checkpoint every `epochs` epochs (always at the end).
    pub fn checkpoint_every(mut self, epochs: usize) -> Self {
        self.checkpoint_every = Some(epochs);
        self
    }

    /// Whether to clamp parameters into their bounds (the models' `where` bounds, the train
    /// block's `bound`s and [`bound`](Self::bound)s) after every step. Default: the train
    /// block's `project_bounds`, else no (bounds then act only through a `bounds_cost` term).
    pub fn project_bounds(mut self, project: bool) -> Self {
        self.project_bounds = Some(project);
        self
    }

    /// How progress is shown on stderr (default: a bar on a terminal, lines otherwise).
    pub fn progress(mut self, progress: ProgressMode) -> Self {
        self.progress = progress;
        self
    }

    /// Compiles the network, reads its train block, the loss, the data and the starting
    /// parameters, and settles the settings, without training.
    pub fn prepare(&self) -> Result<Prepared, TrainFailure> {
        prepare::prepare(self)
    }

    /// [`prepare`](Self::prepare)s and trains.
    pub fn run(&self) -> Result<TrainOutcome, TrainFailure> {
        self.prepare()?.run()
    }
}

/// What a finished run produced.
#[derive(Clone, Debug)]
pub struct TrainOutcome {
    /// Final parameters, loss history and optimiser state.
    pub result: TrainResult,
    /// The loss of the final parameters on the whole dataset.
    pub final_loss: f64,
    /// The final parameters' output on the first sample, `[1, T, N]`.
    pub output: ArrayD<f64>,
    /// The run folder.
    pub folder: PathBuf,
    /// The files written at the end, in the run folder.
    pub files: Vec<PathBuf>,
}

impl TrainOutcome {
    /// The loss before the first step: the first epoch's loss (the final loss if no epoch ran).
    pub fn initial_loss(&self) -> f64 {
        self.result.history.records().first().map_or(self.final_loss, |record| record.loss)
    }

    /// Seconds per epoch of this run (of the whole training for a resumed one).
    pub fn seconds_per_epoch(&self) -> f64 {
        let history = &self.result.history;
        history.last().map_or(0.0, |last| last.seconds / history.len() as f64)
    }
}
