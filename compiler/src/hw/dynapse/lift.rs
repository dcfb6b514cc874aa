//! Lifting: a [`Config`] → the network it runs, with integer weights × base weights and each
//! neuron's effective (shared, bias-rounded) parameters.
//!
//! A CAM entry names only a chip-local address, so its source is resolved as the chip does it:
//! the hardware neurons with that address whose SRAM routes to the entry's core, plus the
//! virtual input with that id when the core is in the input core mask. Exactly one must match.
//! Lowering the lifted network with [`LiftedNetwork::lower_options`] gives the same config back
//! (same placement, virtual ids, rule, current model, and the config's base weights), provided
//! the config came from `lower` and nothing was pruned by rounding from an input neuron.

use std::collections::BTreeMap;

use super::address::{Address, ChipId, CoreId, NeuronId, VirtualId};
use super::board::FPGA_TICK;
use super::check::step_timing;
use super::config::{CONFIG_FORMAT, Config, NeuronConfig};
use super::current::CurrentModel;
use super::effective::CoreEffective;
use super::network::{Matrix, Population, SourceRef, SpikingNetwork};
use super::options::{CoreBaseWeights, LowerOptions, Placement, Quantisation};
use super::synapse::{SynapseRule, SynapseType};

/// A network read back from a config.
#[derive(Clone, Debug, PartialEq)]
pub struct LiftedNetwork {
    /// The network: weights = signed count × base weight, effective per-neuron parameters.
    pub network: SpikingNetwork,
    /// Per population, the signed connection counts behind `w_in` and `w_rec`.
    pub counts: Vec<LiftedCounts>,
    /// Where each neuron and input was.
    pub placement: Placement,
    /// The effective base weight of each used (core, type).
    pub base_weights: Vec<CoreBaseWeights>,
    /// The input chip.
    pub input_chip: ChipId,
    /// The synapse rule recorded in the config.
    pub synapse_rule: SynapseRule,
    /// The current model recorded in the config.
    pub current_model: CurrentModel,
}

/// Signed connection counts (positive: excitatory) of one population, row = pre.
#[derive(Clone, Debug, PartialEq)]
pub struct LiftedCounts {
    /// From the previous stage.
    pub w_in: CountMatrix,
    /// Within the population.
    pub w_rec: CountMatrix,
}

/// A dense row-major matrix of signed counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountMatrix {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// `rows * cols` counts.
    pub data: Vec<i64>,
}

impl CountMatrix {
    fn zeros(rows: usize, cols: usize) -> CountMatrix {
        CountMatrix { rows, cols, data: vec![0; rows * cols] }
    }
    /// The count at (`row`, `col`); 0 outside.
    pub fn get(&self, row: usize, col: usize) -> i64 {
        if row < self.rows && col < self.cols { self.data.get(row * self.cols + col).copied().unwrap_or(0) } else { 0 }
    }
}

/// Why a config could not be lifted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LiftError {
    /// The `format` tag is not [`CONFIG_FORMAT`].
    Format {
        /// The tag found.
        found: String,
    },
    /// A neuron is listed twice (in `neurons` or across populations).
    DuplicateNeuron {
        /// Its id.
        id: NeuronId,
    },
    /// A neuron of a population has no `neurons` entry, or the reverse.
    UnmatchedNeuron {
        /// Its id.
        id: NeuronId,
    },
    /// A neuron's core has no entry in `cores`.
    MissingCore {
        /// The core.
        core: CoreId,
    },
    /// A CAM entry matches no source.
    UnresolvedCam {
        /// The receiving neuron.
        neuron: NeuronId,
        /// The entry's address.
        address: Address,
    },
    /// A CAM entry matches more than one source (aliasing).
    AmbiguousCam {
        /// The receiving neuron.
        neuron: NeuronId,
        /// The entry's address.
        address: Address,
    },
    /// Input channels are not numbered 0, 1, … in order, or two share a virtual id.
    InputChannels,
    /// The timing is not one that lowering produces (see [`step_timing`](super::step_timing)).
    Timing {
        /// The ISI base found, in ticks.
        isi_base_ticks: u64,
        /// ISI units per step found.
        isi_per_step: u64,
    },
    /// A connection that is neither from the previous stage nor recurrent.
    NotAChain {
        /// The receiving neuron.
        neuron: NeuronId,
        /// The entry's address.
        address: Address,
    },
}

