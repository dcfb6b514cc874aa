//! Network check: a [`SpikingNetwork`] → the design-rule errors that need no placement.
//!
//! Checks dt (see [`step_timing`]), unsupported modules, shapes, lengths, finiteness, positive time constants and
//! thresholds, and the raw capacity of the board. Passes after this one may assume every
//! matrix and vector has the right shape and only finite values.

use super::address::ChipId;
use super::board::{
    DT_TICK_TOLERANCE, FPGA_TICK, MAX_DT, MAX_ISI_BASE_TICKS, MAX_ISI_STEPS, MIN_DT, MIN_ISI_BASE_TICKS,
    USABLE_VIRTUAL_IDS,
};
use super::config::{Timing, metadata_float};
use super::drc::{DrcError, WeightMatrix};
use super::network::{Matrix, Population, SpikingNetwork, Unsupported};

/// Every error of `network` that does not depend on placement, in source order.
pub fn check_network(network: &SpikingNetwork, input_chip: usize) -> Vec<DrcError> {
    let mut errors = Vec::new();
    if ChipId::new(input_chip).is_err() {
        errors.push(DrcError::InvalidInputChip { chip: input_chip });
    }
    if step_timing(network.dt).is_none() {
        errors.push(DrcError::DtOutOfRange { dt: network.dt, min: MIN_DT, max: MAX_DT });
    }
    errors.extend(network.unsupported.iter().map(unsupported_error));
    if network.populations.is_empty() {
        errors.push(DrcError::NoPopulations);
    }
    if network.n_inputs > USABLE_VIRTUAL_IDS {
        errors.push(DrcError::TooManyInputs { requested: network.n_inputs, available: USABLE_VIRTUAL_IDS });
    }
    let mut previous_size = network.n_inputs;
    for population in &network.populations {
        check_population(population, previous_size, &mut errors);
        previous_size = population.size;
    }
    errors
}

/// How a network step of `dt` seconds is timed on the FPGA, if it can be.
///
/// The chip's neurons run in continuous time; the network's dt is the grid input events sit on.
/// The FPGA counts event gaps in units of its ISI base (at most 65536 ticks ≈ 728 µs), so a step
/// is `isi_per_step` units of `isi_base_ticks` ticks. dt is first floored to whole ticks `t`
/// (Rockpool's `fpga_isibase` rule); the split is the one with the largest `isi_per_step ·
/// isi_base_ticks ≤ t`, ties going to the fewest units. So dt ≤ 728 µs is one unit of dt (as in
/// Rockpool's `RecDynapSE`), 1 ms is 2 units of 500 µs, and a realised step maps to itself.
pub fn step_timing(dt: f64) -> Option<Timing> {
    if !dt.is_finite() {
        return None;
    }
    let ticks = (dt / FPGA_TICK * (1.0 + DT_TICK_TOLERANCE)).floor();
    if ticks < MIN_ISI_BASE_TICKS as f64 || ticks > (MAX_ISI_BASE_TICKS * MAX_ISI_STEPS) as f64 {
        return None;
    }
    let ticks = ticks as u64;
    let mut best: Option<(u64, u64)> = None;
    for units in 1..=MAX_ISI_STEPS {
        let base = (ticks / units).min(MAX_ISI_BASE_TICKS);
        if base < MIN_ISI_BASE_TICKS {
            break;
        }
        if best.is_none_or(|(best_units, best_base)| units * base > best_units * best_base) {
            best = Some((units, base));
        }
        if units * base == ticks {
            break;
        }
    }
    best.map(|(units, base)| Timing {
        isi_base_ticks: base,
        isi_per_step: units,
        dt: metadata_float((units * base) as f64 * FPGA_TICK),
    })
}

/// The design-rule error of a module the chip cannot run.
pub(crate) fn unsupported_error(unsupported: &Unsupported) -> DrcError {
    match unsupported {
        Unsupported::NonSpiking { module, kind, source } => {
            DrcError::NonSpikingModule { module: module.clone(), kind: kind.clone(), source: source.clone() }
        }
        Unsupported::LinearBias { module, source } => {
            DrcError::LinearBias { module: module.clone(), source: source.clone() }
        }
    }
}

fn check_population(population: &Population, previous_size: usize, errors: &mut Vec<DrcError>) {
    check_matrix(population, WeightMatrix::Input, &population.w_in, (previous_size, population.size), errors);
    if let Some(w_rec) = &population.w_rec {
        check_matrix(population, WeightMatrix::Recurrent, w_rec, (population.size, population.size), errors);
    }
    let parameters: [(&'static str, &Vec<f64>, bool); 4] = [
        ("tau_mem", &population.tau_mem, true),
        ("tau_syn", &population.tau_syn, true),
        ("threshold", &population.threshold, true),
        ("bias", &population.bias, false),
    ];
    for (parameter, values, must_be_positive) in parameters {
        if values.len() != population.size {
            errors.push(DrcError::LengthMismatch {
                population: population.name.clone(),
                source: population.source.clone(),
                parameter,
                expected: population.size,
                found: values.len(),
            });
            continue;
        }
        for (neuron, value) in values.iter().enumerate() {
            if !value.is_finite() {
                errors.push(non_finite(population, parameter, neuron, *value));
            } else if must_be_positive && *value <= 0.0 {
                errors.push(DrcError::InvalidParameter {
                    population: population.name.clone(),
                    source: population.source.clone(),
                    parameter,
                    neuron,
                    value: *value,
                });
            }
        }
    }
}

fn check_matrix(
    population: &Population,
    which: WeightMatrix,
    matrix: &Matrix,
    expected: (usize, usize),
    errors: &mut Vec<DrcError>,
) {
    let mismatch = |found| DrcError::ShapeMismatch {
        population: population.name.clone(),
        source: population.source.clone(),
        matrix: which,
        expected,
        found,
    };
    if (matrix.rows, matrix.cols) != expected {
        errors.push(mismatch((matrix.rows, matrix.cols)));
        return;
    }
    if !matrix.is_consistent() {
        errors.push(mismatch((matrix.data.len(), 1)));
        return;
    }
    if let Some((index, value)) = matrix.data.iter().enumerate().find(|(_, value)| !value.is_finite()) {
        errors.push(non_finite(population, which.name(), index, *value));
    }
}

fn non_finite(population: &Population, what: &'static str, index: usize, value: f64) -> DrcError {
    DrcError::NonFinite { population: population.name.clone(), source: population.source.clone(), what, index, value }
}
