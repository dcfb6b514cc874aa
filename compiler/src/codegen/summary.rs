//! A readable account of what code generation made of a network (`reef ir`, snapshots): per
//! function, the work of one step, the values carried between steps, the products moved out of
//! the loops, and how each parameter gradient is accumulated. It depends on the CPU in one way
//! only: without AVX2 and FMA, an f32 `tanh(a - b)` of two buffers computes its difference
//! as an operation of the step (see `Fusion::difference`), and no readout is computed by
//! another product's kernel call (see `merge`); other kernel calls and fused multiply-adds
//! change instructions, not this plan.

use std::fmt::Write;

use super::compile::{LoopValues, Precomputed, SequenceTerm, Side};
use super::derived::{DerivedTerm, describe_scale};
use super::diagonal::DiagonalTerm;
use super::schedule::Fusion;
use crate::step::{BinaryOp, Op, StepProgram, ValueId};

/// Describes a value by its operation and shape (`tanh [50]`).
fn describe(program: &StepProgram, value: ValueId) -> String {
    let inst = program.inst(value);
    let name = match inst.op {
        Op::Unary(op, _) => op.name().to_string(),
        Op::Binary(op, ..) => op.name().to_string(),
        Op::Param(p) => program.params[p.0 as usize].name.clone(),
        Op::State(s) => format!("state {}", program.states[s.0 as usize].name),
        Op::NextState(s) => format!("new state {}", program.states[s.0 as usize].name),
        Op::Input(_) => "input".to_string(),
        Op::VecMat(..) => "vecmat".to_string(),
        Op::VecMatT(..) => "vecmat_t".to_string(),
        Op::Select(..) => "select".to_string(),
        op => format!("{op:?}").split('(').next().unwrap_or("value").to_lowercase(),
    };
    format!("{name} {}", inst.shape)
}

/// The lines for one generated function.
pub(super) fn function(
    out: &mut String,
    (title, fusion): (&str, Fusion),
    program: &StepProgram,
    values: &LoopValues,
    fixed: &[(usize, super::layout::Loc)],
    layout: &super::layout::Layout,
) {
    let scratch = layout.scratch;
    let computing =
        |index: usize| values.emit[index] && !matches!(program.insts[index].op, Op::Const(_) | Op::Param(_));
    let per_step: Vec<usize> = (0..program.insts.len()).filter(|i| computing(*i) && !values.invariant[*i]).collect();
    let before = (0..program.insts.len()).filter(|i| computing(*i) && values.invariant[*i]).count();
    let count = |op: fn(&Op) -> bool| per_step.iter().filter(|i| op(&program.insts[**i].op)).count();
    let products = count(|op| matches!(op, Op::VecMat(..) | Op::VecMatT(..) | Op::ScaledProduct(..)));
    let divisions = count(|op| matches!(op, Op::Binary(BinaryOp::Div, ..)));
    let _ = writeln!(
        out,
        "{title}: {} operations per step (matrix–vector products: {products}, divisions: {divisions}), {before} before the loop; scratch {scratch} elements",
        per_step.len()
    );
    for carry in &values.carries {
        let carried = describe(program, carry.carried);
        let _ = match layout.locs[carry.carried.index()] {
            super::layout::Loc::Mem { base: super::layout::Base::Sequence(_), .. } => writeln!(
                out,
                "  carried between steps: {carried}, read from the next of the rows its producer is stored in"
            ),
            _ => writeln!(out, "  carried between steps: {carried}"),
        };
    }
    for index in (0..program.insts.len()).filter(|i| values.needed[*i]) {
        let value = ValueId(index as u32);
        if let Some((a, b)) = fusion.difference(program, value) {
            let (a, b) = (describe(program, a), describe(program, b));
            let _ = writeln!(out, "  {} of a difference: one call, reading {a} and {b}", describe(program, value));
        }
    }
    for (index, _) in fixed.iter().filter(|(index, _)| values.needed[*index]) {
        let _ = writeln!(
            out,
            "  read from a product computed before the loop: {}",
            describe(program, ValueId(*index as u32))
        );
    }
}

