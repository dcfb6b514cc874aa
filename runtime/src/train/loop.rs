//! The training loop: epochs of minibatch steps, checks for NaN and infinity, checkpoints.

use std::path::Path;
use std::time::Instant;

use ndarray::{ArrayD, Dimension};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_pcg::Pcg64;

use crate::optim::clip_by_global_norm;
use crate::params::ParamSet;
use crate::train::progress::Progress;
use crate::train::{
    Batch, BestEpoch, Checkpoint, Control, Dataset, EpochReport, Objective, RunFolder, TrainError, TrainResult,
    TrainSettings,
};

/// Trains `initial` (or, with `settings.resume`, the parameters in `out`'s checkpoint) to
/// minimise `objective` on `data`, and returns the final parameters and loss history.
///
/// Each epoch cuts the dataset into minibatches of `settings.batch_size` samples (the last may
/// be smaller) in an order shuffled from `settings.seed` and the epoch (in order when one batch
/// holds everything), and for each: evaluates the objective, stops if the loss or any gradient
/// element is NaN or infinite, clips the gradients by global norm if asked, takes one optimiser
/// step at the scheduled learning rate, projects onto `settings.bounds`, and stops if a
/// parameter became NaN or infinite. The epoch's loss is the mean of its minibatch losses.
/// `observer` sees every finished epoch and may stop the run. Starting parameters that are NaN
/// or infinite are refused before the first step, naming the parameter. The epoch with the
/// lowest finite loss is kept with the parameters it started from (those its loss was measured
/// at) as the result's `best`.
///
/// With a run folder `out`, `checkpoint.npz` is written every `settings.checkpoint_every`
/// epochs, and at the end (also after an early stop) the checkpoint, `params.npz`, `best.npz`,
/// `loss.csv` and `loss.png`. A run resumed from a checkpoint continues exactly as if it had
/// not stopped: same losses, parameters and best epoch, bit for bit.
pub fn train<O, F>(
    objective: &mut O,
    initial: ParamSet,
    data: &Dataset,
    settings: &TrainSettings,
    out: Option<&Path>,
    mut observer: F,
) -> Result<TrainResult, TrainError>
where
    O: Objective + ?Sized,
    F: FnMut(&EpochReport<'_>) -> Control,
{
    settings.check(&initial)?;
    let folder = out.map(RunFolder::create).transpose()?;
    let mut state = match (&folder, settings.resume) {
        (_, false) => Checkpoint::fresh(initial, settings.optimiser, settings.seed),
        (Some(folder), true) => resume(folder, settings, &initial)?,
        (None, true) => {
            let detail = "resuming needs the run folder that holds the checkpoint".to_owned();
            return Err(TrainError::Settings { detail });
        }
    };
    let resumed_from = settings.resume.then(|| state.epoch());
    if let Some((name, index, value)) = first_non_finite(&state.params) {
        return Err(TrainError::NonFiniteInitial { name, index, value });
    }

    let batch_size = settings.batch_size.unwrap_or(data.len()).clamp(1, data.len().max(1));
    // With one batch per epoch the data are used in order, and the batch is built once.
    let whole = (batch_size >= data.len()).then(|| data.full_batch());
    let progress = Progress::start(settings.progress, state.epoch(), settings.epochs);
    let started = Instant::now();
    let seconds_before = state.history.last().map_or(0.0, |record| record.seconds);

    while state.epoch() < settings.epochs {
        let epoch = state.epoch() + 1;
        // The parameters this epoch's loss is measured at, kept if the loss is the lowest yet.
        let start = state.params.clone();
        let loss = match run_epoch(objective, &mut state, data, whole.as_ref(), batch_size, settings, epoch) {
            Ok(loss) => loss,
            Err(error) => {
                progress.abandon();
                return Err(error);
            }
        };
        let seconds = seconds_before + started.elapsed().as_secs_f64();
        state.history.push(loss, seconds);
        BestEpoch::offer(&mut state.best, epoch, loss, start);
        progress.epoch(epoch, loss);
        if let (Some(folder), Some(every)) = (&folder, settings.checkpoint_every)
            && epoch.is_multiple_of(every)
            && epoch < settings.epochs
        {
            state.write(folder.path(RunFolder::CHECKPOINT))?;
        }
        let report = EpochReport { epoch, epochs: settings.epochs, loss, seconds, params: &state.params };
        if observer(&report) == Control::Stop {
            break;
        }
    }
    progress.finish();
    if let Some(folder) = &folder {
        folder.write_final(&state)?;
    }
    let stopped_early = state.epoch() < settings.epochs;
    let Checkpoint { params, optimiser, history, best, .. } = state;
    Ok(TrainResult { params, history, best, optimiser, resumed_from, stopped_early })
}

/// Loads the folder's checkpoint and checks that it belongs to this run.
fn resume(folder: &RunFolder, settings: &TrainSettings, initial: &ParamSet) -> Result<Checkpoint, TrainError> {
    let path = folder.path(RunFolder::CHECKPOINT);
    if !path.exists() {
        return Err(TrainError::NoCheckpoint { path });
    }
    let checkpoint = Checkpoint::read(&path, settings.optimiser, initial)?;
    if checkpoint.seed != settings.seed {
        let detail = format!(
            "it was written with seed {}, but this run has seed {}; resume with the same seed",
            checkpoint.seed, settings.seed
        );
        return Err(TrainError::Checkpoint { path, detail });
    }
    Ok(checkpoint)
}

/// One epoch of minibatch steps; returns the mean minibatch loss.
fn run_epoch<O: Objective + ?Sized>(
    objective: &mut O,
    state: &mut Checkpoint,
    data: &Dataset,
    whole: Option<&Batch>,
    batch_size: usize,
    settings: &TrainSettings,
    epoch: usize,
) -> Result<f64, TrainError> {
    let order = epoch_order(settings.seed, epoch - 1, data.len(), whole.is_none());
    let mut total = 0.0;
    let mut count = 0;
    for (index, indices) in order.chunks(batch_size).enumerate() {
        let batch_number = index + 1;
        let owned;
        let batch = match whole {
            Some(batch) => batch,
            None => {
                owned = data.batch(indices)?;
                &owned
            }
        };
        let (loss, mut grads) =
            objective.value_and_grad(&state.params, batch).map_err(|error| error.in_epoch(epoch))?;
        // Gradients first: a bad loss usually comes with bad gradients, which name a parameter.
        if let Some((name, index, value)) = first_non_finite(&grads) {
            return Err(TrainError::NonFiniteGradient { epoch, batch: batch_number, name, index, value });
        }
        if !loss.is_finite() {
            return Err(TrainError::NonFiniteLoss { epoch, batch: batch_number, value: loss });
        }
        if let Some(max_norm) = settings.clip_norm {
            clip_by_global_norm(&mut grads, max_norm);
        }
        let learning_rate = settings.schedule.learning_rate(settings.learning_rate, state.optimiser.step_count());
        state.optimiser.step(&mut state.params, &grads, learning_rate)?;
        settings.bounds.project(&mut state.params);
        if let Some((name, index, value)) = first_non_finite(&state.params) {
            return Err(TrainError::NonFiniteParameter { epoch, batch: batch_number, name, index, value });
        }
        total += loss;
        count += 1;
    }
    Ok(total / count.max(1) as f64)
}

/// The order epoch `epoch_index` (from 0) visits `len` samples in: `0..len`, shuffled when
/// `shuffle` by PCG-64 seeded with `seed` and advanced by `epoch_index·2⁶⁴` steps (streams of
/// different epochs never overlap, and each depends only on the seed and the epoch).
fn epoch_order(seed: u64, epoch_index: usize, len: usize, shuffle: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    if shuffle {
        let mut generator = Pcg64::seed_from_u64(seed);
        generator.advance((epoch_index as u128) << 64);
        order.shuffle(&mut generator);
    }
    order
}

/// The first (name, index, value) in `set` that is NaN or infinite, in parameter order.
fn first_non_finite(set: &ParamSet) -> Option<(String, Vec<usize>, f64)> {
    set.iter().find_map(|(name, values): (&str, &ArrayD<f64>)| {
        values
            .indexed_iter()
            .find(|(_, value)| !value.is_finite())
            .map(|(index, value)| (name.to_owned(), index.slice().to_vec(), *value))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_orders_are_permutations_that_depend_on_seed_and_epoch_only() {
        let first = epoch_order(3, 0, 10, true);
        let mut sorted = first.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        assert_eq!(first, epoch_order(3, 0, 10, true));
        assert_ne!(first, epoch_order(3, 1, 10, true));
        assert_ne!(first, epoch_order(4, 0, 10, true));
        assert_eq!(epoch_order(3, 5, 4, false), [0, 1, 2, 3]);
    }
}
