//! Tests of the Dynap-SE1 lowering, one file per concern, with shared builders.

#![allow(clippy::unwrap_used, clippy::panic)]

mod biases;
mod drc_rules;
mod extraction;
mod flow;
mod oracle;
mod placement;
mod quantisation;
mod roundtrip;
mod scale;
mod validation;

use super::{Matrix, NeuronId, Population, SourceRef, SpikingNetwork, VirtualId};

/// Default LIF parameters used by the builders: tau_mem 20 ms, tau_syn 5 ms, threshold 1, bias 0.
pub(super) const TAU_MEM: f64 = 0.02;
pub(super) const TAU_SYN: f64 = 0.005;

/// A population with default parameters, declared at bytes 10..20 of a module named `name`.
pub(super) fn population(name: &str, size: usize, w_in: Matrix, w_rec: Option<Matrix>) -> Population {
    Population {
        name: name.to_string(),
        source: SourceRef { module: name.to_string(), span: (10, 20) },
        size,
        w_in,
        w_rec,
        tau_mem: vec![TAU_MEM; size],
        tau_syn: vec![TAU_SYN; size],
        threshold: vec![1.0; size],
        bias: vec![0.0; size],
    }
}

/// A network with dt = 100 µs (9000 FPGA ticks).
pub(super) fn network(n_inputs: usize, populations: Vec<Population>) -> SpikingNetwork {
    SpikingNetwork { n_inputs, dt: 1e-4, populations, unsupported: Vec::new() }
}

/// Global ids from numbers.
pub(super) fn ids(list: &[usize]) -> Vec<NeuronId> {
    list.iter().map(|id| NeuronId::new(*id).unwrap()).collect()
}

/// Virtual ids from numbers.
pub(super) fn virtual_ids(list: &[usize]) -> Vec<VirtualId> {
    list.iter().map(|id| VirtualId::new(*id).unwrap()).collect()
}

/// A matrix with every entry `value`.
pub(super) fn filled(rows: usize, cols: usize, value: f64) -> Matrix {
    Matrix { rows, cols, data: vec![value; rows * cols] }
}
