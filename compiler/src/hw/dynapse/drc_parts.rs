//! The parts of design-rule errors: which matrix, where neurons did not fit, what is wrong with a
//! placement, the fan-in breakdown, the two sides of an aliasing conflict, why a graph is not a chain.

use super::address::{ChipId, NeuronId, VirtualId};
use super::network::SourceRef;
use super::synapse::SynapseType;

/// Why a source network is not a chain of Linear and LIF modules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainProblem {
    /// Its output feeds several modules (a skip connection, or a `Residual` block).
    Branch {
        /// The modules it feeds.
        targets: Vec<String>,
    },
    /// It sums the outputs of several modules.
    Merge {
        /// The modules feeding it.
        sources: Vec<String>,
    },
    /// A Linear layer with no LIF population after it.
    TrailingLinear,
    /// A Linear layer right after another one.
    LinearAfterLinear {
        /// The Linear before it.
        previous: String,
    },
    /// Its output reaches neither a module nor the network output.
    DeadEnd,
    /// It is not on the path from the network input to its output.
    Detached,
}

/// The two weight matrices of a population.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WeightMatrix {
    /// `w_in`, from the previous stage.
    Input,
    /// `w_rec`, within the population.
    Recurrent,
}

impl WeightMatrix {
    /// The field name, "w_in" or "w_rec".
    pub fn name(self) -> &'static str {
        match self {
            WeightMatrix::Input => "w_in",
            WeightMatrix::Recurrent => "w_rec",
        }
    }
}

/// Where neurons did not fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapacityScope {
    /// The whole board.
    Board,
    /// The input chip (neurons that receive virtual input).
    InputChip(ChipId),
}

/// Which part of an explicit placement has the wrong length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlacementPart {
    /// The list of populations.
    Populations,
    /// One population's neurons.
    Neurons,
    /// The virtual ids.
    VirtualIds,
}

/// What is wrong with a placed neuron.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlacementProblem {
    /// The id has chip-local address 0, which is reserved.
    ReservedAddress,
    /// Another neuron has the same id.
    Duplicate {
        /// The other neuron's population.
        population: String,
        /// Its index.
        neuron: usize,
    },
    /// The neuron receives virtual input but is not on the input chip.
    OffInputChip {
        /// The input chip.
        input_chip: ChipId,
    },
}

/// What is wrong with an explicit virtual id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VirtualIdProblem {
    /// Virtual id 0 is reserved.
    Reserved,
    /// Another channel has the same id.
    Duplicate {
        /// The other channel.
        channel: usize,
    },
}

/// One line of a fan-in breakdown: connections from one source population of one type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FanInPart {
    /// Source population name, or "input" for virtual inputs.
    pub from: String,
    /// The synapse type.
    pub synapse: SynapseType,
    /// Nonzero weights.
    pub connections: usize,
    /// CAM entries they need.
    pub cams: usize,
}

/// One side of an aliasing conflict.
#[derive(Clone, Debug, PartialEq)]
pub enum AliasSource {
    /// A virtual input.
    Virtual {
        /// Input channel.
        channel: usize,
        /// Its virtual id.
        id: VirtualId,
    },
    /// A hardware neuron.
    Neuron {
        /// Population.
        population: String,
        /// Where it was declared.
        source: SourceRef,
        /// Neuron index in the population.
        neuron: usize,
        /// Hardware id.
        id: NeuronId,
    },
}

impl AliasSource {
    /// Where the source's module was declared (none for a virtual input).
    pub fn source(&self) -> Option<&SourceRef> {
        match self {
            AliasSource::Virtual { .. } => None,
            AliasSource::Neuron { source, .. } => Some(source),
        }
    }
}
