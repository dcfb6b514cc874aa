//! Graph IR → step program: stitches the modules' fragments into one SSA program for a step
//! of the whole network. A module's input is the sum of its sources' outputs; values are
//! emitted on demand, so a module whose output depends only on its state (a delay) may feed an
//! earlier module, and a cycle through inputs alone is reported as an algebraic loop.

use std::collections::HashMap;

use petgraph::Direction;
use petgraph::graph::NodeIndex;
use reef_lang::{Diagnostic, Diagnostics};

use crate::graph::{NetworkGraph, Node};
use crate::step::{BinaryOp, CustomCall, Op, ParamSlot, StepProgram, ValueId};

/// Lowers a network graph to its step program.
pub fn lower(graph: &NetworkGraph) -> Result<StepProgram, Diagnostics> {
    let mut program = StepProgram {
        params: graph.params.iter().map(|p| ParamSlot { name: p.name.clone(), shape: p.shape }).collect(),
        states: graph.states.clone(),
        inputs: vec![graph.input_size()],
        state_updates: vec![ValueId(0); graph.states.len()],
        ..StepProgram::default()
    };
    let mut stitcher = Stitcher { graph, emitted: HashMap::new(), in_progress: Vec::new(), program: &mut program };
    // Modules in node order (which follows the source), every instruction of each.
    let modules: Vec<NodeIndex> = graph.instances().map(|(index, _)| index).collect();
    for node in &modules {
        let Node::Module(instance) = &graph.graph[*node] else { continue };
        for local in 0..instance.fragment.insts.len() {
            stitcher.emit(*node, ValueId(local as u32))?;
        }
        if let Some(output) = instance.fragment.output {
            let value = stitcher.emit(*node, output)?;
            stitcher.program.records.push((format!("{}.output", instance.path), value));
        }
        for (state, local) in &instance.fragment.state_updates {
            let value = stitcher.emit(*node, *local)?;
            stitcher.program.state_updates[state.0 as usize] = value;
        }
        for call in &instance.fragment.custom_calls {
            let result = stitcher.emit(*node, call.result)?;
            let args = call.args.iter().map(|a| stitcher.emit(*node, *a)).collect::<Result<Vec<_>, _>>()?;
            let partials = call
                .partials
                .iter()
                .map(|p| p.map(|p| stitcher.emit(*node, p)).transpose())
                .collect::<Result<Vec<_>, _>>()?;
            stitcher.program.custom_calls.push(CustomCall { function: call.function.clone(), result, args, partials });
        }
    }
    let output = stitcher.sum_of_inputs(graph.output)?;
    program.outputs.push(output);
    Ok(program)
}

struct Stitcher<'g, 'p> {
    graph: &'g NetworkGraph,
    /// (module, local value) → value in the program.
    emitted: HashMap<(NodeIndex, ValueId), ValueId>,
    /// Modules whose input is being computed, for loop detection.
    in_progress: Vec<NodeIndex>,
    program: &'p mut StepProgram,
}

impl Stitcher<'_, '_> {
    fn emit(&mut self, node: NodeIndex, local: ValueId) -> Result<ValueId, Diagnostics> {
        if let Some(value) = self.emitted.get(&(node, local)) {
            return Ok(*value);
        }
        let Node::Module(instance) = &self.graph.graph[node] else {
            return Err(Diagnostic::error("E0900", "internal: a fragment value outside a module").into());
        };
        let inst = instance.fragment.insts[local.index()];
        let value = match inst.op {
            Op::Input(_) => self.sum_of_inputs(node)?,
            op => {
                let mut operands = HashMap::new();
                for operand in op.operands() {
                    operands.insert(operand, self.emit(node, operand)?);
                }
                let op = match op.map_operands(|operand| operands[&operand]) {
                    // Each noise instruction is its own stream, named by its place in the program.
                    Op::Noise(_) => Op::Noise(self.program.insts.len() as u32),
                    op => op,
                };
                self.program.push(op, inst.shape)
            }
        };
        self.emitted.insert((node, local), value);
        Ok(value)
    }

    /// The sum of the outputs of every node feeding `node`.
    fn sum_of_inputs(&mut self, node: NodeIndex) -> Result<ValueId, Diagnostics> {
        if let Some(start) = self.in_progress.iter().position(|n| *n == node) {
            return Err(self.algebraic_loop(&self.in_progress[start..]).into());
        }
        self.in_progress.push(node);
        let mut sources: Vec<NodeIndex> = self.graph.graph.neighbors_directed(node, Direction::Incoming).collect();
        sources.sort();
        let mut total: Option<ValueId> = None;
        for source in sources {
            let value = match &self.graph.graph[source] {
                Node::Input { size, .. } => self.program.push(Op::Input(0), crate::step::Shape::Vector(*size)),
                Node::Module(instance) => match instance.fragment.output {
                    Some(output) => self.emit(source, output)?,
                    None => continue,
                },
                Node::Output { .. } => continue,
            };
            total = Some(match total {
                None => value,
                Some(sum) => {
                    let shape = self.program.shape(value);
                    self.program.push(Op::Binary(BinaryOp::Add, sum, value), shape)
                }
            });
        }
        self.in_progress.pop();
        total.ok_or_else(|| {
            Diagnostic::error("E0305", format!("`{}` receives no input", self.graph.node_name(node))).into()
        })
    }

    fn algebraic_loop(&self, cycle: &[NodeIndex]) -> Diagnostic {
        let names: Vec<String> = cycle.iter().map(|n| self.graph.node_name(*n)).collect();
        let mut diagnostic = Diagnostic::error(
            "E0304",
            format!("algebraic loop: {} -> {} feed each other within one time step", names.join(" -> "), names[0]),
        );
        for (index, node) in cycle.iter().enumerate() {
            if let Node::Module(instance) = &self.graph.graph[*node] {
                let next = &names[(index + 1) % names.len()];
                let label = format!("`{}` needs the output of `{next}` at the same step", instance.path);
                diagnostic = if index == 0 {
                    diagnostic.primary(instance.span, label)
                } else {
                    diagnostic.secondary(instance.span, label)
                };
            }
        }
        diagnostic.help("recurrence must pass through state: a module whose output depends only on its previous state (a delay) breaks the loop; or use a model's own recurrent weights (`rec = true`)")
    }
}
