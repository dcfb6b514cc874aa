//! A compiled network + loss + bounds → an [`Objective`]: the loss and gradient of a batch
//! through the derived adjoint, and the forward runs a run folder's plots come from.

use ndarray::{ArrayD, Dimension};
use reef_compiler::Compiled;
use reef_compiler::graph::Instance;
use reef_compiler::loss::{Bound, Loss};

use crate::executable::{Backend, Executable};
use crate::io::Precision;
use crate::params::ParamSet;
use crate::run::{RunError, RunOutput};
use crate::train::{Batch, Objective, TrainError};

/// Trains a network: `value_and_grad` runs the network forward on the batch, evaluates `loss`
/// against the batch's target (with `bounds` for `bounds_cost`) and runs the derived adjoint
/// backwards over time. Every gradient and forward run goes through this type, so the backend
/// is chosen in one place: native code by default ([`NetworkObjective::with_backend`]).
pub struct NetworkObjective {
    executable: Executable,
    loss: Loss,
    bounds: Vec<Bound>,
    precision: Precision,
    seed: u64,
    /// Gradient evaluations so far (varies the noise from step to step).
    calls: u64,
}

impl NetworkObjective {
    /// The objective of `network` under `loss` and per-parameter `bounds` (as
    /// `reef_compiler::loss::loss_setup` gives them), computed in `precision`. The adjoint is
    /// derived here, once, and native code is compiled on first use. Noise (`noise_std > 0`)
    /// is drawn from `seed` and the call number, so every step sees fresh noise, reproducibly.
    pub fn new(network: Compiled, loss: Loss, bounds: Vec<Bound>, precision: Precision, seed: u64) -> Self {
        Self::with_backend(network, loss, bounds, precision, seed, Backend::Jit)
    }

    /// As [`NetworkObjective::new`], on the given backend.
    pub fn with_backend(
        network: Compiled,
        loss: Loss,
        bounds: Vec<Bound>,
        precision: Precision,
        seed: u64,
        backend: Backend,
    ) -> Self {
        NetworkObjective { executable: Executable::new(network, backend), loss, bounds, precision, seed, calls: 0 }
    }

    /// The network being trained.
    pub fn network(&self) -> &Compiled {
        &self.executable.network
    }

    /// The loss.
    pub fn loss(&self) -> &Loss {
        &self.loss
    }

    /// The arithmetic precision of the network's runs.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Runs the network forward on `input` (`[B, T, C]` or `[T, C]`) with `params`; `record`
    /// keeps every module's output (`<module>.output`) and state.
    pub fn forward(&self, params: &ParamSet, input: &ArrayD<f64>, record: bool) -> Result<RunOutput, RunError> {
        self.executable.evolve(params, input, self.precision, record, self.seed)
    }

    /// The first module that emits spikes (a `LIF`, a `LIFODE`, or any model calling
    /// `step_pwl`), in graph order: the one a run folder's raster shows.
    pub fn spiking_module(&self) -> Option<&Instance> {
        first_spiking_module(&self.executable.network)
    }
}

impl std::fmt::Debug for NetworkObjective {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkObjective")
            .field("network", &self.executable.network.graph.name)
            .field("backend", &self.executable.backend)
            .field("precision", &self.precision)
            .field("seed", &self.seed)
            .finish()
    }
}

