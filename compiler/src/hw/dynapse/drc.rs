//! Design-rule errors: everything that stops a network from becoming a valid Dynap-SE1 config.
//!
//! Each variant is a typed value naming the offending module (its [`SourceRef`]), the neuron and
//! the count (the detail types are in `drc_parts.rs`). Detection happens in the passes;
//! [`DrcError::message`] and [`DrcError::help`] (in `drc_text.rs`) give the words, and
//! [`to_diagnostic`](super::to_diagnostic) (in `diagnostic.rs`) locates them for rendering.

use super::address::{Address, ChipId, CoreId, NeuronId, VirtualId};
use super::bias::BiasName;
pub use super::drc_parts::{
    AliasSource, CapacityScope, ChainProblem, FanInPart, PlacementPart, PlacementProblem, VirtualIdProblem,
    WeightMatrix,
};
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
        /// The largest population involved (on the input chip: the first population).
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
    /// The source network is not a chain input → (Linear →) LIF → … → output.
    NotAChain {
        /// The module where the chain breaks (the input's name if it is the input).
        module: String,
        /// Where it was declared (the network, for the input).
        source: SourceRef,
        /// What breaks it.
        problem: ChainProblem,
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
            DrcError::NotAChain { .. } => "E0720",
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
            | DrcError::NotAChain { source, .. }
            | DrcError::BiasOutOfRange { source, .. } => Some(source),
            DrcError::ConnectionAliasing { first, second, .. } => second.source().or_else(|| first.source()),
        }
    }
}
