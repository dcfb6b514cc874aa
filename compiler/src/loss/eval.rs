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
    let scores: Vec<f64> =
        (0..batch).flat_map(|b| (0..size).map(move |n| (b, n))).map(|(b, n)| read(output, b, n)).collect();
    let labels: Vec<f64> =
        (0..batch).flat_map(|b| (0..size).map(move |n| (b, n))).map(|(b, n)| read(target, b, n)).collect();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::{Term, TermKind};

    fn term(kind: TermKind, weight: f64) -> Term {
        Term { weight, kind, span: reef_lang::Span::default() }
    }

    /// `∂L/∂output` of every term against central differences.
    #[test]
    fn output_gradients_match_finite_differences() {
        let shape = [2, 3, 4];
        let output: Vec<f64> = (0..24).map(|i| ((i * 37 % 11) as f64 - 5.0) / 4.0).collect();
        let mut target = vec![0.0; 24];
        for b in 0..2 {
            for t in 0..3 {
                target[(b * 3 + t) * 4 + (b + 1)] = 1.0;
            }
        }
        for kind in [
            TermKind::Mse,
            TermKind::Sse,
            TermKind::CrossEntropy { readout: Readout::Mean, over: Normalise::Rows },
            TermKind::CrossEntropy { readout: Readout::Last, over: Normalise::Rows },
            TermKind::CrossEntropy { readout: Readout::Mean, over: Normalise::All },
        ] {
            let loss = Loss { terms: vec![term(kind.clone(), 1.5)] };
            let value = evaluate(&loss, &[], &output, &target, shape, &[]);
            for i in 0..24 {
                let h = 1e-5;
                let mut plus = output.clone();
                plus[i] += h;
                let mut minus = output.clone();
                minus[i] -= h;
                let finite = (evaluate(&loss, &[], &plus, &target, shape, &[]).value
                    - evaluate(&loss, &[], &minus, &target, shape, &[]).value)
                    / (2.0 * h);
                assert!(
                    (value.output_grad[i] - finite).abs() < 1e-8,
                    "{kind:?} element {i}: {} vs {finite}",
                    value.output_grad[i]
                );
            }
        }
    }

    #[test]
    fn parameter_terms_match_rockpool_definitions_and_finite_differences() {
        let params = vec![vec![0.5, -2.0, 0.01], vec![3.0]];
        let bounds = vec![(Some(0.0), Some(1.0)), (None, Some(2.5))];
        let loss = Loss {
            terms: vec![
                term(TermKind::L2SqrNorm(vec![]), 1.0),
                term(TermKind::L0NormApprox(vec![ParamId(0)], 1e-4), 2.0),
                term(TermKind::BoundsCost, 3.0),
            ],
        };
        let value = evaluate(&loss, &bounds, &[], &[], [0, 0, 0], &params);
        // l2sqr_norm: mean over tensors of mean(p²).
        let l2 = ((0.25 + 4.0 + 0.0001) / 3.0 + 9.0) / 2.0;
        assert!((value.terms[0] - l2).abs() < 1e-12);
        // bounds_cost: -2.0 < 0 costs exp(2); 3.0 > 2.5 costs exp(0.5); 0.5 and 0.01 are inside.
        assert!((value.terms[2] - (2f64.exp() + 0.5f64.exp())).abs() < 1e-12);
        for tensor in 0..2 {
            for i in 0..params[tensor].len() {
                let h = 1e-6;
                let mut plus = params.clone();
                plus[tensor][i] += h;
                let mut minus = params.clone();
                minus[tensor][i] -= h;
                let finite = (evaluate(&loss, &bounds, &[], &[], [0, 0, 0], &plus).value
                    - evaluate(&loss, &bounds, &[], &[], [0, 0, 0], &minus).value)
                    / (2.0 * h);
                let ours = value.param_grads[tensor][i];
                assert!(
                    (ours - finite).abs() < 1e-5 * finite.abs().max(1.0),
                    "param {tensor}[{i}]: {ours} vs {finite}"
                );
            }
        }
    }

    #[test]
    fn softmax_normalises_with_max_subtraction() {
        let p = softmax(&[1000.0, 1000.0, 999.0]);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((p[0] - p[1]).abs() < 1e-15 && p[2] < p[0]);
        let lp = logsoftmax(&[0.0, 0.0]);
        assert!((lp[0] + std::f64::consts::LN_2).abs() < 1e-15);
    }
}
