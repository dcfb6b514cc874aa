//! Carried values that live in weight-gradient rows. The backward loop runs from the last step
//! down; a value carried between its steps, `f(x⁺)` at step t, is the `f(x)` produced at step
//! t + 1 (see [`super::carry`]). When the produced value is computed straight in its row of a
//! sequence buffer (`rows_in_place`: a Rate's `tanh(x − θ)`, the `x` rows of `w_rec`'s
//! gradient), the carried value is that buffer's next row. Then nothing copies it into a slot
//! at the end of each step, and a gradient term storing the carried value as rows (a readout's
//! `x` rows, `tanh(x⁺ − θ)`) reads that buffer one row later ([`Side::NextRow`]) instead of a
//! copy. The first step of a call (its last in time) reads the row after the call's rows,
//! which the prologue writes: every region of a row buffer has a spare row after it (see
//! `Rows`), and consecutive calls of an element write the later call's first row again, with
//! the same value.

use super::compile::{LoopValues, SequenceTerm, Side};
use super::diagonal::DiagonalTerm;
use super::layout::{Base, Layout, Loc};
use super::plan::{GradientPlan, Term};
use crate::step::StepProgram;

/// Moves the backward loop's carried values whose producers are computed in sequence rows into
/// those buffers' next rows, and points the terms that stored them at those rows (their own
/// buffers then get length 0); returns whether it moved any (the row buffers then need a row
/// after each segment, see `rows::Capacity`). Call after `rows_in_place`.
pub(super) fn carried_in_rows(
    program: &StepProgram,
    values: &LoopValues,
    plan: &mut GradientPlan,
    layout: &mut Layout,
    (sequences, lengths, diagonals): (&mut [SequenceTerm], &mut [usize], &[DiagonalTerm]),
) -> bool {
    let mut moved_any = false;
    for carry in &values.carries {
        let Loc::Mem { base: Base::Sequence(k), offset: 0, scalar: false } = layout.locs[carry.produced.index()] else {
            continue;
        };
        let (k, len) = (k as usize, program.shape(carry.carried).len());
        let in_scratch = matches!(layout.locs[carry.carried.index()], Loc::Mem { base: Base::Scratch, .. });
        if !in_scratch || lengths.get(k) != Some(&len) {
            continue;
        }
        layout.locs[carry.carried.index()] = Loc::Mem { base: Base::Sequence(k as u32), offset: len, scalar: false };
        moved_any = true;
        // Buffers storing the carried value (none a diagonal term reads) read k one row later.
        let stored = plan.stored_values(lengths.len());
        for (j, value) in stored.iter().enumerate() {
            let read_by_diagonal = |side: Side| side == Side::Buffer(j, len);
            // The carried value itself (not a copy computed in its own row, which the step
            // would go on writing to a buffer of length 0).
            let in_row = |loc: &Loc| matches!(loc, Loc::Mem { base: Base::Sequence(b), .. } if *b as usize == j);
            let stores_carried =
                *value == carry.carried && j != k && lengths[j] == len && !layout.locs.iter().any(in_row);
            if !stores_carried || diagonals.iter().any(|d| read_by_diagonal(d.x) || read_by_diagonal(d.y)) {
                continue;
            }
            let moved = |side: &mut Side| {
                if *side == Side::Buffer(j, len) {
                    *side = Side::NextRow(k, len);
                }
            };
            for term in plan.terms.iter_mut().flatten() {
                if let Term::Sequence(_, sx, _, sy) = term {
                    moved(sx);
                    moved(sy);
                }
            }
            for term in sequences.iter_mut() {
                moved(&mut term.x);
                moved(&mut term.y);
            }
            lengths[j] = 0;
        }
    }
    moved_any
}

/// Whether copying `produced` to `carried` at the end of a step is unneeded: the carried value
/// is the next row of the buffer the producer writes (see [`carried_in_rows`]).
pub(super) fn read_in_place(produced: Loc, carried: Loc, len: usize) -> bool {
    match (produced, carried) {
        (Loc::Mem { base: a, offset: 0, .. }, Loc::Mem { base: b, offset, .. }) => {
            a == b && matches!(a, Base::Sequence(_)) && offset == len
        }
        _ => false,
    }
}
