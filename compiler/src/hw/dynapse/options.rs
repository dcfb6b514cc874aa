//! Choices the caller makes about a lowering.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use super::address::{CoreId, NeuronId, VirtualId};
use super::current::CurrentModel;
use super::network::SpikingNetwork;
use super::synapse::{SynapseRule, SynapseType};

/// How the lowering is done. `LowerOptions::default()` is the usual choice.
#[derive(Clone, Debug, PartialEq)]
pub struct LowerOptions {
    /// The chip the FPGA sends input events to; neurons that receive virtual input live there.
    pub input_chip: usize,
    /// How synapse types are chosen.
    pub synapse_rule: SynapseRule,
    /// How float weights become connection counts.
    pub quantisation: Quantisation,
    /// Allow dropping nonzero weights (rounded to zero, or over the fan-in budget). Every dropped
    /// connection is listed in the report; without this, a needed drop is an error.
    pub prune: bool,
    /// Where each neuron goes; `None` places automatically.
    pub placement: Option<Placement>,
    /// Replace biases that cannot be represented by the nearest achievable value (listed in the
    /// report) instead of failing.
    pub clamp_biases: bool,
    /// The current model for bias conversion.
    pub current_model: CurrentModel,
}

impl Default for LowerOptions {
    fn default() -> LowerOptions {
        LowerOptions {
            input_chip: 0,
            synapse_rule: SynapseRule::Rockpool,
            quantisation: Quantisation::Optimal,
            prune: false,
            placement: None,
            clamp_biases: false,
            current_model: CurrentModel::default(),
        }
    }
}

/// How float weights become integer connection counts × one base weight per (core, synapse type).
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Quantisation {
    /// Search the base weights that minimise the squared weight error within the fan-in budget
    /// (see `quantize.rs`).
    #[default]
    Optimal,
    /// The weights already are connection counts (integers); every base weight is 1.
    /// A non-integer weight is an error.
    Integer,
    /// Use these base weights; counts are `|w| / b` rounded. Every (core, type) that carries a
    /// connection needs a base weight. [`LiftedNetwork::lower_options`](super::LiftedNetwork::lower_options)
    /// uses this to reproduce a config.
    BaseWeights(Vec<CoreBaseWeights>),
}

/// Base weights of one core, per synapse type; `None` for a type the core does not use.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CoreBaseWeights {
    /// The core.
    pub core: CoreId,
    /// Indexed by [`SynapseType::index`].
    pub weights: [Option<f64>; 4],
}

impl CoreBaseWeights {
    /// The base weight of `synapse` on this core.
    pub fn get(&self, synapse: SynapseType) -> Option<f64> {
        self.weights[synapse.index()]
    }
}

/// An explicit placement: which hardware neuron each population neuron becomes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Placement {
    /// Per population (chain order), per neuron: its global id.
    pub neurons: Vec<Vec<NeuronId>>,
    /// Per input channel: its virtual id; `None` allocates them.
    pub virtual_ids: Option<Vec<VirtualId>>,
}

/// A placement file, `{"populations": {"hidden": [1, 2, 3]}, "virtual_ids": [1, 2]}`: every
/// population by name with one global id per neuron; `virtual_ids` (one per input channel) is optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlacementFile {
    populations: BTreeMap<String, Vec<NeuronId>>,
    #[serde(default)]
    virtual_ids: Option<Vec<VirtualId>>,
}

/// Why a placement file cannot be used.
#[derive(Debug)]
pub enum PlacementFileError {
    /// Not valid JSON of the expected form (ids are range-checked here).
    Json(serde_json::Error),
    /// A population of the network is not placed.
    Missing {
        /// Its name.
        population: String,
    },
    /// The file places a population the network does not have.
    Unknown {
        /// Its name.
        population: String,
    },
}

impl fmt::Display for PlacementFileError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlacementFileError::Json(error) => write!(formatter, "{error}"),
            PlacementFileError::Missing { population } => write!(formatter, "population `{population}` is not placed"),
            PlacementFileError::Unknown { population } => {
                write!(formatter, "the network has no population `{population}` to place")
            }
        }
    }
}

impl std::error::Error for PlacementFileError {}

impl Placement {
    /// Reads a placement file (the form above) for `network`'s populations, in chain order.
    pub fn from_json(text: &str, network: &SpikingNetwork) -> Result<Placement, PlacementFileError> {
        let mut file: PlacementFile = serde_json::from_str(text).map_err(PlacementFileError::Json)?;
        let mut neurons = Vec::new();
        for population in &network.populations {
            match file.populations.remove(&population.name) {
                Some(ids) => neurons.push(ids),
                None => return Err(PlacementFileError::Missing { population: population.name.clone() }),
            }
        }
        if let Some(population) = file.populations.into_keys().next() {
            return Err(PlacementFileError::Unknown { population });
        }
        Ok(Placement { neurons, virtual_ids: file.virtual_ids })
    }
}
