//! Design-rule errors: everything that stops a network from becoming a valid Dynap-SE1 config.
//!
//! Each variant is a typed value naming the offending module (its [`SourceRef`]), the neuron and
//! the count. Detection happens in the passes; [`DrcError::message`] and [`DrcError::help`]
//! (in `drc_text.rs`) give the words, and rendering with source snippets happens elsewhere.

use super::address::{Address, ChipId, CoreId, NeuronId, VirtualId};
use super::bias::BiasName;
use super::network::SourceRef;
use super::synapse::SynapseType;

/// A design-rule violation found while lowering.
#[derive(Clone, Debug, PartialEq)]
pub enum DrcError {
    /// The network has no LIF population to lower.
    NoPopulations,
    /// A weight matrix has the wrong shape (or data length).
    ShapeMismatch {
        /// Population the matrix feeds.
        population: String,
        /// Where the population was declared.
        source: SourceRef,
        /// Which matrix.
        matrix: WeightMatrix,
        /// Expected (rows, cols).
        expected: (usize, usize),
        /// Found (rows, cols); for a data-length error, (data length, 1).
        found: (usize, usize),
    },
    /// A per-neuron parameter vector has the wrong length.
    LengthMismatch {
        /// Population.
        population: String,
        /// Where it was declared.
        source: SourceRef,
        /// Parameter name ("tau_mem", …).
        parameter: &'static str,
        /// The population's size.
        expected: usize,
        /// The vector's length.
        found: usize,
    },
    /// A weight or parameter is NaN or infinite.
    NonFinite {
        /// Population.
        population: String,
        /// Where it was declared.
        source: SourceRef,
        /// Which value ("w_in", "tau_mem", …).
        what: &'static str,
        /// Flat index in it.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A time constant or threshold that is not positive.
    InvalidParameter {
        /// Population.
        population: String,
        /// Where it was declared.
        source: SourceRef,
        /// Parameter name.
        parameter: &'static str,
        /// Neuron index in the population.
        neuron: usize,
        /// The value.
        value: f64,
    },
    /// dt is not a whole number of FPGA ticks between the chip's limits.
    DtOutOfRange {
        /// Requested dt, in seconds.
        dt: f64,
        /// Shortest dt.
        min: f64,
        /// Longest dt.
        max: f64,
    },
    /// A module without spikes.
    NonSpikingModule {
        /// Module path.
        module: String,
        /// Its kind ("Rate", "Instant", "ExpSyn").
        kind: String,
        /// Where it was declared.
        source: SourceRef,
    },
    /// A Linear layer with a bias.
    LinearBias {
        /// Module path.
        module: String,
        /// Where it was declared.
        source: SourceRef,
    },
    /// `LowerOptions::input_chip` names a chip the board does not have.
    InvalidInputChip {
        /// The requested chip.
        chip: usize,
    },
    /// More neurons than fit.
    TooManyNeurons {
        /// Where they did not fit.
        scope: CapacityScope,
        /// Neurons that had to fit there.
        requested: usize,
        /// Usable neurons there.
        available: usize,
        /// The populations involved, with their counts.
        populations: Vec<(String, usize)>,
        /// The first population involved.
        source: Option<SourceRef>,
    },
    /// More input channels than free virtual ids.
    TooManyInputs {
        /// Input channels.
        requested: usize,
        /// Virtual ids free of aliasing.
        available: usize,
    },
    /// An explicit placement has the wrong number of entries.
    PlacementShape {
        /// What has the wrong length.
        part: PlacementPart,
        /// Population concerned, if any.
        population: Option<String>,
        /// Where it was declared.
        source: Option<SourceRef>,
        /// Entries needed.
        expected: usize,
        /// Entries given.
        found: usize,
    },
    /// An explicit placement puts a neuron where it cannot go.
    PlacementConflict {
        /// Population.
        population: String,
        /// Where it was declared.
        source: SourceRef,
        /// Neuron index in the population.
        neuron: usize,
        /// The global id it was given.
        id: NeuronId,
        /// What is wrong with it.
        problem: PlacementProblem,
    },
    /// An explicit virtual id that cannot be used.
    VirtualIdConflict {
        /// Input channel.
        channel: usize,
        /// The virtual id it was given.
        id: VirtualId,
        /// What is wrong with it.
        problem: VirtualIdProblem,
    },
    /// A neuron needs more CAM entries than it has.
    FanInExceeded {
        /// Population.
        population: String,
        /// Where it was declared.
        source: SourceRef,
        /// Neuron index in the population.
        neuron: usize,
        /// Its hardware id, once placed.
        id: Option<NeuronId>,
        /// CAM entries needed (at least one per nonzero weight).
        count: usize,
        /// CAM entries available.
        limit: usize,
        /// Where they come from.
        breakdown: Vec<FanInPart>,
    },
    /// A neuron must reach more chips than it has SRAM entries.
    FanOutExceeded {
        /// Population.
        population: String,
        /// Where it was declared.
        source: SourceRef,
        /// Neuron index in the population.
        neuron: usize,
        /// Its hardware id.
        id: NeuronId,
        /// The chips it must reach.
        chips: Vec<ChipId>,
        /// Chips one neuron can reach.
        limit: usize,
    },
    /// Two sources with one chip-local address project onto one core: the core cannot tell them apart.
    ConnectionAliasing {
        /// The receiving core.
        core: CoreId,
        /// The shared chip-local address.
        address: Address,
        /// One source.
        first: AliasSource,
        /// The other.
        second: AliasSource,
    },
    /// `Quantisation::Integer` with a weight that is not an integer.
    NonIntegerWeight {
        /// Population the weight feeds.
        population: String,
        /// Where it was declared.
        source: SourceRef,
        /// Which matrix.
        matrix: WeightMatrix,
        /// Row (pre-synaptic index).
        pre: usize,
        /// Column (post-synaptic index).
        post: usize,
        /// The weight.
        value: f64,
    },
    /// `Quantisation::BaseWeights` lacks the base weight of a (core, type) that carries connections.
    MissingBaseWeight {
        /// The core.
        core: CoreId,
        /// The synapse type.
        synapse: SynapseType,
        /// A population with neurons on the core.
        population: String,
        /// Where it was declared.
        source: SourceRef,
    },
    /// A parameter needs a bias current outside what the bias generator can produce.
    BiasOutOfRange {
        /// The core.
        core: CoreId,
        /// The bias.
        bias: BiasName,
        /// The quantity it sets ("tau_mem", "base weight FAST_EXC", …).
        quantity: String,
        /// Requested value of the quantity.
        requested: f64,
        /// Nearest achievable value.
        nearest: f64,
        /// Requested current, in ampere.
        requested_current: f64,
        /// Nearest achievable current, in ampere.
        nearest_current: f64,
        /// A population with neurons on the core.
        population: String,
        /// Where it was declared.
        source: SourceRef,
    },
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

impl DrcError {
    /// The stable error code, "E07xx".
    pub fn code(&self) -> &'static str {
        match self {
            DrcError::NoPopulations => "E0700",
            DrcError::FanInExceeded { .. } => "E0701",
            DrcError::FanOutExceeded { .. } => "E0702",
            DrcError::ConnectionAliasing { .. } => "E0703",
            DrcError::TooManyNeurons { .. } => "E0704",
            DrcError::TooManyInputs { .. } => "E0705",
            DrcError::PlacementConflict { problem: PlacementProblem::ReservedAddress, .. }
            | DrcError::VirtualIdConflict { problem: VirtualIdProblem::Reserved, .. } => "E0706",
            DrcError::DtOutOfRange { .. } => "E0707",
            DrcError::NonSpikingModule { .. } => "E0708",
            DrcError::LinearBias { .. } => "E0709",
            DrcError::NonIntegerWeight { .. } => "E0710",
            DrcError::BiasOutOfRange { .. } => "E0711",
            DrcError::InvalidParameter { .. } => "E0712",
            DrcError::NonFinite { .. } => "E0713",
            DrcError::ShapeMismatch { .. } | DrcError::LengthMismatch { .. } => "E0714",
            DrcError::PlacementShape { .. } => "E0715",
            DrcError::PlacementConflict { problem: PlacementProblem::Duplicate { .. }, .. }
            | DrcError::VirtualIdConflict { problem: VirtualIdProblem::Duplicate { .. }, .. } => "E0716",
            DrcError::PlacementConflict { problem: PlacementProblem::OffInputChip { .. }, .. } => "E0717",
            DrcError::InvalidInputChip { .. } => "E0718",
            DrcError::MissingBaseWeight { .. } => "E0719",
        }
    }

    /// Where the offending module was declared, if the error has one.
    pub fn source(&self) -> Option<&SourceRef> {
        match self {
            DrcError::NoPopulations
            | DrcError::DtOutOfRange { .. }
            | DrcError::InvalidInputChip { .. }
            | DrcError::TooManyInputs { .. }
            | DrcError::VirtualIdConflict { .. } => None,
            DrcError::TooManyNeurons { source, .. } | DrcError::PlacementShape { source, .. } => source.as_ref(),
            DrcError::ShapeMismatch { source, .. }
            | DrcError::LengthMismatch { source, .. }
            | DrcError::NonFinite { source, .. }
            | DrcError::InvalidParameter { source, .. }
            | DrcError::NonSpikingModule { source, .. }
            | DrcError::LinearBias { source, .. }
            | DrcError::PlacementConflict { source, .. }
            | DrcError::FanInExceeded { source, .. }
            | DrcError::FanOutExceeded { source, .. }
            | DrcError::NonIntegerWeight { source, .. }
            | DrcError::MissingBaseWeight { source, .. }
            | DrcError::BiasOutOfRange { source, .. } => Some(source),
            DrcError::ConnectionAliasing { first, second, .. } => second.source().or_else(|| first.source()),
        }
    }
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
