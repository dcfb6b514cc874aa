//! The graph IR: one node per module instance, edges for signals, plus the parameter table.
//!
//! Invariants: every module node's fragment reads only its own input port (`Input(0)`), the
//! network's parameters and its own states; edge sources' output sizes equal the target's input
//! size; parameter and state names are unique. Several edges into one node are summed.

use std::fmt;

use petgraph::graph::{DiGraph, NodeIndex};
use reef_lang::Span;

use crate::step::{CustomCall, Inst, ParamId, Shape, StateId, StateSlot, ValueId};

/// A network after elaboration.
#[derive(Clone, Debug)]
pub struct NetworkGraph {
    /// The network's name.
    pub name: String,
    /// The time step in seconds.
    pub dt: f64,
    /// Modules and signals.
    pub graph: DiGraph<Node, ()>,
    /// The network input node.
    pub input: NodeIndex,
    /// The network output node.
    pub output: NodeIndex,
    /// The parameter table, by [`ParamId`].
    pub params: Vec<ParamInfo>,
    /// Fixed values (`const`), listed for the user; already folded into the fragments.
    pub consts: Vec<ConstInfo>,
    /// Every state of every module, by [`StateId`].
    pub states: Vec<StateSlot>,
    /// Where the network was defined.
    pub span: Span,
}

/// A node of the graph.
// A graph has a node per module instance (tens at most): boxing the large variant would cost
// more indirection than the bytes it saves.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Node {
    /// The network input, `[size]` per step.
    Input {
        /// Its name (`input` for combinator networks).
        name: String,
        /// Channels.
        size: usize,
    },
    /// The network output (the sum of its incoming signals).
    Output {
        /// Channels.
        size: usize,
    },
    /// A model instance.
    Module(Instance),
}

/// One instantiated model.
#[derive(Clone, Debug)]
pub struct Instance {
    /// Rockpool-style path: `0_Linear`, `1_Residual.0_Linear`, or the user's name.
    pub path: String,
    /// The model's name.
    pub model: String,
    /// Generic arguments as resolved, for printing: `(name, value)`.
    pub generics: Vec<(String, String)>,
    /// Input size (0 for a model without input).
    pub in_size: usize,
    /// The name of the model's input (`x`, `i`), for printing its equations.
    pub input_name: String,
    /// Output size.
    pub out_size: usize,
    /// Its parameters.
    pub params: Vec<ParamId>,
    /// Its states.
    pub states: Vec<StateId>,
    /// One step of the model: `Input(0)` is its input port.
    pub fragment: Fragment,
    /// Where it was instantiated.
    pub span: Span,
}

/// One module's step, in step-program instructions over its input port.
#[derive(Clone, Debug, Default)]
pub struct Fragment {
    /// Instructions in dependency order.
    pub insts: Vec<Inst>,
    /// The module's output value.
    pub output: Option<ValueId>,
    /// The final value of each of its states.
    pub state_updates: Vec<(StateId, ValueId)>,
    /// Calls of functions with declared derivatives.
    pub custom_calls: Vec<CustomCall>,
}

/// How a parameter's initial value is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// Every element equal.
    Constant(f64),
    /// Uniform in `[low, high)`.
    Uniform {
        /// Lower end.
        low: f64,
        /// Upper end.
        high: f64,
    },
    /// Normal with this mean and standard deviation.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
    },
}

/// A row of the parameter table.
#[derive(Clone, Debug)]
pub struct ParamInfo {
    /// Full name, `1_Rate.w_rec`.
    pub name: String,
    /// Its shape.
    pub shape: Shape,
    /// How it is initialised.
    pub init: Init,
    /// `where name >= value` (in SI units).
    pub lower: Option<f64>,
    /// `where name <= value` (in SI units).
    pub upper: Option<f64>,
    /// Power of seconds of its unit (1 for a time constant).
    pub time_power: i32,
    /// Where it was declared (in the model) — the instance is on the module node.
    pub span: Span,
}

/// A fixed value.
#[derive(Clone, Debug)]
pub struct ConstInfo {
    /// Full name, `1_Rate.noise_std`.
    pub name: String,
    /// Its shape.
    pub shape: Shape,
    /// Its value (every element).
    pub value: f64,
}

impl NetworkGraph {
    /// The module instances, in node order.
    pub fn instances(&self) -> impl Iterator<Item = (NodeIndex, &Instance)> {
        self.graph.node_indices().filter_map(|index| match &self.graph[index] {
            Node::Module(instance) => Some((index, instance)),
            Node::Input { .. } | Node::Output { .. } => None,
        })
    }

