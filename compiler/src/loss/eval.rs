//! Evaluates a loss: its value, `∂L/∂output` (the adjoint's seed) and its direct parameter
//! gradients. Computed in f64 whatever precision the network ran in.

use super::{Bound, Loss, Normalise, Readout, TermKind};
use crate::step::ParamId;

/// A loss's value and derivatives.
#[derive(Clone, Debug, PartialEq)]
pub struct LossValue {
    /// `L`.
    pub value: f64,
    /// The value of each term before weighting, for reports.
    pub terms: Vec<f64>,
    /// `∂L/∂output`, `[batch, time, n]` row-major.
    pub output_grad: Vec<f64>,
    /// `∂L/∂θ` from the parameter terms, per parameter (empty vector: none).
    pub param_grads: Vec<Vec<f64>>,
}

/// Evaluates `loss` on `output` against `target` (both `[batch, steps, size]` row-major) and
/// the parameters.
pub fn evaluate(
    loss: &Loss,
    bounds: &[Bound],
    output: &[f64],
    target: &[f64],
    [batch, steps, size]: [usize; 3],
    params: &[Vec<f64>],
) -> LossValue {
    let mut result = LossValue {
        value: 0.0,
        terms: Vec::new(),
        output_grad: vec![0.0; output.len()],
        param_grads: params.iter().map(|_| Vec::new()).collect(),
    };
    for term in &loss.terms {
        let w = term.weight;
        let value = match &term.kind {
            TermKind::Mse | TermKind::Sse => {
                let count = if term.kind == TermKind::Mse { output.len().max(1) as f64 } else { 1.0 };
                let mut total = 0.0;
                for ((o, t), g) in output.iter().zip(target).zip(&mut result.output_grad) {
                    let d = o - t;
                    total += d * d;
                    *g += w * 2.0 * d / count;
                }
                total / count
            }
            TermKind::L2SqrNorm(ids) | TermKind::L0NormApprox(ids, _) => {
                let ids: Vec<ParamId> =
                    if ids.is_empty() { (0..params.len()).map(|i| ParamId(i as u32)).collect() } else { ids.clone() };
                let tensors = ids.len().max(1) as f64;
                let mut total = 0.0;
                for id in ids {
                    let p = &params[id.0 as usize];
                    let n = p.len().max(1) as f64;
                    let grad = &mut result.param_grads[id.0 as usize];
                    if grad.is_empty() {
                        *grad = vec![0.0; p.len()];
                    }
                    for (x, g) in p.iter().zip(grad.iter_mut()) {
                        match term.kind {
                            TermKind::L0NormApprox(_, sigma) => {
                                let x4 = x.powi(4);
                                total += x4 / (x4 + sigma) / (n * tensors);
                                *g += w * 4.0 * x.powi(3) * sigma / (x4 + sigma).powi(2) / (n * tensors);
                            }
                            _ => {
                                total += x * x / (n * tensors);
                                *g += w * 2.0 * x / (n * tensors);
                            }
                        }
                    }
                }
                total
            }
            TermKind::BoundsCost => {
                let mut total = 0.0;
                for (index, (p, (lower, upper))) in params.iter().zip(bounds).enumerate() {
                    if lower.is_none() && upper.is_none() {
                        continue;
                    }
                    let grad = &mut result.param_grads[index];
                    if grad.is_empty() {
                        *grad = vec![0.0; p.len()];
                    }
                    for (x, g) in p.iter().zip(grad.iter_mut()) {
                        if let Some(lo) = lower
                            && x < lo
                        {
                            let e = (lo - x).exp();
                            total += e;
                            *g -= w * e;
                        }
                        if let Some(hi) = upper
                            && x > hi
                        {
                            let e = (x - hi).exp();
                            total += e;
                            *g += w * e;
                        }
                    }
                }
                total
            }
            TermKind::CrossEntropy { readout, over } => {
                cross_entropy(*readout, *over, w, output, target, [batch, steps, size], &mut result.output_grad)
            }
        };
        result.terms.push(value);
        result.value += w * value;
    }
    result
}

/// Cross-entropy of readouts; adds `w · ∂/∂output` to `grad` and returns the value.
fn cross_entropy(
    readout: Readout,
    over: Normalise,
    w: f64,
    output: &[f64],
    target: &[f64],
    [batch, steps, size]: [usize; 3],
    grad: &mut [f64],
) -> f64 {
    let read = |data: &[f64], b: usize, n: usize| match readout {
        Readout::Mean => (0..steps).map(|t| data[(b * steps + t) * size + n]).sum::<f64>() / steps.max(1) as f64,
        Readout::Last => data[(b * steps + steps.saturating_sub(1)) * size + n],
    };
    let scores: Vec<f64> = (0..batch).flat_map(|b| (0..size).map(move |n| (b, n))).map(|(b, n)| read(output, b, n)).collect();
    let labels: Vec<f64> = (0..batch).flat_map(|b| (0..size).map(move |n| (b, n))).map(|(b, n)| read(target, b, n)).collect();
    let (log_probabilities, label_sums): (Vec<f64>, Vec<f64>) = match over {
        Normalise::Rows => {
            let mut lp = Vec::with_capacity(scores.len());
            let mut sums = Vec::with_capacity(scores.len());
            for b in 0..batch {
                let row = &scores[b * size..(b + 1) * size];
                lp.extend(logsoftmax(row));
                let total: f64 = labels[b * size..(b + 1) * size].iter().sum();
                sums.extend(std::iter::repeat_n(total, size));
            }
            (lp, sums)
        }
        Normalise::All => {
            let total: f64 = labels.iter().sum();
            (logsoftmax(&scores), vec![total; scores.len()])
        }
    };
    let batch_f = batch.max(1) as f64;
    let value = -labels.iter().zip(&log_probabilities).map(|(y, lp)| y * lp).sum::<f64>() / batch_f;
    // ∂/∂score = (softmax · Σy − y) / B, then through the readout.
    for b in 0..batch {
        for n in 0..size {
            let i = b * size + n;
            let d = w * (log_probabilities[i].exp() * label_sums[i] - labels[i]) / batch_f;
            match readout {
                Readout::Mean => {
                    for t in 0..steps {
                        grad[(b * steps + t) * size + n] += d / steps as f64;
                    }
                }
                Readout::Last => {
                    if steps > 0 {
                        grad[(b * steps + steps - 1) * size + n] += d;
                    }
                }
            }
        }
    }
    value
}

/// `log(softmax(x))` with max subtraction, over all elements of `x`.
pub fn logsoftmax(x: &[f64]) -> Vec<f64> {
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let log_sum = x.iter().map(|v| (v - max).exp()).sum::<f64>().ln() + max;
    x.iter().map(|v| v - log_sum).collect()
}

/// `softmax(x)` with max subtraction, over all elements of `x`.
pub fn softmax(x: &[f64]) -> Vec<f64> {
    logsoftmax(x).into_iter().map(f64::exp).collect()
}