/// The products computed before the loops.
pub(super) fn precomputed(out: &mut String, forward: &StepProgram, list: &[Precomputed]) {
    for product in list {
        let name = &forward.params[product.param as usize].name;
        let _ = writeln!(
            out,
            "before the loops (GEMM over all steps): input @ {name} [{}, {}]",
            product.rows, product.cols
        );
    }
}

/// The outputs computed by another product's kernel call (see [`super::merge`]).
pub(super) fn merged(out: &mut String, program: &StepProgram, merged: &[(ValueId, ValueId)]) {
    let weight = |v: ValueId| match program.inst(v).op {
        Op::VecMat(_, w) => match program.inst(w).op {
            Op::Param(p) => program.params[p.0 as usize].name.clone(),
            _ => describe(program, w),
        },
        _ => describe(program, v),
    };
    for (product, output) in merged {
        let _ = writeln!(
            out,
            "  output x @ {} computed by the kernel call of x @ {} (its columns appended to the weight's copy)",
            weight(*output),
            weight(*product)
        );
    }
}

/// How each parameter gradient is accumulated.
pub(super) fn gradients(
    out: &mut String,
    adjoint: &StepProgram,
    (terms, derived, diagonals): (&[SequenceTerm], &[DerivedTerm], &[DiagonalTerm]),
    stored: &[ValueId],
    step_gradients: &[bool],
    beside: bool,
) {
    let side = |side: Side| match side {
        Side::Input => "the input".to_string(),
        Side::Tape { state, next, .. } => match adjoint.states.get(state as usize) {
            Some(slot) => format!("the tape's {}{} {}", if next { "new " } else { "" }, slot.name, slot.shape),
            None => "the tape".to_string(),
        },
        Side::Buffer(k, _) => stored.get(k).map_or_else(|| "a value".to_string(), |v| describe(adjoint, *v)),
        Side::Ones => "ones".to_string(),
        Side::NextRow(k, _) => {
            let rows = stored.get(k).map_or_else(|| "a value".to_string(), |v| describe(adjoint, *v));
            format!("{rows} one step later")
        }
    };
    for term in terms {
        let name = &adjoint.params[term.param as usize].name;
        match term.contract {
            None if term.x == Side::Ones => {
                let _ = writeln!(out, "  after the loop: ∂L/∂{name} += the sum of the rows of {}", side(term.y));
            }
            None => {
                let _ = writeln!(
                    out,
                    "  after the loop: ∂L/∂{name} += Xᵀ Y, X rows of {}, Y rows of {}",
                    side(term.x),
                    side(term.y)
                );
            }
            Some(weight) => {
                let weight = &adjoint.params[weight as usize].name;
                let _ = writeln!(
                    out,
                    "  after the loop: ∂L/∂{name}[j] += Σ_i {weight}[i, j] (Xᵀ C)[i, j], X rows of {}, C rows of {}",
                    side(term.x),
                    side(term.y)
                );
            }
        }
    }
    for term in derived {
        let name = |p: u32| &adjoint.params[p as usize].name;
        let (param, from, scale) = (name(term.param), name(term.from), describe_scale(&term.scale));
        let _ = match term.weight {
            Some(weight) => writeln!(
                out,
                "  after the loop: ∂L/∂{param}[j] += k[j] Σ_i {}[i, j] G[i, j], G the product of ∂L/∂{from}, k = {scale}",
                name(weight),
            ),
            None => writeln!(out, "  after the loop: ∂L/∂{param} += k ⊙ G, G the sum of ∂L/∂{from}, k = {scale}"),
        };
    }
    super::diagonal::describe(out, adjoint, diagonals, side);
    let every: Vec<&str> = (adjoint.params.iter().zip(step_gradients))
        .filter(|(_, every)| **every)
        .map(|(p, _)| p.name.as_str())
        .collect();
    if !every.is_empty() {
        let _ = writeln!(out, "  added at every step: {}", every.join(", "));
    }
    if !terms.is_empty() {
        let _ = writeln!(
            out,
            "  products beside the backward loop (when a core is free): {}",
            if beside { "yes" } else { "no" }
        );
    }
}
