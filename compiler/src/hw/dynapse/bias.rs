//! The 25 shared biases of a Dynap-SE1 core, and their (coarse, fine) values.
//!
//! Names and addresses are libcaer's (`dynapse.h`, core 0). Every neuron of a core shares these;
//! the only per-neuron choice is the leak, IF_TAU1_N or IF_TAU2_N.

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::board::{BIASES_PER_CORE, MAX_COARSE};

macro_rules! bias_names {
    ($($variant:ident = $name:literal, $address:literal, $role:literal;)*) => {
        /// One of the 25 per-core biases, in address order.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum BiasName {
            $(#[doc = $role] $variant,)*
        }

        impl BiasName {
            /// All 25, in address order.
            pub const ALL: [BiasName; BIASES_PER_CORE] = [$(BiasName::$variant,)*];

            /// The name libcaer, ctxctl and Rockpool use, e.g. "IF_TAU1_N".
            pub fn name(self) -> &'static str {
                match self { $(BiasName::$variant => $name,)* }
            }

            /// The bias address on core 0 (libcaer `dynapse.h`).
            pub fn address(self) -> u8 {
                match self { $(BiasName::$variant => $address,)* }
            }

            /// What the bias does, in a few words.
            pub fn role(self) -> &'static str {
                match self { $(BiasName::$variant => $role,)* }
            }

            /// The bias with this name, if there is one.
            pub fn from_name(name: &str) -> Option<BiasName> {
                match name { $($name => Some(BiasName::$variant),)* _ => None }
            }
        }
    };
}

bias_names! {
    PulsePwlkP = "PULSE_PWLK_P", 0, "Width of the pulse a spike sends into the synapses.";
    PsWeightInhSN = "PS_WEIGHT_INH_S_N", 2, "Base weight of SLOW_INH synapses.";
    PsWeightInhFN = "PS_WEIGHT_INH_F_N", 4, "Base weight of FAST_INH synapses.";
    PsWeightExcSN = "PS_WEIGHT_EXC_S_N", 6, "Base weight of SLOW_EXC synapses.";
    PsWeightExcFN = "PS_WEIGHT_EXC_F_N", 8, "Base weight of FAST_EXC synapses.";
    IfRfrN = "IF_RFR_N", 10, "Refractory period.";
    IfTau1N = "IF_TAU1_N", 12, "Membrane leak 1 (default for every neuron).";
    IfAhtauN = "IF_AHTAU_N", 14, "Adaptation (AHP) leak.";
    IfCascN = "IF_CASC_N", 16, "Cascode (no role in reef's model).";
    IfTau2N = "IF_TAU2_N", 18, "Membrane leak 2 (per-neuron selectable).";
    IfBufP = "IF_BUF_P", 20, "Buffer (no role in reef's model).";
    IfAhthrN = "IF_AHTHR_N", 22, "Adaptation (AHP) gain.";
    IfThrN = "IF_THR_N", 24, "Membrane gain (reef encodes the spike threshold in it).";
    NpdpieThrSP = "NPDPIE_THR_S_P", 26, "DPI gain of SLOW_EXC.";
    NpdpieThrFP = "NPDPIE_THR_F_P", 28, "DPI gain of FAST_EXC.";
    NpdpiiThrFP = "NPDPII_THR_F_P", 30, "DPI gain of FAST_INH.";
    NpdpiiThrSP = "NPDPII_THR_S_P", 32, "DPI gain of SLOW_INH.";
    IfNmdaN = "IF_NMDA_N", 34, "NMDA gating threshold.";
    IfDcP = "IF_DC_P", 36, "Constant input current (the LIF bias).";
    IfAhwP = "IF_AHW_P", 38, "Adaptation (AHP) weight.";
    NpdpiiTauSP = "NPDPII_TAU_S_P", 40, "DPI time constant of SLOW_INH.";
    NpdpiiTauFP = "NPDPII_TAU_F_P", 42, "DPI time constant of FAST_INH.";
    NpdpieTauFP = "NPDPIE_TAU_F_P", 44, "DPI time constant of FAST_EXC.";
    NpdpieTauSP = "NPDPIE_TAU_S_P", 46, "DPI time constant of SLOW_EXC.";
    R2rP = "R2R_P", 48, "Bias-generator reference (no role in reef's model).";
}

