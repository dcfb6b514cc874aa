//! Placement: a checked network → a global neuron id for every population neuron.
//!
//! Explicit placements are validated (lengths, reserved address 0, duplicates, input neurons on
//! the input chip). Automatic placement:
//! 1. Neurons that receive virtual input must live on the input chip; they are clustered by
//!    parameters (`cluster.rs`) onto the input chip's 4 cores. All other neurons are clustered
//!    onto the cores left (input chip first, then chips in ascending order, so fewer chips —
//!    and fewer SRAM routes — are used).
//! 2. Each cluster takes fresh cores; when none is left, its remaining neurons join the
//!    partly filled core whose neurons are nearest in parameters (sharing error is reported).
//! 3. Within a core, neurons take slots in (population, index) order, preferring chip-local
//!    addresses no other chip uses: then two chips never send the same address, which avoids
//!    aliasing whenever the network uses fewer than 1024 addresses. Address 0 is never used.

use std::collections::{BTreeMap, BTreeSet};

use super::address::{ChipId, CoreId, NeuronId, VirtualId};
use super::board::{NEURONS_PER_CORE, USABLE_NEURONS_ON_BOARD, USABLE_NEURONS_PER_CHIP};
use super::cluster::{Parameters, Scales, cluster};
use super::connections::NeuronRef;
use super::drc::{CapacityScope, DrcError, PlacementPart, PlacementProblem, VirtualIdProblem};
use super::network::SpikingNetwork;
use super::options::Placement;

/// Where every neuron went.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PlacementMap {
    /// Per population, per neuron.
    pub ids: Vec<Vec<NeuronId>>,
    /// The inverse.
    pub by_id: BTreeMap<NeuronId, NeuronRef>,
}

impl PlacementMap {
    fn new(ids: Vec<Vec<NeuronId>>) -> PlacementMap {
        let mut by_id = BTreeMap::new();
        for (population, list) in ids.iter().enumerate() {
            for (index, id) in list.iter().enumerate() {
                by_id.insert(*id, NeuronRef { population, index });
            }
        }
        PlacementMap { ids, by_id }
    }

    /// The id of `neuron` (which must belong to the placed network).
    pub fn id(&self, neuron: NeuronRef) -> NeuronId {
        self.ids[neuron.population][neuron.index]
    }

    /// The neurons on each used core, in id order.
    pub fn cores(&self) -> BTreeMap<CoreId, Vec<NeuronRef>> {
        let mut cores: BTreeMap<CoreId, Vec<NeuronRef>> = BTreeMap::new();
        for (id, neuron) in &self.by_id {
            cores.entry(id.core()).or_default().push(*neuron);
        }
        cores
    }
}

/// The trained parameters of `neuron`.
pub(crate) fn parameters(network: &SpikingNetwork, neuron: NeuronRef) -> Parameters {
    let population = &network.populations[neuron.population];
    let at = |values: &Vec<f64>| values.get(neuron.index).copied().unwrap_or(0.0);
    [at(&population.tau_mem), at(&population.tau_syn), at(&population.threshold), at(&population.bias)]
}

/// Validates `placement` against `network`.
pub(crate) fn check_explicit(
    network: &SpikingNetwork,
    placement: &Placement,
    receives_input: &[bool],
    input_chip: ChipId,
) -> Result<PlacementMap, Vec<DrcError>> {
    let mut errors = Vec::new();
    if placement.neurons.len() != network.populations.len() {
        errors.push(DrcError::PlacementShape {
            part: PlacementPart::Populations,
            population: None,
            source: None,
            expected: network.populations.len(),
            found: placement.neurons.len(),
        });
        return Err(errors);
    }
    let mut seen: BTreeMap<NeuronId, NeuronRef> = BTreeMap::new();
    for (population_index, (population, ids)) in network.populations.iter().zip(&placement.neurons).enumerate() {
        if ids.len() != population.size {
            errors.push(DrcError::PlacementShape {
                part: PlacementPart::Neurons,
                population: Some(population.name.clone()),
                source: Some(population.source.clone()),
                expected: population.size,
                found: ids.len(),
            });
            continue;
        }
        for (index, id) in ids.iter().enumerate() {
            let conflict = |problem| DrcError::PlacementConflict {
                population: population.name.clone(),
                source: population.source.clone(),
                neuron: index,
                id: *id,
                problem,
            };
            if id.address().is_reserved() {
                errors.push(conflict(PlacementProblem::ReservedAddress));
            }
            if let Some(other) = seen.get(id) {
                let other_name = network.populations[other.population].name.clone();
                errors.push(conflict(PlacementProblem::Duplicate { population: other_name, neuron: other.index }));
            } else {
                seen.insert(*id, NeuronRef { population: population_index, index });
            }
            let is_input = population_index == 0 && receives_input.get(index).copied().unwrap_or(false);
            if is_input && id.chip() != input_chip {
                errors.push(conflict(PlacementProblem::OffInputChip { input_chip }));
            }
        }
    }
    if errors.is_empty() { Ok(PlacementMap::new(placement.neurons.clone())) } else { Err(errors) }
}

