//! Loop fusion: runs of elementwise instructions of the same length are emitted as one loop
//! over vector chunks, keeping intermediate values in registers and storing only the values
//! something outside the run reads. For small layers this removes most loads and stores.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use cranelift_codegen::ir::{InstBuilder, Value, types};

use super::emit::{Emitter, Index, Width};
use super::layout::Loc;
use super::schedule::{Fusion, silent};
use crate::step::{Op, StepProgram, ValueId};

/// Vector chunks up to this count are unrolled; longer runs become loops.
const UNROLL_CHUNKS: usize = 16;

impl Emitter<'_, '_> {
    /// What this emitter's runs compute (see [`Fusion`]).
    pub fn fusion(&self) -> Fusion {
        Fusion { f32: self.elem == types::F32, native_tanh: self.host.tanh_rational.is_some() }
    }

    /// Emits `run` (fusable instructions of one length, in order) as one loop; values in
    /// `escapes` are stored, the rest live only in registers; values in `sums` are added to
    /// the location given with them (a gradient). An operand read as one element for all (a
    /// scalar, or the `x[0]` of [`is_scaled_row`]) is loaded and splat once per run.
    pub fn fused(&mut self, program: &StepProgram, run: &[ValueId], escapes: &[bool], sums: &[(ValueId, Loc)]) {
        let len = program.shape(run[0]).len();
        let lanes = self.lanes;
        let chunks = len / lanes;
        // Each one-element operand read from outside the run: (its element, its splat).
        let mut broadcast: HashMap<ValueId, (Value, Value)> = HashMap::new();
        for value in run {
            for (operand, loc) in self.operand_locs(program, *value) {
                let outside = !run.contains(&operand);
                if let (true, Loc::Mem { scalar: true, .. }, Entry::Vacant(entry)) =
                    (outside, loc, broadcast.entry(operand))
                {
                    let element = self.load(loc, Index::Fixed(0));
                    let splat = self.b.ins().splat(self.vector, element);
                    entry.insert((element, splat));
                }
            }
        }
        let body = |e: &mut Self, index: Index, width: Width| {
            // The run's values, and operands read from memory: each is loaded once per chunk
            // (the run's stores go to its own values' slots, so a load later in the chunk
            // would read the same elements; Cranelift does not merge loads across stores).
            let mut registers: HashMap<ValueId, Value> = HashMap::new();
            for value in run {
                let op = program.insts[value.index()].op;
                let operands: Vec<Value> = e
                    .operand_locs(program, *value)
                    .into_iter()
                    .map(|(operand, loc)| match (registers.get(&operand), broadcast.get(&operand)) {
                        (Some(register), _) => *register,
                        (None, Some((element, splat))) => {
                            if width.vector() {
                                *splat
                            } else {
                                *element
                            }
                        }
                        (None, None) => {
                            let loaded = e.load_width(loc, index, width);
                            registers.insert(operand, loaded);
                            loaded
                        }
                    })
                    .collect();
                let result = e.compute(op, &operands, width.vector());
                registers.insert(*value, result);
                if escapes[value.index()] {
                    let dest = e.layout.locs[value.index()];
                    e.store_width(dest, index, result, width);
                }
                // A value may be the term of several parameters (`a` and `b` of `tanh(a + b)`).
                for (_, total) in sums.iter().filter(|(summed, _)| summed == value) {
                    let before = e.load_width(*total, index, width);
                    let after = e.b.ins().fadd(before, result);
                    e.store_width(*total, index, after, width);
                }
            }
        };
        if chunks <= UNROLL_CHUNKS {
            for chunk in 0..chunks {
                body(self, Index::Fixed(chunk * lanes), Width::Vector);
            }
        } else {
            self.counted_loop(chunks, |e, chunk| {
                let element = e.b.ins().imul_imm_s(chunk, lanes as i64);
                body(e, Index::Dynamic(element, 0), Width::Vector);
            });
        }
        for (i, width) in self.tail(chunks, len) {
            body(self, Index::Fixed(i), width);
        }
    }

    /// The operands of `value` with the locations a fused run reads them from: the one element
    /// of a scaled row's `x` ([`is_scaled_row`]) is read for every element.
    fn operand_locs(&self, program: &StepProgram, value: ValueId) -> Vec<(ValueId, Loc)> {
        let op = program.insts[value.index()].op;
        let row = is_scaled_row(program, value);
        op.operands()
            .into_iter()
            .enumerate()
            .map(|(position, operand)| {
                let loc = self.layout.locs[operand.index()];
                match (row && position == 0, loc) {
                    (true, Loc::Mem { base, offset, .. }) => (operand, Loc::Mem { base, offset, scalar: true }),
                    _ => (operand, loc),
                }
            })
            .collect()
    }
}

