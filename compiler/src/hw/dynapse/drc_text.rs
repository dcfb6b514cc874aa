//! The words of each design-rule error: a one-line message and an optional hint.

use super::board::{CAMS_PER_NEURON, MAX_DT, MIN_DT, TARGET_CHIPS_PER_NEURON};
use super::drc::{
    AliasSource, CapacityScope, ChainProblem, DrcError, PlacementPart, PlacementProblem, VirtualIdProblem,
};

impl DrcError {
    /// One line saying what is wrong, with the names and counts involved.
    pub fn message(&self) -> String {
        match self {
            DrcError::NoPopulations => "the network has no LIF population to put on Dynap-SE1".to_string(),
            DrcError::ShapeMismatch { population, matrix, expected, found, .. } => format!(
                "`{population}.{}` is {}×{}, expected {}×{}",
                matrix.name(),
                found.0,
                found.1,
                expected.0,
                expected.1
            ),
            DrcError::LengthMismatch { population, parameter, expected, found, .. } => {
                format!("`{population}.{parameter}` has {found} values for {expected} neurons")
            }
            DrcError::NonFinite { population, what, index, value, .. } => {
                format!("`{population}.{what}` holds {value} at index {index}")
            }
            DrcError::InvalidParameter { population, parameter, neuron, value, .. } => {
                format!("`{population}.{parameter}` of neuron {neuron} is {value}; Dynap-SE1 needs it positive")
            }
            DrcError::DtOutOfRange { dt, min, max } => {
                format!("dt = {dt:e} s is outside what the FPGA can time ({min:.4e} s to {max:.4e} s)")
            }
            DrcError::NonSpikingModule { module, kind, .. } => {
                format!("`{module}` is a {kind} module; Dynap-SE1 runs only spiking LIF neurons")
            }
            DrcError::LinearBias { module, .. } => {
                format!("`{module}` has a bias; Dynap-SE1 connections carry no bias")
            }
            DrcError::InvalidInputChip { chip } => {
                format!("input chip {chip} does not exist (the board has chips 0 to 3)")
            }
            DrcError::TooManyNeurons { scope, requested, available, .. } => match scope {
                CapacityScope::Board => {
                    format!("{requested} neurons do not fit on the board ({available} usable)")
                }
                CapacityScope::InputChip(chip) => format!(
                    "{requested} neurons receive virtual input but input chip {} has {available} usable",
                    chip.index()
                ),
            },
            DrcError::TooManyInputs { requested, available } => {
                format!("{requested} input channels need virtual ids but only {available} are free of aliasing")
            }
            DrcError::PlacementShape { part, population, expected, found, .. } => match part {
                PlacementPart::Populations => {
                    format!("the placement lists {found} populations, the network has {expected}")
                }
                PlacementPart::Neurons => format!(
                    "the placement of `{}` lists {found} neurons, the population has {expected}",
                    population.as_deref().unwrap_or("?")
                ),
                PlacementPart::VirtualIds => {
                    format!("the placement lists {found} virtual ids, the network has {expected} inputs")
                }
            },
            DrcError::PlacementConflict { population, neuron, id, problem, .. } => match problem {
                PlacementProblem::ReservedAddress => {
                    format!("`{population}[{neuron}]` is placed on neuron {id}, whose chip-local address 0 is reserved")
                }
                PlacementProblem::Duplicate { population: other, neuron: other_neuron } => {
                    format!("`{population}[{neuron}]` and `{other}[{other_neuron}]` are both placed on neuron {id}")
                }
                PlacementProblem::OffInputChip { input_chip } => format!(
                    "`{population}[{neuron}]` receives virtual input but is placed on neuron {id}, not on input chip {}",
                    input_chip.index()
                ),
            },
            DrcError::VirtualIdConflict { channel, id, problem } => match problem {
                VirtualIdProblem::Reserved => format!("input channel {channel} is given the reserved virtual id 0"),
                VirtualIdProblem::Duplicate { channel: other } => {
                    format!("input channels {other} and {channel} are both given virtual id {}", id.index())
                }
            },
            DrcError::FanInExceeded { population, neuron, count, limit, .. } => {
                format!("`{population}[{neuron}]` needs {count} CAM entries (fan-in), the chip has {limit}")
            }
            DrcError::FanOutExceeded { population, neuron, chips, limit, .. } => format!(
                "`{population}[{neuron}]` projects to {} chips ({}), a neuron reaches at most {limit}",
                chips.len(),
                chips.iter().map(|chip| chip.index().to_string()).collect::<Vec<_>>().join(", ")
            ),
            DrcError::ConnectionAliasing { core, address, first, second } => format!(
                "{} and {} both have chip-local address {} and both project to {core}",
                describe(first),
                describe(second),
                address.index()
            ),
            DrcError::NonIntegerWeight { population, matrix, pre, post, value, .. } => format!(
                "`{population}.{}[{pre}, {post}]` = {value} is not a whole number of connections",
                matrix.name()
            ),
            DrcError::MissingBaseWeight { core, synapse, .. } => {
                format!("no base weight given for {} on {core}", synapse.name())
            }
            DrcError::NotAChain { module, problem, .. } => match problem {
                ChainProblem::Branch { targets } => {
                    format!(
                        "`{module}` feeds {} modules ({}); Dynap-SE1 lowering takes a chain",
                        targets.len(),
                        quoted(targets)
                    )
                }
                ChainProblem::Merge { sources } => {
                    format!(
                        "`{module}` sums {} inputs ({}); Dynap-SE1 lowering takes a chain",
                        sources.len(),
                        quoted(sources)
                    )
                }
                ChainProblem::TrailingLinear => {
                    format!("`{module}` is not followed by a LIF population, so its weights feed no neuron")
                }
                ChainProblem::LinearAfterLinear { previous } => {
                    format!(
                        "`{module}` follows the Linear `{previous}` directly; each Linear must feed a LIF population"
                    )
                }
                ChainProblem::DeadEnd => format!("the output of `{module}` goes nowhere"),
                ChainProblem::Detached => format!("`{module}` is not on the path from the input to the output"),
            },
            DrcError::BiasOutOfRange { core, bias, quantity, requested, nearest, .. } => format!(
                "{quantity} = {requested:.4e} on {core} needs {} outside the bias generator's range (nearest: {nearest:.4e})",
                bias.name()
            ),
        }
    }

