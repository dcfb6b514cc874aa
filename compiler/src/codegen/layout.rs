//! Where each value of a step program lives while generated code runs: a constant, a
//! parameter / input / state / seed / adjoint buffer, or a slot of the scratch buffer.

use crate::step::{Op, Shape, StepProgram, ValueId};

/// A buffer generated code reads from or writes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Base {
    /// Per-step scratch (intermediate values).
    Scratch,
    /// A parameter tensor.
    Param(u32),
    /// This step's input row.
    Input,
    /// The states before the step: the step's row of the state tape (which the forward loop
    /// writes and the backward loop reads).
    State,
    /// This step's `∂L/∂output` row.
    Seed,
    /// `λ` of the states' new values.
    StateAdjoint,
    /// This step's output row (written).
    Output,
    /// The states after the step (forward: the tape's next row) or the `λ`s the backward step
    /// passes to the step before (written).
    NextState,
    /// A parameter's gradient accumulator (written by the backward loop).
    Grad(u32),
    /// This step's row of a product computed for all steps before the loop.
    Precomputed(u32),
    /// This step's row of a sequence stored for a weight gradient after the loop.
    Sequence(u32),
}

/// The location of a value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Loc {
    /// A number, the same for every element.
    Const(f64),
    /// Elements `offset..offset + len` of a buffer; `scalar` means one element read for all.
    Mem {
        /// The buffer.
        base: Base,
        /// First element.
        offset: usize,
        /// Whether it is one element broadcast to the value's shape.
        scalar: bool,
    },
}

/// Locations of every value, and the buffer sizes they need.
#[derive(Clone, Debug)]
pub struct Layout {
    /// By value id.
    pub locs: Vec<Loc>,
    /// Elements of scratch.
    pub scratch: usize,
    /// Offset of each state in the state buffers.
    pub state_offsets: Vec<usize>,
    /// Elements of one state buffer.
    pub state_size: usize,
    /// Offset of each output in an output row.
    pub output_offsets: Vec<usize>,
    /// Elements of an output row.
    pub output_size: usize,
    /// For a product with a parameter the kernels compute (`x @ W`, or `x @ Wᵀ` run as the
    /// faster `x @ (Wᵀ)`): the slot of the caller's copy of `W` (or `Wᵀ`) in the
    /// parameter-pointer table (after the parameters). Copies have rows padded to
    /// [`padded`] elements and start 64-byte aligned, so no vector load straddles two cache
    /// lines: measured, a 50 × 50 product took 66 ns with rows of 56 floats against 86 ns with
    /// rows of 50. The caller copies once per call of `evolve` or `value_and_grad`.
    pub copied: Vec<Option<usize>>,
    /// The copies that follow the parameters in the pointer table, in order.
    pub copies: Vec<KernelCopy>,
    /// Per value: columns its kernel product computes beyond its own, into the elements after
    /// it (another product of the same `x`, see [`super::merge`]); 0 for most.
    pub appended: Vec<usize>,
    /// Per value: for an output computed by another product's kernel call (see
    /// [`super::merge`]), that product.
    pub merged: Vec<Option<ValueId>>,
}

/// A parameter matrix the caller copies for the kernels (see [`Layout::copied`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelCopy {
    /// The parameter.
    pub param: u32,
    /// Whether the copy is `Wᵀ`.
    pub transposed: bool,
    /// A parameter whose columns follow `W`'s in each row of the copy (see [`super::merge`]).
    pub appended: Option<u32>,
}

/// Matrices up to this many elements are copied; larger ones are bandwidth-bound either way
/// (measured equal at 1000 × 1000) and the copy would double their memory.
const MAX_COPIED: usize = 1 << 16;

/// Elements in a copied row of `len` elements: a multiple of 8 (32 bytes of f32, a 256-bit
/// vector), so that aligned rows keep every vector load inside one cache line.
pub fn padded(len: usize) -> usize {
    len.next_multiple_of(8)
}

/// Where each state starts in a state buffer (or tape row), and the buffer's length.
pub fn state_offsets(program: &StepProgram) -> (Vec<usize>, usize) {
    let mut offsets = Vec::with_capacity(program.states.len());
    let mut size = 0;
    for state in &program.states {
        offsets.push(size);
        size += state.shape.len();
    }
    (offsets, size)
}

