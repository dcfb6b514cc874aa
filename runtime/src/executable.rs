//! A compiled network ready to run: the step program, its adjoint, and native code for both,
//! behind one API with a choice of backend (`Backend::Jit`, the default, or the reference
//! `Backend::Interp`). Native code is compiled once per precision, on first use.

use std::sync::OnceLock;

use ndarray::{ArrayD, IxDyn};
use reef_compiler::Compiled;
use reef_compiler::adjoint::AdjointProgram;
use reef_compiler::codegen::{CodegenError, JitNetwork, JitReal};
use reef_compiler::loss::{Bound, Loss};

use crate::grad::GradOutput;
use crate::io::Precision;
use crate::params::ParamSet;
use crate::run::{RunError, RunOutput, input_buffer};

/// Which engine runs a network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// Native code from Cranelift (forward and backward time loops).
    #[default]
    Jit,
    /// The reference interpreter: slow, simple, the oracle.
    Interp,
}

/// A network with its adjoint, compiled for the chosen backend.
pub struct Executable {
    /// The compiled network (graph IR and step program).
    pub network: Compiled,
    /// The derived adjoint.
    pub adjoint: AdjointProgram,
    /// The engine.
    pub backend: Backend,
    /// Threads for batch elements (0: all cores).
    pub threads: usize,
    jit32: OnceLock<Result<JitNetwork<f32>, CodegenError>>,
    jit64: OnceLock<Result<JitNetwork<f64>, CodegenError>>,
}

impl Executable {
    /// Derives the adjoint; native code is compiled on first use.
    pub fn new(network: Compiled, backend: Backend) -> Self {
        let adjoint = reef_compiler::adjoint::derive(&network.program);
        Executable { network, adjoint, backend, threads: 0, jit32: OnceLock::new(), jit64: OnceLock::new() }
    }

    /// Compiles the native code for `precision` now (to time compilation separately).
    pub fn prepare(&self, precision: Precision) -> Result<(), RunError> {
        if self.backend == Backend::Jit {
            match precision {
                Precision::F32 => self.jit::<f32>().map(|_| ()),
                Precision::F64 => self.jit::<f64>().map(|_| ()),
            }?;
        }
        Ok(())
    }

    /// The native code for element type `T` (compiled on first use), for callers that keep
    /// their data in `T` buffers across calls (benchmarks, training loops).
    pub fn jit<T: JitReal + Select>(&self) -> Result<&JitNetwork<T>, RunError> {
        T::cell(self)
            .get_or_init(|| JitNetwork::compile(&self.network.program, Some(&self.adjoint)))
            .as_ref()
            .map_err(|e| RunError::Codegen(e.to_string()))
    }

    /// The network's output on `input` (`[time, channels]` or `[batch, time, channels]`).
    /// Recording module outputs and states uses the interpreter whatever the backend.
    pub fn evolve(
        &self,
        params: &ParamSet,
        input: &ArrayD<f64>,
        precision: Precision,
        record: bool,
        seed: u64,
    ) -> Result<RunOutput, RunError> {
        if record || self.backend == Backend::Interp {
            return crate::run::evolve(&self.network, params, input, precision, record, seed);
        }
        match precision {
            Precision::F32 => self.evolve_jit::<f32>(params, input, seed),
            Precision::F64 => self.evolve_jit::<f64>(params, input, seed),
        }
    }

    fn evolve_jit<T: JitReal + Select>(
        &self,
        params: &ParamSet,
        input: &ArrayD<f64>,
        seed: u64,
    ) -> Result<RunOutput, RunError> {
        let (flat, batch, steps) = input_buffer::<T>(input, self.network.graph.input_size())?;
        let buffers = buffers::<T>(&self.network, params);
        let output =
            self.jit::<T>()?.evolve(&buffers, &flat, batch, steps, self.threads, seed).map_err(RunError::Interp)?;
        let size = self.network.graph.output_size();
        let output = ArrayD::from_shape_vec(IxDyn(&[batch, steps, size]), output.iter().map(|v| v.to_f64()).collect())
            .map_err(|_| RunError::TargetShape { found: vec![output.len()], expected: vec![batch, steps, size] })?;
        Ok(RunOutput { output, records: Vec::new() })
    }

    /// The loss against `target` and every parameter's gradient.
    #[allow(clippy::too_many_arguments)]
    pub fn value_and_grad(
        &self,
        loss: &Loss,
        bounds: &[Bound],
        params: &ParamSet,
        input: &ArrayD<f64>,
        target: &ArrayD<f64>,
        precision: Precision,
        seed: u64,
    ) -> Result<GradOutput, RunError> {
        if self.backend == Backend::Interp {
            return crate::grad::value_and_grad(
                &self.network,
                &self.adjoint,
                loss,
                bounds,
                params,
                input,
                target,
                precision,
                seed,
            );
        }
        match precision {
            Precision::F32 => self.grad_jit::<f32>(loss, bounds, params, input, target, seed),
            Precision::F64 => self.grad_jit::<f64>(loss, bounds, params, input, target, seed),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn grad_jit<T: JitReal + Select>(
        &self,
        loss: &Loss,
        bounds: &[Bound],
        params: &ParamSet,
        input: &ArrayD<f64>,
        target: &ArrayD<f64>,
        seed: u64,
    ) -> Result<GradOutput, RunError> {
        let (flat, batch, steps) = input_buffer::<T>(input, self.network.graph.input_size())?;
        let target_flat = crate::grad::target_buffer(target, batch, steps, self.network.graph.output_size())?;
        let buffers = buffers::<T>(&self.network, params);
        let result = self
            .jit::<T>()?
            .value_and_grad(loss, bounds, &buffers, &flat, &target_flat, batch, steps, self.threads, seed)
            .map_err(RunError::Interp)?;
        crate::grad::to_grad_output(&self.network, result, batch, steps)
    }
}

pub use crate::run::buffers;

/// Picks the code cache of an element type.
pub trait Select: Sized + JitReal {
    /// The cache for this element type.
    fn cell(executable: &Executable) -> &OnceLock<Result<JitNetwork<Self>, CodegenError>>;
}

impl Select for f32 {
    fn cell(executable: &Executable) -> &OnceLock<Result<JitNetwork<f32>, CodegenError>> {
        &executable.jit32
    }
}

impl Select for f64 {
    fn cell(executable: &Executable) -> &OnceLock<Result<JitNetwork<f64>, CodegenError>> {
        &executable.jit64
    }
}
