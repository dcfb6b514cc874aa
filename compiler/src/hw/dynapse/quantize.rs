//! Quantisation: float weights → integer connection counts × one base weight per (core, type).
//!
//! On Dynap-SE1 a weight is a number of CAM entries `n` (each one more synaptic connection) times
//! the base weight `b` that the post-synaptic core sets for the connection's synapse type; the
//! sign comes from the type. So all weights into one core of one type share `b`, and every
//! neuron's counts, over all types, must fit in its 64 CAMs.
//!
//! Algorithm for [`Quantisation::Optimal`](super::Quantisation::Optimal), per core:
//! 1. A nonzero weight never silently disappears. Without `prune`, each nonzero weight takes at
//!    least one CAM (`n = max(1, round(|w| / b))`); a neuron with more than 64 nonzero weights
//!    is a fan-in error. With `prune`, such a neuron first drops its smallest weights down to 64
//!    ("budget" pruning), and a weight may round to `n = 0` ("rounding" pruning); both are
//!    listed in the report.
//! 2. The squared error `Σ (|w| − n·b)²` falls, roughly, as `b` shrinks, so the budget binds.
//!    Write `b_t = s · max|w|` of type `t`; the CAM use of every neuron only grows as `s`
//!    shrinks, so bisection finds the smallest feasible common `s` (60 halvings in log space on
//!    `[1/128, 2]`: at `s = 2` every count is at most 1, at `1/128` the largest weight alone
//!    needs 128).
//! 3. Each `b_t` is then refined by Lloyd steps (`b ← Σ n·|w| / Σ n²`, the least-squares scale
//!    for the current counts), a step being kept only if it stays within budget and lowers the
//!    error. The result is a local optimum of the budget-constrained problem, not a proven
//!    global one.
//!
//! [`Quantisation::Integer`](super::Quantisation::Integer) takes the weights as counts
//! (`b = 1`); [`Quantisation::BaseWeights`](super::Quantisation::BaseWeights) uses the given
//! `b`. For both, a neuron over budget is a fan-in error, or with `prune` drops its smallest
//! weights until it fits.

use std::collections::BTreeMap;

use super::address::CoreId;
use super::board::CAMS_PER_NEURON;
use super::connections::{Connection, NeuronRef, Pre};
use super::drc::{DrcError, FanInPart, WeightMatrix};
use super::network::SpikingNetwork;
use super::options::{LowerOptions, Quantisation};
use super::place::PlacementMap;
use super::synapse::SynapseType;

/// Bisection steps for the common scale.
const BISECTION_STEPS: usize = 60;
/// Most rounds of Lloyd refinement.
const LLOYD_ROUNDS: usize = 50;
/// Distance of a weight from an integer (relative) still taken as that integer.
const INTEGER_TOLERANCE: f64 = 1e-9;

/// Why a nonzero weight was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PruneReason {
    /// Its neuron had more weights than CAM entries; the smallest went.
    Budget,
    /// It rounded to zero connections.
    Rounding,
}

/// A nonzero trained weight with no connection on the chip.
#[derive(Clone, Debug, PartialEq)]
pub struct PrunedConnection {
    /// Population it feeds.
    pub population: String,
    /// Which matrix.
    pub matrix: WeightMatrix,
    /// Row (pre-synaptic index).
    pub pre: usize,
    /// Column (post-synaptic index).
    pub post: usize,
    /// The trained weight.
    pub weight: f64,
    /// Why.
    pub reason: PruneReason,
}

/// Counts and base weights for every connection.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Quantised {
    /// Per connection (same order as the input), CAM entries.
    pub counts: Vec<u32>,
    /// Target base weight per used (core, type).
    pub base_weights: BTreeMap<(CoreId, SynapseType), f64>,
    /// Dropped connections.
    pub pruned: Vec<PrunedConnection>,
}

