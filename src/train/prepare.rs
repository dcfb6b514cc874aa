//! A [`Trainer`]'s sources and overrides → [`Prepared`]: the compiled network, its objective,
//! data, starting parameters and settings; then the run and its run folder.

use std::path::{Path, PathBuf};

use ndarray::Axis;
use reef_compiler::Compiled;
use reef_compiler::graph::NetworkGraph;
use reef_compiler::loss::Bound;
use reef_lang::{Diagnostic, Diagnostics};
use reef_runtime::io::{Precision, read_npy};
use reef_runtime::optim::Bounds;
use reef_runtime::params::{self, ParamSet};
use reef_runtime::run::{self, RunError};
use reef_runtime::tasks::{self, Dataset};
use reef_runtime::train::{
    self, BestEpoch, Control, DataSpec, NetworkObjective, Objective, RunFolder, TrainBlock, TrainSettings,
    read_train_block,
};

use super::{DataSource, InitSource, TrainFailure, TrainOutcome, Trainer};

/// A run ready to start: everything [`Trainer::run`] needs, for a look before training.
#[derive(Debug)]
pub struct Prepared {
    objective: NetworkObjective,
    initial: ParamSet,
    data: Dataset,
    settings: TrainSettings,
    out: PathBuf,
}

impl Prepared {
    /// The network being trained.
    pub fn network(&self) -> &Compiled {
        self.objective.network()
    }

    /// The settings after the train block and the overrides.
    pub fn settings(&self) -> &TrainSettings {
        &self.settings
    }

    /// The training data.
    pub fn data(&self) -> &Dataset {
        &self.data
    }

    /// The starting parameters (a resumed run takes its checkpoint's instead).
    pub fn initial(&self) -> &ParamSet {
        &self.initial
    }

    /// The run folder.
    pub fn out(&self) -> &Path {
        &self.out
    }

    /// Trains, then evaluates the final parameters on the whole dataset and writes the run
    /// folder's output and raster files. The final parameters are the best if their loss is
    /// lower than every epoch's (a loss still falling at the end): `best.npz` then holds them
    /// too, as the start of the epoch after the last.
    pub fn run(mut self) -> Result<TrainOutcome, TrainFailure> {
        let mut result =
            train::train(&mut self.objective, self.initial, &self.data, &self.settings, Some(&self.out), |_| {
                Control::Continue
            })?;
        let (final_loss, _) = self.objective.value_and_grad(&result.params, &self.data.full_batch())?;

        let folder = RunFolder::open(&self.out);
        if !result.history.is_empty() && BestEpoch::improves(result.best.as_ref(), final_loss) {
            let epoch = result.history.len() + 1;
            let best = BestEpoch { epoch, loss: final_loss, params: result.params.clone() };
            folder.write_best(Some(&best))?;
            result.best = Some(best);
        }
        let mut files: Vec<PathBuf> = [RunFolder::PARAMS, RunFolder::LOSS_CSV, RunFolder::CHECKPOINT]
            .iter()
            .map(|file| folder.path(file))
            .collect();
        if result.best.is_some() {
            files.insert(1, folder.path(RunFolder::BEST));
        }
        if folder.path(RunFolder::LOSS_PLOT).exists() {
            files.push(folder.path(RunFolder::LOSS_PLOT));
        }
        let first = self.data.batch(&[0])?;
        let spiking = self.objective.spiking_module().map(|module| format!("{}.output", module.path));
        let forward = self.objective.forward(&result.params, &first.input, spiking.is_some())?;
        let dt = self.objective.network().graph.dt;
        folder.write_output(&forward.output, &first.target, dt)?;
        files.extend([RunFolder::OUTPUT, RunFolder::TARGET, RunFolder::OUTPUT_PLOT].map(|file| folder.path(file)));
        let raster = spiking.and_then(|name| forward.records.iter().find(|(record, _)| *record == name));
        if let Some((_, counts)) = raster {
            folder.write_raster(&counts.index_axis(Axis(0), 0).to_owned(), dt)?;
            files.extend([RunFolder::RASTER, RunFolder::RASTER_PLOT].map(|file| folder.path(file)));
        }
        Ok(TrainOutcome { result, final_loss, output: forward.output, folder: self.out, files })
    }
}