/// Whether `value` is a product with a one-element `x` (`x[1] @ W[1, n]`, or `x[1] @ Wᵀ` for
/// `W[n, 1]`: a layer with one input channel, or the adjoint of a readout with one output): an
/// elementwise product of the contiguous row (or column) of `W` by `x[0]`, which fuses with its
/// neighbours instead of being stored and read back.
pub fn is_scaled_row(program: &StepProgram, value: ValueId) -> bool {
    matches!(program.insts[value.index()].op, Op::VecMat(x, _) | Op::VecMatT(x, _) if program.shape(x).len() == 1)
}

/// Groups the instructions to emit into fusable runs (instructions that emit nothing, such as
/// parameter reads, do not break a run) and single instructions.
pub enum Piece {
    /// One instruction emitted on its own.
    Single(ValueId),
    /// A fused run.
    Run(Vec<ValueId>),
}

/// Splits `values` (in the order they are computed) into pieces for `fusion`.
pub fn pieces(fusion: Fusion, program: &StepProgram, values: &[ValueId]) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut run: Vec<ValueId> = Vec::new();
    let mut run_len = 0;
    for value in values {
        let inst = program.insts[value.index()];
        if silent(&inst.op) {
            pieces.push(Piece::Single(*value));
            continue;
        }
        let len = inst.shape.len();
        if fusion.in_run(program, *value) {
            if !run.is_empty() && len != run_len {
                pieces.push(Piece::Run(std::mem::take(&mut run)));
            }
            run_len = len;
            run.push(*value);
        } else {
            if !run.is_empty() {
                pieces.push(Piece::Run(std::mem::take(&mut run)));
            }
            pieces.push(Piece::Single(*value));
        }
    }
    if !run.is_empty() {
        pieces.push(Piece::Run(run));
    }
    pieces
}

/// Which values must be stored: read by an instruction outside their run, or a root. Only
/// `readers` count (the instructions some phase of the function computes): an instruction a
/// rewrite left unused, such as the quotient whose scale joined its reciprocal, reads nothing.
pub fn escapes(
    fusion: Fusion,
    program: &StepProgram,
    pieces: &[Piece],
    roots: &[ValueId],
    readers: &[bool],
) -> Vec<bool> {
    let mut run_of = vec![usize::MAX; program.insts.len()];
    for (index, piece) in pieces.iter().enumerate() {
        if let Piece::Run(values) = piece {
            for value in values {
                run_of[value.index()] = index;
            }
        }
    }
    let mut escapes = vec![false; program.insts.len()];
    for root in roots {
        escapes[root.index()] = true;
    }
    for index in (0..program.insts.len()).filter(|index| readers[*index]) {
        for operand in fusion.operands(program, ValueId(index as u32)) {
            if run_of[operand.index()] != run_of[index] || run_of[operand.index()] == usize::MAX {
                escapes[operand.index()] = true;
            }
        }
    }
    escapes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step::{BinaryOp, Shape, StateId, StateInit, StateSlot, UnaryOp};

    #[test]
    fn only_readers_outside_the_run_make_a_value_escape() {
        let v = Shape::Vector(4);
        let mut p = StepProgram {
            states: vec![StateSlot { name: "x".into(), shape: v, init: StateInit::Constant(0.0) }],
            ..StepProgram::default()
        };
        let x = p.push(Op::State(StateId(0)), v);
        let a = p.push(Op::Binary(BinaryOp::Add, x, x), v);
        let b = p.push(Op::Binary(BinaryOp::Mul, a, a), v);
        // Reads `a` outside the run: a later piece, or a value left unused by a rewrite.
        let late = p.push(Op::Unary(UnaryOp::Neg, a), v);
        let pieces = [Piece::Single(x), Piece::Run(vec![a, b])];
        let mut readers = vec![true; p.insts.len()];
        let fusion = Fusion { f32: true, native_tanh: false };
        let stored = escapes(fusion, &p, &pieces, &[b], &readers);
        assert!(stored[a.index()] && stored[b.index()] && stored[x.index()]);
        readers[late.index()] = false;
        let stored = escapes(fusion, &p, &pieces, &[b], &readers);
        assert!(!stored[a.index()], "an instruction nothing computes reads nothing");
        assert!(stored[b.index()], "roots are stored");
    }
}
