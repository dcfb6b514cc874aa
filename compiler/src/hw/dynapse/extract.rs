//! Extraction: reef's graph IR and parameter values → the [`SpikingNetwork`] lowering takes.
//!
//! The graph must be a chain `input → (Linear →) LIF → (Linear →) LIF → … → output`:
//! * a Linear folds into the following LIF population's `w_in` (its `[n_in, n_out]` weight is
//!   already row = pre-synaptic, column = post-synaptic);
//! * a LIF right after the input or after another LIF receives the previous stage's spikes one to
//!   one, so its `w_in` is the identity (the graph guarantees the sizes match). On the chip that is
//!   one connection per neuron, quantised like any other weight;
//! * a LIF with `rec = true` brings its `w_rec`.
//!
//! Modules the chip cannot run are recorded in [`SpikingNetwork::unsupported`] (lowering turns
//! them into errors): Rate, Instant, ExpSyn, LIFODE and user models as
//! [`Unsupported::NonSpiking`], `Linear(.., has_bias = true)` as [`Unsupported::LinearBias`]. No
//! population is built after a non-spiking module (its sizes would give follow-on errors), but
//! the walk goes on to report every module. A graph that is not a chain (branches, merges,
//! `Residual`, a Linear with no LIF after it, two Linears in a row) is an [`DrcError::NotAChain`].
//! A parameter whose value is missing or has the wrong length is left so, for the network
//! check to report with the population's name.

use std::collections::BTreeSet;

use petgraph::Direction;
use petgraph::graph::NodeIndex;

use super::check::unsupported_error;
use super::drc::{ChainProblem, DrcError};
use super::network::{Matrix, Population, SourceRef, SpikingNetwork, Unsupported};
use crate::graph::{Instance, NetworkGraph, Node};

/// The spiking network behind `graph`, with parameter values from `values` (row-major, by full
/// name such as `hidden.tau_mem`), or every chain error found (with the unsupported modules).
pub fn extract(
    graph: &NetworkGraph,
    values: impl Fn(&str) -> Option<Vec<f64>>,
) -> Result<SpikingNetwork, Vec<DrcError>> {
    let mut walk = Walk { graph, values: &values, errors: Vec::new(), chain_broken: false };
    let mut network =
        SpikingNetwork { n_inputs: graph.input_size(), dt: graph.dt, populations: Vec::new(), unsupported: Vec::new() };
    let mut visited = BTreeSet::from([graph.input]);
    // A Linear waiting for the LIF population it feeds.
    let mut pending: Option<(&Instance, Matrix)> = None;
    // Set after a non-spiking module: keep walking for errors, build no more populations.
    let mut building = true;
    let mut node = graph.input;
    while let Some(next) = walk.next_on_chain(node) {
        if !visited.insert(next) {
            // Unreachable for a graph without merges; reported rather than looping.
            let (name, source) = walk.describe(next);
            walk.chain_error(name, source, ChainProblem::Detached);
            break;
        }
        let instance = match &graph.graph[next] {
            Node::Module(instance) => instance,
            Node::Output { .. } | Node::Input { .. } => {
                if let Some((linear, _)) = pending.take() {
                    walk.chain_error(linear.path.clone(), source_of(linear), ChainProblem::TrailingLinear);
                }
                break;
            }
        };
        node = next;
        match instance.model.as_str() {
            "Linear" => {
                if walk.has_param(instance, "bias") || generic_is_true(instance, "has_bias") {
                    let unsupported =
                        Unsupported::LinearBias { module: instance.path.clone(), source: source_of(instance) };
                    walk.errors.push(unsupported_error(&unsupported));
                    network.unsupported.push(unsupported);
                }
                if let Some((previous, _)) = &pending {
                    let problem = ChainProblem::LinearAfterLinear { previous: previous.path.clone() };
                    walk.chain_error(instance.path.clone(), source_of(instance), problem);
                }
                let weight = walk.matrix(instance, "weight", instance.in_size, instance.out_size);
                pending = Some((instance, weight));
            }
            "LIF" => {
                let w_in = match pending.take() {
                    Some((_, weight)) => weight,
                    None => identity(instance.in_size),
                };
                if building {
                    network.populations.push(walk.population(instance, w_in));
                }
            }
            kind => {
                let unsupported = Unsupported::NonSpiking {
                    module: instance.path.clone(),
                    kind: kind.to_string(),
                    source: source_of(instance),
                };
                walk.errors.push(unsupported_error(&unsupported));
                network.unsupported.push(unsupported);
                pending = None;
                building = false;
            }
        }
    }
    if !walk.chain_broken {
        for (index, instance) in graph.instances() {
            if !visited.contains(&index) {
                walk.chain_error(instance.path.clone(), source_of(instance), ChainProblem::Detached);
            }
        }
    }
    if walk.chain_broken { Err(walk.errors) } else { Ok(network) }
}