impl std::fmt::Display for LiftError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LiftError::Format { found } => write!(formatter, "config format `{found}` is not `{CONFIG_FORMAT}`"),
            LiftError::DuplicateNeuron { id } => write!(formatter, "neuron {id} is listed twice"),
            LiftError::UnmatchedNeuron { id } => {
                write!(formatter, "neuron {id} is not both in a population and in `neurons`")
            }
            LiftError::InputChannels => {
                write!(formatter, "input channels must be numbered 0, 1, … in order, each with its own virtual id")
            }
            LiftError::Timing { isi_base_ticks, isi_per_step } => write!(
                formatter,
                "timing of {isi_per_step} x {isi_base_ticks} ticks per step is not a valid Dynap-SE1 time step"
            ),
            LiftError::MissingCore { core } => write!(formatter, "{core} holds neurons but has no biases"),
            LiftError::UnresolvedCam { neuron, address } => {
                write!(
                    formatter,
                    "a CAM of neuron {neuron} listens to address {} but no source sends it there",
                    address.index()
                )
            }
            LiftError::AmbiguousCam { neuron, address } => {
                write!(
                    formatter,
                    "a CAM of neuron {neuron} listens to address {}, which several sources send (aliasing)",
                    address.index()
                )
            }
            LiftError::NotAChain { neuron, address } => write!(
                formatter,
                "neuron {neuron} receives from address {}, which is neither the previous population nor its own",
                address.index()
            ),
        }
    }
}

impl std::error::Error for LiftError {}

/// Where a CAM entry's events come from: an input channel, or (population, index).
enum Origin {
    Channel(usize),
    Neuron(usize, usize),
}

