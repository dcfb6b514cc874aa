//! Networks → graph: expands `Sequential` and `Residual` (any depth) and explicit wiring,
//! names instances Rockpool-style and checks that connected sizes agree.

use std::collections::HashMap;

use petgraph::graph::{DiGraph, NodeIndex};
use reef_lang::ast::{ArgLabel, Expr, ExprKind, Network, NetworkBody, NetworkStmtKind};
use reef_lang::{Diagnostic, Diagnostics, Ident, Span};

use super::consteval::{Const, ConstEnv};
use super::model::{Tables, instantiate};
use super::scope::{Scope, suggestion};
use crate::graph::{NetworkGraph, Node};

/// Signals arriving somewhere: the nodes whose outputs are summed, and their size.
#[derive(Clone, Debug)]
struct Signal {
    sources: Vec<NodeIndex>,
    size: usize,
    /// Where the signal comes from, for size errors.
    span: Span,
    /// A description of the source, for size errors.
    what: String,
}

/// The combinators reef knows.
const COMBINATORS: [&str; 2] = ["Sequential", "Residual"];

struct Builder<'s, 'a> {
    scope: &'s Scope<'a>,
    tables: Tables,
    graph: DiGraph<Node, ()>,
    paths: HashMap<String, Span>,
    diagnostics: Diagnostics,
}

/// Elaborates one network into its graph.
pub fn elaborate_network(scope: &Scope<'_>, network: &Network, diagnostics: &mut Diagnostics) -> Option<NetworkGraph> {
    let dt = network_dt(network, scope, diagnostics)?;
    let mut builder = Builder {
        scope,
        tables: Tables { params: Vec::new(), consts: Vec::new(), states: Vec::new(), dt },
        graph: DiGraph::new(),
        paths: HashMap::new(),
        diagnostics: Diagnostics::new(),
    };
    let ends = match &network.body {
        NetworkBody::Expr(expr) => builder.combinator_network(expr),
        NetworkBody::Wiring(_) => builder.wired_network(network),
    };
    let failed = builder.diagnostics.has_errors();
    diagnostics.extend(builder.diagnostics);
    let (input, output) = ends?;
    if failed {
        return None;
    }
    Some(NetworkGraph {
        name: network.name.node.clone(),
        dt,
        graph: builder.graph,
        input,
        output,
        params: builder.tables.params,
        consts: builder.tables.consts,
        states: builder.tables.states,
        span: network.name.span,
    })
}

fn network_dt(network: &Network, scope: &Scope<'_>, diagnostics: &mut Diagnostics) -> Option<f64> {
    let functions = |name: &str| scope.functions.contains_key(name);
    let env = ConstEnv { values: HashMap::new(), functions: &functions };
    let mut dt = 1e-3;
    for setting in &network.settings {
        match setting.name.as_str() {
            "dt" => match env.eval(&setting.value) {
                Ok(Const::Number(value, 1)) if value > 0.0 => dt = value,
                Ok(other) => {
                    diagnostics.push(
                        Diagnostic::error("E0405", "`dt` must be a positive time")
                            .primary(setting.value.span, format!("this is {}", other.describe()))
                            .help("write it with a unit, e.g. `dt = 1 ms`"),
                    );
                    return None;
                }
                Err(error) => {
                    diagnostics.push(error);
                    return None;
                }
            },
            other => {
                let mut diagnostic = Diagnostic::error("E0205", format!("unknown network setting `{other}`"))
                    .primary(setting.name.span, "networks take `dt`");
                if let Some(help) = suggestion(other, ["dt"]) {
                    diagnostic = diagnostic.help(help);
                }
                diagnostics.push(diagnostic);
                return None;
            }
        }
    }
    Some(dt)
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") }
}

impl Builder<'_, '_> {
    fn combinator_network(&mut self, expr: &Expr) -> Option<(NodeIndex, NodeIndex)> {
        // The input size is whatever the first module takes; the input node is patched after.
        let input = self.graph.add_node(Node::Input { name: "input".into(), size: 0 });
        let signal = Signal { sources: vec![input], size: 0, span: expr.span, what: "the network input".into() };
        let ExprKind::Call { callee, .. } = &expr.kind else {
            self.diagnostics.push(
                Diagnostic::error("E0201", "a network is a module expression such as `Sequential(...)`")
                    .primary(expr.span, "not a module"),
            );
            return None;
        };
        let out = if COMBINATORS.contains(&callee.as_str()) {
            self.module(expr, "", signal, true)?
        } else {
            self.module(expr, &format!("0_{}", callee.node), signal, true)?
        };
        let output = self.graph.add_node(Node::Output { size: out.size });
        for source in &out.sources {
            self.graph.add_edge(*source, output, ());
        }
        Some((input, output))
    }

