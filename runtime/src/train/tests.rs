//! The training loop on a toy objective: a least-squares fit of `y = x·W + b`.

use super::*;
use crate::io::read_npz;
use crate::optim::{AdamConfig, OptimError};
use ndarray::{Array2, ArrayD, Axis, Ix3, IxDyn};

/// `mean((x·W + b − target)²)` over every element, with its exact gradient; optionally poisons
/// one parameter's gradient (or the loss) from a given call on.
struct LeastSquares {
    calls: usize,
    poison: Option<(usize, &'static str)>,
}

impl LeastSquares {
    fn new() -> Self {
        LeastSquares { calls: 0, poison: None }
    }
}

impl Objective for LeastSquares {
    fn value_and_grad(&mut self, params: &ParamSet, batch: &Batch) -> Result<(f64, ParamSet), TrainError> {
        self.calls += 1;
        let weight = params.get("readout.weight").ok_or_else(|| TrainError::objective("no weight"))?;
        let bias = params.get("readout.bias").ok_or_else(|| TrainError::objective("no bias"))?;
        let bias = bias.view().into_dimensionality::<ndarray::Ix1>().map_err(TrainError::objective)?;
        let weight = weight.view().into_dimensionality::<ndarray::Ix2>().map_err(TrainError::objective)?;
        let input = batch.input.view().into_dimensionality::<Ix3>().map_err(TrainError::objective)?;
        let (samples, steps, channels) = input.dim();
        let rows = input.to_shape((samples * steps, channels)).map_err(TrainError::objective)?;
        let target = batch.target.to_shape((samples * steps, weight.ncols())).map_err(TrainError::objective)?;
        let error: Array2<f64> = rows.dot(&weight) + bias - &target;
        let count = error.len() as f64;
        let mut loss = error.mapv(|e| e * e).sum() / count;
        let mut weight_gradient = rows.t().dot(&error).mapv(|g| 2.0 * g / count).into_dyn();
        let mut bias_gradient = error.sum_axis(Axis(0)).mapv(|g| 2.0 * g / count).into_dyn();
        match self.poison {
            Some((from, "loss")) if self.calls >= from => loss = f64::NAN,
            Some((from, "readout.bias")) if self.calls >= from => bias_gradient[[1]] = f64::INFINITY,
            Some((from, "readout.weight")) if self.calls >= from => weight_gradient[[2, 0]] = f64::NAN,
            _ => {}
        }
        let grads = [("readout.weight".to_owned(), weight_gradient), ("readout.bias".to_owned(), bias_gradient)];
        Ok((loss, grads.into_iter().collect()))
    }
}

/// 8 samples of 5 steps, 3 inputs → 2 targets from a fixed linear map plus a little structure.
fn data() -> Dataset {
    let input = ArrayD::from_shape_fn(IxDyn(&[8, 5, 3]), |i| ((i[0] * 7 + i[1] * 3 + i[2]) % 11) as f64 / 5.0 - 1.0);
    let map = ndarray::arr2(&[[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5]]);
    let target = ArrayD::from_shape_fn(IxDyn(&[8, 5, 2]), |i| {
        (0..3).map(|c| input[[i[0], i[1], c]] * map[[c, i[2]]]).sum::<f64>() + 0.3
    });
    Dataset::new(input, target).unwrap_or_else(|error| unreachable!("{error}"))
}

fn initial() -> ParamSet {
    [
        ("readout.weight".to_owned(), ArrayD::from_elem(IxDyn(&[3, 2]), 0.1)),
        ("readout.bias".to_owned(), ArrayD::zeros(IxDyn(&[2]))),
    ]
    .into_iter()
    .collect()
}

fn settings(epochs: usize) -> TrainSettings {
    let mut bounds = Bounds::new();
    bounds.set("readout.bias", -0.2, 0.2);
    TrainSettings {
        epochs,
        learning_rate: 0.05,
        schedule: Schedule::ExponentialDecay { decay_steps: 20.0, rate: 0.8 },
        clip_norm: Some(1.0),
        bounds,
        batch_size: Some(3),
        seed: 42,
        progress: ProgressMode::Hidden,
        ..TrainSettings::default()
    }
}

fn keep_going(_: &EpochReport<'_>) -> Control {
    Control::Continue
}

#[test]
fn lowers_the_loss_and_respects_projection_bounds() -> Result<(), TrainError> {
    let settings = TrainSettings { epochs: 60, schedule: Schedule::Constant, ..settings(60) };
    let result = train(&mut LeastSquares::new(), initial(), &data(), &settings, None, keep_going)?;
    let losses = result.history.losses();
    assert_eq!(losses.len(), 60);
    assert!(losses[59] < losses[0] / 20.0, "loss {} → {}", losses[0], losses[59]);
    // The true bias is 0.3, so the projection holds it at the upper bound 0.2.
    assert_eq!(
        result.params.get("readout.bias").map(|bias| bias.iter().copied().collect::<Vec<f64>>()),
        Some(vec![0.2, 0.2])
    );
    // 3 minibatches (3 + 3 + 2 samples) per epoch.
    assert_eq!(result.optimiser.step_count(), 180);
    assert!(!result.stopped_early && result.resumed_from.is_none());
    Ok(())
}

#[test]
fn resuming_gives_bit_identical_results() -> Result<(), Box<dyn std::error::Error>> {
    for optimiser in [OptimiserKind::Adam(AdamConfig::default()), OptimiserKind::Sgd] {
        let folders = (tempfile::tempdir()?, tempfile::tempdir()?);
        let straight_settings = TrainSettings { optimiser, checkpoint_every: Some(4), ..settings(10) };
        let straight = train(
            &mut LeastSquares::new(),
            initial(),
            &data(),
            &straight_settings,
            Some(folders.0.path()),
            keep_going,
        )?;

        // The interrupted run stops after epoch 5 (as an interruption would), then resumes.
        let stop_at_5 = |report: &EpochReport<'_>| if report.epoch == 5 { Control::Stop } else { Control::Continue };
        let first =
            train(&mut LeastSquares::new(), initial(), &data(), &straight_settings, Some(folders.1.path()), stop_at_5)?;
        assert!(first.stopped_early && first.history.len() == 5);
        let resume_settings = TrainSettings { resume: true, ..straight_settings.clone() };
        // The initial parameters are replaced by the checkpoint's.
        let ignored = initial().into_iter().map(|(name, value)| (name, value * 100.0)).collect();
        let resumed =
            train(&mut LeastSquares::new(), ignored, &data(), &resume_settings, Some(folders.1.path()), keep_going)?;

        assert_eq!(resumed.resumed_from, Some(5));
        assert_eq!(resumed.params, straight.params, "{optimiser:?}");
        assert_eq!(resumed.history.losses(), straight.history.losses(), "{optimiser:?}");
        assert_eq!(resumed.optimiser, straight.optimiser);
        assert_eq!(resumed.best, straight.best);
        // The checkpoints agree on everything but the wall-clock seconds.
        let without_seconds = |folder: &std::path::Path| -> Result<Vec<(String, ArrayD<f64>)>, crate::io::IoError> {
            let entries = read_npz(folder.join(RunFolder::CHECKPOINT))?;
            Ok(entries.into_iter().filter(|(key, _)| key != "history.seconds").collect())
        };
        assert_eq!(without_seconds(folders.1.path())?, without_seconds(folders.0.path())?);
    }
    Ok(())
}

#[test]
fn writes_the_run_folder_and_periodic_checkpoints() -> Result<(), Box<dyn std::error::Error>> {
    let folder = tempfile::tempdir()?;
    let run = folder.path().join("runs").join("toy");
    let settings = TrainSettings { checkpoint_every: Some(2), ..settings(6) };
    let mut seen = Vec::new();
    let result = train(&mut LeastSquares::new(), initial(), &data(), &settings, Some(&run), |report| {
        // The checkpoint of an even epoch is on disk before the observer hears of it.
        let checkpoint = Checkpoint::read(run.join(RunFolder::CHECKPOINT), settings.optimiser, report.params);
        seen.push(checkpoint.map(|checkpoint| checkpoint.epoch()).ok());
        Control::Continue
    })?;
    assert_eq!(seen, [None, Some(2), Some(2), Some(4), Some(4), Some(4)]);
    let params = read_npz(run.join(RunFolder::PARAMS))?;
    assert_eq!(params.into_iter().collect::<ParamSet>(), result.params);
    let csv = std::fs::read_to_string(run.join(RunFolder::LOSS_CSV))?;
    assert_eq!(csv.lines().count(), 7);
    assert_eq!(History::read_csv(run.join(RunFolder::LOSS_CSV))?.losses(), result.history.losses());
    assert!(std::fs::read(run.join(RunFolder::LOSS_PLOT))?.starts_with(b"\x89PNG"));
    assert_eq!(Checkpoint::read(run.join(RunFolder::CHECKPOINT), settings.optimiser, &result.params)?.epoch(), 6);
    assert_eq!(RunFolder::open(&run).replot(1e-3)?, [run.join(RunFolder::LOSS_PLOT)]);
    Ok(())
}

#[test]
fn non_finite_values_stop_training_and_name_the_parameter_and_epoch() {
    // Objective calls 1..=3 are epoch 1 (three minibatches); call 7 is epoch 3, batch 1.
    for (poison, expected) in [
        ("readout.bias", "the gradient of `readout.bias` is inf at index [1]"),
        ("readout.weight", "the gradient of `readout.weight` is NaN at index [2, 0]"),
        ("loss", "the loss is NaN"),
    ] {
        let mut objective = LeastSquares { calls: 0, poison: Some((7, poison)) };
        let error = train(&mut objective, initial(), &data(), &settings(10), None, keep_going).err();
        let message = error.as_ref().map(ToString::to_string).unwrap_or_default();
        assert!(message.starts_with("training stopped in epoch 3 (batch 1): "), "{message}");
        assert!(message.ends_with(expected), "{message}");
        assert_eq!(objective.calls, 7);
    }
    // A step so large that a parameter overflows to -inf.
    struct Exploding;
    impl Objective for Exploding {
        fn value_and_grad(&mut self, params: &ParamSet, _: &Batch) -> Result<(f64, ParamSet), TrainError> {
            Ok((1.0, params.iter().map(|(name, value)| (name.to_owned(), value.mapv(|_| 1e300))).collect()))
        }
    }
    let huge = TrainSettings {
        optimiser: OptimiserKind::Sgd,
        learning_rate: 1e10,
        clip_norm: None,
        bounds: Bounds::new(),
        ..settings(3)
    };
    let error = train(&mut Exploding, initial(), &data(), &huge, None, keep_going).err().map(|error| error.to_string());
    assert_eq!(
        error.as_deref(),
        Some("training stopped in epoch 1 (batch 1): parameter `readout.weight` became -inf at index [0, 0]")
    );
}

#[test]
fn bad_settings_and_checkpoints_are_reported() -> Result<(), Box<dyn std::error::Error>> {
    let mut misspelt = settings(2);
    misspelt.bounds.set_lower("readout.bais", 0.0);
    let error = train(&mut LeastSquares::new(), initial(), &data(), &misspelt, None, keep_going).err();
    assert!(
        matches!(&error, Some(TrainError::Optimiser(OptimError::UnknownBound { closest: Some(name), .. })) if name == "readout.bias"),
        "{error:?}"
    );
    let zero_batch = TrainSettings { batch_size: Some(0), ..settings(2) };
    assert!(matches!(
        train(&mut LeastSquares::new(), initial(), &data(), &zero_batch, None, keep_going),
        Err(TrainError::Settings { .. })
    ));

    let folder = tempfile::tempdir()?;
    let resume = TrainSettings { resume: true, ..settings(4) };
    let result = train(&mut LeastSquares::new(), initial(), &data(), &resume, Some(folder.path()), keep_going);
    assert!(matches!(result, Err(TrainError::NoCheckpoint { .. })), "{result:?}");
    train(&mut LeastSquares::new(), initial(), &data(), &settings(2), Some(folder.path()), keep_going)?;
    let other_seed = TrainSettings { seed: 1, ..resume.clone() };
    let result = train(&mut LeastSquares::new(), initial(), &data(), &other_seed, Some(folder.path()), keep_going);
    assert!(matches!(&result, Err(TrainError::Checkpoint { detail, .. }) if detail.contains("seed 42")), "{result:?}");
    let mut other_network = initial();
    other_network.insert("extra", ArrayD::zeros(IxDyn(&[1])));
    let result = train(&mut LeastSquares::new(), other_network, &data(), &resume, Some(folder.path()), keep_going);
    assert!(
        matches!(&result, Err(TrainError::Checkpoint { detail, .. }) if detail.contains("`extra` is missing")),
        "{result:?}"
    );
    let sgd = TrainSettings { optimiser: OptimiserKind::Sgd, ..resume.clone() };
    let result = train(&mut LeastSquares::new(), initial(), &data(), &sgd, Some(folder.path()), keep_going);
    assert!(matches!(&result, Err(TrainError::Checkpoint { detail, .. }) if detail.contains("sgd.step")), "{result:?}");
    Ok(())
}

#[test]
fn objective_errors_carry_the_epoch() {
    struct Failing;
    impl Objective for Failing {
        fn value_and_grad(&mut self, _: &ParamSet, _: &Batch) -> Result<(f64, ParamSet), TrainError> {
            Err(TrainError::objective("the network does not compile"))
        }
    }
    let error = train(&mut Failing, initial(), &data(), &settings(2), None, keep_going).err().map(|e| e.to_string());
    assert_eq!(error.as_deref(), Some("the objective failed in epoch 1: the network does not compile"));
}

#[test]
fn non_finite_starting_parameters_are_refused_before_any_step() {
    let mut start = initial();
    if let Some(bias) = start.get_mut("readout.bias") {
        bias[[0]] = f64::NAN;
    }
    let mut objective = LeastSquares::new();
    let error =
        train(&mut objective, start, &data(), &settings(3), None, keep_going).err().map(|error| error.to_string());
    assert_eq!(error.as_deref(), Some("cannot train: parameter `readout.bias` starts as NaN at index [0]"));
    assert_eq!(objective.calls, 0);
}

/// Adam at a step size far too large for the toy fit: the loss falls, then jumps about.
fn jumpy(epochs: usize) -> TrainSettings {
    TrainSettings {
        epochs,
        learning_rate: 0.6,
        optimiser: OptimiserKind::Adam(AdamConfig::default()),
        batch_size: None,
        progress: ProgressMode::Hidden,
        ..TrainSettings::default()
    }
}

#[test]
fn keeps_the_parameters_of_the_epoch_with_the_lowest_loss() -> Result<(), Box<dyn std::error::Error>> {
    let folder = tempfile::tempdir()?;
    let result = train(&mut LeastSquares::new(), initial(), &data(), &jumpy(40), Some(folder.path()), keep_going)?;
    let losses = result.history.losses();
    let (index, lowest) = losses
        .iter()
        .copied()
        .enumerate()
        .fold((0, f64::INFINITY), |best, (index, loss)| if loss < best.1 { (index, loss) } else { best });
    let best = result.best.as_ref().ok_or("no best epoch")?;
    assert_eq!((best.epoch, best.loss), (index + 1, lowest), "{losses:?}");
    // The situation this is about: the best epoch is neither the first nor the last.
    assert!(best.epoch > 1 && best.epoch < losses.len(), "best epoch {} of {losses:?}", best.epoch);

    // best.npz holds the parameters the best loss was measured at (one batch per epoch: exactly).
    let stored: ParamSet = read_npz(folder.path().join(RunFolder::BEST))?.into_iter().collect();
    assert_eq!(stored, best.params);
    let (loss, _) = LeastSquares::new().value_and_grad(&stored, &data().full_batch())?;
    assert_eq!(loss, best.loss);
    let last: ParamSet = read_npz(folder.path().join(RunFolder::PARAMS))?.into_iter().collect();
    assert_eq!(last, result.params);
    assert_ne!(stored, last);
    let (final_loss, _) = LeastSquares::new().value_and_grad(&last, &data().full_batch())?;
    assert!(final_loss > best.loss, "final {final_loss}, best {}", best.loss);
    Ok(())
}

/// Writes `entries` as an `.npz` at `path` (a checkpoint edited by a test).
fn write_entries(path: &std::path::Path, entries: &[(String, ArrayD<f64>)]) -> Result<(), crate::io::IoError> {
    let arrays = entries.iter().map(|(key, value)| (key.as_str(), value));
    crate::io::write_npz(path, arrays, crate::io::Precision::F64, crate::io::Compression::Stored)
}

#[test]
fn a_resumed_run_keeps_the_best_epoch_from_before_the_resume() -> Result<(), Box<dyn std::error::Error>> {
    let straight = train(&mut LeastSquares::new(), initial(), &data(), &jumpy(40), None, keep_going)?;
    let best = straight.best.clone().ok_or("no best epoch")?;
    // Interrupted just after the best epoch, so every later epoch is worse than one it no longer runs.
    let folder = tempfile::tempdir()?;
    let stop_after_best =
        |report: &EpochReport<'_>| if report.epoch == best.epoch + 1 { Control::Stop } else { Control::Continue };
    train(&mut LeastSquares::new(), initial(), &data(), &jumpy(40), Some(folder.path()), stop_after_best)?;
    let resume = TrainSettings { resume: true, ..jumpy(40) };
    let resumed = train(&mut LeastSquares::new(), initial(), &data(), &resume, Some(folder.path()), keep_going)?;
    assert_eq!(resumed.best.as_ref(), Some(&best));
    let stored: ParamSet = read_npz(folder.path().join(RunFolder::BEST))?.into_iter().collect();
    assert_eq!(stored, best.params);

    // A checkpoint without the best (an older one) resumes; the best is then that of later epochs.
    let path = folder.path().join(RunFolder::CHECKPOINT);
    train(&mut LeastSquares::new(), initial(), &data(), &jumpy(40), Some(folder.path()), stop_after_best)?;
    let entries: Vec<(String, ArrayD<f64>)> =
        read_npz(&path)?.into_iter().filter(|(key, _)| !key.starts_with("best.")).collect();
    write_entries(&path, &entries)?;
    let resumed = train(&mut LeastSquares::new(), initial(), &data(), &resume, Some(folder.path()), keep_going)?;
    let later = resumed.best.ok_or("no best epoch")?;
    assert!(later.epoch > best.epoch + 1 && later.loss > best.loss, "{} {}", later.epoch, later.loss);

    // A best epoch outside the history is refused.
    let mut entries = entries;
    entries.push(("best.epoch".to_owned(), ArrayD::from_elem(IxDyn(&[]), 99.0)));
    write_entries(&path, &entries)?;
    let result = Checkpoint::read(&path, jumpy(1).optimiser, &initial());
    assert!(
        matches!(&result, Err(TrainError::Checkpoint { detail, .. }) if detail.contains("`best.epoch`")),
        "{result:?}"
    );
    Ok(())
}
