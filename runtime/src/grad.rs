//! Gradients of a loss with respect to a network's parameters, on `ndarray` data, through the
//! reference interpreter: the runtime face of `reef_compiler::interp::value_and_grad`.

use ndarray::{ArrayD, IxDyn};
use reef_compiler::Compiled;
use reef_compiler::adjoint::AdjointProgram;
use reef_compiler::interp::{self, Real};
use reef_compiler::loss::{Bound, Loss};

use crate::io::Precision;
use crate::params::ParamSet;
use crate::run::{RunError, batched_input};

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
    let input = batched_input(input, network.graph.input_size())?;
    let (batch, steps) = (input.shape()[0], input.shape()[1]);
    let target = batched_target(target, batch, steps, network.graph.output_size())?;
    let buffers = crate::run::buffers::<T>(network, params);
    let flat: Vec<T> = crate::run::contiguous(&input).iter().map(|v| T::from_f64(*v)).collect();
    let target_flat: Vec<f64> = target.iter().copied().collect();
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

/// The target as `[batch, time, outputs]`, checked against the run's shape and for
/// non-finite values.
pub fn batched_target(target: &ArrayD<f64>, batch: usize, steps: usize, size: usize) -> Result<ArrayD<f64>, RunError> {
    let shaped = match target.shape() {
        [t, n] if *t == steps && *n == size && batch == 1 => {
            target.clone().into_shape_with_order(IxDyn(&[1, steps, size])).ok()
        }
        [b, t, n] if *b == batch && *t == steps && *n == size => Some(target.clone()),
        _ => None,
    }
    .ok_or_else(|| RunError::TargetShape { found: target.shape().to_vec(), expected: vec![batch, steps, size] })?;
    if let Some((flat, value)) = shaped.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(RunError::NonFiniteTarget { index: flat, value: *value });
    }
    Ok(shaped)
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
