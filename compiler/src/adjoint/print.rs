//! `reef adjoint`: per model instance, the forward step and its derived adjoint as equations.

use std::collections::HashMap;
use std::fmt::Write;

use super::derive_with;
use crate::Compiled;
use crate::graph::Instance;
use crate::step::{CustomCall, Op, ParamId, ParamSlot, StateId, StepProgram};
use crate::sym::{Naming, eliminate_dead_code, print_equations};

/// How to read the printed equations.
pub const NOTATION: &str =
    "notation: a state's name is its value at the previous step (vmem = vmem[t-1]); vmem⁺ = vmem[t];
  λ_out = ∂L/∂output[t]; λ_vmem = ∂L/∂vmem[t]; λ_vmem⁻ = ∂L/∂vmem[t-1] (the result);
  λ_in = ∂L/∂input[t] (sent to the previous module); ∂L/∂w += this step's contribution to w's gradient;
  comparisons are 1 or 0; step_pwl's derivatives are the ones it declares.
";

/// The forward and adjoint equations of every module instance of a compiled network (see
/// [`NOTATION`]).
pub fn print_adjoint(compiled: &Compiled) -> String {
    let mut out = String::new();
    for (_, instance) in compiled.graph.instances() {
        let generics: Vec<String> = instance.generics.iter().map(|(n, v)| format!("{n} = {v}")).collect();
        let _ = writeln!(out, "{}: {}({})", instance.path, instance.model, generics.join(", "));
        let (program, naming) = fragment_program(compiled, instance);
        let (forward, _) = eliminate_dead_code(&program, &[]);
        let mut roots = Vec::new();
        for (local, state) in naming.states.iter().enumerate() {
            roots.push((format!("{state}⁺"), forward.state_updates[local]));
        }
        roots.push(("output".to_string(), forward.outputs[0]));
        let _ = writeln!(out, "  forward:");
        for line in print_equations(&forward, &naming, &roots).lines() {
            let _ = writeln!(out, "    {line}");
        }
        let adjoint = derive_with(&forward, true);
        let mut roots = Vec::new();
        for (local, state) in naming.states.iter().enumerate() {
            roots.push((format!("λ_{state}⁻"), adjoint.state_adjoints[local]));
        }
        for (local, grad) in adjoint.param_grads.iter().enumerate() {
            if let Some(grad) = grad {
                roots.push((format!("∂L/∂{} +", naming.params[local]), *grad));
            }
        }
        if let Some(Some(input)) = adjoint.input_adjoints.first() {
            roots.push(("λ_in".to_string(), *input));
        }
        let adjoint_naming = Naming {
            seeds: vec!["λ_out".to_string()],
            state_adjoints: naming.states.iter().map(|s| format!("λ_{s}")).collect(),
            ..naming.clone()
        };
        let _ = writeln!(out, "  adjoint:");
        for line in print_equations(&adjoint.program, &adjoint_naming, &roots).lines() {
            let _ = writeln!(out, "    {}", line.replace(" + =", " +="));
        }
        out.push('\n');
    }
    out
}

/// One instance's fragment as a standalone step program with local parameter and state ids,
/// and names for printing (short names: `tau`, not `1_Rate.tau`).
fn fragment_program(compiled: &Compiled, instance: &Instance) -> (StepProgram, Naming) {
    let graph = &compiled.graph;
    let params: HashMap<ParamId, ParamId> =
        instance.params.iter().enumerate().map(|(local, global)| (*global, ParamId(local as u32))).collect();
    let states: HashMap<StateId, StateId> =
        instance.states.iter().enumerate().map(|(local, global)| (*global, StateId(local as u32))).collect();
    let short = |name: &str| name.strip_prefix(&format!("{}.", instance.path)).unwrap_or(name).to_string();
    let fragment = &instance.fragment;
    let insts = fragment
        .insts
        .iter()
        .map(|inst| {
            let op = match inst.op {
                Op::Param(p) => Op::Param(params.get(&p).copied().unwrap_or(p)),
                Op::State(s) => Op::State(states.get(&s).copied().unwrap_or(s)),
                op => op,
            };
            crate::step::Inst { op, shape: inst.shape }
        })
        .collect();
    let mut state_updates = vec![crate::step::ValueId(0); instance.states.len()];
    for (state, value) in &fragment.state_updates {
        if let Some(local) = states.get(state) {
            state_updates[local.0 as usize] = *value;
        }
    }
    let program = StepProgram {
        insts,
        params: instance
            .params
            .iter()
            .map(|p| ParamSlot {
                name: graph.params[p.0 as usize].name.clone(),
                shape: graph.params[p.0 as usize].shape,
            })
            .collect(),
        states: instance.states.iter().map(|s| graph.states[s.0 as usize].clone()).collect(),
        inputs: vec![instance.in_size],
        state_updates,
        outputs: fragment.output.into_iter().collect(),
        records: Vec::new(),
        custom_calls: fragment.custom_calls.iter().map(CustomCall::clone).collect(),
    };
    let naming = Naming {
        params: instance.params.iter().map(|p| short(&graph.params[p.0 as usize].name)).collect(),
        states: instance.states.iter().map(|s| short(&graph.states[s.0 as usize].name)).collect(),
        inputs: vec![instance.input_name.clone()],
        seeds: Vec::new(),
        state_adjoints: Vec::new(),
    };
    (program, naming)
}
