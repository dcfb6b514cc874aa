//! `value_and_grad` in the interpreter: forward pass with a tape of the states, the loss and
//! its seeds, then the adjoint program run backwards over time.

use super::{InterpError, NoiseKey, Real, StepInputs, check_params, forward_element, initial_states, step};
use crate::adjoint::AdjointProgram;
use crate::loss::{Bound, Loss, LossValue, evaluate};
use crate::step::{StateInit, StepProgram};

/// A loss, its gradients and the output it was computed from.
#[derive(Clone, Debug)]
pub struct Gradient<T> {
    /// The loss.
    pub loss: f64,
    /// Each term's value before weighting.
    pub terms: Vec<f64>,
    /// `∂L/∂θ` per parameter (row-major like the parameters).
    pub grads: Vec<Vec<T>>,
    /// The forward output `[batch, steps, size]`.
    pub output: Vec<T>,
}

/// Runs the network forward on `input` and backward through `adjoint`, returning the loss
/// against `target` (`[batch, steps, output size]`) and the gradient of every parameter.
#[allow(clippy::too_many_arguments)]
pub fn value_and_grad<T: Real>(
    forward: &StepProgram,
    adjoint: &AdjointProgram,
    loss: &Loss,
    bounds: &[Bound],
    params: &[Vec<T>],
    input: &[T],
    target: &[f64],
    batch: usize,
    steps: usize,
    seed: u64,
) -> Result<Gradient<T>, InterpError> {
    check_params(forward, params)?;
    let channels = forward.inputs.first().copied().unwrap_or(0);
    if input.len() != batch * steps * channels {
        return Err(InterpError::InputLength { expected: batch * steps * channels, found: input.len() });
    }
    let size = forward.outputs.first().map_or(0, |v| forward.shape(*v).len());
    if target.len() != batch * steps * size {
        return Err(InterpError::TargetLength { expected: batch * steps * size, found: target.len() });
    }
    // Forward, keeping the states each step starts from.
    let mut output: Vec<T> = Vec::with_capacity(batch * steps * size);
    // Per element `steps + 1` rows: the states before each step, then the final states.
    let mut tape: Vec<Vec<Vec<T>>> = Vec::with_capacity(batch * (steps + 1));
    for b in 0..batch {
        let element = &input[b * steps * channels..(b + 1) * steps * channels];
        let mut last = initial_states(forward, params);
        forward_element(forward, params, element, steps, b, seed, |_, before, values, after| {
            for value in &forward.outputs {
                output.extend_from_slice(&values[value.index()]);
            }
            tape.push(before.to_vec());
            last = after.to_vec();
        });
        tape.push(last);
    }
    let value = loss_value(loss, bounds, &output, target, [batch, steps, size], params);
    let mut grads: Vec<Vec<T>> = params.iter().map(|p| vec![T::zero(); p.len()]).collect();
    // Backward.
    for b in 0..batch {
        let mut lambda: Vec<Vec<T>> = forward.states.iter().map(|s| vec![T::zero(); s.shape.len()]).collect();
        for t in (0..steps).rev() {
            let start = (b * steps + t) * channels;
            let out_start = (b * steps + t) * size;
            let seed_values =
                vec![value.output_grad[out_start..out_start + size].iter().map(|g| T::from_f64(*g)).collect()];
            let inputs = StepInputs {
                params,
                states: &tape[b * (steps + 1) + t],
                next_states: &tape[b * (steps + 1) + t + 1],
                input: &input[start..start + channels],
                seeds: &seed_values,
                state_adjoints: &lambda,
                noise: NoiseKey { seed, batch: b, step: t },
            };
            let values = step(&adjoint.program, &inputs);
            for (grad, contribution) in grads.iter_mut().zip(&adjoint.param_grads) {
                if let Some(contribution) = contribution {
                    add_into(grad, &values[contribution.index()]);
                }
            }
            lambda = adjoint.state_adjoints.iter().map(|v| values[v.index()].clone()).collect();
        }
        // A state that starts from a parameter passes its adjoint on to it.
        for (state, adjoint_value) in forward.states.iter().zip(&lambda) {
            if let StateInit::Param(param) = state.init {
                add_into(&mut grads[param.0 as usize], adjoint_value);
            }
        }
    }
    add_loss_param_grads(&mut grads, &value);
    Ok(Gradient { loss: value.value, terms: value.terms, grads, output })
}

/// The loss of `output` against `target` and its seeds, in f64 (both engines evaluate it so).
pub fn loss_value<T: Real>(
    loss: &Loss,
    bounds: &[Bound],
    output: &[T],
    target: &[f64],
    dims: [usize; 3],
    params: &[Vec<T>],
) -> LossValue {
    let output_f64: Vec<f64> = output.iter().map(|v| v.to_f64()).collect();
    evaluate(loss, &bounds_in::<T>(bounds), &output_f64, target, dims, &loss.param_values(params))
}

/// Adds the loss's own parameter terms (norms, bounds cost) to the gradients.
pub fn add_loss_param_grads<T: Real>(grads: &mut [Vec<T>], value: &LossValue) {
    for (grad, direct) in grads.iter_mut().zip(&value.param_grads) {
        for (g, d) in grad.iter_mut().zip(direct) {
            *g = g.add(T::from_f64(*d));
        }
    }
}

/// `into += values` (a scalar broadcasts).
fn add_into<T: Real>(into: &mut [T], values: &[T]) {
    if values.len() == 1 && into.len() != 1 {
        for slot in into.iter_mut() {
            *slot = slot.add(values[0]);
        }
    } else {
        for (slot, value) in into.iter_mut().zip(values) {
            *slot = slot.add(*value);
        }
    }
}

/// Bounds rounded to the run's precision, as the parameters are: an f32 parameter at exactly
/// its bound (11 ms) must not be read as below it (as Rockpool compares f32 with f32).
pub fn bounds_in<T: Real>(bounds: &[Bound]) -> Vec<Bound> {
    let round = |v: Option<f64>| v.map(|v| T::from_f64(v).to_f64());
    bounds.iter().map(|(lower, upper)| (round(*lower), round(*upper))).collect()
}
