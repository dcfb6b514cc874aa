//! Readouts computed by the recurrent product's kernel call. A forward step that computes
//! `x @ W1` with the matrix–vector kernel (on the caller's copy of `W1`, rows padded to whole
//! vectors) and an output `x @ W2` of the same `x` (a readout) can have `W2`'s columns appended
//! to each row of the copy: one kernel call then computes both, and the readout's columns fall
//! in the padding the kernel computes anyway. A's readout (50 → 1) had been a dot-product call
//! per step (≈ 5 ns of 100). The readout is then summed like the kernel's other columns (fused
//! multiply-adds in row order) instead of in the dot kernel's order: other rounding, within
//! the tolerances the kernels already have against the interpreter.

use super::compile::LoopValues;
use super::derived::same;
use super::layout::{Base, Layout, Loc, padded};
use crate::step::{Op, StepProgram, ValueId};

/// Merges each output `x @ W2` into a kernel product `x @ W1` of the same step where its
/// columns fit the padding of `W1`'s copy; the
/// output is then not computed by itself in the step (`values.emit`); the epilogue that
/// computes outputs one step late, if any, runs the product's call for it, so every output
/// sums alike whatever the chunks. Returns the merged `(product, output)` pairs.
pub(super) fn merge_readouts(
    program: &StepProgram,
    values: &mut LoopValues,
    layout: &mut Layout,
) -> Vec<(ValueId, ValueId)> {
    let mut merged = Vec::new();
    let read: Vec<bool> = {
        let mut read = vec![false; program.insts.len()];
        for inst in &program.insts {
            for operand in inst.op.operands() {
                read[operand.index()] = true;
            }
        }
        read
    };
    let params = program.params.len();
    for output in program.outputs.iter().copied() {
        let Op::VecMat(x, w2) = program.inst(output).op else { continue };
        let Op::Param(w2) = program.inst(w2).op else { continue };
        let scratch =
            |v: ValueId| matches!(layout.locs[v.index()], Loc::Mem { base: Base::Scratch, scalar: false, .. });
        if read[output.index()] || !values.emit[output.index()] || !scratch(output) {
            continue;
        }
        let extra = program.shape(output).len();
        let product = (0..program.insts.len()).map(|i| ValueId(i as u32)).find(|p| {
            let Op::VecMat(px, _) = program.inst(*p).op else { return false };
            let Some(slot) = layout.copied[p.index()] else { return false };
            let cols = program.shape(*p).len();
            // The copy is this product's alone, untransposed, and the columns fit its padding.
            let alone = layout.copied.iter().filter(|s| **s == Some(slot)).count() == 1;
            let copy = layout.copies.get(slot - params);
            values.emit[p.index()]
                && *p != output
                && scratch(*p)
                && alone
                && copy.is_some_and(|c| !c.transposed && c.appended.is_none())
                && layout.appended[p.index()] == 0
                && same(program, px, x)
                && program.shape(px) == program.shape(x)
                && padded(cols + extra) == padded(cols)
        });
        let Some(product) = product else { continue };
        let Some(slot) = layout.copied[product.index()] else { continue };
        let cols = program.shape(product).len();
        // The product's slot holds its columns rounded up to 4 (see `layout`); if the appended
        // ones do not fit, it moves to a new slot at the end of scratch (nothing shares it).
        if cols + extra > cols.div_ceil(4) * 4 {
            layout.locs[product.index()] = Loc::Mem { base: Base::Scratch, offset: layout.scratch, scalar: false };
            layout.scratch += (cols + extra).div_ceil(4) * 4;
        }
        let Loc::Mem { base, offset, .. } = layout.locs[product.index()] else { continue };
        layout.copies[slot - params].appended = Some(w2.0);
        layout.appended[product.index()] = extra;
        layout.merged[output.index()] = Some(product);
        layout.locs[output.index()] = Loc::Mem { base, offset: offset + cols, scalar: false };
        values.emit[output.index()] = false;
        merged.push((product, output));
    }
    merged
}