/// See [`Trainer::prepare`].
pub(super) fn prepare(trainer: &Trainer) -> Result<Prepared, TrainFailure> {
    let sources = &trainer.sources;
    let text = sources.get(trainer.id).map(|file| file.text.as_str()).unwrap_or_default();
    let (networks, file) = reef_compiler::compile_source(sources, trainer.id)
        .and_then(|networks| Ok((networks, reef_lang::parse(trainer.id, text)?)))
        .map_err(TrainFailure::Source)?;
    let names: Vec<&str> = networks.iter().map(|network| network.graph.name.as_str()).collect();
    let network = match &trainer.network {
        Some(name) => networks.iter().find(|network| network.graph.name == *name),
        None => networks.first(),
    };
    let Some(network) = network else {
        let available = names.iter().map(|name| name.to_string()).collect();
        return Err(TrainFailure::NoNetwork { name: trainer.network.clone(), available });
    };
    let graph = &network.graph;

    // The train block, the loss and the bounds: every source error at once.
    let mut diagnostics = Diagnostics::new();
    let block = read_train_block(&file, &graph.name, &names).unwrap_or_else(|errors| {
        diagnostics.extend(errors);
        TrainBlock::default()
    });
    let loss_text = trainer.loss.map(|id| (id, sources.get(id).map(|file| file.text.as_str()).unwrap_or_default()));
    let loss_expr =
        loss_text.and_then(|(id, text)| reef_lang::parse_expr(id, text).map_err(|d| diagnostics.extend(d)).ok());
    let mut bounds = Vec::new();
    for &id in &trainer.bounds {
        let text = sources.get(id).map(|file| file.text.as_str()).unwrap_or_default();
        match reef_lang::parse_expr(id, text) {
            Ok(expr) => match reef_compiler::loss::parse_bound(&expr) {
                Ok(bound) => bounds.push(bound),
                Err(error) => diagnostics.push(error),
            },
            Err(errors) => diagnostics.extend(errors),
        }
    }
    // A `--loss` or `--bound` that does not parse would leave the train block's loss in its place.
    let overrides_parse = loss_expr.is_some() == trainer.loss.is_some() && bounds.len() == trainer.bounds.len();
    let setup = if overrides_parse {
        reef_compiler::loss::loss_setup(&file, graph, loss_expr.as_ref(), &bounds)
    } else {
        Err(Diagnostics::new())
    };
    let (loss, bounds) = match setup {
        Ok(found) if !diagnostics.has_errors() => found,
        Ok(_) => return Err(TrainFailure::Source(diagnostics)),
        Err(errors) => {
            diagnostics.extend(errors);
            return Err(TrainFailure::Source(diagnostics));
        }
    };

    let seed = trainer.seed.or(block.seed).unwrap_or(0);
    let data = match &trainer.data {
        Some(DataSource::Dataset(data)) => data.clone(),
        Some(DataSource::File(path)) => Dataset::read_npz(path)?,
        Some(DataSource::Arrays { input, target }) => {
            let (input, _) = read_npy(input).map_err(RunError::Io)?;
            let (target, _) = read_npy(target).map_err(RunError::Io)?;
            Dataset::new(input, target)?
        }
        None => match &block.data {
            Some(spec) => block_data(spec, &trainer.folder, seed).map_err(TrainFailure::Source)?,
            None => return Err(TrainFailure::NoData { network: graph.name.clone() }),
        },
    };
    check_data(network, &data)?;

    let specs = run::param_specs(graph);
    let initial = match &trainer.init {
        None => params::initialise(&specs, seed),
        Some(InitSource::File(path)) => run::load_params(graph, Some(path), seed)?,
        Some(InitSource::Params(given)) => {
            let entries = given.iter().map(|(name, value)| (name.to_owned(), value.clone())).collect();
            params::match_params(&specs, entries).map_err(RunError::Params)?
        }
    };

    let project = trainer.project_bounds.or(block.project_bounds).unwrap_or(false);
    let projection = if project { projection(graph, &bounds, trainer.precision) } else { Bounds::new() };
    let defaults = TrainSettings::default();
    let settings = TrainSettings {
        epochs: trainer.epochs.or(block.epochs).unwrap_or(defaults.epochs),
        learning_rate: trainer.learning_rate.or(block.learning_rate).unwrap_or(defaults.learning_rate),
        optimiser: trainer.optimiser.or(block.optimiser).unwrap_or(defaults.optimiser),
        batch_size: trainer.batch.or(block.batch),
        seed,
        checkpoint_every: trainer.checkpoint_every,
        bounds: projection,
        resume: trainer.resume,
        progress: trainer.progress,
        ..defaults
    };
    let out = trainer.out.clone().unwrap_or_else(|| Path::new("runs").join(&graph.name));
    let objective =
        NetworkObjective::with_backend(network.clone(), loss, bounds, trainer.precision, seed, trainer.backend);
    Ok(Prepared { objective, initial, data, settings, out })
}

