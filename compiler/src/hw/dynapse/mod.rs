//! Dynap-SE1 lowering: a chain of LIF populations → a board configuration (JSON) and a report.
//!
//! The central call is [`lower`]: a [`SpikingNetwork`] and [`LowerOptions`] in, a [`Lowered`]
//! (holding the [`Config`]) or every [`DrcError`] out. [`extract`] builds the network from reef's
//! graph IR and parameter values, [`to_diagnostic`] locates an error in the `.net` source,
//! [`report`] prints the resources used and the errors of quantisation and parameter sharing,
//! [`lift`] reads a config back into a network and [`embed`] writes that network into the graph's
//! parameters (for simulating the hardware-constrained network with reef's interpreter).
//!
//! ```ignore
//! use reef_compiler::hw::dynapse::{extract, lower, report, LowerOptions};
//! let network = extract(&graph, |name| values(name))?;       // Err(Vec<DrcError>) if not a chain
//! let lowered = lower(&network, &LowerOptions::default())?;   // Err(Vec<DrcError>) on violations
//! let json = lowered.config.to_json()?;                       // stable order, snapshot-friendly
//! println!("{}", report(&lowered));
//! ```
//! (The same flow runs as the test `tests::flow::module_doc_flow`; extraction in `tests::extraction`.)
//!
//! The pipeline, one file per stage (the order of `lower.rs`), after `extract`:
//! `check` (shapes, dt, unsupported modules) → `place` (+ `cluster`: neurons onto cores by
//! parameters) → `connections` (synapse types by [`SynapseRule`]) → `quantize` (counts × base
//! weights within 64 CAMs) → `route` (virtual ids, CAM, SRAM, fan-out, aliasing) and `share` +
//! `tune` (per-core biases through the [`CurrentModel`] and `biasgen`) → `config`.
//! `board.rs` holds every chip limit; `validate.rs` is Rockpool's raw-matrix validator.
//!
//! Time: the chip's neurons run in continuous time; the network's dt is the grid input events sit
//! on, timed by the FPGA as whole units of its ISI base (≤ 65536 ticks of 11.11 ns ≈ 728 µs), so
//! dt = 1 ms is 2 units of 500 µs (see [`step_timing`]).
//!
//! Not modelled: mismatch between neurons, the bias flags (N/P type, cascode, high/low range),
//! the 6 per-chip global biases, SRAM routing hops (dx, dy, sx, sy) and virtual core ids,
//! adaptation, NMDA gating, event batching (ISI overflow, dummy events, 65535 events per batch),
//! and the analog dynamics themselves (the comparison simulates reef's LIF with the chip's values).

mod address;
mod bias;
mod biasgen;
pub mod board;
mod check;
mod cluster;
mod config;
mod connections;
mod current;
mod diagnostic;
mod drc;
mod drc_parts;
mod drc_text;
mod effective;
mod embed;
mod extract;
mod lift;
mod lower;
mod network;
mod options;
mod place;
mod quantize;
mod report;
mod route;
mod share;
mod synapse;
mod tune;
mod validate;

#[cfg(test)]
mod tests;

pub use address::{Address, AddressOutOfRange, ChipId, CoreId, CoreMask, NeuronId, VirtualId};
pub use bias::{BiasName, BiasValue, CoarseOutOfRange, CoreBiases};
pub use biasgen::{Encoded, bias_current, encode_current};
pub use check::step_timing;
pub use config::{
    BaseWeights, CONFIG_FORMAT, Cam, Config, CoreConfig, InputChannel, InputConfig, NeuronConfig, PopulationConfig,
    Sram, Timing,
};
pub use current::{CurrentModel, Leak};
pub use diagnostic::to_diagnostic;
pub use drc::{
    AliasSource, CapacityScope, ChainProblem, DrcError, FanInPart, PlacementPart, PlacementProblem, VirtualIdProblem,
    WeightMatrix,
};
pub use effective::CoreEffective;
pub use embed::{EmbedError, embed};
pub use extract::extract;
pub use lift::{CountMatrix, LiftError, LiftedCounts, LiftedNetwork, lift};
pub use lower::{CoreSummary, DtSummary, Lowered, QuantisationSummary, WeightError, lower};
pub use network::{Matrix, Population, SourceRef, SpikingNetwork, Unsupported};
pub use options::{CoreBaseWeights, LowerOptions, Placement, PlacementFileError, Quantisation};
pub use quantize::{PruneReason, PrunedConnection};
pub use report::report;
pub use share::ParameterSharing;
pub use synapse::{SourceKind, SourceSpeeds, Speed, SpeedPair, SynapseRule, SynapseType};
pub use tune::BiasChoice;
pub use validate::{
    SparseMatrix, SparseMatrixError, ValidationFlags, validate_connections, validate_dense_connections,
};