    /// Elaborates a module expression fed by `input`; `at_root` allows the input size to be
    /// taken from the module (combinator networks).
    fn module(&mut self, expr: &Expr, path: &str, input: Signal, at_root: bool) -> Option<Signal> {
        let ExprKind::Call { callee, args } = &expr.kind else {
            self.diagnostics.push(
                Diagnostic::error("E0201", "expected a module such as `Linear(2, 3)`")
                    .primary(expr.span, "not a model instance or combinator"),
            );
            return None;
        };
        match callee.as_str() {
            "Sequential" | "Residual" => {
                let mut signal = input.clone();
                let mut root = at_root;
                let mut labels: HashMap<String, Span> = HashMap::new();
                for (index, arg) in args.iter().enumerate() {
                    let member_path = match &arg.label {
                        Some(ArgLabel::Member(name)) => {
                            if let Some(first) = labels.get(name.as_str()) {
                                self.diagnostics.push(
                                    Diagnostic::error("E0204", format!("two members are named `{}`", name.node))
                                        .primary(name.span, "named again here")
                                        .secondary(*first, "first named here"),
                                );
                                return None;
                            }
                            labels.insert(name.node.clone(), name.span);
                            join(path, &name.node)
                        }
                        Some(ArgLabel::Named(name)) => {
                            self.diagnostics.push(
                                Diagnostic::error("E0205", format!("`{}` takes modules, not settings", callee.node))
                                    .primary(name.span, "a named argument")
                                    .help(format!("to name a member write `{}: Model(...)`", name.node)),
                            );
                            return None;
                        }
                        None => match &arg.value.kind {
                            ExprKind::Call { callee: inner, .. } => join(path, &format!("{index}_{}", inner.node)),
                            _ => join(path, &format!("{index}_module")),
                        },
                    };
                    signal = self.module(&arg.value, &member_path, signal, root)?;
                    root = false;
                }
                if args.is_empty() {
                    self.diagnostics.push(
                        Diagnostic::error("E0211", format!("`{}` needs at least one module", callee.node))
                            .primary(expr.span, "empty"),
                    );
                    return None;
                }
                if callee.as_str() == "Residual" {
                    let input_size = self.signal_size(&input);
                    if signal.size != input_size {
                        self.diagnostics.push(
                            Diagnostic::error(
                                "E0301",
                                format!("`Residual` adds its input ({input_size}) to its output ({})", signal.size),
                            )
                            .primary(signal.span, format!("outputs {}", signal.size))
                            .secondary(input.span, format!("{} gives {input_size}", input.what))
                            .help("a residual block must output as many channels as it receives"),
                        );
                        return None;
                    }
                    let mut sources = signal.sources.clone();
                    sources.extend(input.sources.iter().copied());
                    return Some(Signal {
                        sources,
                        size: signal.size,
                        span: expr.span,
                        what: format!("`{}`", path_or(path, "Residual")),
                    });
                }
                Some(signal)
            }
            name => {
                let Some(model) = self.scope.models.get(name).copied() else {
                    let candidates = self.scope.models.keys().copied().chain(COMBINATORS);
                    let mut diagnostic = Diagnostic::error("E0201", format!("unknown model `{name}`"))
                        .primary(callee.span, "not a model or combinator");
                    if let Some(help) = suggestion(name, candidates) {
                        diagnostic = diagnostic.help(help);
                    }
                    self.diagnostics.push(diagnostic);
                    return None;
                };
                if let Some(first) = self.paths.get(path) {
                    self.diagnostics.push(
                        Diagnostic::error("E0204", format!("two modules are named `{path}`"))
                            .primary(expr.span, "named again here")
                            .secondary(*first, "first here"),
                    );
                    return None;
                }
                self.paths.insert(path.to_string(), expr.span);
                let instance =
                    instantiate(self.scope, &mut self.tables, model, args, expr.span, path, &mut self.diagnostics)?;
                let size = self.signal_size(&input);
                if at_root && size == 0 && input.sources.len() == 1 {
                    if let Some(Node::Input { size, .. }) = self.graph.node_weight_mut(input.sources[0]) {
                        *size = instance.in_size;
                    }
                } else if size != instance.in_size {
                    self.diagnostics.push(size_mismatch(&input, size, &instance.path, instance.in_size, expr.span));
                    return None;
                }
                let out = Signal {
                    sources: vec![],
                    size: instance.out_size,
                    span: expr.span,
                    what: format!("`{}`", instance.path),
                };
                let node = self.graph.add_node(Node::Module(instance));
                for source in &input.sources {
                    self.graph.add_edge(*source, node, ());
                }
                Some(Signal { sources: vec![node], ..out })
            }
        }
    }

