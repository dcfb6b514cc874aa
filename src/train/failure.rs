//! Why a training run could not start or did not finish.

use std::fmt;
use std::path::PathBuf;

use reef_lang::Diagnostics;
use reef_runtime::run::RunError;
use reef_runtime::tasks::DataError;
use reef_runtime::train::TrainError;

/// Why [`Trainer`](super::Trainer) failed. Source problems (the network, its train block, the
/// loss and bounds, a task or data file the block names) are diagnostics located in
/// [`Trainer::sources`](super::Trainer::sources); the rest carry their own message.
#[derive(Debug)]
pub enum TrainFailure {
    /// The `.net` file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The source, its train block, the loss or a bound has errors; render them with the
    /// trainer's sources.
    Source(Diagnostics),
    /// No network of that name (or none at all).
    NoNetwork {
        /// The name asked for.
        name: Option<String>,
        /// The networks the source defines.
        available: Vec<String>,
    },
    /// Neither the caller nor the train block gives data.
    NoData {
        /// The network.
        network: String,
    },
    /// The starting parameters do not fit the network, or the data do not fit its input or
    /// output, or the final forward run failed.
    Run(RunError),
    /// A data file could not be read or does not form a dataset.
    Data(DataError),
    /// Training stopped (NaN, a checkpoint that does not fit, a file that cannot be written, ...).
    Train(TrainError),
}

impl fmt::Display for TrainFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrainFailure::Read { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            TrainFailure::Source(diagnostics) => {
                write!(
                    f,
                    "the source has {} error(s); render them with the trainer's sources",
                    diagnostics.error_count()
                )
            }
            TrainFailure::NoNetwork { name: Some(name), available } => {
                write!(f, "no network named `{name}` (the source has: {})", available.join(", "))
            }
            TrainFailure::NoNetwork { name: None, .. } => write!(f, "the source defines no network"),
            TrainFailure::NoData { network } => write!(
                f,
                "no data to train `{network}` on: give `--data D.npz` or `--input X.npy --target Y.npy`, \
                 or a `data = ...` setting in its train block"
            ),
            TrainFailure::Run(error) => write!(f, "{error}"),
            TrainFailure::Data(error) => write!(f, "{error}"),
            TrainFailure::Train(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for TrainFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TrainFailure::Read { source, .. } => Some(source),
            TrainFailure::Run(error) => Some(error),
            TrainFailure::Data(error) => Some(error),
            TrainFailure::Train(error) => Some(error),
            TrainFailure::Source(_) | TrainFailure::NoNetwork { .. } | TrainFailure::NoData { .. } => None,
        }
    }
}

impl From<RunError> for TrainFailure {
    fn from(error: RunError) -> Self {
        TrainFailure::Run(error)
    }
}

impl From<DataError> for TrainFailure {
    fn from(error: DataError) -> Self {
        TrainFailure::Data(error)
    }
}

impl From<TrainError> for TrainFailure {
    fn from(error: TrainError) -> Self {
        TrainFailure::Train(error)
    }
}