/// Quantises `connections` (see the module doc).
pub(crate) fn quantize(
    network: &SpikingNetwork,
    connections: &[Connection],
    placement: &PlacementMap,
    options: &LowerOptions,
) -> Result<Quantised, Vec<DrcError>> {
    let mut by_core: BTreeMap<CoreId, Vec<usize>> = BTreeMap::new();
    for (index, connection) in connections.iter().enumerate() {
        by_core.entry(placement.id(connection.post).core()).or_default().push(index);
    }
    let mut result =
        Quantised { counts: vec![0; connections.len()], base_weights: BTreeMap::new(), pruned: Vec::new() };
    let mut errors = Vec::new();
    for (core, members) in by_core {
        let mut active = members;
        let mut budget_pruned = Vec::new();
        let over = over_budget(&active, connections, |_| 1);
        if !over.is_empty() {
            if options.prune {
                budget_pruned = prune_to_budget(&mut active, connections, |_| 1);
            } else {
                errors.extend(
                    over.into_iter()
                        .map(|neuron| fan_in_error(network, placement, connections, &active, neuron, |_| 1)),
                );
                continue;
            }
        }
        let allow_zero = options.prune;
        let scales = match &options.quantisation {
            Quantisation::Optimal => optimal_scales(&active, connections, allow_zero),
            Quantisation::Integer => {
                let mut scales = [None; 4];
                for &index in &active {
                    let connection = &connections[index];
                    let magnitude = connection.weight.abs();
                    if (magnitude - magnitude.round()).abs() > INTEGER_TOLERANCE * magnitude.max(1.0) {
                        errors.push(non_integer(network, connection));
                    }
                    scales[connection.synapse.index()] = Some(1.0);
                }
                scales
            }
            Quantisation::BaseWeights(list) => {
                let given = list.iter().find(|entry| entry.core == core);
                let mut scales = [None; 4];
                for &index in &active {
                    let synapse = connections[index].synapse;
                    match given.and_then(|entry| entry.get(synapse)).filter(|b| *b > 0.0 && b.is_finite()) {
                        Some(base) => scales[synapse.index()] = Some(base),
                        None if scales[synapse.index()].is_none() => {
                            scales[synapse.index()] = Some(f64::NAN);
                            let population = &network.populations[connections[index].post.population];
                            errors.push(DrcError::MissingBaseWeight {
                                core,
                                synapse,
                                population: population.name.clone(),
                                source: population.source.clone(),
                            });
                        }
                        None => {}
                    }
                }
                scales
            }
        };
        if scales.iter().flatten().any(|scale| !scale.is_finite()) {
            continue;
        }
        let count_of = |index: usize| {
            let connection = &connections[index];
            scales[connection.synapse.index()].map_or(0, |base| count(connection.weight.abs(), base, allow_zero))
        };
        let over = over_budget(&active, connections, count_of);
        if !over.is_empty() {
            if options.prune {
                budget_pruned.extend(prune_to_budget(&mut active, connections, count_of));
            } else {
                errors.extend(
                    over.into_iter()
                        .map(|neuron| fan_in_error(network, placement, connections, &active, neuron, count_of)),
                );
                continue;
            }
        }
        for &index in &active {
            result.counts[index] = count_of(index);
        }
        for synapse in SynapseType::ALL {
            if let Some(base) = scales[synapse.index()] {
                result.base_weights.insert((core, synapse), base);
            }
        }
        for index in budget_pruned {
            result.pruned.push(pruned(network, &connections[index], PruneReason::Budget));
        }
        for &index in &active {
            if result.counts[index] == 0 {
                result.pruned.push(pruned(network, &connections[index], PruneReason::Rounding));
            }
        }
    }
    if errors.is_empty() { Ok(result) } else { Err(errors) }
}

/// Connections of magnitude `magnitude` at base weight `base`.
fn count(magnitude: f64, base: f64, allow_zero: bool) -> u32 {
    let rounded = (magnitude / base).round().min(f64::from(u32::MAX / 2));
    let rounded = if rounded.is_nan() { 0.0 } else { rounded };
    if !allow_zero && rounded < 1.0 { 1 } else { rounded as u32 }
}

fn per_neuron(
    active: &[usize],
    connections: &[Connection],
    count_of: impl Fn(usize) -> u32,
) -> BTreeMap<NeuronRef, u64> {
    let mut totals: BTreeMap<NeuronRef, u64> = BTreeMap::new();
    for &index in active {
        *totals.entry(connections[index].post).or_default() += u64::from(count_of(index));
    }
    totals
}

fn over_budget(active: &[usize], connections: &[Connection], count_of: impl Fn(usize) -> u32) -> Vec<NeuronRef> {
    per_neuron(active, connections, count_of)
        .into_iter()
        .filter(|(_, total)| *total > CAMS_PER_NEURON as u64)
        .map(|(neuron, _)| neuron)
        .collect()
}

/// Drops, per neuron over budget, its smallest weights until it fits; returns the dropped ones.
fn prune_to_budget(active: &mut Vec<usize>, connections: &[Connection], count_of: impl Fn(usize) -> u32) -> Vec<usize> {
    let mut dropped = Vec::new();
    for neuron in over_budget(active, connections, &count_of) {
        let mut incoming: Vec<usize> = active.iter().copied().filter(|&i| connections[i].post == neuron).collect();
        // Largest first; ties keep the earlier connection.
        incoming.sort_by(|&a, &b| connections[b].weight.abs().total_cmp(&connections[a].weight.abs()).then(a.cmp(&b)));
        let mut used = 0u64;
        for index in incoming {
            let need = u64::from(count_of(index));
            if used + need <= CAMS_PER_NEURON as u64 {
                used += need;
            } else {
                dropped.push(index);
            }
        }
    }
    let dropped_set: std::collections::BTreeSet<usize> = dropped.iter().copied().collect();
    active.retain(|index| !dropped_set.contains(index));
    dropped_set.into_iter().collect()
}