    fn signal_size(&self, signal: &Signal) -> usize {
        match signal.sources.first().and_then(|s| self.graph.node_weight(*s)) {
            Some(Node::Input { size, .. }) if signal.sources.len() == 1 => *size,
            _ => signal.size,
        }
    }

    fn wired_network(&mut self, network: &Network) -> Option<(NodeIndex, NodeIndex)> {
        let NetworkBody::Wiring(stmts) = &network.body else { return None };
        let functions = |name: &str| self.scope.functions.contains_key(name);
        let env = ConstEnv { values: HashMap::new(), functions: &functions };
        // Each node is elaborated against a placeholder port; edges out of the port are rewired
        // to the node's actual sources once all connections are known.
        let mut wired: HashMap<String, WiredNode> = HashMap::new();
        let mut input_node = None;
        let mut output_name: Option<&Ident> = None;
        for stmt in stmts {
            match &stmt.kind {
                NetworkStmtKind::Input { name, shape } => {
                    if input_node.is_some() {
                        self.diagnostics.push(
                            Diagnostic::error("E0212", "a network has one input").primary(name.span, "second input"),
                        );
                        continue;
                    }
                    let size = match shape.as_slice() {
                        [dim] => match env.eval_size(dim) {
                            Ok(size) => size,
                            Err(error) => {
                                self.diagnostics.push(error);
                                continue;
                            }
                        },
                        _ => {
                            self.diagnostics.push(
                                Diagnostic::error("E0302", "a network input is a vector `[n]`")
                                    .primary(name.span, "here"),
                            );
                            continue;
                        }
                    };
                    let node = self.graph.add_node(Node::Input { name: name.node.clone(), size });
                    input_node = Some(node);
                    wired.insert(
                        name.node.clone(),
                        WiredNode { port: None, outputs: vec![node], in_size: 0, out_size: size, span: name.span },
                    );
                }
                NetworkStmtKind::Node { name, module } => {
                    if let Some(first) = wired.get(name.as_str()) {
                        self.diagnostics.push(
                            Diagnostic::error("E0204", format!("`{}` is declared twice", name.node))
                                .primary(name.span, "declared again here")
                                .secondary(first.span, "first declared here"),
                        );
                        continue;
                    }
                    let port = self.graph.add_node(Node::Input { name: format!("{}#in", name.node), size: 0 });
                    let signal =
                        Signal { sources: vec![port], size: 0, span: name.span, what: format!("`{}`", name.node) };
                    let Some(out) = self.module(module, &name.node, signal, true) else { continue };
                    let in_size = match self.graph.node_weight(port) {
                        Some(Node::Input { size, .. }) => *size,
                        _ => 0,
                    };
                    wired.insert(
                        name.node.clone(),
                        WiredNode {
                            port: Some(port),
                            outputs: out.sources,
                            in_size,
                            out_size: out.size,
                            span: name.span,
                        },
                    );
                }
                NetworkStmtKind::Output(name) => output_name = Some(name),
                NetworkStmtKind::Connect(_) => {}
            }
        }
        let Some(input) = input_node else {
            self.diagnostics.push(
                Diagnostic::error("E0305", format!("network `{}` has no `input`", network.name.node))
                    .primary(network.name.span, "declare its input, e.g. `input u[2]`"),
            );
            return None;
        };
        let Some(output_name) = output_name else {
            self.diagnostics.push(
                Diagnostic::error("E0305", format!("network `{}` has no `output`", network.name.node))
                    .primary(network.name.span, "say which node is the output, e.g. `output r`"),
            );
            return None;
        };
        // Connections: sources of each node's port.
        let mut sources: HashMap<String, Vec<NodeIndex>> = HashMap::new();
        for stmt in stmts {
            let NetworkStmtKind::Connect(chain) = &stmt.kind else { continue };
            for pair in chain.windows(2) {
                let (Some(from), Some(to)) = (self.wired_node(&pair[0], &wired), self.wired_node(&pair[1], &wired))
                else {
                    continue;
                };
                if to.port.is_none() {
                    self.diagnostics.push(
                        Diagnostic::error("E0305", "nothing can flow into the network input")
                            .primary(pair[1].span, "the input"),
                    );
                    continue;
                }
                let connected = sources.entry(pair[1].node.clone()).or_default();
                if from.out_size != to.in_size {
                    self.diagnostics.push(
                        Diagnostic::error(
                            "E0301",
                            format!(
                                "size mismatch: `{}` outputs {} channels but `{}` takes {}",
                                pair[0].node, from.out_size, pair[1].node, to.in_size
                            ),
                        )
                        .primary(pair[0].span.to(pair[1].span), format!("{} into {}", from.out_size, to.in_size))
                        .secondary(from.span, format!("`{}` outputs {}", pair[0].node, from.out_size))
                        .secondary(to.span, format!("`{}` takes {}", pair[1].node, to.in_size)),
                    );
                    continue;
                }
                connected.extend(from.outputs.iter().copied());
            }
        }
        let mut names: Vec<&String> = wired.keys().collect();
        names.sort_by_key(|name| wired[*name].span.start);
        for name in names {
            let node = &wired[name];
            if node.port.is_some() && !sources.contains_key(name) {
                self.diagnostics.push(
                    Diagnostic::error("E0305", format!("node `{name}` receives no input"))
                        .primary(node.span, "nothing is connected to this node")
                        .help(format!(
                            "connect something to it, e.g. `{} -> {name}`",
                            self.graph.node_weight(input).map_or("u".to_string(), |n| match n {
                                Node::Input { name, .. } => name.clone(),
                                _ => "u".into(),
                            })
                        )),
                );
            }
        }
        let output_node = self.wired_node(output_name, &wired)?;
        if self.diagnostics.has_errors() {
            return None;
        }
        let output = self.graph.add_node(Node::Output { size: output_node.out_size });
        for source in &output_node.outputs {
            self.graph.add_edge(*source, output, ());
        }
        // Rebuild the graph without ports: an edge port → x becomes source → x for each source.
        let ports: HashMap<NodeIndex, &Vec<NodeIndex>> = wired
            .iter()
            .filter_map(|(name, node)| node.port.map(|port| (port, sources.get(name))))
            .filter_map(|(port, s)| s.map(|s| (port, s)))
            .collect();
        let mut rebuilt: DiGraph<Node, ()> = DiGraph::new();
        let mut map: HashMap<NodeIndex, NodeIndex> = HashMap::new();
        for index in self.graph.node_indices() {
            if !ports.contains_key(&index) {
                map.insert(index, rebuilt.add_node(self.graph[index].clone()));
            }
        }
        for edge in self.graph.edge_indices() {
            let Some((from, to)) = self.graph.edge_endpoints(edge) else { continue };
            let Some(&to) = map.get(&to) else { continue };
            match ports.get(&from) {
                Some(actual) => {
                    for source in actual.iter() {
                        if let Some(&source) = map.get(source) {
                            rebuilt.add_edge(source, to, ());
                        }
                    }
                }
                None => {
                    if let Some(&from) = map.get(&from) {
                        rebuilt.add_edge(from, to, ());
                    }
                }
            }
        }
        self.graph = rebuilt;
        Some((map[&input], map[&output]))
    }

