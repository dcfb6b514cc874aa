//! `reef train FILE [--epochs N] [--lr X] [--seed S] [--init P.npz] [--data D.npz | --input
//! X.npy --target Y.npy] [--loss EXPR] [--bound 'NAME >= VALUE']... [--batch B] [--out DIR]
//! [--resume] [--precision f32|f64] [--optimizer adam|sgd] [--checkpoint-every N]
//! [--project-bounds] [--network NAME]`: a thin shell over [`reef::train::Trainer`].

use std::path::PathBuf;
use std::process::ExitCode;

use reef::train::{TrainFailure, Trainer};
use reef_runtime::io::Precision;
use reef_runtime::optim::{AdamConfig, OptimiserKind};
use reef_runtime::train::RunFolder;

use super::run::PrecisionArg;

/// Arguments of `reef train`; each overrides the network's `train` block.
#[derive(clap::Args)]
pub struct TrainArgs {
    /// The `.net` file.
    pub file: PathBuf,
    /// Epochs to reach (a resumed run counts those already done); default: the train block's, else 100.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Learning rate; default: the train block's `optimizer = adam(lr = ...)`, else 1e-3.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Seed for initialisation, task data, noise and minibatch order; default: the train block's, else 0.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Starting parameters (`.npz`, reef or Rockpool names); default: initialised from the seed.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Dataset (`.npz` with `input` and `target`, as `reef data` writes); default: the train block's `data`.
    #[arg(long, conflicts_with_all = ["input", "target"])]
    pub data: Option<PathBuf>,
    /// Input signal, `.npy` [time, channels] or [batch, time, channels] (with `--target`).
    #[arg(long, requires = "target")]
    pub input: Option<PathBuf>,
    /// Target, `.npy` with the output's shape (with `--input`).
    #[arg(long, requires = "input")]
    pub target: Option<PathBuf>,
    /// The loss, e.g. `mse(output, target) + 0.1 * l2sqr_norm(1_Rate.w_rec)`; default: the
    /// train block's, else `mse(output, target)`.
    #[arg(long)]
    pub loss: Option<String>,
    /// A bound for `bounds_cost`, e.g. `'1_Rate.tau >= 11 ms'` (repeatable).
    #[arg(long = "bound")]
    pub bounds: Vec<String>,
    /// Samples per minibatch; default: the train block's, else the whole dataset.
    #[arg(long)]
    pub batch: Option<usize>,
    /// The run folder; default: `runs/<network>`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue from the run folder's checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// The engine: native code (`jit`) or the reference interpreter (`interp`).
    #[arg(long, value_enum, default_value = "jit")]
    pub backend: super::run::BackendArg,
    /// Arithmetic precision of the network's runs.
    #[arg(long, value_enum, default_value = "f32")]
    pub precision: PrecisionArg,
    /// Update rule; default: the train block's, else adam.
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerArg>,
    /// Clamp parameters into their bounds after every step (as `project_bounds = true`).
    #[arg(long)]
    pub project_bounds: bool,
    /// Write a checkpoint every N epochs (always at the end).
    #[arg(long, value_name = "N")]
    pub checkpoint_every: Option<usize>,
    /// Which network of the file (default: the first).
    #[arg(long)]
    pub network: Option<String>,
}

/// `--optimizer`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum OptimizerArg {
    /// Adam with JAX's constants (b1 = 0.9, b2 = 0.999, eps = 1e-8).
    Adam,
    /// Plain gradient descent.
    Sgd,
}

/// Trains and reports the losses (the best epoch's too) and the run folder.
pub fn run(args: &TrainArgs) -> Result<ExitCode, String> {
    let trainer = trainer(args).map_err(|failure| failure.to_string())?;
    let prepared = match trainer.prepare() {
        Ok(prepared) => prepared,
        Err(failure) => return fail(&trainer, failure),
    };
    let (settings, data) = (prepared.settings(), prepared.data());
    eprintln!(
        "training {} ({} parameters) on {} sample(s) of {} steps: {} lr {:e}, {} epochs, run folder {}",
        prepared.network().graph.name,
        prepared.initial().element_count(),
        data.len(),
        data.time_steps(),
        settings.optimiser.name(),
        settings.learning_rate,
        settings.epochs,
        prepared.out().display()
    );
    let outcome = match prepared.run() {
        Ok(outcome) => outcome,
        Err(failure) => return fail(&trainer, failure),
    };
    let history = &outcome.result.history;
    println!("epochs = {}", history.len());
    println!("loss before = {}", outcome.initial_loss());
    println!("loss after = {}", outcome.final_loss);
    if let Some(best) = &outcome.result.best {
        let which = match best.epoch > history.len() {
            true => "the final parameters, also".to_string(),
            false => format!("epoch {}, parameters", best.epoch),
        };
        println!("best loss = {} ({which} in {})", best.loss, RunFolder::BEST);
    }
    println!("seconds per epoch = {:.4}", outcome.seconds_per_epoch());
    let files: Vec<String> = outcome
        .files
        .iter()
        .filter_map(|path| path.file_name().map(|name| name.to_string_lossy().into_owned()))
        .collect();
    eprintln!("wrote {}: {}", outcome.folder.display(), files.join(", "));
    Ok(ExitCode::SUCCESS)
}

/// The flags as a [`Trainer`].
fn trainer(args: &TrainArgs) -> Result<Trainer, TrainFailure> {
    let mut trainer = Trainer::from_file(&args.file)?
        .resume(args.resume)
        .precision(Precision::from(args.precision))
        .backend(args.backend.into());
    if let Some(name) = &args.network {
        trainer = trainer.network(name);
    }
    if let Some(epochs) = args.epochs {
        trainer = trainer.epochs(epochs);
    }
    if let Some(lr) = args.lr {
        trainer = trainer.learning_rate(lr);
    }
    if let Some(seed) = args.seed {
        trainer = trainer.seed(seed);
    }
    if let Some(path) = &args.init {
        trainer = trainer.init_file(path);
    }
    if let Some(path) = &args.data {
        trainer = trainer.data_file(path);
    }
    if let (Some(input), Some(target)) = (&args.input, &args.target) {
        trainer = trainer.data_arrays(input, target);
    }
    if let Some(loss) = &args.loss {
        trainer = trainer.loss(loss);
    }
    for bound in &args.bounds {
        trainer = trainer.bound(bound);
    }
    if let Some(batch) = args.batch {
        trainer = trainer.batch(batch);
    }
    if let Some(out) = &args.out {
        trainer = trainer.out(out);
    }
    if let Some(optimizer) = args.optimizer {
        trainer = trainer.optimiser(match optimizer {
            OptimizerArg::Adam => OptimiserKind::Adam(AdamConfig::default()),
            OptimizerArg::Sgd => OptimiserKind::Sgd,
        });
    }
    if args.project_bounds {
        trainer = trainer.project_bounds(true);
    }
    if let Some(every) = args.checkpoint_every {
        trainer = trainer.checkpoint_every(every);
    }
    Ok(trainer)
}

/// Renders source errors as the other commands do; everything else becomes the error line.
fn fail(trainer: &Trainer, failure: TrainFailure) -> Result<ExitCode, String> {
    match failure {
        TrainFailure::Source(diagnostics) => {
            super::report(trainer.sources(), &diagnostics);
            Ok(ExitCode::FAILURE)
        }
        other => Err(other.to_string()),
    }
}
