//! Everything a training run needs to continue exactly ↔ one `.npz` file.

use std::path::Path;

use ndarray::{ArrayD, IxDyn};

use crate::io::{Compression, IoError, Precision, read_npz, write_npz};
use crate::optim::{Optimiser, OptimiserKind};
use crate::params::ParamSet;
use crate::train::{BestEpoch, History, TrainError};

/// A training run's state between epochs: parameters, optimiser state, loss history, the best
/// epoch so far and the shuffling seed. The epoch reached is the history's length, and the RNG
/// position follows from it (epoch `e` shuffles with the generator seeded from `seed`, advanced
/// by `e·2⁶⁴`).
///
/// The file (`float64`, so a resume is exact) holds `params.<name>` for each parameter, the
/// optimiser's entries (`adam.step`, `adam.m.<name>`, `adam.v.<name>` or `sgd.step`),
/// `history.loss` and `history.seconds` (`[epochs]`), `rng.seed` (`[2]`: the seed's high and low
/// 32 bits), `rng.epoch` (a scalar, the epochs done) and, once an epoch had a finite loss,
/// `best.epoch` (a scalar) with `best.params.<name>` (the best epoch's loss is its history
/// entry). A checkpoint without `best.epoch` (written before best epochs were kept) resumes
/// with no best, so the best is then the best of the epochs run after the resume.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// The parameters after the last finished epoch.
    pub params: ParamSet,
    /// The optimiser's state.
    pub optimiser: Optimiser,
    /// One record per finished epoch.
    pub history: History,
    /// The finished epoch with the lowest finite loss, if any.
    pub best: Option<BestEpoch>,
    /// The minibatch-shuffling seed.
    pub seed: u64,
}

impl Checkpoint {
    /// The state before the first epoch.
    pub fn fresh(params: ParamSet, optimiser: OptimiserKind, seed: u64) -> Self {
        let optimiser = Optimiser::new(optimiser, &params);
        Checkpoint { params, optimiser, history: History::new(), best: None, seed }
    }

    /// Epochs finished.
    pub fn epoch(&self) -> usize {
        self.history.len()
    }

    /// Writes the checkpoint atomically (see the type's documentation for the keys).
    pub fn write(&self, path: impl AsRef<Path>) -> Result<(), IoError> {
        let mut entries: Vec<(String, ArrayD<f64>)> =
            self.params.iter().map(|(name, value)| (format!("params.{name}"), value.clone())).collect();
        entries.extend(self.optimiser.state_entries());
        entries.extend(self.history.entries());
        let seed_halves = vec![(self.seed >> 32) as f64, (self.seed & 0xffff_ffff) as f64];
        entries.push(("rng.seed".to_owned(), ArrayD::from_shape_vec(IxDyn(&[2]), seed_halves).unwrap_or_default()));
        entries.push(("rng.epoch".to_owned(), ArrayD::from_elem(IxDyn(&[]), self.epoch() as f64)));
        if let Some(best) = &self.best {
            entries.push(("best.epoch".to_owned(), ArrayD::from_elem(IxDyn(&[]), best.epoch as f64)));
            entries.extend(best.params.iter().map(|(name, value)| (format!("best.params.{name}"), value.clone())));
        }
        write_npz(path, entries.iter().map(|(key, value)| (key.as_str(), value)), Precision::F64, Compression::Stored)
    }

    /// Reads a checkpoint for a run with `optimiser`, checking that its parameters have exactly
    /// the names and shapes of `network` (the parameters the run was started with).
    pub fn read(path: impl AsRef<Path>, optimiser: OptimiserKind, network: &ParamSet) -> Result<Self, TrainError> {
        let path = path.as_ref();
        let entries = read_npz(path)?;
        let problem = |detail: String| TrainError::Checkpoint { path: path.to_path_buf(), detail };
        let find = |key: &str| {
            entries
                .iter()
                .find(|(entry, _)| entry == key)
                .map(|(_, value)| value)
                .ok_or_else(|| problem(format!("it holds no `{key}`")))
        };

        let params: ParamSet = entries
            .iter()
            .filter_map(|(key, value)| Some((key.strip_prefix("params.")?.to_owned(), value.clone())))
            .collect();
        check_same_parameters(&params, network).map_err(problem)?;
        let optimiser = Optimiser::from_state_entries(optimiser, &params, &entries)
            .map_err(|error| problem(format!("{error} (was it written by a run with another optimiser?)")))?;
        let history = History::from_columns(find("history.loss")?, find("history.seconds")?).map_err(problem)?;

        let seed = match find("rng.seed")?.as_slice() {
            Some(&[high, low])
                if [high, low].iter().all(|half| half.fract() == 0.0 && (0.0..4294967296.0).contains(half)) =>
            {
                ((high as u64) << 32) | low as u64
            }
            _ => return Err(problem("`rng.seed` is not two 32-bit halves".to_owned())),
        };
        let epoch = find("rng.epoch")?.iter().next().copied();
        if epoch != Some(history.len() as f64) {
            let detail = format!("`rng.epoch` ({epoch:?}) disagrees with the {} epochs of history", history.len());
            return Err(problem(detail));
        }
        let best = read_best(&entries, &history, network).map_err(problem)?;
        Ok(Checkpoint { params, optimiser, history, best, seed })
    }
}

/// The best epoch stored in checkpoint `entries` (`None` if there is no `best.epoch`), checked
/// against the history it indexes and the network's parameters.
fn read_best(
    entries: &[(String, ArrayD<f64>)],
    history: &History,
    network: &ParamSet,
) -> Result<Option<BestEpoch>, String> {
    let Some((_, epoch)) = entries.iter().find(|(key, _)| key == "best.epoch") else {
        return Ok(None);
    };
    let record = match epoch.iter().next().copied() {
        Some(epoch) if epoch.fract() == 0.0 && epoch >= 1.0 => history.records().get(epoch as usize - 1),
        _ => None,
    };
    let Some(record) = record else {
        return Err(format!("`best.epoch` ({epoch}) is not one of the {} epochs of history", history.len()));
    };
    let params: ParamSet = entries
        .iter()
        .filter_map(|(key, value)| Some((key.strip_prefix("best.params.")?.to_owned(), value.clone())))
        .collect();
    check_same_parameters(&params, network).map_err(|detail| format!("best parameters: {detail}"))?;
    Ok(Some(BestEpoch { epoch: record.epoch, loss: record.loss, params }))
}

/// `Err(description)` unless `stored` has exactly `network`'s names with the same shapes.
fn check_same_parameters(stored: &ParamSet, network: &ParamSet) -> Result<(), String> {
    let mut problems = Vec::new();
    for (name, value) in network.iter() {
        match stored.get(name) {
            None => problems.push(format!("`{name}` is missing")),
            Some(found) if found.shape() != value.shape() => {
                problems.push(format!("`{name}` has shape {:?}, the network {:?}", found.shape(), value.shape()))
            }
            Some(_) => {}
        }
    }
    problems.extend(
        stored.names().filter(|name| !network.contains(name)).map(|name| format!("`{name}` is not a parameter")),
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("its parameters do not match the network: {}", problems.join("; ")))
    }
}
