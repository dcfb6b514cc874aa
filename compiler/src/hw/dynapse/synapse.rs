//! The four Dynap-SE1 synapse types and the rule that picks one for each connection.
//!
//! A CAM entry names its source and one of four synapse types. Each core has one DPI synapse
//! circuit per type (its own time constant, gain and base weight). The sign of a trained weight
//! picks excitatory or inhibitory; the rule below picks fast or slow.

use serde::{Deserialize, Serialize};

use super::bias::BiasName;

/// A CAM synapse type: speed × sign. Names as in Rockpool (`CAMTYPES`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SynapseType {
    /// Fast excitatory (libcaer code 3; "AMPA" in Rockpool's simulator).
    FastExc,
    /// Slow excitatory (libcaer code 2; "NMDA").
    SlowExc,
    /// Fast inhibitory (libcaer code 1).
    FastInh,
    /// Slow inhibitory (libcaer code 0; also what a cleared CAM holds).
    SlowInh,
}

impl SynapseType {
    /// All four, in Rockpool's order.
    pub const ALL: [SynapseType; 4] =
        [SynapseType::FastExc, SynapseType::SlowExc, SynapseType::FastInh, SynapseType::SlowInh];

    /// The type of this speed and sign.
    pub fn new(speed: Speed, excitatory: bool) -> SynapseType {
        match (speed, excitatory) {
            (Speed::Fast, true) => SynapseType::FastExc,
            (Speed::Slow, true) => SynapseType::SlowExc,
            (Speed::Fast, false) => SynapseType::FastInh,
            (Speed::Slow, false) => SynapseType::SlowInh,
        }
    }

    /// Whether a connection of this type adds to the membrane (else it subtracts).
    pub fn is_excitatory(self) -> bool {
        match self {
            SynapseType::FastExc | SynapseType::SlowExc => true,
            SynapseType::FastInh | SynapseType::SlowInh => false,
        }
    }

    /// +1 for excitatory, -1 for inhibitory.
    pub fn sign(self) -> f64 {
        if self.is_excitatory() { 1.0 } else { -1.0 }
    }

    /// The type's name as Rockpool and the JSON config spell it.
    pub fn name(self) -> &'static str {
        match self {
            SynapseType::FastExc => "FAST_EXC",
            SynapseType::SlowExc => "SLOW_EXC",
            SynapseType::FastInh => "FAST_INH",
            SynapseType::SlowInh => "SLOW_INH",
        }
    }

    /// The 2-bit code libcaer writes into the CAM (`DYNAPSE_CONFIG_CAMTYPE_*`).
    pub fn libcaer_code(self) -> u8 {
        match self {
            SynapseType::FastExc => 3,
            SynapseType::SlowExc => 2,
            SynapseType::FastInh => 1,
            SynapseType::SlowInh => 0,
        }
    }

    /// Position in [`SynapseType::ALL`], for per-type arrays.
    pub fn index(self) -> usize {
        match self {
            SynapseType::FastExc => 0,
            SynapseType::SlowExc => 1,
            SynapseType::FastInh => 2,
            SynapseType::SlowInh => 3,
        }
    }

    /// The core bias that sets this type's base weight.
    pub fn weight_bias(self) -> BiasName {
        match self {
            SynapseType::FastExc => BiasName::PsWeightExcFN,
            SynapseType::SlowExc => BiasName::PsWeightExcSN,
            SynapseType::FastInh => BiasName::PsWeightInhFN,
            SynapseType::SlowInh => BiasName::PsWeightInhSN,
        }
    }

    /// The core bias that sets this type's DPI time constant.
    pub fn tau_bias(self) -> BiasName {
        match self {
            SynapseType::FastExc => BiasName::NpdpieTauFP,
            SynapseType::SlowExc => BiasName::NpdpieTauSP,
            SynapseType::FastInh => BiasName::NpdpiiTauFP,
            SynapseType::SlowInh => BiasName::NpdpiiTauSP,
        }
    }

    /// The core bias that sets this type's DPI gain.
    pub fn gain_bias(self) -> BiasName {
        match self {
            SynapseType::FastExc => BiasName::NpdpieThrFP,
            SynapseType::SlowExc => BiasName::NpdpieThrSP,
            SynapseType::FastInh => BiasName::NpdpiiThrFP,
            SynapseType::SlowInh => BiasName::NpdpiiThrSP,
        }
    }
}

/// Fast or slow synapse circuit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Speed {
    /// The fast circuit (FAST_EXC / FAST_INH).
    Fast,
    /// The slow circuit (SLOW_EXC / SLOW_INH).
    Slow,
}

/// The speeds used for excitatory and for inhibitory connections from one kind of source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SpeedPair {
    /// Speed of positive weights.
    pub excitatory: Speed,
    /// Speed of negative weights.
    pub inhibitory: Speed,
}

/// Where a connection comes from, as far as the synapse rule cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SourceKind {
    /// A virtual (FPGA) input neuron.
    Virtual,
    /// A hardware neuron that itself receives virtual input.
    InputNeuron,
    /// Any other hardware neuron.
    OtherNeuron,
}

/// Speeds by source kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SourceSpeeds {
    /// Connections from virtual inputs.
    pub virtual_inputs: SpeedPair,
    /// Connections from hardware neurons that receive virtual input.
    pub input_neurons: SpeedPair,
    /// Connections from all other hardware neurons.
    pub other_neurons: SpeedPair,
}

/// How synapse types are chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SynapseRule {
    /// Rockpool's `RecDynapSE` rule: virtual inputs and rows of neurons that receive virtual input
    /// use FAST_EXC / FAST_INH, all other neurons SLOW_EXC / FAST_INH. SLOW_INH is never used.
    #[default]
    Rockpool,
    /// Explicit speeds per source kind.
    Custom(SourceSpeeds),
}

const FAST_PAIR: SpeedPair = SpeedPair { excitatory: Speed::Fast, inhibitory: Speed::Fast };
const SLOW_EXC_PAIR: SpeedPair = SpeedPair { excitatory: Speed::Slow, inhibitory: Speed::Fast };

impl SynapseRule {
    /// The rule of Rockpool's `DynapseControl` hardware test: inputs fast, every recurrent
    /// connection SLOW_EXC / FAST_INH whatever its source.
    pub fn inputs_fast_recurrent_slow() -> SynapseRule {
        SynapseRule::Custom(SourceSpeeds {
            virtual_inputs: FAST_PAIR,
            input_neurons: SLOW_EXC_PAIR,
            other_neurons: SLOW_EXC_PAIR,
        })
    }

    /// The speeds this rule gives each source kind.
    pub fn speeds(&self) -> SourceSpeeds {
        match self {
            SynapseRule::Rockpool => {
                SourceSpeeds { virtual_inputs: FAST_PAIR, input_neurons: FAST_PAIR, other_neurons: SLOW_EXC_PAIR }
            }
            SynapseRule::Custom(speeds) => *speeds,
        }
    }

    /// The synapse type of a connection from `kind` with a weight of this sign.
    pub fn synapse_type(&self, kind: SourceKind, excitatory: bool) -> SynapseType {
        let speeds = self.speeds();
        let pair = match kind {
            SourceKind::Virtual => speeds.virtual_inputs,
            SourceKind::InputNeuron => speeds.input_neurons,
            SourceKind::OtherNeuron => speeds.other_neurons,
        };
        let speed = if excitatory { pair.excitatory } else { pair.inhibitory };
        SynapseType::new(speed, excitatory)
    }
}