/// Places `network` automatically (see the module doc).
pub(crate) fn place_automatically(
    network: &SpikingNetwork,
    receives_input: &[bool],
    input_chip: ChipId,
) -> Result<PlacementMap, Vec<DrcError>> {
    let mut inputs = Vec::new();
    let mut others = Vec::new();
    for (population_index, population) in network.populations.iter().enumerate() {
        for index in 0..population.size {
            let neuron = NeuronRef { population: population_index, index };
            let is_input = population_index == 0 && receives_input.get(index).copied().unwrap_or(false);
            if is_input { inputs.push(neuron) } else { others.push(neuron) }
        }
    }
    let first_source = network.populations.first().map(|population| population.source.clone());
    let counts = |neurons: &[NeuronRef]| {
        let mut counts: Vec<(String, usize)> = Vec::new();
        for neuron in neurons {
            let name = &network.populations[neuron.population].name;
            match counts.last_mut() {
                Some((last, count)) if last == name => *count += 1,
                Some(_) | None => counts.push((name.clone(), 1)),
            }
        }
        counts
    };
    if inputs.len() > USABLE_NEURONS_PER_CHIP {
        return Err(vec![DrcError::TooManyNeurons {
            scope: CapacityScope::InputChip(input_chip),
            requested: inputs.len(),
            available: USABLE_NEURONS_PER_CHIP,
            populations: counts(&inputs),
            source: first_source,
        }]);
    }
    let total = inputs.len() + others.len();
    if total > USABLE_NEURONS_ON_BOARD {
        let all: Vec<NeuronRef> = inputs.iter().chain(&others).copied().collect::<BTreeSet<_>>().into_iter().collect();
        return Err(vec![DrcError::TooManyNeurons {
            scope: CapacityScope::Board,
            requested: total,
            available: USABLE_NEURONS_ON_BOARD,
            populations: counts(&all),
            // The largest population (the first of equals) is the one to shrink.
            source: network
                .populations
                .iter()
                .rev()
                .max_by_key(|population| population.size)
                .map(|population| population.source.clone()),
        }]);
    }
    let all_parameters: Vec<Parameters> =
        inputs.iter().chain(&others).map(|neuron| parameters(network, *neuron)).collect();
    let scales = Scales::new(&all_parameters);
    let input_cores: Vec<CoreId> = CoreId::all().filter(|core| core.chip() == input_chip).collect();
    let all_cores: Vec<CoreId> =
        input_cores.iter().copied().chain(CoreId::all().filter(|core| core.chip() != input_chip)).collect();
    let mut fills: BTreeMap<CoreId, Vec<NeuronRef>> = BTreeMap::new();
    for (neurons, allowed) in [(&inputs, &input_cores), (&others, &all_cores)] {
        let neuron_parameters: Vec<Parameters> = neurons.iter().map(|neuron| parameters(network, *neuron)).collect();
        let fresh = allowed.iter().filter(|core| !fills.contains_key(core)).count();
        for group in cluster(&neuron_parameters, &scales, fresh) {
            let members: Vec<NeuronRef> = group.iter().map(|&member| neurons[member]).collect();
            assign_group(network, &scales, &members, allowed, &mut fills);
        }
    }
    let ids = assign_slots(network, &fills);
    let complete = ids.iter().zip(&network.populations).all(|(list, population)| list.len() == population.size);
    if !complete {
        // Unreachable after the capacity checks above; reported rather than assumed.
        return Err(vec![DrcError::TooManyNeurons {
            scope: CapacityScope::Board,
            requested: total,
            available: USABLE_NEURONS_ON_BOARD,
            populations: Vec::new(),
            source: network.populations.first().map(|population| population.source.clone()),
        }]);
    }
    Ok(PlacementMap::new(ids))
}

