//! The output: a Dynap-SE1 configuration, serialised to JSON with a stable field order.
//!
//! Everything is a `Vec` or a struct (no hash maps), sorted by hardware id, so equal configs
//! give byte-equal JSON. The hardware state is: per used core its 25 biases; per used neuron
//! its CAM entries (in CAM order; unlisted CAMs stay empty), its SRAM entries (slots 1.. in order;
//! slot 0 stays with monitoring) and its TAU2 choice; and the input routing. The rest
//! (population names, index → id, base weights, the rule and current model used) is metadata
//! for mapping back (`lift`). Metadata floats are derived from bias codes and rounded to 12
//! significant digits, so that JSON → `Config` is exact with serde_json's default float parser.

use serde::{Deserialize, Serialize};

use super::address::{Address, ChipId, CoreId, CoreMask, NeuronId, VirtualId};
use super::bias::CoreBiases;
use super::current::CurrentModel;
use super::synapse::{SynapseRule, SynapseType};

/// The `format` tag of configs this version writes and reads.
pub const CONFIG_FORMAT: &str = "reef-dynapse-se1/1";

/// A complete Dynap-SE1 configuration for one network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Always [`CONFIG_FORMAT`].
    pub format: String,
    /// The time step.
    pub timing: Timing,
    /// How synapse types were chosen (metadata).
    pub synapse_rule: SynapseRule,
    /// The current model the biases were computed with (metadata).
    pub current_model: CurrentModel,
    /// Input routing.
    pub input: InputConfig,
    /// Used cores, in (chip, core) order.
    pub cores: Vec<CoreConfig>,
    /// Used neurons, in id order.
    pub neurons: Vec<NeuronConfig>,
    /// Populations in chain order, with their neurons' ids (metadata).
    pub populations: Vec<PopulationConfig>,
}

/// The time step as the FPGA runs it: `isi_per_step` units of the ISI base (see
/// [`step_timing`](super::step_timing)).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timing {
    /// The ISI base, the unit input-event gaps are counted in, in FPGA ticks of 11.11 ns
    /// (Rockpool's `isi_multiplier`).
    pub isi_base_ticks: u64,
    /// ISI-base units in one network time step.
    pub isi_per_step: u64,
    /// The network time step, `isi_per_step · isi_base_ticks` × 11.11 ns, in seconds (metadata).
    pub dt: f64,
}

/// Where input events go.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    /// The chip input events are sent to.
    pub chip: ChipId,
    /// The cores on it they are broadcast to.
    pub core_mask: CoreMask,
    /// Input channel → virtual id, in channel order.
    pub channels: Vec<InputChannel>,
}

/// One input channel's virtual neuron.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputChannel {
    /// Network input channel.
    pub channel: usize,
    /// Its virtual id.
    pub virtual_id: VirtualId,
}

/// One used core.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoreConfig {
    /// Which core.
    pub core: CoreId,
    /// Its 25 biases.
    pub biases: CoreBiases,
    /// The effective base weight of each synapse type, in membrane units per connection (metadata).
    pub base_weights: BaseWeights,
}

/// Base weight per synapse type; 0 for a type the core does not use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseWeights {
    /// FAST_EXC.
    pub fast_exc: f64,
    /// SLOW_EXC.
    pub slow_exc: f64,
    /// FAST_INH.
    pub fast_inh: f64,
    /// SLOW_INH.
    pub slow_inh: f64,
}

impl BaseWeights {
    /// From an array indexed by [`SynapseType::index`].
    pub fn from_array(weights: [f64; 4]) -> BaseWeights {
        BaseWeights { fast_exc: weights[0], slow_exc: weights[1], fast_inh: weights[2], slow_inh: weights[3] }
    }
    /// The base weight of `synapse`.
    pub fn get(&self, synapse: SynapseType) -> f64 {
        match synapse {
            SynapseType::FastExc => self.fast_exc,
            SynapseType::SlowExc => self.slow_exc,
            SynapseType::FastInh => self.fast_inh,
            SynapseType::SlowInh => self.slow_inh,
        }
    }
}

/// One used neuron.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeuronConfig {
    /// Global id.
    pub id: NeuronId,
    /// Its population (metadata).
    pub population: String,
    /// Its index in the population (metadata).
    pub index: usize,
    /// Whether it leaks through IF_TAU2_N instead of IF_TAU1_N.
    pub tau2: bool,
    /// CAM entries 0.., the rest empty.
    pub cams: Vec<Cam>,
    /// SRAM entries 1.. (0 is for monitoring).
    pub srams: Vec<Sram>,
}

/// One CAM entry: events with this chip-local source address excite or inhibit through this type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cam {
    /// Chip-local address of the source (a virtual id for input).
    pub source: Address,
    /// The synapse type.
    pub synapse: SynapseType,
}

/// One SRAM entry: send this neuron's events to these cores of this chip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sram {
    /// Target chip.
    pub target_chip: ChipId,
    /// Target cores on it.
    pub core_mask: CoreMask,
}

/// A population and where its neurons went.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PopulationConfig {
    /// Module path.
    pub name: String,
    /// Global id of each neuron, by index.
    pub neurons: Vec<NeuronId>,
}

impl Config {
    /// Pretty JSON, fields in declaration order.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }

    /// Reads a config from JSON (ids, masks and bias codes are range-checked on the way in).
    pub fn from_json(text: &str) -> Result<Config, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// `value` rounded to 12 significant digits (for metadata floats; see the module doc).
pub(crate) fn metadata_float(value: f64) -> f64 {
    if value == 0.0 || !value.is_finite() {
        return if value.is_finite() { 0.0 } else { value };
    }
    format!("{value:.11e}").parse().unwrap_or(value)
}
