//! Parameter clustering: neurons → groups that can share one core's biases.
//!
//! 1. Neurons with identical (tau_mem, tau_syn, threshold, bias) form one group; groups are
//!    ordered by (tau_syn, tau_mem, threshold, bias). If every group can have cores of its own
//!    (Σ ⌈size / 256⌉ ≤ the core budget), that is the answer and no parameter is shared.
//! 2. Otherwise groups are merged agglomeratively (Ward's criterion: the merge that adds the
//!    least squared deviation, `nₐ·n_b/(nₐ+n_b)·‖μₐ − μ_b‖²`) in the normalised feature space
//!    (ln tau_mem, ln tau_syn, threshold / rms threshold, bias / rms bias), considering only
//!    merges that save a core, until the groups fit the budget. With more than
//!    [`ANY_PAIR_LIMIT`] groups only neighbours in the order above are considered, which keeps
//!    the cost quadratic.
//! 3. If no merge saves a core and the groups still do not fit, placement shares partly filled
//!    cores (see `place.rs`).
//!
//! The cost ignores that a core has two leaks (TAU1/TAU2), so mixing two tau_mem values is
//! cheaper on the chip than the cost says.

use std::cmp::Ordering;

use super::board::NEURONS_PER_CORE;

/// Above this many groups, only neighbouring groups are merge candidates.
pub(crate) const ANY_PAIR_LIMIT: usize = 256;

/// A neuron's trained parameters: tau_mem, tau_syn, threshold, bias.
pub(crate) type Parameters = [f64; 4];

/// Scales that make the four parameters comparable.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scales {
    threshold: f64,
    bias: f64,
}

impl Scales {
    /// RMS of thresholds and of biases over `all` (1 where that is zero).
    pub(crate) fn new(all: &[Parameters]) -> Scales {
        let rms = |pick: fn(&Parameters) -> f64| {
            let count = all.len().max(1) as f64;
            let value = (all.iter().map(|p| pick(p).powi(2)).sum::<f64>() / count).sqrt();
            if value > 0.0 && value.is_finite() { value } else { 1.0 }
        };
        Scales { threshold: rms(|p| p[2]), bias: rms(|p| p[3]) }
    }

    /// The normalised feature vector of `parameters`.
    pub(crate) fn features(&self, parameters: &Parameters) -> [f64; 4] {
        [parameters[0].ln(), parameters[1].ln(), parameters[2] / self.threshold, parameters[3] / self.bias]
    }
}

struct Group {
    members: Vec<usize>,
    sum: [f64; 4],
}

impl Group {
    fn size(&self) -> usize {
        self.members.len()
    }
    fn mean(&self) -> [f64; 4] {
        let count = self.size().max(1) as f64;
        self.sum.map(|total| total / count)
    }
}

fn cores_for(size: usize) -> usize {
    size.div_ceil(NEURONS_PER_CORE)
}

fn order(a: &Parameters, b: &Parameters) -> Ordering {
    let key = |p: &Parameters| [p[1], p[0], p[2], p[3]];
    let (ka, kb) = (key(a), key(b));
    ka.iter().zip(kb.iter()).map(|(x, y)| x.total_cmp(y)).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
}

fn ward_cost(a: &Group, b: &Group) -> f64 {
    let (ma, mb) = (a.mean(), b.mean());
    let distance: f64 = ma.iter().zip(mb.iter()).map(|(x, y)| (x - y).powi(2)).sum();
    let (na, nb) = (a.size() as f64, b.size() as f64);
    na * nb / (na + nb) * distance
}

/// Groups of indices into `parameters`, each to get cores of its own, fitting `core_budget`
/// cores if merging can achieve it.
pub(crate) fn cluster(parameters: &[Parameters], scales: &Scales, core_budget: usize) -> Vec<Vec<usize>> {
    let mut indices: Vec<usize> = (0..parameters.len()).collect();
    indices.sort_by(|&a, &b| order(&parameters[a], &parameters[b]).then(a.cmp(&b)));
    let mut groups: Vec<Group> = Vec::new();
    for index in indices {
        let features = scales.features(&parameters[index]);
        let same = groups.last().is_some_and(|group| {
            group.members.first().is_some_and(|&first| order(&parameters[first], &parameters[index]).is_eq())
        });
        match groups.last_mut() {
            Some(group) if same => {
                group.members.push(index);
                for (total, value) in group.sum.iter_mut().zip(features) {
                    *total += value;
                }
            }
            Some(_) | None => groups.push(Group { members: vec![index], sum: features }),
        }
    }
    while groups.iter().map(|group| cores_for(group.size())).sum::<usize>() > core_budget && groups.len() > 1 {
        let Some((first, second)) = best_merge(&groups) else { break };
        let absorbed = groups.remove(second);
        let target = &mut groups[first];
        target.members.extend(absorbed.members);
        for (total, value) in target.sum.iter_mut().zip(absorbed.sum) {
            *total += value;
        }
    }
    groups
        .into_iter()
        .map(|mut group| {
            group.members.sort_unstable();
            group.members
        })
        .collect()
}

/// The cheapest merge (first < second) that saves a core, if any.
fn best_merge(groups: &[Group]) -> Option<(usize, usize)> {
    let saves_core = |a: &Group, b: &Group| cores_for(a.size() + b.size()) < cores_for(a.size()) + cores_for(b.size());
    let mut best: Option<(f64, usize, usize)> = None;
    let mut consider = |first: usize, second: usize| {
        let (a, b) = (&groups[first], &groups[second]);
        if !saves_core(a, b) {
            return;
        }
        let cost = ward_cost(a, b);
        if best.is_none_or(|(best_cost, _, _)| cost < best_cost) {
            best = Some((cost, first, second));
        }
    };
    if groups.len() > ANY_PAIR_LIMIT {
        for first in 0..groups.len().saturating_sub(1) {
            consider(first, first + 1);
        }
    } else {
        for first in 0..groups.len() {
            for second in first + 1..groups.len() {
                consider(first, second);
            }
        }
    }
    best.map(|(_, first, second)| (first, second))
}