fn capacity(core: CoreId) -> usize {
    if core.core() == 0 { NEURONS_PER_CORE - 1 } else { NEURONS_PER_CORE }
}

fn assign_group(
    network: &SpikingNetwork,
    scales: &Scales,
    members: &[NeuronRef],
    allowed: &[CoreId],
    fills: &mut BTreeMap<CoreId, Vec<NeuronRef>>,
) {
    let mean = |neurons: &[NeuronRef]| {
        let mut sum = [0.0; 4];
        for neuron in neurons {
            for (total, value) in sum.iter_mut().zip(scales.features(&parameters(network, *neuron))) {
                *total += value;
            }
        }
        sum.map(|total| total / neurons.len().max(1) as f64)
    };
    let group_mean = mean(members);
    let mut remaining = members;
    while !remaining.is_empty() {
        let fresh = allowed.iter().find(|core| !fills.contains_key(core)).copied();
        let target = fresh.or_else(|| {
            let distance = |core: &CoreId| {
                let core_mean = mean(fills.get(core).map_or(&[][..], Vec::as_slice));
                core_mean.iter().zip(group_mean.iter()).map(|(a, b)| (a - b).powi(2)).sum::<f64>()
            };
            allowed
                .iter()
                .filter(|core| fills.get(core).map_or(0, Vec::len) < capacity(**core))
                .min_by(|a, b| distance(a).total_cmp(&distance(b)))
                .copied()
        });
        // Capacity was checked before placement, so a core with room always exists.
        let Some(core) = target else { return };
        let fill = fills.entry(core).or_default();
        let take = (capacity(core) - fill.len()).min(remaining.len());
        fill.extend_from_slice(&remaining[..take]);
        remaining = &remaining[take..];
    }
}

fn assign_slots(network: &SpikingNetwork, fills: &BTreeMap<CoreId, Vec<NeuronRef>>) -> Vec<Vec<NeuronId>> {
    let mut ids: Vec<Vec<Option<NeuronId>>> =
        network.populations.iter().map(|population| vec![None; population.size]).collect();
    // How many chips already use each chip-local address.
    let mut address_use = [0u8; super::board::NEURONS_PER_CHIP];
    for (core, neurons) in fills {
        let mut members = neurons.clone();
        members.sort_unstable();
        let first_slot = NEURONS_PER_CORE - capacity(*core);
        let slots: Vec<NeuronId> = (first_slot..NEURONS_PER_CORE).filter_map(|slot| core.neuron(slot).ok()).collect();
        let (fresh, reused): (Vec<NeuronId>, Vec<NeuronId>) =
            slots.into_iter().partition(|id| address_use[id.address().index()] == 0);
        let mut chosen: Vec<NeuronId> = fresh.into_iter().chain(reused).take(members.len()).collect();
        chosen.sort_unstable();
        for (neuron, id) in members.iter().zip(chosen) {
            address_use[id.address().index()] += 1;
            if let Some(slot) = ids.get_mut(neuron.population).and_then(|list| list.get_mut(neuron.index)) {
                *slot = Some(id);
            }
        }
    }
    ids.into_iter().map(|list| list.into_iter().flatten().collect()).collect()
}

/// Validates explicit virtual ids: one per input channel, none reserved, no two equal.
pub(crate) fn check_virtual_ids(ids: &[VirtualId], n_inputs: usize) -> Result<(), Vec<DrcError>> {
    if ids.len() != n_inputs {
        return Err(vec![DrcError::PlacementShape {
            part: PlacementPart::VirtualIds,
            population: None,
            source: None,
            expected: n_inputs,
            found: ids.len(),
        }]);
    }
    let mut errors = Vec::new();
    let mut seen: BTreeMap<VirtualId, usize> = BTreeMap::new();
    for (channel, id) in ids.iter().enumerate() {
        if id.is_reserved() {
            errors.push(DrcError::VirtualIdConflict { channel, id: *id, problem: VirtualIdProblem::Reserved });
        }
        match seen.get(id) {
            Some(other) => errors.push(DrcError::VirtualIdConflict {
                channel,
                id: *id,
                problem: VirtualIdProblem::Duplicate { channel: *other },
            }),
            None => {
                seen.insert(*id, channel);
            }
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}
