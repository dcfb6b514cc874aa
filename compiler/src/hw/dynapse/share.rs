//! Sharing: the trained parameters of a core's neurons → the values the core's biases target.
//!
//! * tau_syn and bias: the mean (which minimises the squared sharing error).
//! * tau_mem: a core has two leaks, IF_TAU1_N and IF_TAU2_N, and each neuron picks one. The
//!   candidate split is the optimal 1-D two-means cut of the sorted values; TAU1 takes the larger
//!   group (ties: the shorter tau). Each leak targets its group's mean.
//! * threshold: one membrane gain serves both leaks, so a TAU2 neuron's threshold is the TAU1
//!   threshold θ₁ times `ratio = I_tau2 / I_tau1 = tau1 / tau2` (see `current.rs`). θ₁ is the
//!   least-squares fit `Σ ratioⱼ·θⱼ / Σ ratioⱼ²` over the core's neurons ([`fit_threshold`]).
//! * So TAU2 trades tau_mem error for threshold error. The split is used only if it lowers
//!   `Σ (Δtau_mem / tau_mem)² + (Δθ / θ)²` over the core's neurons compared with one leak.
//!
//! A mean of identical values is that value exactly, so lowering a lifted config reproduces it.

use super::cluster::Parameters;

/// What a core's shared biases should produce.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CoreTargets {
    /// tau_mem of IF_TAU1_N.
    pub tau1: f64,
    /// tau_mem of IF_TAU2_N, if any neuron uses it.
    pub tau2: Option<f64>,
    /// Per member (same order as the input): whether it uses IF_TAU2_N.
    pub uses_tau2: Vec<bool>,
    /// Shared tau_syn.
    pub tau_syn: f64,
    /// Shared bias.
    pub bias: f64,
}

/// Mean of `values`; exactly the value when all are equal.
pub(crate) fn mean(values: &[f64]) -> f64 {
    match values.first() {
        None => 0.0,
        Some(first) if values.iter().all(|value| value.to_bits() == first.to_bits()) => *first,
        Some(_) => values.iter().sum::<f64>() / values.len() as f64,
    }
}

fn squared_deviation(values: &[f64]) -> f64 {
    let centre = mean(values);
    values.iter().map(|value| (value - centre).powi(2)).sum()
}

/// The targets for a core whose members have these parameters (tau_mem, tau_syn, threshold, bias).
pub(crate) fn share(members: &[Parameters]) -> CoreTargets {
    let column = |index: usize| members.iter().map(|parameters| parameters[index]).collect::<Vec<f64>>();
    let tau_mem = column(0);
    let mut sorted = tau_mem.clone();
    sorted.sort_by(f64::total_cmp);
    let distinct = sorted.first().zip(sorted.last()).is_some_and(|(low, high)| low.to_bits() != high.to_bits());
    let (tau1, tau2, uses_tau2) = if distinct {
        // Best cut: sorted[..cut] vs sorted[cut..], cut in 1..len, only between different values.
        let mut best: Option<(f64, usize)> = None;
        for cut in 1..sorted.len() {
            if sorted[cut - 1].to_bits() == sorted[cut].to_bits() {
                continue;
            }
            let cost = squared_deviation(&sorted[..cut]) + squared_deviation(&sorted[cut..]);
            if best.is_none_or(|(best_cost, _)| cost < best_cost) {
                best = Some((cost, cut));
            }
        }
        let cut = best.map_or(sorted.len(), |(_, cut)| cut);
        let boundary = sorted.get(cut).copied().unwrap_or(f64::INFINITY);
        let (short, long) = sorted.split_at(cut);
        // TAU1 takes the larger group; ties go to the shorter tau.
        let short_is_tau1 = short.len() >= long.len();
        let (tau1, tau2) = if short_is_tau1 { (mean(short), mean(long)) } else { (mean(long), mean(short)) };
        let uses_tau2: Vec<bool> = tau_mem.iter().map(|tau| (*tau >= boundary) == short_is_tau1).collect();
        let single = mean(&tau_mem);
        let split_cost = membrane_cost(members, &uses_tau2, tau1, tau2);
        if split_cost < membrane_cost(members, &vec![false; members.len()], single, single) {
            (tau1, Some(tau2), uses_tau2)
        } else {
            (single, None, vec![false; members.len()])
        }
    } else {
        (mean(&tau_mem), None, vec![false; members.len()])
    };
    CoreTargets { tau1, tau2, uses_tau2, tau_syn: mean(&column(1)), bias: mean(&column(3)) }
}

/// `Σ (Δtau_mem / tau_mem)² + (Δθ / θ)²` of the members with these leak choices.
fn membrane_cost(members: &[Parameters], uses_tau2: &[bool], tau1: f64, tau2: f64) -> f64 {
    let ratios: Vec<f64> = uses_tau2.iter().map(|tau2_used| if *tau2_used { tau1 / tau2 } else { 1.0 }).collect();
    let thresholds: Vec<f64> = members.iter().map(|parameters| parameters[2]).collect();
    let threshold1 = fit_threshold(&thresholds, &ratios);
    members
        .iter()
        .zip(uses_tau2.iter().zip(&ratios))
        .map(|(parameters, (tau2_used, ratio))| {
            let tau = if *tau2_used { tau2 } else { tau1 };
            ((tau - parameters[0]) / parameters[0]).powi(2)
                + ((threshold1 * ratio - parameters[2]) / parameters[2]).powi(2)
        })
        .sum()
}

/// θ₁ minimising `Σ (ratioⱼ·θ₁ − thresholdⱼ)²`; exact when thresholds are consistent with ratios.
pub(crate) fn fit_threshold(thresholds: &[f64], ratios: &[f64]) -> f64 {
    if ratios.iter().all(|ratio| *ratio == 1.0) {
        return mean(thresholds);
    }
    let numerator: f64 = thresholds.iter().zip(ratios).map(|(threshold, ratio)| threshold * ratio).sum();
    let denominator: f64 = ratios.iter().map(|ratio| ratio * ratio).sum();
    numerator / denominator
}

/// Sharing error of one parameter on one core.
#[derive(Clone, Debug, PartialEq)]
pub struct ParameterSharing {
    /// "tau_mem", "tau_syn", "threshold" or "bias".
    pub parameter: &'static str,
    /// The distinct shared values (two for tau_mem and threshold when TAU2 is used).
    pub shared: Vec<f64>,
    /// Largest error over the core's neurons: relative for time constants and thresholds,
    /// absolute for bias (which may be zero).
    pub max_error: f64,
    /// Root-mean-square of the same errors.
    pub rms_error: f64,
    /// Whether the errors are relative.
    pub relative: bool,
}

/// Sharing error of `parameter`: each neuron's `trained` value against its `shared` one.
pub(crate) fn sharing_error(
    parameter: &'static str,
    trained: &[f64],
    shared: &[f64],
    relative: bool,
) -> ParameterSharing {
    let errors: Vec<f64> = trained
        .iter()
        .zip(shared)
        .map(|(trained, shared)| {
            let difference = (shared - trained).abs();
            if relative { difference / trained.abs() } else { difference }
        })
        .collect();
    let mut distinct: Vec<f64> = Vec::new();
    for value in shared {
        if !distinct.iter().any(|known| known.to_bits() == value.to_bits()) {
            distinct.push(*value);
        }
    }
    let count = errors.len().max(1) as f64;
    ParameterSharing {
        parameter,
        shared: distinct,
        max_error: errors.iter().copied().fold(0.0, f64::max),
        rms_error: (errors.iter().map(|error| error * error).sum::<f64>() / count).sqrt(),
        relative,
    }
}