/// Assigns locations to the values `needed` (others get none and are not computed); values in
/// `fixed` already live where it says (precomputed products).
pub fn layout(program: &StepProgram, needed: &[bool], fixed: &[(usize, Loc)], kernels: bool) -> Layout {
    let (state_offsets, state_size) = state_offsets(program);
    // Output rows: the program's outputs, or in an adjoint program (which has none) the
    // shapes of its seeds, which stand for the forward outputs.
    let mut output_lengths: Vec<usize> = program.outputs.iter().map(|o| program.shape(*o).len()).collect();
    for inst in &program.insts {
        if let Op::Seed(o) = inst.op {
            let o = o as usize;
            if output_lengths.len() <= o {
                output_lengths.resize(o + 1, 0);
            }
            output_lengths[o] = output_lengths[o].max(inst.shape.len());
        }
    }
    let mut output_offsets = Vec::new();
    let mut output_size = 0;
    for length in output_lengths {
        output_offsets.push(output_size);
        output_size += length;
    }
    let mut scratch = 0;
    let mut locs = Vec::with_capacity(program.insts.len());
    for (index, inst) in program.insts.iter().enumerate() {
        let mem = |base, offset| Loc::Mem { base, offset, scalar: false };
        let loc = match inst.op {
            Op::Const(value) => Loc::Const(value),
            Op::Param(p) => mem(Base::Param(p.0), 0),
            Op::Input(_) => mem(Base::Input, 0),
            Op::State(s) => mem(Base::State, state_offsets[s.0 as usize]),
            Op::Seed(o) => mem(Base::Seed, output_offsets.get(o as usize).copied().unwrap_or(0)),
            Op::StateAdjoint(s) => mem(Base::StateAdjoint, state_offsets[s.0 as usize]),
            // Backward functions read states from the tape: the next row is the new state.
            Op::NextState(s) => mem(Base::State, state_size + state_offsets[s.0 as usize]),
            _ if fixed.iter().any(|(value, _)| *value == index) => {
                fixed.iter().find(|(value, _)| *value == index).map_or(Loc::Const(0.0), |(_, loc)| *loc)
            }
            Op::Broadcast(inner) => match locs.get(inner.index()) {
                Some(Loc::Const(value)) => Loc::Const(*value),
                Some(Loc::Mem { base, offset, .. }) => Loc::Mem { base: *base, offset: *offset, scalar: true },
                None => Loc::Const(0.0),
            },
            _ if !needed[index] => Loc::Const(0.0),
            _ => {
                let loc = mem(Base::Scratch, scratch);
                // Keep vector slots aligned to 16 bytes for f32x4 / f64x2 access.
                scratch += inst.shape.len().div_ceil(4) * 4;
                loc
            }
        };
        let loc = match (loc, inst.shape) {
            (Loc::Mem { base, offset, .. }, Shape::Scalar) => Loc::Mem { base, offset, scalar: true },
            (loc, _) => loc,
        };
        locs.push(loc);
    }
    let mut copied = vec![None; program.insts.len()];
    let mut copies: Vec<KernelCopy> = Vec::new();
    if kernels {
        for (index, inst) in program.insts.iter().enumerate() {
            let (x, w, transposed) = match inst.op {
                Op::VecMat(x, w) | Op::ScaledProduct(_, x, w) => (x, w, false),
                Op::VecMatT(x, w) => (x, w, true),
                _ => continue,
            };
            let (rows, cols) = (program.shape(x).len(), inst.shape.len());
            // Only products the kernels will compute in the loop (not precomputed ones).
            if needed[index]
                && rows > 1
                && cols > 1
                && !fixed.iter().any(|(value, _)| *value == index)
                && super::emit::kernel_applies(locs[x.index()], locs[w.index()], locs[index], rows, cols)
                && let Op::Param(param) = program.inst(w).op
                && program.shape(w).len() <= MAX_COPIED
            {
                let copy = KernelCopy { param: param.0, transposed, appended: None };
                let slot = copies.iter().position(|c| *c == copy).unwrap_or_else(|| {
                    copies.push(copy);
                    copies.len() - 1
                });
                copied[index] = Some(program.params.len() + slot);
            }
        }
    }
    let (appended, merged) = (vec![0; program.insts.len()], vec![None; program.insts.len()]);
    Layout { locs, scratch, state_offsets, state_size, output_offsets, output_size, copied, copies, appended, merged }
}
