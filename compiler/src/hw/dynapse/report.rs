//! The human-readable resource report of a [`Lowered`] network.
//!
//! Sections: timing and input; neurons per core; CAM use per neuron by type (max / mean per
//! population); SRAM fan-out; virtual ids; the bias table (target vs achieved); quantisation
//! error; sharing error; pruned connections; clamped biases. Plain text, stable order.

use std::fmt::Write;

use super::board::{CAMS_PER_NEURON, TARGET_CHIPS_PER_NEURON, USABLE_VIRTUAL_IDS};
use super::lower::Lowered;
use super::quantize::PruneReason;
use super::synapse::SynapseType;

/// Pruned connections listed one by one; the rest are counted.
const PRUNED_LISTED: usize = 20;

/// The resource report of `lowered` (see the module doc).
pub fn report(lowered: &Lowered) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail, so results of `writeln!` are ignored below.
    let config = &lowered.config;
    let _ = writeln!(out, "Dynap-SE1 resource report");
    let _ = writeln!(
        out,
        "dt: requested {:.6e} s, realised {} ticks x 11.11 ns = {:.6e} s ({} x ISI base of {} ticks)",
        lowered.dt.requested, lowered.dt.ticks, lowered.dt.realised, lowered.dt.isi_per_step, lowered.dt.isi_base_ticks
    );
    let masked: Vec<String> =
        (0..4).filter(|core| config.input.core_mask.bits() & (1 << core) != 0).map(|core| core.to_string()).collect();
    let _ = writeln!(
        out,
        "input: chip {}, core mask {:#06b} (cores {}), {} channels",
        config.input.chip.index(),
        config.input.core_mask.bits(),
        if masked.is_empty() { "none".to_string() } else { masked.join(", ") },
        config.input.channels.len()
    );
    let ids: Vec<usize> = config.input.channels.iter().map(|channel| channel.virtual_id.index()).collect();
    let _ = writeln!(out, "virtual ids: {} of {USABLE_VIRTUAL_IDS} used: {}", ids.len(), ranges(&ids));

    let _ = writeln!(out, "\nneurons per core");
    let chips: std::collections::BTreeSet<usize> = lowered.cores.iter().map(|core| core.core.chip().index()).collect();
    for core in &lowered.cores {
        let used: usize = core.populations.iter().map(|(_, count)| count).sum();
        let capacity = if core.core.core() == 0 { 255 } else { 256 };
        let who: Vec<String> = core.populations.iter().map(|(name, count)| format!("{name} ({count})")).collect();
        let _ = writeln!(out, "  {:<14} {:>3}/{capacity}  {}", core.core.to_string(), used, who.join(", "));
    }
    let _ = writeln!(
        out,
        "  total: {} neurons on {} cores, {} chips",
        config.neurons.len(),
        lowered.cores.len(),
        chips.len()
    );

    let _ = writeln!(out, "\nCAM entries per neuron (of {CAMS_PER_NEURON}): max, mean; mean per type");
    let _ = writeln!(out, "  {:<16} {:>4} {:>7}   FAST_EXC SLOW_EXC FAST_INH SLOW_INH", "population", "max", "mean");
    for population in &config.populations {
        let neurons: Vec<_> = config.neurons.iter().filter(|neuron| neuron.population == population.name).collect();
        let count = neurons.len().max(1) as f64;
        let totals: Vec<usize> = neurons.iter().map(|neuron| neuron.cams.len()).collect();
        let per_type = SynapseType::ALL.map(|synapse| {
            let used: usize =
                neurons.iter().map(|neuron| neuron.cams.iter().filter(|cam| cam.synapse == synapse).count()).sum();
            used as f64 / count
        });
        let _ = writeln!(
            out,
            "  {:<16} {:>4} {:>7.2}   {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
            population.name,
            totals.iter().max().copied().unwrap_or(0),
            totals.iter().sum::<usize>() as f64 / count,
            per_type[0],
            per_type[1],
            per_type[2],
            per_type[3]
        );
    }

    let _ = writeln!(out, "\nSRAM fan-out (target chips per neuron, of {TARGET_CHIPS_PER_NEURON}): max, mean");
    for population in &config.populations {
        let fan_out: Vec<usize> = config
            .neurons
            .iter()
            .filter(|neuron| neuron.population == population.name)
            .map(|neuron| neuron.srams.len())
            .collect();
        let mean = fan_out.iter().sum::<usize>() as f64 / fan_out.len().max(1) as f64;
        let _ =
            writeln!(out, "  {:<16} {:>4} {:>7.2}", population.name, fan_out.iter().max().copied().unwrap_or(0), mean);
    }

    let _ = writeln!(out, "\nbiases (coarse/fine, current, quantity: target -> achieved)");
    for core in &lowered.cores {
        let _ = writeln!(out, "  {}", core.core);
        for choice in &core.biases {
            let _ = writeln!(
                out,
                "    {:<18} {}/{:<3} {:>10.3e} A  {}: {:.4e} -> {:.4e}{}",
                choice.bias.name(),
                choice.value.coarse(),
                choice.value.fine(),
                choice.achieved_current,
                choice.quantity,
                choice.target,
                choice.achieved,
                if choice.in_range { "" } else { "  (OUT OF RANGE, clamped)" }
            );
        }
    }

    let _ = writeln!(out, "\nquantisation (relative Frobenius error of chip weights vs trained)");
    for error in lowered.quantisation.populations.iter().chain(&lowered.quantisation.cores) {
        let _ = writeln!(
            out,
            "  {:<16} {:>6} weights {:>6} CAMs  error {:.4}",
            error.name, error.connections, error.cams, error.relative_error
        );
    }
    let _ = writeln!(out, "  base weights (membrane units per connection):");
    for core in &config.cores {
        let weights: Vec<String> = SynapseType::ALL
            .iter()
            .filter(|synapse| core.base_weights.get(**synapse) != 0.0)
            .map(|synapse| format!("{} {:.4e}", synapse.name(), core.base_weights.get(*synapse)))
            .collect();
        let _ = writeln!(
            out,
            "    {}: {}",
            core.core,
            if weights.is_empty() { "none".to_string() } else { weights.join(", ") }
        );
    }

    let _ = writeln!(out, "\nsharing error (trained vs the core's shared value; max / rms)");
    for core in &lowered.cores {
        let parts: Vec<String> = core
            .sharing
            .iter()
            .map(|sharing| {
                let shared: Vec<String> = sharing.shared.iter().map(|value| format!("{value:.4e}")).collect();
                if sharing.relative {
                    format!(
                        "{} [{}] {:.2}% / {:.2}%",
                        sharing.parameter,
                        shared.join(", "),
                        sharing.max_error * 100.0,
                        sharing.rms_error * 100.0
                    )
                } else {
                    format!(
                        "{} [{}] {:.3e} / {:.3e}",
                        sharing.parameter,
                        shared.join(", "),
                        sharing.max_error,
                        sharing.rms_error
                    )
                }
            })
            .collect();
        let _ = writeln!(out, "  {}: {}", core.core, parts.join("; "));
    }

    let pruned = &lowered.quantisation.pruned;
    let budget = pruned.iter().filter(|connection| connection.reason == PruneReason::Budget).count();
    let _ = writeln!(
        out,
        "\npruned connections: {} (fan-in budget {}, rounded to zero {})",
        pruned.len(),
        budget,
        pruned.len() - budget
    );
    for connection in pruned.iter().take(PRUNED_LISTED) {
        let reason = match connection.reason {
            PruneReason::Budget => "fan-in budget",
            PruneReason::Rounding => "rounded to zero",
        };
        let _ = writeln!(
            out,
            "  {}.{}[{}, {}] = {:.4e} ({reason})",
            connection.population,
            connection.matrix.name(),
            connection.pre,
            connection.post,
            connection.weight
        );
    }
    if pruned.len() > PRUNED_LISTED {
        let _ = writeln!(out, "  ... and {} more", pruned.len() - PRUNED_LISTED);
    }
    let clamped: Vec<String> = lowered
        .cores
        .iter()
        .flat_map(|core| core.biases.iter().filter(|choice| !choice.in_range).map(move |choice| (core, choice)))
        .map(|(core, choice)| {
            format!(
                "  {} {} ({}): wanted {:.4e}, got {:.4e}",
                core.core,
                choice.bias.name(),
                choice.quantity,
                choice.target,
                choice.achieved
            )
        })
        .collect();
    let _ = writeln!(out, "\nclamped biases: {}", clamped.len());
    for line in clamped {
        let _ = writeln!(out, "{line}");
    }
    out
}

/// "1-3, 7" for [1, 2, 3, 7]; "none" when empty.
fn ranges(values: &[usize]) -> String {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let mut parts: Vec<String> = Vec::new();
    let mut start = match sorted.first() {
        Some(first) => *first,
        None => return "none".to_string(),
    };
    let mut end = start;
    for value in sorted.into_iter().skip(1) {
        if value == end + 1 {
            end = value;
        } else {
            parts.push(if start == end { start.to_string() } else { format!("{start}-{end}") });
            start = value;
            end = value;
        }
    }
    parts.push(if start == end { start.to_string() } else { format!("{start}-{end}") });
    parts.join(", ")
}
