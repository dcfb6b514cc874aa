//! Embedding: a [`SpikingNetwork`] (usually one lifted from a config) → parameter values of the
//! source graph it was extracted from, so reef's own interpreter can run it.
//!
//! The inverse of [`extract`](super::extract): each population's `w_in` goes to the Linear
//! before it (`0_Linear.weight`), `w_rec`, `tau_mem`, `tau_syn`, `threshold` and `bias` to the
//! LIF module. A population whose input is the identity (no Linear before it) has no weight
//! parameter to take the chip's weight `d_j` of neuron `j`'s one input connection, so the
//! neuron is rescaled instead: dividing its `isyn`, `vmem`, threshold, bias and every weight
//! into it by `d_j` gives the same spikes with an input weight of 1 (the LIF update is linear
//! in those, and `floor(v / θ)` and the reset `v − s·θ` scale along).

use std::fmt;

use super::network::{Matrix, Population, SpikingNetwork};
use crate::graph::{NetworkGraph, Node};

/// Why a network cannot be written into a graph's parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum EmbedError {
    /// No LIF module of the graph has the population's name.
    UnknownPopulation {
        /// The population.
        name: String,
    },
    /// A matrix or vector does not have the size the graph's parameter needs.
    Shape {
        /// The parameter's full name.
        parameter: String,
        /// Values needed.
        expected: usize,
        /// Values given.
        found: usize,
    },
    /// The population has recurrent weights but its module has no `w_rec`.
    NoRecurrentWeights {
        /// The population.
        name: String,
    },
    /// A population fed one to one has an input weight that is off the diagonal or not positive.
    IdentityInput {
        /// The population.
        name: String,
        /// The neuron.
        neuron: usize,
        /// Its input weight.
        weight: f64,
    },
}

impl fmt::Display for EmbedError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmbedError::UnknownPopulation { name } => write!(formatter, "the network has no LIF module `{name}`"),
            EmbedError::Shape { parameter, expected, found } => {
                write!(formatter, "`{parameter}` needs {expected} values, the lifted network has {found}")
            }
            EmbedError::NoRecurrentWeights { name } => {
                write!(formatter, "`{name}` has recurrent connections on the chip but no `w_rec` in the network")
            }
            EmbedError::IdentityInput { name, neuron, weight } => write!(
                formatter,
                "neuron {neuron} of `{name}` takes its input one to one, but its chip weight is {weight}"
            ),
        }
    }
}

impl std::error::Error for EmbedError {}

/// Values, by full parameter name, that make `graph` compute `network` (see the module doc).
/// Parameters of other modules are not listed.
pub fn embed(graph: &NetworkGraph, network: &SpikingNetwork) -> Result<Vec<(String, Vec<f64>)>, EmbedError> {
    let mut values = Vec::new();
    for population in &network.populations {
        let found = graph.instances().find(|(_, instance)| instance.path == population.name && instance.model == "LIF");
        let Some((index, instance)) = found else {
            return Err(EmbedError::UnknownPopulation { name: population.name.clone() });
        };
        let linear =
            graph.graph.neighbors_directed(index, petgraph::Direction::Incoming).find_map(|source| {
                match &graph.graph[source] {
                    Node::Module(before) if before.model == "Linear" => Some(before),
                    Node::Module(_) | Node::Input { .. } | Node::Output { .. } => None,
                }
            });
        let has_w_rec = graph.params.iter().any(|param| param.name == format!("{}.w_rec", instance.path));
        let size = population.size;
        let scale = match &linear {
            Some(_) => vec![1.0; size],
            None => identity_scale(population)?,
        };
        if let Some(linear) = linear {
            let expected = linear.in_size * linear.out_size;
            values.push(checked(format!("{}.weight", linear.path), population.w_in.data.clone(), expected)?);
        }
        match (&population.w_rec, has_w_rec) {
            (Some(w_rec), true) => {
                values.push(checked(format!("{}.w_rec", population.name), scale_columns(w_rec, &scale), size * size)?)
            }
            (None, true) => values.push((format!("{}.w_rec", population.name), vec![0.0; size * size])),
            (Some(w_rec), false) if w_rec.data.iter().any(|weight| *weight != 0.0) => {
                return Err(EmbedError::NoRecurrentWeights { name: population.name.clone() });
            }
            (Some(_) | None, false) => {}
        }
        let divided = |values: &[f64]| values.iter().zip(&scale).map(|(value, scale)| value / scale).collect();
        let parameters: [(&str, Vec<f64>); 4] = [
            ("tau_mem", population.tau_mem.clone()),
            ("tau_syn", population.tau_syn.clone()),
            ("threshold", divided(&population.threshold)),
            ("bias", divided(&population.bias)),
        ];
        for (local, vector) in parameters {
            values.push(checked(format!("{}.{local}", population.name), vector, size)?);
        }
    }
    Ok(values)
}

/// The per-neuron input weight of a population fed one to one (its `w_in` must be diagonal, positive).
fn identity_scale(population: &Population) -> Result<Vec<f64>, EmbedError> {
    let bad = |neuron: usize, weight: f64| EmbedError::IdentityInput { name: population.name.clone(), neuron, weight };
    if let Some((row, col, weight)) = population.w_in.nonzero().find(|(row, col, _)| row != col) {
        return Err(bad(col.max(row), weight));
    }
    (0..population.size)
        .map(|neuron| match population.w_in.get(neuron, neuron) {
            weight if weight > 0.0 && weight.is_finite() => Ok(weight),
            weight => Err(bad(neuron, weight)),
        })
        .collect()
}

/// `matrix` with column `j` divided by `scale[j]`, row-major.
fn scale_columns(matrix: &Matrix, scale: &[f64]) -> Vec<f64> {
    let cols = matrix.cols.max(1);
    matrix.data.iter().enumerate().map(|(flat, value)| value / scale.get(flat % cols).copied().unwrap_or(1.0)).collect()
}

fn checked(parameter: String, values: Vec<f64>, expected: usize) -> Result<(String, Vec<f64>), EmbedError> {
    if values.len() == expected {
        Ok((parameter, values))
    } else {
        Err(EmbedError::Shape { parameter, expected, found: values.len() })
    }
}