impl BiasName {
    /// Position in [`BiasName::ALL`].
    pub fn index(self) -> usize {
        usize::from(self.address() / 2)
    }
}

/// A bias setting: coarse 0..=7 selects a full-scale current, fine 0..=255 a fraction of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawBiasValue", into = "RawBiasValue")]
pub struct BiasValue {
    coarse: u8,
    fine: u8,
}

/// The JSON form of a [`BiasValue`], checked on the way in.
#[derive(Serialize, Deserialize)]
struct RawBiasValue {
    coarse: u8,
    fine: u8,
}

/// A coarse value above 7.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoarseOutOfRange(pub u8);

impl std::fmt::Display for CoarseOutOfRange {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "coarse value {} is out of range (0..={MAX_COARSE})", self.0)
    }
}

impl BiasValue {
    /// Zero current: coarse 0, fine 0.
    pub const ZERO: BiasValue = BiasValue { coarse: 0, fine: 0 };

    /// The setting (coarse, fine), if coarse is at most 7.
    pub fn new(coarse: u8, fine: u8) -> Result<BiasValue, CoarseOutOfRange> {
        if coarse > MAX_COARSE {
            return Err(CoarseOutOfRange(coarse));
        }
        Ok(BiasValue { coarse, fine })
    }
    /// The coarse value, 0..=7.
    pub fn coarse(self) -> u8 {
        self.coarse
    }
    /// The fine value, 0..=255.
    pub fn fine(self) -> u8 {
        self.fine
    }
}

impl TryFrom<RawBiasValue> for BiasValue {
    type Error = CoarseOutOfRange;
    fn try_from(raw: RawBiasValue) -> Result<Self, Self::Error> {
        BiasValue::new(raw.coarse, raw.fine)
    }
}

impl From<BiasValue> for RawBiasValue {
    fn from(value: BiasValue) -> RawBiasValue {
        RawBiasValue { coarse: value.coarse, fine: value.fine }
    }
}

/// All 25 biases of one core. In JSON: an object from bias name to `{coarse, fine}`, in address order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CoreBiases {
    values: [BiasValue; BIASES_PER_CORE],
}

impl CoreBiases {
    /// The value of bias `name`.
    pub fn get(&self, name: BiasName) -> BiasValue {
        self.values[name.index()]
    }
    /// Sets bias `name`.
    pub fn set(&mut self, name: BiasName, value: BiasValue) {
        self.values[name.index()] = value;
    }
    /// Every (name, value), in address order.
    pub fn iter(&self) -> impl Iterator<Item = (BiasName, BiasValue)> + '_ {
        BiasName::ALL.iter().map(|name| (*name, self.get(*name)))
    }
}

impl Serialize for CoreBiases {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(BIASES_PER_CORE))?;
        for (name, value) in self.iter() {
            map.serialize_entry(name.name(), &value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for CoreBiases {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(CoreBiasesVisitor)
    }
}

struct CoreBiasesVisitor;

impl<'de> Visitor<'de> for CoreBiasesVisitor {
    type Value = CoreBiases;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("an object with each of the 25 Dynap-SE1 core biases exactly once")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CoreBiases, A::Error> {
        let mut seen = [false; BIASES_PER_CORE];
        let mut biases = CoreBiases::default();
        while let Some(key) = map.next_key::<String>()? {
            let name = BiasName::from_name(&key)
                .ok_or_else(|| de::Error::custom(format!("unknown Dynap-SE1 bias `{key}`")))?;
            if seen[name.index()] {
                return Err(de::Error::custom(format!("bias `{key}` given twice")));
            }
            seen[name.index()] = true;
            biases.set(name, map.next_value()?);
        }
        if let Some(missing) = BiasName::ALL.iter().find(|name| !seen[name.index()]) {
            return Err(de::Error::custom(format!("bias `{}` is missing", missing.name())));
        }
        Ok(biases)
    }
}
