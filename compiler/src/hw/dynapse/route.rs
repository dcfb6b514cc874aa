//! Routing: counted connections + placement → virtual ids, CAM and SRAM contents.
//!
//! * The input core mask is the set of input-chip cores holding a neuron with a virtual input.
//!   The FPGA broadcasts every input event to all of them.
//! * Virtual ids (unless given) are the smallest ids from 1 that equal no chip-local address of
//!   a hardware neuron projecting into a masked core, so inputs never alias.
//! * CAMs of a neuron list virtual sources first, then hardware ones; within each, excitatory
//!   before inhibitory, then by source id; a count of k gives k consecutive entries
//!   (Rockpool's order: its oracle has neuron 69 hold `[2, 2, 53, 68, 68]`).
//! * SRAMs: one per target chip, its mask OR-ed over target cores, chips in order.
//! * Design rules: fan-out (≤ 3 chips) and aliasing (per receiving core, each chip-local source
//!   address comes from one chip only, virtual inputs counting as one more "chip").

use std::collections::{BTreeMap, BTreeSet};

use super::address::{Address, ChipId, CoreId, CoreMask, NeuronId, VirtualId};
use super::board::{TARGET_CHIPS_PER_NEURON, VIRTUAL_NEURONS};
use super::config::{Cam, Sram};
use super::connections::{Connection, NeuronRef, Pre};
use super::drc::{AliasSource, DrcError};
use super::network::SpikingNetwork;
use super::place::PlacementMap;

/// The routing of a lowered network.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Routing {
    /// Per input channel.
    pub virtual_ids: Vec<VirtualId>,
    /// Input-chip cores that receive input events.
    pub input_core_mask: CoreMask,
    /// CAM entries of every placed neuron.
    pub cams: BTreeMap<NeuronId, Vec<Cam>>,
    /// SRAM entries of every placed neuron.
    pub srams: BTreeMap<NeuronId, Vec<Sram>>,
}

/// Sort key of a CAM entry: (virtual 0 / hardware 1, excitatory 0 / inhibitory 1, source id).
type CamKey = (u8, u8, usize);

/// A source on the chip's event bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Origin {
    Chip(ChipId),
    Virtual,
}

/// Routes `connections` with `counts` (see the module doc).
pub(crate) fn route(
    network: &SpikingNetwork,
    connections: &[Connection],
    counts: &[u32],
    placement: &PlacementMap,
    input_chip: ChipId,
    given_virtual_ids: Option<&[VirtualId]>,
) -> Result<Routing, Vec<DrcError>> {
    let mut errors = Vec::new();
    let live: Vec<(&Connection, u32)> =
        connections.iter().zip(counts.iter().copied()).filter(|(_, count)| *count > 0).collect();
    let mut input_core_mask = CoreMask::EMPTY;
    for (connection, _) in &live {
        if let Pre::Virtual(_) = connection.pre {
            input_core_mask = input_core_mask.with(placement.id(connection.post).core());
        }
    }
    let in_mask = |core: CoreId| core.chip() == input_chip && input_core_mask.contains(core);
    let virtual_ids = match given_virtual_ids {
        Some(ids) => ids.to_vec(),
        None => {
            let mut forbidden = BTreeSet::new();
            for (connection, _) in &live {
                if let Pre::Neuron(pre) = connection.pre
                    && in_mask(placement.id(connection.post).core())
                {
                    forbidden.insert(placement.id(pre).address().index());
                }
            }
            let free =
                (1..VIRTUAL_NEURONS).filter(|id| !forbidden.contains(id)).filter_map(|id| VirtualId::new(id).ok());
            let ids: Vec<VirtualId> = free.take(network.n_inputs).collect();
            if ids.len() < network.n_inputs {
                let available = ids.len();
                return Err(vec![DrcError::TooManyInputs { requested: network.n_inputs, available }]);
            }
            ids
        }
    };
    // CAMs.
    let mut incoming: BTreeMap<NeuronId, Vec<(CamKey, Cam, u32)>> = BTreeMap::new();
    for id in placement.by_id.keys() {
        incoming.insert(*id, Vec::new());
    }
    // Per receiving core: address → origin → first source seen.
    let mut heard: BTreeMap<CoreId, BTreeMap<Address, BTreeMap<Origin, AliasSource>>> = BTreeMap::new();
    let mut targets: BTreeMap<NeuronId, BTreeMap<ChipId, CoreMask>> = BTreeMap::new();
    for (connection, count) in &live {
        let post = placement.id(connection.post);
        let sign_order = if connection.synapse.is_excitatory() { 0 } else { 1 };
        let (key, source) = match connection.pre {
            Pre::Virtual(channel) => {
                let Some(id) = virtual_ids.get(channel).copied() else { continue };
                ((0, sign_order, id.index()), id.address())
            }
            Pre::Neuron(pre) => {
                let id = placement.id(pre);
                let mask = targets.entry(id).or_default().entry(post.chip()).or_default();
                *mask = mask.with(post.core());
                heard
                    .entry(post.core())
                    .or_default()
                    .entry(id.address())
                    .or_default()
                    .entry(Origin::Chip(id.chip()))
                    .or_insert_with(|| neuron_source(network, pre, id));
                ((1, sign_order, id.index()), id.address())
            }
        };
        incoming.entry(post).or_default().push((key, Cam { source, synapse: connection.synapse }, *count));
    }
    for (channel, id) in virtual_ids.iter().enumerate() {
        for core in CoreId::all().filter(|core| in_mask(*core)) {
            heard
                .entry(core)
                .or_default()
                .entry(id.address())
                .or_default()
                .entry(Origin::Virtual)
                .or_insert(AliasSource::Virtual { channel, id: *id });
        }
    }
    let mut cams = BTreeMap::new();
    for (id, mut entries) in incoming {
        entries.sort_by_key(|(key, _, _)| *key);
        let expanded = entries.into_iter().flat_map(|(_, cam, count)| std::iter::repeat_n(cam, count as usize));
        cams.insert(id, expanded.collect());
    }
    // SRAMs and fan-out.
    let mut srams = BTreeMap::new();
    for id in placement.by_id.keys() {
        let chips = targets.remove(id).unwrap_or_default();
        if chips.len() > TARGET_CHIPS_PER_NEURON
            && let Some(neuron) = placement.by_id.get(id)
        {
            let population = &network.populations[neuron.population];
            errors.push(DrcError::FanOutExceeded {
                population: population.name.clone(),
                source: population.source.clone(),
                neuron: neuron.index,
                id: *id,
                chips: chips.keys().copied().collect(),
                limit: TARGET_CHIPS_PER_NEURON,
            });
        }
        let entries = chips.into_iter().map(|(target_chip, core_mask)| Sram { target_chip, core_mask }).collect();
        srams.insert(*id, entries);
    }
    // Aliasing.
    for (core, addresses) in heard {
        for (address, origins) in addresses {
            let mut sources = origins.into_values();
            if let (Some(first), Some(second)) = (sources.next(), sources.next()) {
                errors.push(DrcError::ConnectionAliasing { core, address, first, second });
            }
        }
    }
    if errors.is_empty() { Ok(Routing { virtual_ids, input_core_mask, cams, srams }) } else { Err(errors) }
}

fn neuron_source(network: &SpikingNetwork, neuron: NeuronRef, id: NeuronId) -> AliasSource {
    let population = &network.populations[neuron.population];
    AliasSource::Neuron {
        population: population.name.clone(),
        source: population.source.clone(),
        neuron: neuron.index,
        id,
    }
}