impl Objective for NetworkObjective {
    /// Also refuses, naming it, a parameter an f32 run would see as infinite (|x| > `f32::MAX`).
    fn value_and_grad(&mut self, params: &ParamSet, batch: &Batch) -> Result<(f64, ParamSet), TrainError> {
        if self.precision == Precision::F32
            && let Some((name, index, value)) = beyond_f32(params)
        {
            return Err(TrainError::objective(format!(
                "parameter `{name}` is {value:e} at index {index:?}, beyond the range of f32 \
                 (use a smaller learning rate, or f64 precision)"
            )));
        }
        let seed = self.seed.wrapping_add(self.calls.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        self.calls += 1;
        let result = self
            .executable
            .value_and_grad(&self.loss, &self.bounds, params, &batch.input, &batch.target, self.precision, seed)
            .map_err(TrainError::objective)?;
        Ok((result.loss, result.grads))
    }
}

/// The first finite element too large for f32, with its parameter and index.
fn beyond_f32(params: &ParamSet) -> Option<(&str, Vec<usize>, f64)> {
    params.iter().find_map(|(name, values)| {
        let limit = f64::from(f32::MAX);
        let (index, value) = values.indexed_iter().find(|(_, value)| value.is_finite() && value.abs() > limit)?;
        Some((name, index.slice().to_vec(), *value))
    })
}

/// See [`NetworkObjective::spiking_module`].
pub fn first_spiking_module(network: &Compiled) -> Option<&Instance> {
    network.graph.instances().map(|(_, instance)| instance).find(|instance| {
        matches!(instance.model.as_str(), "LIF" | "LIFODE")
            || instance.fragment.custom_calls.iter().any(|call| call.function == "step_pwl")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::task_by_name;

    fn compile(text: &str) -> Compiled {
        let mut sources = reef_lang::Sources::with_prelude();
        let id = sources.add("test.net", text);
        let networks = reef_compiler::compile_source(&sources, id);
        networks
            .ok()
            .and_then(|mut networks| networks.pop())
            .unwrap_or_else(|| unreachable!("the test network compiles"))
    }

    fn mse() -> Loss {
        let term = reef_compiler::loss::Term {
            weight: 1.0,
            kind: reef_compiler::loss::TermKind::Mse,
            span: reef_lang::Span::new(reef_lang::SourceId(0), 0, 0),
        };
        Loss { terms: vec![term] }
    }

    #[test]
    fn gradients_come_from_the_runtime_and_spiking_modules_are_found() -> Result<(), Box<dyn std::error::Error>> {
        let network =
            compile("network Net(dt = 1 ms) = Sequential(Linear(3, 4), spikes: LIF(4), ExpSyn(4), Linear(4, 1))");
        let params = crate::run::load_params(&network.graph, None, 1)?;
        let bounds = vec![(None, None); network.graph.params.len()];
        let arguments = [("channels".to_owned(), 3.0), ("duration".to_owned(), 0.03), ("rate".to_owned(), 100.0)];
        let batch = task_by_name("frozen_noise_chirp", &arguments, 0)?.full_batch();
        // The interpreter backend, so the result must equal the direct call bit for bit.
        let mut objective =
            NetworkObjective::with_backend(network.clone(), mse(), bounds.clone(), Precision::F64, 0, Backend::Interp);
        assert_eq!(objective.spiking_module().map(|module| module.path.as_str()), Some("spikes"));
        let (loss, grads) = objective.value_and_grad(&params, &batch)?;
        let adjoint = reef_compiler::adjoint::derive(&network.program);
        let direct = crate::grad::value_and_grad(
            &network,
            &adjoint,
            &mse(),
            &bounds,
            &params,
            &batch.input,
            &batch.target,
            Precision::F64,
            0,
        )?;
        assert_eq!((loss, &grads), (direct.loss, &direct.grads));
        let forward = objective.forward(&params, &batch.input, true)?;
        assert!(forward.records.iter().any(|(name, record)| name == "spikes.output" && record.shape() == [1, 30, 4]));

        let rate = compile("network Net(dt = 1 ms) = Sequential(Linear(3, 4), Rate(4))");
        assert!(first_spiking_module(&rate).is_none());
        Ok(())
    }

    #[test]
    fn an_f32_run_refuses_parameters_beyond_f32_and_names_them() -> Result<(), Box<dyn std::error::Error>> {
        let network = compile("network Net(dt = 1 ms) = Sequential(Linear(1, 2), Linear(2, 1))");
        let mut params = crate::run::load_params(&network.graph, None, 1)?;
        if let Some(weight) = params.get_mut("0_Linear.weight") {
            weight[[0, 1]] = -1e300;
        }
        let arguments = [("padding".to_owned(), 0.0), ("duration".to_owned(), 0.01)];
        let batch = task_by_name("pulse_chirp", &arguments, 0)?.full_batch();
        let bounds = vec![(None, None); 2];
        let mut objective = NetworkObjective::new(network, mse(), bounds, Precision::F32, 0);
        let message =
            objective.value_and_grad(&params, &batch).err().map(|error| error.to_string()).unwrap_or_default();
        assert!(
            message.contains("parameter `0_Linear.weight` is -1e300 at index [0, 1], beyond the range of f32"),
            "{message}"
        );
        Ok(())
    }
}
