//! Located diagnostics: a [`DrcError`] → a [`Diagnostic`] with its code, message, a label at the
//! offending module in the `.net` text, and the hint, for rustc-style rendering at the edge.

use reef_lang::{Diagnostic, Span};

use super::drc::{AliasSource, ChainProblem, DrcError};
use super::network::SourceRef;

/// `error` as a diagnostic. `network` is where the network was defined
/// ([`NetworkGraph::span`](crate::graph::NetworkGraph::span)); its source is the file the
/// error's byte ranges refer to. Errors about the whole network (dt, no population, inputs) point
/// at it; errors about lowering options (input chip, virtual ids) have no place in the source.
pub fn to_diagnostic(error: &DrcError, network: Span) -> Diagnostic {
    let mut diagnostic = Diagnostic::error(error.code(), error.message());
    let at = |source: &SourceRef| match source.span {
        (0, 0) => network,
        (start, end) => Span::new(network.source, start, end),
    };
    if let DrcError::ConnectionAliasing { first, second, .. } = error {
        // Both sides, the hardware neuron first (a virtual input has no place in the source).
        let first_span = first.source().map(at);
        match second.source().map(at) {
            Some(span) => {
                diagnostic = diagnostic.primary(span, alias_label(second));
                if let Some(first_span) = first_span {
                    diagnostic = diagnostic.secondary(first_span, alias_label(first));
                }
            }
            None => diagnostic = diagnostic.primary(first_span.unwrap_or(network), alias_label(first)),
        }
    } else {
        let span = match (error.source(), whole_network(error)) {
            (Some(source), _) => Some(at(source)),
            (None, true) => Some(network),
            (None, false) => None,
        };
        if let Some(span) = span {
            diagnostic = diagnostic.primary(span, label(error));
        }
    }
    match error.help() {
        Some(help) => diagnostic.help(help),
        None => diagnostic,
    }
}

/// Whether an error without a module is about the network as written.
fn whole_network(error: &DrcError) -> bool {
    matches!(error, DrcError::NoPopulations | DrcError::DtOutOfRange { .. } | DrcError::TooManyInputs { .. })
}

/// The words under the underlined place.
fn label(error: &DrcError) -> String {
    match error {
        DrcError::NoPopulations => "this network".to_string(),
        DrcError::DtOutOfRange { .. } => "the dt of this network".to_string(),
        DrcError::TooManyInputs { requested, .. } => format!("{requested} input channels"),
        DrcError::InvalidInputChip { .. } | DrcError::VirtualIdConflict { .. } => String::new(),
        DrcError::ShapeMismatch { matrix, .. } => format!("`{}` of this population", matrix.name()),
        DrcError::LengthMismatch { parameter, .. } => format!("`{parameter}` of this population"),
        DrcError::NonFinite { what, .. } => format!("`{what}` of this population"),
        DrcError::InvalidParameter { neuron, .. } => format!("neuron {neuron} of this population"),
        DrcError::NonSpikingModule { kind, .. } => format!("a {kind} module, not spiking"),
        DrcError::LinearBias { .. } => "this Linear has a bias".to_string(),
        DrcError::TooManyNeurons { requested, available, populations, .. } => {
            let listed: Vec<String> = populations.iter().map(|(name, count)| format!("{name} {count}")).collect();
            format!("{requested} neurons ({}) for {available} places", listed.join(", "))
        }
        DrcError::PlacementShape { found, expected, .. } => format!("{found} places for {expected}"),
        DrcError::PlacementConflict { neuron, id, .. } => format!("neuron {neuron} of this population, at {id}"),
        DrcError::FanInExceeded { neuron, count, limit, .. } => {
            format!("neuron {neuron} of this population needs {count} of {limit} CAM entries")
        }
        DrcError::FanOutExceeded { neuron, chips, .. } => {
            format!("neuron {neuron} of this population projects to {} chips", chips.len())
        }
        DrcError::ConnectionAliasing { second, .. } => alias_label(second),
        DrcError::NonIntegerWeight { matrix, pre, post, .. } => format!("`{}[{pre}, {post}]`", matrix.name()),
        DrcError::MissingBaseWeight { core, .. } => format!("this population is on {core}"),
        DrcError::BiasOutOfRange { quantity, .. } => format!("{quantity} of this population"),
        DrcError::NotAChain { problem, .. } => match problem {
            ChainProblem::Branch { targets } => format!("feeds {} modules", targets.len()),
            ChainProblem::Merge { sources } => format!("sums {} inputs", sources.len()),
            ChainProblem::TrailingLinear => "no LIF population after this Linear".to_string(),
            ChainProblem::LinearAfterLinear { previous } => format!("right after `{previous}`"),
            ChainProblem::DeadEnd => "its output goes nowhere".to_string(),
            ChainProblem::Detached => "not on the chain".to_string(),
        },
    }
}

fn alias_label(source: &AliasSource) -> String {
    match source {
        AliasSource::Virtual { channel, id } => format!("input channel {channel} (virtual id {})", id.index()),
        AliasSource::Neuron { neuron, id, .. } => format!("neuron {neuron} of this population, at {id}"),
    }
}