/// The train block's data: a task generated from `seed` (arguments not given keep the task's
/// defaults, the tutorial's), or an `.npz` file relative to `folder`. Failures are located at
/// the setting.
fn block_data(spec: &DataSpec, folder: &Path, seed: u64) -> Result<Dataset, Diagnostics> {
    match spec {
        DataSpec::Task { task, args, span } => tasks::task_by_name(task, args, seed).map_err(|error| {
            Diagnostic::error("E0513", format!("cannot generate `{task}`")).primary(*span, error.to_string()).into()
        }),
        DataSpec::File { path, span } => {
            let path = if path.is_relative() { folder.join(path) } else { path.clone() };
            Dataset::read_npz(&path).map_err(|error| {
                Diagnostic::error("E0513", format!("cannot read the data file `{}`", path.display()))
                    .primary(*span, error.to_string())
                    .into()
            })
        }
    }
}

/// Every bounded parameter's interval, for projection after each step. In an f32 run the
/// network sees each parameter rounded to f32, so the interval shrinks to the f32 values inside
/// it: a parameter projected onto `tau >= 11 ms` then also satisfies it in the loss.
fn projection(graph: &NetworkGraph, bounds: &[Bound], precision: Precision) -> Bounds {
    // The f32 value nearest `x` on the inside of the interval: rounded up for a lower bound.
    let representable = |x: f64, up: bool| match precision {
        Precision::F64 => x,
        Precision::F32 => {
            let nearest = x as f32;
            match f64::from(nearest) {
                below if up && below < x => f64::from(nearest.next_up()),
                above if !up && above > x => f64::from(nearest.next_down()),
                inside => inside,
            }
        }
    };
    let mut projection = Bounds::new();
    for (param, (lower, upper)) in graph.params.iter().zip(bounds) {
        if lower.is_some() || upper.is_some() {
            let lower = lower.map_or(f64::NEG_INFINITY, |lower| representable(lower, true));
            let upper = upper.map_or(f64::INFINITY, |upper| representable(upper, false));
            projection.set(&param.name, lower, upper);
        }
    }
    projection
}

/// The data must have the network's input and output channels.
fn check_data(network: &Compiled, data: &Dataset) -> Result<(), RunError> {
    let (inputs, outputs) = (network.graph.input_size(), network.graph.output_size());
    if data.input_channels() != inputs {
        return Err(RunError::InputShape { found: data.input().shape().to_vec(), channels: inputs });
    }
    if data.target_channels() != outputs {
        let expected = vec![data.len(), data.time_steps(), outputs];
        return Err(RunError::TargetShape { found: data.target().shape().to_vec(), expected });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_projection_keeps_bounds_satisfied_after_rounding() {
        let mut sources = reef_lang::Sources::with_prelude();
        let id = sources.add("net.net", "network Net(dt = 1 ms) = Sequential(Linear(1, 2), Rate(2))");
        let network = reef_compiler::compile_source(&sources, id).unwrap().remove(0);
        let mut bounds: Vec<Bound> = vec![(None, None); network.graph.params.len()];
        let tau = network.graph.params.iter().position(|param| param.name == "1_Rate.tau").unwrap();
        bounds[tau] = (Some(0.011), Some(0.3));
        let interval = |precision| projection(&network.graph, &bounds, precision).get("1_Rate.tau").unwrap();
        assert_eq!(interval(Precision::F64), (0.011, 0.3));
        let (lower, upper) = interval(Precision::F32);
        // Both ends are f32 values, inside [0.011, 0.3], and the nearest such.
        assert!(f64::from(lower as f32) == lower && lower >= 0.011 && f64::from((lower as f32).next_down()) < 0.011);
        assert!(f64::from(upper as f32) == upper && upper <= 0.3 && f64::from((upper as f32).next_up()) > 0.3);
        assert_eq!(projection(&network.graph, &bounds, Precision::F32).iter().count(), 1);
    }
}