/// One weight of a core, compacted for the search: local neuron index, type index, |w|.
struct Term {
    neuron: usize,
    synapse: usize,
    magnitude: f64,
}

/// The base weight per type found by bisection and Lloyd refinement (module doc, steps 2–3).
fn optimal_scales(active: &[usize], connections: &[Connection], allow_zero: bool) -> [Option<f64>; 4] {
    let mut local: BTreeMap<NeuronRef, usize> = BTreeMap::new();
    let mut terms = Vec::with_capacity(active.len());
    let mut largest = [0.0f64; 4];
    for &index in active {
        let connection = &connections[index];
        let next = local.len();
        let neuron = *local.entry(connection.post).or_insert(next);
        let (synapse, magnitude) = (connection.synapse.index(), connection.weight.abs());
        largest[synapse] = largest[synapse].max(magnitude);
        terms.push(Term { neuron, synapse, magnitude });
    }
    let feasible = |bases: &[f64; 4]| {
        let mut used = vec![0u64; local.len()];
        terms.iter().all(|term| {
            used[term.neuron] += u64::from(count(term.magnitude, bases[term.synapse], allow_zero));
            used[term.neuron] <= CAMS_PER_NEURON as u64
        })
    };
    let at_scale = |scale: f64| largest.map(|value| value * scale);
    let (mut low, mut high) = (1.0f64 / 128.0, 2.0f64);
    for _ in 0..BISECTION_STEPS {
        let middle = (low * high).sqrt();
        if feasible(&at_scale(middle)) { high = middle } else { low = middle }
    }
    let mut bases = at_scale(high);
    let of_type = |synapse: usize| terms.iter().filter(move |term| term.synapse == synapse);
    let type_error = |synapse: usize, base: f64| {
        of_type(synapse)
            .map(|term| (term.magnitude - f64::from(count(term.magnitude, base, allow_zero)) * base).powi(2))
            .sum::<f64>()
    };
    for _ in 0..LLOYD_ROUNDS {
        let mut changed = false;
        for synapse in (0..4).filter(|synapse| largest[*synapse] > 0.0) {
            let (mut weighted, mut squares) = (0.0, 0.0);
            for term in of_type(synapse) {
                let n = f64::from(count(term.magnitude, bases[synapse], allow_zero));
                weighted += n * term.magnitude;
                squares += n * n;
            }
            let candidate = weighted / squares;
            if squares == 0.0 || !candidate.is_finite() || candidate <= 0.0 {
                continue;
            }
            let mut trial = bases;
            trial[synapse] = candidate;
            let improves = type_error(synapse, candidate) < type_error(synapse, bases[synapse]) * (1.0 - 1e-12);
            if improves && feasible(&trial) {
                bases = trial;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut result = [None; 4];
    for synapse in (0..4).filter(|synapse| largest[*synapse] > 0.0) {
        result[synapse] = Some(bases[synapse]);
    }
    result
}

fn source_name(network: &SpikingNetwork, connection: &Connection) -> String {
    match connection.pre {
        Pre::Virtual(_) => "input".to_string(),
        Pre::Neuron(neuron) => network.populations[neuron.population].name.clone(),
    }
}

fn fan_in_error(
    network: &SpikingNetwork,
    placement: &PlacementMap,
    connections: &[Connection],
    active: &[usize],
    neuron: NeuronRef,
    count_of: impl Fn(usize) -> u32,
) -> DrcError {
    let mut parts: Vec<FanInPart> = Vec::new();
    for &index in active.iter().filter(|&&index| connections[index].post == neuron) {
        let connection = &connections[index];
        let from = source_name(network, connection);
        let cams = count_of(index) as usize;
        match parts.iter_mut().find(|part| part.from == from && part.synapse == connection.synapse) {
            Some(part) => {
                part.connections += 1;
                part.cams += cams;
            }
            None => parts.push(FanInPart { from, synapse: connection.synapse, connections: 1, cams }),
        }
    }
    let population = &network.populations[neuron.population];
    DrcError::FanInExceeded {
        population: population.name.clone(),
        source: population.source.clone(),
        neuron: neuron.index,
        id: Some(placement.id(neuron)),
        count: parts.iter().map(|part| part.cams).sum(),
        limit: CAMS_PER_NEURON,
        breakdown: parts,
    }
}

fn non_integer(network: &SpikingNetwork, connection: &Connection) -> DrcError {
    let population = &network.populations[connection.post.population];
    DrcError::NonIntegerWeight {
        population: population.name.clone(),
        source: population.source.clone(),
        matrix: connection.matrix,
        pre: connection.row,
        post: connection.post.index,
        value: connection.weight,
    }
}

fn pruned(network: &SpikingNetwork, connection: &Connection, reason: PruneReason) -> PrunedConnection {
    PrunedConnection {
        population: network.populations[connection.post.population].name.clone(),
        matrix: connection.matrix,
        pre: connection.row,
        post: connection.post.index,
        weight: connection.weight,
        reason,
    }
}