    /// The input size of the network.
    pub fn input_size(&self) -> usize {
        match &self.graph[self.input] {
            Node::Input { size, .. } => *size,
            Node::Output { size } => *size,
            Node::Module(instance) => instance.in_size,
        }
    }

    /// The output size of the network.
    pub fn output_size(&self) -> usize {
        match &self.graph[self.output] {
            Node::Output { size } | Node::Input { size, .. } => *size,
            Node::Module(instance) => instance.out_size,
        }
    }

    /// A node's display name.
    pub fn node_name(&self, index: NodeIndex) -> String {
        match &self.graph[index] {
            Node::Input { name, .. } => name.clone(),
            Node::Output { .. } => "output".to_string(),
            Node::Module(instance) => instance.path.clone(),
        }
    }

    /// The graph in Graphviz DOT.
    pub fn to_dot(&self) -> String {
        let mut out = format!("digraph \"{}\" {{\n    rankdir=LR;\n", self.name);
        for index in self.graph.node_indices() {
            let (label, shape) = match &self.graph[index] {
                Node::Input { name, size } => (format!("{name} [{size}]"), "ellipse"),
                Node::Output { size } => (format!("output [{size}]"), "ellipse"),
                Node::Module(instance) => (format!("{}\\n{}", instance.path, instance.model), "box"),
            };
            out.push_str(&format!("    n{} [label=\"{label}\", shape={shape}];\n", index.index()));
        }
        for edge in self.graph.edge_indices() {
            if let Some((from, to)) = self.graph.edge_endpoints(edge) {
                let size = match &self.graph[from] {
                    Node::Input { size, .. } | Node::Output { size } => *size,
                    Node::Module(instance) => instance.out_size,
                };
                out.push_str(&format!("    n{} -> n{} [label=\"{size}\"];\n", from.index(), to.index()));
            }
        }
        out.push_str("}\n");
        out
    }
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Init::Constant(value) => write!(f, "{}", crate::step::number(*value)),
            Init::Uniform { low, high } => write!(f, "uniform({low:.6}, {high:.6})"),
            Init::Normal { mean, std } => write!(f, "normal({mean:.6}, {std:.6})"),
        }
    }
}

impl fmt::Display for NetworkGraph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "network {} (dt = {} s)", self.name, crate::step::number(self.dt))?;
        writeln!(f, "nodes:")?;
        for index in self.graph.node_indices() {
            match &self.graph[index] {
                Node::Input { name, size } => writeln!(f, "  {name}: input [{size}]")?,
                Node::Output { size } => writeln!(f, "  output: output [{size}]")?,
                Node::Module(instance) => {
                    let generics: Vec<String> =
                        instance.generics.iter().map(|(name, value)| format!("{name} = {value}")).collect();
                    writeln!(
                        f,
                        "  {}: {}({}) [{}] -> [{}]",
                        instance.path,
                        instance.model,
                        generics.join(", "),
                        instance.in_size,
                        instance.out_size
                    )?;
                }
            }
        }
        writeln!(f, "edges:")?;
        for edge in self.graph.edge_indices() {
            if let Some((from, to)) = self.graph.edge_endpoints(edge) {
                writeln!(f, "  {} -> {}", self.node_name(from), self.node_name(to))?;
            }
        }
        writeln!(f, "parameters:")?;
        for param in &self.params {
            let bounds = match (param.lower, param.upper) {
                (None, None) => "-".to_string(),
                (Some(low), None) => format!(">= {}", crate::step::number(low)),
                (None, Some(high)) => format!("<= {}", crate::step::number(high)),
                (Some(low), Some(high)) => {
                    format!("in [{}, {}]", crate::step::number(low), crate::step::number(high))
                }
            };
            let unit = match param.time_power {
                0 => String::new(),
                1 => " s".to_string(),
                -1 => " Hz".to_string(),
                power => format!(" s^{power}"),
            };
            writeln!(
                f,
                "  {:<28} {:<10} {}{unit}  bounds {bounds}  trainable",
                param.name,
                param.shape.to_string(),
                param.init
            )?;
        }
        for constant in &self.consts {
            writeln!(
                f,
                "  {:<28} {:<10} {}  fixed",
                constant.name,
                constant.shape.to_string(),
                crate::step::number(constant.value)
            )?;
        }
        writeln!(f, "states:")?;
        for state in &self.states {
            let init = match &state.init {
                crate::step::StateInit::Constant(value) => crate::step::number(*value),
                crate::step::StateInit::Param(param) => {
                    self.params.get(param.0 as usize).map_or("?".to_string(), |p| p.name.clone())
                }
            };
            writeln!(f, "  {:<28} {:<10} starts at {init}", state.name, state.shape.to_string())?;
        }
        Ok(())
    }
}
