//! Gradients of a loss with respect to a network's parameters, on `ndarray` data, through the
//! reference interpreter: the runtime face of `reef_compiler::interp::value_and_grad`.

use ndarray::{ArrayD, IxDyn};
use reef_compiler::Compiled;
use reef_compiler::adjoint::AdjointProgram;
use reef_compiler::interp::{self, Real};
use reef_compiler::loss::{Bound, Loss};

use crate::io::Precision;
use crate::params::ParamSet;
use crate::run::{RunError, input_buffer};

/// What a gradient evaluation gives.
#[derive(Clone, Debug)]
pub struct GradOutput {
    /// The loss.
    pub loss: f64,
    /// Each loss term's unweighted value.
    pub terms: Vec<f64>,
    /// `∂L/∂θ`, keyed like the parameters.
    pub grads: ParamSet,
    /// The network output `[batch, time, size]`.
    pub output: ArrayD<f64>,
}

/// The network's loss against `target` and its gradient, in the given precision.
#[allow(clippy::too_many_arguments)]
pub fn value_and_grad(
    network: &Compiled,
    adjoint: &AdjointProgram,
    loss: &Loss,
    bounds: &[Bound],
    params: &ParamSet,
    input: &ArrayD<f64>,
    target: &ArrayD<f64>,
    precision: Precision,
    seed: u64,
) -> Result<GradOutput, RunError> {
    match precision {
        Precision::F32 => run::<f32>(network, adjoint, loss, bounds, params, input, target, seed),
        Precision::F64 => run::<f64>(network, adjoint, loss, bounds, params, input, target, seed),
    }
}

#[allow(clippy::too_many_arguments)]
fn run<T: Real>(
    network: &Compiled,
    adjoint: &AdjointProgram,
    loss: &Loss,
    bounds: &[Bound],
    params: &ParamSet,
    input: &ArrayD<f64>,
    target: &ArrayD<f64>,
    seed: u64,
) -> Result<GradOutput, RunError> {
    let (flat, batch, steps) = input_buffer::<T>(input, network.graph.input_size())?;
    let target_flat = target_buffer(target, batch, steps, network.graph.output_size())?;
    let buffers = crate::run::buffers::<T>(network, params);
    let result = interp::value_and_grad(
        &network.program,
        adjoint,
        loss,
        bounds,
        &buffers,
        &flat,
        &target_flat,
        batch,
        steps,
        seed,
    )
    .map_err(RunError::Interp)?;
    to_grad_output(network, result, batch, steps)
}

/// The target as a flat `[batch, time, size]` buffer (a `[time, size]` array for a batch of 1),
/// refusing a shape that does not match the run or a non-finite value.
pub fn target_buffer(target: &ArrayD<f64>, batch: usize, steps: usize, size: usize) -> Result<Vec<f64>, RunError> {
    let fits = match target.shape() {
        [t, n] => *t == steps && *n == size && batch == 1,
        [b, t, n] => *b == batch && *t == steps && *n == size,
        _ => false,
    };
    if !fits {
        return Err(RunError::TargetShape { found: target.shape().to_vec(), expected: vec![batch, steps, size] });
    }
    crate::run::finite_elements(target).map_err(|(index, value)| RunError::NonFiniteTarget { index, value })
}

/// Gradient buffers as a [`ParamSet`] and the output as an array.
pub fn to_grad_output<T: Real>(
    network: &Compiled,
    result: interp::Gradient<T>,
    batch: usize,
    steps: usize,
) -> Result<GradOutput, RunError> {
    let size = network.graph.output_size();
    let mut grads = ParamSet::new();
    for (param, grad) in network.graph.params.iter().zip(&result.grads) {
        let values: Vec<f64> = grad.iter().map(|v| v.to_f64()).collect();
        let array = ArrayD::from_shape_vec(IxDyn(&param.shape.dims()), values).map_err(|_| {
            RunError::Interp(interp::InterpError::ParamLength {
                name: param.name.clone(),
                expected: param.shape.len(),
                found: grad.len(),
            })
        })?;
        grads.insert(param.name.clone(), array);
    }
    let output =
        ArrayD::from_shape_vec(IxDyn(&[batch, steps, size]), result.output.iter().map(|v| v.to_f64()).collect())
            .map_err(|_| RunError::TargetShape {
                found: vec![result.output.len()],
                expected: vec![batch, steps, size],
            })?;
    Ok(GradOutput { loss: result.loss, terms: result.terms, grads, output })
}