/// Reads `config` back into a network (see the module doc).
pub fn lift(config: &Config) -> Result<LiftedNetwork, LiftError> {
    if config.format != CONFIG_FORMAT {
        return Err(LiftError::Format { found: config.format.clone() });
    }
    let model = &config.current_model;
    let timing = &config.timing;
    let dt = timing.isi_base_ticks.saturating_mul(timing.isi_per_step) as f64 * FPGA_TICK;
    let valid = step_timing(dt).is_some_and(|realised| {
        (realised.isi_base_ticks, realised.isi_per_step) == (timing.isi_base_ticks, timing.isi_per_step)
    });
    if !valid {
        return Err(LiftError::Timing { isi_base_ticks: timing.isi_base_ticks, isi_per_step: timing.isi_per_step });
    }
    let mut neuron_of: BTreeMap<NeuronId, (usize, usize)> = BTreeMap::new();
    for (population, entry) in config.populations.iter().enumerate() {
        for (index, id) in entry.neurons.iter().enumerate() {
            if neuron_of.insert(*id, (population, index)).is_some() {
                return Err(LiftError::DuplicateNeuron { id: *id });
            }
        }
    }
    let mut configs: BTreeMap<NeuronId, &NeuronConfig> = BTreeMap::new();
    for neuron in &config.neurons {
        if configs.insert(neuron.id, neuron).is_some() {
            return Err(LiftError::DuplicateNeuron { id: neuron.id });
        }
        if !neuron_of.contains_key(&neuron.id) {
            return Err(LiftError::UnmatchedNeuron { id: neuron.id });
        }
    }
    if let Some(id) = neuron_of.keys().find(|id| !configs.contains_key(id)) {
        return Err(LiftError::UnmatchedNeuron { id: *id });
    }
    let effective: BTreeMap<CoreId, CoreEffective> =
        config.cores.iter().map(|core| (core.core, CoreEffective::from_biases(&core.biases, model))).collect();
    if let Some(id) = neuron_of.keys().find(|id| !effective.contains_key(&id.core())) {
        return Err(LiftError::MissingCore { core: id.core() });
    }
    let virtual_channel: BTreeMap<Address, usize> =
        config.input.channels.iter().map(|channel| (channel.virtual_id.address(), channel.channel)).collect();
    let in_order = config.input.channels.iter().enumerate().all(|(position, channel)| channel.channel == position);
    if !in_order || virtual_channel.len() != config.input.channels.len() {
        return Err(LiftError::InputChannels);
    }
    let mut senders: BTreeMap<Address, Vec<&NeuronConfig>> = BTreeMap::new();
    for neuron in &config.neurons {
        senders.entry(neuron.id.address()).or_default().push(neuron);
    }
    let n_inputs = config.input.channels.len();
    let sizes: Vec<usize> = config.populations.iter().map(|population| population.neurons.len()).collect();
    let mut counts: Vec<LiftedCounts> = sizes
        .iter()
        .enumerate()
        .map(|(population, size)| {
            let previous = if population == 0 { n_inputs } else { sizes[population - 1] };
            LiftedCounts { w_in: CountMatrix::zeros(previous, *size), w_rec: CountMatrix::zeros(*size, *size) }
        })
        .collect();
    let mut weights: Vec<(Matrix, Matrix)> = counts
        .iter()
        .map(|counts| {
            (Matrix::zeros(counts.w_in.rows, counts.w_in.cols), Matrix::zeros(counts.w_rec.rows, counts.w_rec.cols))
        })
        .collect();
    let mut used: BTreeMap<CoreId, [Option<f64>; 4]> = BTreeMap::new();
    for neuron in &config.neurons {
        let core = neuron.id.core();
        let (population, index) = neuron_of[&neuron.id];
        let input_core = core.chip() == config.input.chip && config.input.core_mask.contains(core);
        let base_weights = effective[&core].base_weights;
        for cam in &neuron.cams {
            let mut origins: Vec<Origin> = Vec::new();
            if input_core && let Some(channel) = virtual_channel.get(&cam.source) {
                origins.push(Origin::Channel(*channel));
            }
            for sender in senders.get(&cam.source).map_or(&[][..], Vec::as_slice) {
                let routed =
                    sender.srams.iter().any(|sram| sram.target_chip == core.chip() && sram.core_mask.contains(core));
                if routed {
                    let (source_population, source_index) = neuron_of[&sender.id];
                    origins.push(Origin::Neuron(source_population, source_index));
                }
            }
            let (recurrent, row) = match origins.as_slice() {
                [] => return Err(LiftError::UnresolvedCam { neuron: neuron.id, address: cam.source }),
                [Origin::Channel(channel)] if population == 0 => (false, *channel),
                [Origin::Neuron(source, row)] if *source == population => (true, *row),
                [Origin::Neuron(source, row)] if *source + 1 == population => (false, *row),
                [_] => return Err(LiftError::NotAChain { neuron: neuron.id, address: cam.source }),
                [_, _, ..] => return Err(LiftError::AmbiguousCam { neuron: neuron.id, address: cam.source }),
            };
            let base = base_weights[cam.synapse.index()];
            let (count_matrix, weight_matrix) = if recurrent {
                (&mut counts[population].w_rec, &mut weights[population].1)
            } else {
                (&mut counts[population].w_in, &mut weights[population].0)
            };
            let flat = row * count_matrix.cols + index;
            if let Some(cell) = count_matrix.data.get_mut(flat) {
                *cell += if cam.synapse.is_excitatory() { 1 } else { -1 };
            }
            let current = weight_matrix.get(row, index);
            weight_matrix.set(row, index, current + cam.synapse.sign() * base);
            used.entry(core).or_default()[cam.synapse.index()] = Some(base);
        }
    }
    let mut network = SpikingNetwork { n_inputs, dt, populations: Vec::new(), unsupported: Vec::new() };
    for ((entry, population_counts), (w_in, w_rec)) in config.populations.iter().zip(&counts).zip(weights) {
        let size = entry.neurons.len();
        let (mut tau_mem, mut tau_syn, mut threshold, mut bias) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for id in &entry.neurons {
            let core = &effective[&id.core()];
            let (tau, theta) = core.membrane(configs[id].tau2);
            tau_mem.push(tau);
            tau_syn.push(core.tau_syn[SynapseType::FastExc.index()]);
            threshold.push(theta);
            bias.push(core.bias);
        }
        let has_recurrent = population_counts.w_rec.data.iter().any(|count| *count != 0);
        network.populations.push(Population {
            name: entry.name.clone(),
            source: SourceRef { module: entry.name.clone(), span: (0, 0) },
            size,
            w_in,
            w_rec: has_recurrent.then_some(w_rec),
            tau_mem,
            tau_syn,
            threshold,
            bias,
        });
    }
    let placement = Placement {
        neurons: config.populations.iter().map(|population| population.neurons.clone()).collect(),
        virtual_ids: Some(config.input.channels.iter().map(|channel| channel.virtual_id).collect::<Vec<VirtualId>>()),
    };
    let base_weights = used.into_iter().map(|(core, weights)| CoreBaseWeights { core, weights }).collect();
    Ok(LiftedNetwork {
        network,
        counts,
        placement,
        base_weights,
        input_chip: config.input.chip,
        synapse_rule: config.synapse_rule,
        current_model: config.current_model,
    })
}

impl LiftedNetwork {
    /// Options that lower [`LiftedNetwork::network`] back to the config it was lifted from.
    pub fn lower_options(&self) -> LowerOptions {
        LowerOptions {
            input_chip: self.input_chip.index(),
            synapse_rule: self.synapse_rule,
            quantisation: Quantisation::BaseWeights(self.base_weights.clone()),
            prune: false,
            placement: Some(self.placement.clone()),
            clamp_biases: false,
            current_model: self.current_model,
        }
    }
}
