//! Connections: a checked [`SpikingNetwork`] → one record per nonzero weight, with its synapse type.
//!
//! Row-major over each population's `w_in`, then its `w_rec`, population by population, so the
//! order is a pure function of the network.

use super::drc::WeightMatrix;
use super::network::SpikingNetwork;
use super::synapse::{SourceKind, SynapseRule, SynapseType};

/// A neuron of the network: population index (chain order) and index in the population.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NeuronRef {
    /// Population index.
    pub population: usize,
    /// Neuron index in the population.
    pub index: usize,
}

/// The pre-synaptic side of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Pre {
    /// Network input channel (a virtual neuron).
    Virtual(usize),
    /// A hardware neuron.
    Neuron(NeuronRef),
}

/// One nonzero trained weight.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Connection {
    /// Source.
    pub pre: Pre,
    /// Target.
    pub post: NeuronRef,
    /// The trained weight (nonzero, finite).
    pub weight: f64,
    /// The synapse type the rule picked.
    pub synapse: SynapseType,
    /// The matrix it came from.
    pub matrix: WeightMatrix,
    /// Its row in that matrix.
    pub row: usize,
}

/// For population 0: which neurons receive virtual input (a nonzero column of `w_in`).
/// Empty when there is no population.
pub(crate) fn input_neurons(network: &SpikingNetwork) -> Vec<bool> {
    let Some(first) = network.populations.first() else { return Vec::new() };
    let mut receives = vec![false; first.size];
    for (_, col, _) in first.w_in.nonzero() {
        if let Some(flag) = receives.get_mut(col) {
            *flag = true;
        }
    }
    receives
}

/// Every nonzero weight of `network` as a [`Connection`], typed by `rule`.
pub(crate) fn build_connections(network: &SpikingNetwork, rule: &SynapseRule) -> Vec<Connection> {
    let receives_input = input_neurons(network);
    let kind_of = |population: usize, index: usize| {
        if population == 0 && receives_input.get(index).copied().unwrap_or(false) {
            SourceKind::InputNeuron
        } else {
            SourceKind::OtherNeuron
        }
    };
    let mut connections = Vec::new();
    for (population_index, population) in network.populations.iter().enumerate() {
        for (row, col, weight) in population.w_in.nonzero() {
            let (pre, kind) = match population_index.checked_sub(1) {
                None => (Pre::Virtual(row), SourceKind::Virtual),
                Some(previous) => (Pre::Neuron(NeuronRef { population: previous, index: row }), kind_of(previous, row)),
            };
            connections.push(Connection {
                pre,
                post: NeuronRef { population: population_index, index: col },
                weight,
                synapse: rule.synapse_type(kind, weight > 0.0),
                matrix: WeightMatrix::Input,
                row,
            });
        }
        if let Some(w_rec) = &population.w_rec {
            for (row, col, weight) in w_rec.nonzero() {
                connections.push(Connection {
                    pre: Pre::Neuron(NeuronRef { population: population_index, index: row }),
                    post: NeuronRef { population: population_index, index: col },
                    weight,
                    synapse: rule.synapse_type(kind_of(population_index, row), weight > 0.0),
                    matrix: WeightMatrix::Recurrent,
                    row,
                });
            }
        }
    }
    connections
}
