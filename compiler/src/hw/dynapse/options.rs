//! Choices the caller makes about a lowering.

use super::address::{CoreId, NeuronId, VirtualId};
use super::current::CurrentModel;
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
    /// (see [`quantize`](super::quantize)).
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
