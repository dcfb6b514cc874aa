//! A run folder: where a training run leaves its parameters, loss history, checkpoint and plots.

use std::path::{Path, PathBuf};

use ndarray::ArrayD;

use crate::io::{IoError, Precision, read_npy, write_npy};
use crate::params::NameStyle;
use crate::plot::{plot_loss, plot_output_vs_target, plot_raster};
use crate::train::{BestEpoch, Checkpoint, History, TrainError};

/// The files of a training run, all in one folder:
///
/// | file | contents |
/// |---|---|
/// | `params.npz` | final parameters, reef names, `float64` |
/// | `best.npz` | the parameters of the epoch with the lowest loss, as `params.npz` |
/// | `loss.csv` | `epoch,loss,seconds`, one line per epoch |
/// | `checkpoint.npz` | everything needed to resume ([`Checkpoint`]) |
/// | `loss.png` | the loss curve, log scale |
/// | `output.npy`, `target.npy`, `output.png` | the first sample's output against its target |
/// | `raster.npy`, `raster.png` | spike counts `[T, N]` of a chosen module, as a raster |
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunFolder {
    root: PathBuf,
}

impl RunFolder {
    /// Final parameters.
    pub const PARAMS: &'static str = "params.npz";
    /// Parameters of the epoch with the lowest loss ([`BestEpoch`]).
    pub const BEST: &'static str = "best.npz";
    /// Loss history.
    pub const LOSS_CSV: &'static str = "loss.csv";
    /// Resumable state.
    pub const CHECKPOINT: &'static str = "checkpoint.npz";
    /// Loss curve.
    pub const LOSS_PLOT: &'static str = "loss.png";
    /// Network output, `[B, T, N]`.
    pub const OUTPUT: &'static str = "output.npy";
    /// Target, `[B, T, N]`.
    pub const TARGET: &'static str = "target.npy";
    /// Output against target.
    pub const OUTPUT_PLOT: &'static str = "output.png";
    /// Spike counts, `[T, N]`.
    pub const RASTER: &'static str = "raster.npy";
    /// Spike raster.
    pub const RASTER_PLOT: &'static str = "raster.png";

    /// Uses `root`, creating it (and its parents) if needed.
    pub fn create(root: impl Into<PathBuf>) -> Result<Self, TrainError> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(|source| IoError::Io {
            action: "create the folder",
            path: root.clone(),
            source,
        })?;
        Ok(RunFolder { root })
    }

    /// Uses an existing folder as it is (for reading, e.g. by `reef plot`).
    pub fn open(root: impl Into<PathBuf>) -> Self {
        RunFolder { root: root.into() }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of `file` (one of the constants) in the folder.
    pub fn path(&self, file: &str) -> PathBuf {
        self.root.join(file)
    }

    /// Writes the final state: `checkpoint.npz`, `params.npz`, `best.npz`, `loss.csv` and
    /// `loss.png` (the plot only when some loss is positive and finite). Without a best epoch
    /// (no epoch ran) an older run's `best.npz` is removed, so the folder never pairs this run's
    /// parameters with another run's best.
    pub fn write_final(&self, checkpoint: &Checkpoint) -> Result<(), TrainError> {
        checkpoint.write(self.path(Self::CHECKPOINT))?;
        checkpoint.params.write_npz(self.path(Self::PARAMS), Precision::F64, NameStyle::Reef)?;
        self.write_best(checkpoint.best.as_ref())?;
        self.write_history(&checkpoint.history)
    }

    /// Writes `best`'s parameters to `best.npz` like `params.npz`, or removes a stale
    /// `best.npz` when there is no best.
    pub fn write_best(&self, best: Option<&BestEpoch>) -> Result<(), TrainError> {
        let path = self.path(Self::BEST);
        match best {
            Some(best) => Ok(best.params.write_npz(path, Precision::F64, NameStyle::Reef)?),
            None => match std::fs::remove_file(&path) {
                Err(source) if source.kind() != std::io::ErrorKind::NotFound => {
                    Err(IoError::Io { action: "remove", path, source }.into())
                }
                _ => Ok(()),
            },
        }
    }

    /// Writes `loss.csv` and, when some loss is positive and finite, `loss.png`.
    pub fn write_history(&self, history: &History) -> Result<(), TrainError> {
        history.write_csv(self.path(Self::LOSS_CSV))?;
        let losses = history.losses();
        if losses.iter().any(|loss| loss.is_finite() && *loss > 0.0) {
            plot_loss(self.path(Self::LOSS_PLOT), &losses)?;
        }
        Ok(())
    }

    /// Writes `output.npy`, `target.npy` and `output.png` (time step `dt` seconds).
    pub fn write_output(&self, output: &ArrayD<f64>, target: &ArrayD<f64>, dt: f64) -> Result<(), TrainError> {
        write_npy(self.path(Self::OUTPUT), output, Precision::F64)?;
        write_npy(self.path(Self::TARGET), target, Precision::F64)?;
        Ok(plot_output_vs_target(self.path(Self::OUTPUT_PLOT), output, target, dt)?)
    }

    /// Writes `raster.npy` and `raster.png` from spike counts `[T, N]`.
    pub fn write_raster(&self, counts: &ArrayD<f64>, dt: f64) -> Result<(), TrainError> {
        write_npy(self.path(Self::RASTER), counts, Precision::F64)?;
        Ok(plot_raster(self.path(Self::RASTER_PLOT), counts, dt)?)
    }

    /// Redraws every plot whose data is in the folder: `loss.png` from `loss.csv`, `output.png`
    /// from `output.npy` and `target.npy`, `raster.png` from `raster.npy`. Returns the plots
    /// written; a folder with none of the data is an error naming what was looked for.
    pub fn replot(&self, dt: f64) -> Result<Vec<PathBuf>, TrainError> {
        let mut written = Vec::new();
        if self.path(Self::LOSS_CSV).exists() {
            let history = History::read_csv(self.path(Self::LOSS_CSV))?;
            plot_loss(self.path(Self::LOSS_PLOT), &history.losses())?;
            written.push(self.path(Self::LOSS_PLOT));
        }
        if self.path(Self::OUTPUT).exists() && self.path(Self::TARGET).exists() {
            let (output, _) = read_npy(self.path(Self::OUTPUT))?;
            let (target, _) = read_npy(self.path(Self::TARGET))?;
            plot_output_vs_target(self.path(Self::OUTPUT_PLOT), &output, &target, dt)?;
            written.push(self.path(Self::OUTPUT_PLOT));
        }
        if self.path(Self::RASTER).exists() {
            let (counts, _) = read_npy(self.path(Self::RASTER))?;
            plot_raster(self.path(Self::RASTER_PLOT), &counts, dt)?;
            written.push(self.path(Self::RASTER_PLOT));
        }
        if written.is_empty() {
            return Err(TrainError::NothingToPlot { path: self.root.clone() });
        }
        Ok(written)
    }
}