    /// A hint on how to fix it, if there is a useful one.
    pub fn help(&self) -> Option<String> {
        match self {
            DrcError::NoPopulations => Some("add a LIF population".to_string()),
            DrcError::ShapeMismatch { .. }
            | DrcError::LengthMismatch { .. }
            | DrcError::NonFinite { .. }
            | DrcError::InvalidInputChip { .. } => None,
            DrcError::InvalidParameter { .. } => {
                Some("time constants and thresholds become bias currents, which must be positive".to_string())
            }
            DrcError::DtOutOfRange { .. } => Some(format!(
                "choose dt between {MIN_DT:.4e} s and {MAX_DT:.4e} s; the FPGA times it in whole 11.11 ns ticks"
            )),
            DrcError::NonSpikingModule { .. } => Some("replace it with a LIF population".to_string()),
            DrcError::LinearBias { .. } => {
                Some("remove the bias, or move it into the next LIF population's `bias`".to_string())
            }
            DrcError::TooManyNeurons { scope, .. } => Some(match scope {
                CapacityScope::Board => {
                    "each chip has 1023 usable neurons (address 0 is reserved); shrink the network".to_string()
                }
                CapacityScope::InputChip(_) => {
                    "fewer neurons should receive input directly; add a small input population".to_string()
                }
            }),
            DrcError::TooManyInputs { .. } => Some(
                "virtual ids must not equal the address of a neuron projecting to an input core; use fewer inputs"
                    .to_string(),
            ),
            DrcError::PlacementShape { .. } => Some("give one global id per neuron of every population".to_string()),
            DrcError::PlacementConflict { problem, .. } => Some(match problem {
                PlacementProblem::ReservedAddress => "do not use ids 0, 1024, 2048 or 3072".to_string(),
                PlacementProblem::Duplicate { .. } => "give every neuron its own id".to_string(),
                PlacementProblem::OffInputChip { input_chip } => format!(
                    "place it on ids {} to {}, or change `input_chip`",
                    input_chip.index() * 1024 + 1,
                    input_chip.index() * 1024 + 1023
                ),
            }),
            DrcError::VirtualIdConflict { .. } => Some("use distinct virtual ids from 1 to 1023".to_string()),
            DrcError::FanInExceeded { breakdown, .. } => {
                let parts: Vec<String> = breakdown
                    .iter()
                    .map(|part| {
                        format!("{} from `{}` ({} weights)", part.cams, part.from, part.connections)
                            + &format!(" as {}", part.synapse.name())
                    })
                    .collect();
                Some(format!(
                    "CAM entries: {}; each nonzero weight needs at least one of the {CAMS_PER_NEURON}: \
                     prune weights (or set `prune`), or split the population",
                    parts.join(", ")
                ))
            }
            DrcError::FanOutExceeded { .. } => Some(format!(
                "a neuron has {TARGET_CHIPS_PER_NEURON} routing entries, one per target chip; \
                 place its targets on fewer chips"
            )),
            DrcError::ConnectionAliasing { .. } => Some(
                "place the two sources at different chip-local addresses, or their targets on different cores"
                    .to_string(),
            ),
            DrcError::NonIntegerWeight { .. } => {
                Some("use `Quantisation::Optimal` to quantise float weights".to_string())
            }
            DrcError::MissingBaseWeight { .. } => Some("give a base weight for every used (core, type)".to_string()),
            DrcError::BiasOutOfRange { .. } => {
                Some("change the parameter, or set `clamp_biases` to accept the nearest value".to_string())
            }
            DrcError::NotAChain { problem, .. } => Some(
                match problem {
                    ChainProblem::Branch { .. } | ChainProblem::Merge { .. } => {
                        "skip connections and `Residual` blocks cannot be lowered; write the network as \
                         `Sequential(Linear(..), LIF(..), Linear(..), LIF(..), ..)`"
                    }
                    ChainProblem::TrailingLinear => "end the network with a LIF population after the Linear",
                    ChainProblem::LinearAfterLinear { .. } => {
                        "merge the two into one Linear (the product of their weights)"
                    }
                    ChainProblem::DeadEnd | ChainProblem::Detached => {
                        "connect every module on one path from the input to the output"
                    }
                }
                .to_string(),
            ),
        }
    }
}

/// "`a`, `b`".
fn quoted(names: &[String]) -> String {
    names.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ")
}

fn describe(source: &AliasSource) -> String {
    match source {
        AliasSource::Virtual { channel, id } => format!("input channel {channel} (virtual id {})", id.index()),
        AliasSource::Neuron { population, neuron, id, .. } => format!("`{population}[{neuron}]` (neuron {id})"),
    }
}

impl std::fmt::Display for DrcError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "error[{}]: {}", self.code(), self.message())
    }
}

impl std::error::Error for DrcError {}