/// The state of one walk along the chain.
struct Walk<'a, F> {
    graph: &'a NetworkGraph,
    values: &'a F,
    /// Chain errors and unsupported modules, in chain order.
    errors: Vec<DrcError>,
    /// Whether a chain error was found.
    chain_broken: bool,
}

impl<F: Fn(&str) -> Option<Vec<f64>>> Walk<'_, F> {
    /// The single node after `node`, or `None` (with an error, unless it is the end) if there is not one.
    fn next_on_chain(&mut self, node: NodeIndex) -> Option<NodeIndex> {
        let targets = self.neighbours(node, Direction::Outgoing);
        let (name, source) = self.describe(node);
        let next = match targets.as_slice() {
            [] => {
                self.chain_error(name, source, ChainProblem::DeadEnd);
                return None;
            }
            [next] => *next,
            _ => {
                let targets = targets.iter().map(|target| self.graph.node_name(*target)).collect();
                self.chain_error(name, source, ChainProblem::Branch { targets });
                return None;
            }
        };
        let sources = self.neighbours(next, Direction::Incoming);
        if sources.len() > 1 {
            let (name, source) = self.describe(next);
            let sources = sources.iter().map(|from| self.graph.node_name(*from)).collect();
            self.chain_error(name, source, ChainProblem::Merge { sources });
            return None;
        }
        Some(next)
    }

    /// Neighbours of `node` in one direction, in node order, one entry per edge.
    fn neighbours(&self, node: NodeIndex, direction: Direction) -> Vec<NodeIndex> {
        let mut found: Vec<NodeIndex> = self.graph.graph.neighbors_directed(node, direction).collect();
        found.sort();
        found
    }

    /// A node's name and where it was declared (the network's span for the input and output).
    fn describe(&self, node: NodeIndex) -> (String, SourceRef) {
        let name = self.graph.node_name(node);
        let source = match &self.graph.graph[node] {
            Node::Module(instance) => source_of(instance),
            Node::Input { .. } | Node::Output { .. } => {
                SourceRef { module: name.clone(), span: (self.graph.span.start, self.graph.span.end) }
            }
        };
        (name, source)
    }

    fn chain_error(&mut self, module: String, source: SourceRef, problem: ChainProblem) {
        self.chain_broken = true;
        self.errors.push(DrcError::NotAChain { module, source, problem });
    }

    /// Whether `instance` has the parameter `local` (e.g. "w_rec").
    fn has_param(&self, instance: &Instance, local: &str) -> bool {
        let full = format!("{}.{local}", instance.path);
        instance.params.iter().filter_map(|id| self.graph.params.get(id.0 as usize)).any(|param| param.name == full)
    }

    /// The values of `instance`'s parameter `local`; empty if the lookup has none.
    fn vector(&self, instance: &Instance, local: &str) -> Vec<f64> {
        (self.values)(&format!("{}.{local}", instance.path)).unwrap_or_default()
    }

    /// A `rows × cols` parameter; its data may be short, which the network check reports.
    fn matrix(&self, instance: &Instance, local: &str, rows: usize, cols: usize) -> Matrix {
        Matrix { rows, cols, data: self.vector(instance, local) }
    }

    fn population(&self, instance: &Instance, w_in: Matrix) -> Population {
        let size = instance.out_size;
        let w_rec = self.has_param(instance, "w_rec").then(|| self.matrix(instance, "w_rec", size, size));
        Population {
            name: instance.path.clone(),
            source: source_of(instance),
            size,
            w_in,
            w_rec,
            tau_mem: self.vector(instance, "tau_mem"),
            tau_syn: self.vector(instance, "tau_syn"),
            threshold: self.vector(instance, "threshold"),
            bias: self.vector(instance, "bias"),
        }
    }
}

fn source_of(instance: &Instance) -> SourceRef {
    SourceRef { module: instance.path.clone(), span: (instance.span.start, instance.span.end) }
}

fn generic_is_true(instance: &Instance, name: &str) -> bool {
    instance.generics.iter().any(|(generic, value)| generic == name && value == "true")
}

/// The `n × n` identity: one connection of weight 1 per neuron.
fn identity(n: usize) -> Matrix {
    let mut matrix = Matrix::zeros(n, n);
    for index in 0..n {
        matrix.set(index, index, 1.0);
    }
    matrix
}
