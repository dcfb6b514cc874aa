//! Dead-code elimination: keeps only what outputs, state updates, records, custom calls and
//! the given extra roots need, renumbering values in order.

use std::collections::HashMap;

use crate::step::{StepProgram, ValueId};

/// Which values outputs, state updates, records, needed custom calls and `extra_roots` need.
pub fn live_values(program: &StepProgram, extra_roots: &[ValueId]) -> Vec<bool> {
    let mut live = vec![false; program.insts.len()];
    let mut stack: Vec<ValueId> = program
        .outputs
        .iter()
        .chain(&program.state_updates)
        .chain(program.records.iter().map(|(_, v)| v))
        .chain(extra_roots)
        .copied()
        .collect();
    // A custom call survives only when its result is needed; then its arguments and declared
    // partials are kept too (the adjoint reads them).
    let mut calls: Vec<bool> = vec![false; program.custom_calls.len()];
    loop {
        while let Some(value) = stack.pop() {
            if value.index() >= live.len() || live[value.index()] {
                continue;
            }
            live[value.index()] = true;
            stack.extend(program.inst(value).op.operands());
        }
        let mut grew = false;
        for (index, call) in program.custom_calls.iter().enumerate() {
            if !calls[index] && live[call.result.index()] {
                calls[index] = true;
                grew = true;
                stack.extend(call.args.iter().copied());
                stack.extend(call.partials.iter().flatten().copied());
            }
        }
        if !grew {
            break;
        }
    }
    live
}

/// Removes instructions nothing needs. `extra_roots` are values the caller keeps (for example
/// parameter gradients); their new ids are returned in the same order.
pub fn eliminate_dead_code(program: &StepProgram, extra_roots: &[ValueId]) -> (StepProgram, Vec<ValueId>) {
    let live = live_values(program, extra_roots);
    let mut map: HashMap<ValueId, ValueId> = HashMap::new();
    let mut out = StepProgram {
        params: program.params.clone(),
        states: program.states.clone(),
        inputs: program.inputs.clone(),
        ..StepProgram::default()
    };
    for (index, inst) in program.insts.iter().enumerate() {
        if live[index] {
            let op = inst.op.map_operands(|v| map[&v]);
            map.insert(ValueId(index as u32), out.push(op, inst.shape));
        }
    }
    let remap = |v: &ValueId| map[v];
    out.outputs = program.outputs.iter().map(remap).collect();
    out.state_updates = program.state_updates.iter().map(remap).collect();
    out.records = program.records.iter().map(|(n, v)| (n.clone(), remap(v))).collect();
    out.custom_calls = program
        .custom_calls
        .iter()
        // A call is kept when its result is (`live_values` then kept its arguments too).
        .filter(|call| live[call.result.index()])
        .map(|c| crate::step::CustomCall {
            function: c.function.clone(),
            result: remap(&c.result),
            args: c.args.iter().map(remap).collect(),
            partials: c.partials.iter().map(|p| p.as_ref().map(remap)).collect(),
        })
        .collect();
    let roots = extra_roots.iter().map(remap).collect();
    (out, roots)
}