    fn wired_node<'w>(&mut self, name: &Ident, wired: &'w HashMap<String, WiredNode>) -> Option<&'w WiredNode> {
        let found = wired.get(name.as_str());
        if found.is_none() {
            let mut diagnostic = Diagnostic::error("E0203", format!("unknown node `{}`", name.node))
                .primary(name.span, "not declared in this network");
            if let Some(help) = suggestion(&name.node, wired.keys().map(String::as_str)) {
                diagnostic = diagnostic.help(help);
            }
            self.diagnostics.push(diagnostic);
        }
        found
    }
}

/// A node of an explicitly wired network during elaboration.
struct WiredNode {
    /// The placeholder input port (none for the network input).
    port: Option<NodeIndex>,
    /// The graph nodes whose outputs make this node's output.
    outputs: Vec<NodeIndex>,
    in_size: usize,
    out_size: usize,
    span: Span,
}

fn path_or(path: &str, default: &str) -> String {
    if path.is_empty() { default.to_string() } else { path.to_string() }
}

fn size_mismatch(input: &Signal, size: usize, path: &str, in_size: usize, span: Span) -> Diagnostic {
    Diagnostic::error(
        "E0301",
        format!("size mismatch: {} outputs {size} channels but `{path}` takes {in_size}", input.what),
    )
    .primary(span, format!("`{path}` takes {in_size}"))
    .secondary(input.span, format!("{} outputs {size}", input.what))
    .help("the output size of a module must equal the input size of the next")
}
