//! How each parameter gradient is accumulated by the backward pass: per step in generated
//! code, as a weight-gradient sequence (rows stored, `Xᵀ Y` after the loop), or read off
//! another gradient's product (a derived term).

use super::compile::{SequenceTerm, Side, invariant};
use super::derived::{DerivedTerm, Factored, read_off_product};
use super::diagonal::{Available, DiagonalTerm, take_out};
use crate::adjoint::AdjointProgram;
use crate::step::{Op, StepProgram, ValueId};

/// How each parameter gradient is accumulated: the root's sum is split into terms; an outer
/// product used only there becomes a [`SequenceTerm`] (rows stored, one GEMM after the loop).
pub(super) struct GradientPlan {
    /// Per parameter, its terms.
    pub terms: Vec<Vec<Term>>,
}

/// One term of a parameter's gradient.
pub(super) enum Term {
    /// Store `x` and `y` rows into these sides.
    Sequence(ValueId, Side, ValueId, Side),
    /// Add the value to the gradient every step.
    Value(ValueId),
}

impl GradientPlan {
    /// Splits each gradient of `adjoint` into terms, adding sequence, derived and diagonal
    /// terms to the lists.
    pub fn new(
        adjoint: &AdjointProgram,
        sequences: &mut Vec<SequenceTerm>,
        lengths: &mut Vec<usize>,
        derived_terms: &mut Vec<DerivedTerm>,
        diagonals: &mut Vec<DiagonalTerm>,
    ) -> Self {
        let program = &adjoint.program;
        let mut uses = vec![0usize; program.insts.len()];
        for inst in &program.insts {
            for operand in inst.op.operands() {
                uses[operand.index()] += 1;
            }
        }
        for value in adjoint.state_adjoints.iter().chain(adjoint.param_grads.iter().flatten()) {
            uses[value.index()] += 1;
        }
        let mut terms = Vec::new();
        let (state_offsets, _) = super::layout::state_offsets(program);
        // One buffer per stored value, however many terms use it.
        let mut stored: std::collections::HashMap<ValueId, usize> = std::collections::HashMap::new();
        let split_grads: Vec<Vec<ValueId>> = (adjoint.param_grads.iter())
            .map(|grad| {
                let mut values = Vec::new();
                if let Some(grad) = grad {
                    split(program, *grad, &uses, &mut values);
                }
                values
            })
            .collect();
        // Per parameter: `(x, y)` when its one sequence term is `Σ_t x[t]ᵀ y[t]` (then its
        // flushed product is that sum alone, which a derived term may read).
        let sole_outer: Vec<Option<(ValueId, ValueId)>> = (split_grads.iter())
            .map(|values| {
                let sequences: Vec<&ValueId> = (values.iter())
                    .filter(|v| {
                        uses[v.index()] == 1 && matches!(program.inst(**v).op, Op::Outer(..) | Op::ScaledProduct(..))
                    })
                    .collect();
                match sequences[..] {
                    [one] => match program.inst(*one).op {
                        Op::Outer(x, y) => Some((x, y)),
                        _ => None,
                    },
                    _ => None,
                }
            })
            .collect();
        let invariant = invariant(program);
        for (param, values) in split_grads.into_iter().enumerate() {
            let mut list = Vec::new();
            for value in values {
                let (x, y, contract) = match program.inst(value).op {
                    Op::Outer(x, y) if uses[value.index()] == 1 => (x, y, None),
                    // A per-element scale kept in rows (not a broadcast scalar).
                    Op::ScaledProduct(c, x, w)
                        if uses[value.index()] == 1 && program.shape(c) == program.shape(value) =>
                    {
                        let Op::Param(weight) = program.inst(w).op else {
                            list.push(Term::Value(value));
                            continue;
                        };
                        // Read off another gradient's product when `c` is its `y` scaled.
                        let (c_factored, shape) = (Factored::of(program, c), program.shape(c));
                        let term = (param as u32, x, weight.0);
                        let derived = read_off_product(program, &invariant, &sole_outer, term, &c_factored, shape);
                        match derived {
                            Some(term) => {
                                derived_terms.push(term);
                                continue;
                            }
                            None => (x, c, Some(weight.0)),
                        }
                    }
                    _ => {
                        list.push(Term::Value(value));
                        continue;
                    }
                };
                // `x` rows that are states are read from the tape in place (they are the
                // gradient's rows, read with the tape's row stride).
                let mut side = |v: ValueId, from_tape: bool| match program.inst(v).op {
                    Op::Input(_) => Side::Input,
                    Op::State(state) if from_tape => {
                        Side::Tape { state: state.0, offset: state_offsets[state.0 as usize], next: false }
                    }
                    Op::NextState(state) if from_tape => {
                        Side::Tape { state: state.0, offset: state_offsets[state.0 as usize], next: true }
                    }
                    _ => {
                        let k = *stored.entry(v).or_insert_with(|| {
                            lengths.push(program.shape(v).len());
                            lengths.len() - 1
                        });
                        Side::Buffer(k, program.shape(v).len())
                    }
                };
                let (sx, sy) = (side(x, true), side(y, false));
                sequences.push(SequenceTerm {
                    param: param as u32,
                    x: sx,
                    y: sy,
                    rows: program.shape(x).len(),
                    cols: program.shape(y).len(),
                    contract,
                });
                list.push(Term::Sequence(x, sx, y, sy));
            }
            terms.push(list);
        }
        // A gradient added at every step that is a value stored anyway (a bias's `λ`, the `y`
        // rows of a weight's gradient) becomes the sum of those rows, after the loop (beside it
        // when a core is free) instead of an addition per step. Not for a parameter whose
        // flushed product a derived term reads (that must be its outer product alone).
        for (param, list) in terms.iter_mut().enumerate() {
            let len = program.params[param].shape.len();
            if derived_terms.iter().any(|term| term.from == param as u32) {
                continue;
            }
            for term in list.iter_mut() {
                let Term::Value(value) = *term else { continue };
                let buffer = (stored.iter())
                    .filter(|(v, k)| lengths[**k] == len && super::derived::same(program, **v, value))
                    .map(|(_, k)| *k)
                    .min();
                if let (Some(k), true) = (buffer, program.shape(value).len() == len) {
                    let y = Side::Buffer(k, len);
                    sequences.push(SequenceTerm {
                        param: param as u32,
                        x: Side::Ones,
                        y,
                        rows: 1,
                        cols: len,
                        contract: None,
                    });
                    *term = Term::Sequence(value, Side::Ones, value, y);
                }
            }
        }
        // A term still added at every step may be summed from rows after the loop (see
        // `diagonal`): not for a parameter whose flushed product a derived term reads, and
        // reading only the products of parameters with no other term (a derived term adding
        // to a parameter is one: it adds to the flushed product before others read it).
        let mut stored: Vec<(ValueId, usize)> = stored.into_iter().collect();
        stored.sort_by_key(|(_, k)| *k);
        let alone = |param: usize, list: &Vec<Term>| {
            list.len() == 1 && !derived_terms.iter().any(|term| term.param as usize == param)
        };
        let sole_outer: Vec<Option<(ValueId, ValueId)>> = (sole_outer.iter().zip(&terms).enumerate())
            .map(|(param, (outer, list))| if alone(param, list) { *outer } else { None })
            .collect();
        let sole_sum: Vec<Option<ValueId>> = (terms.iter().enumerate())
            .map(|(param, list)| match list[..] {
                [Term::Sequence(_, Side::Ones, y, _)] if alone(param, list) => Some(y),
                _ => None,
            })
            .collect();
        let available = Available {
            invariant: &invariant,
            stored: &stored,
            lengths,
            sole_outer: &sole_outer,
            sole_sum: &sole_sum,
            state_offsets: &state_offsets,
        };
        for (param, list) in terms.iter_mut().enumerate() {
            if derived_terms.iter().any(|term| term.from == param as u32) {
                continue;
            }
            list.retain(|term| {
                let Term::Value(value) = *term else { return true };
                match take_out(program, &available, param as u32, value) {
                    Some((diagonal, derived)) => {
                        diagonals.extend(diagonal);
                        derived_terms.extend(derived);
                        false
                    }
                    None => true,
                }
            });
        }
        GradientPlan { terms }
    }

    /// The value stored in each of the `count` sequence buffers.
    pub fn stored_values(&self, count: usize) -> Vec<ValueId> {
        let mut stored = vec![ValueId(0); count];
        for term in self.terms.iter().flatten() {
            if let Term::Sequence(x, sx, y, sy) = term {
                for (value, side) in [(x, sx), (y, sy)] {
                    if let Side::Buffer(k, _) = side
                        && *k < count
                    {
                        stored[*k] = *value;
                    }
                }
            }
        }
        stored
    }

    /// Per parameter: whether any of its terms is added at every step.
    pub fn step_gradients(&self) -> Vec<bool> {
        self.terms.iter().map(|terms| terms.iter().any(|term| matches!(term, Term::Value(_)))).collect()
    }

    /// The values the backward loop must compute for the terms.
    pub fn roots(&self) -> Vec<ValueId> {
        self.roots_but(|_, _| false)
    }

    /// The values the end of a backward step reads for the terms: stored rows, and the terms
    /// added at every step except those `added_by_run(param, value)` says a fused run adds.
    pub fn roots_but(&self, added_by_run: impl Fn(usize, ValueId) -> bool) -> Vec<ValueId> {
        let mut roots = Vec::new();
        for (param, terms) in self.terms.iter().enumerate() {
            for term in terms {
                match term {
                    Term::Sequence(x, sx, y, sy) => {
                        for (value, side) in [(x, sx), (y, sy)] {
                            if matches!(side, Side::Buffer(..)) {
                                roots.push(*value);
                            }
                        }
                    }
                    Term::Value(v) if added_by_run(param, *v) => {}
                    Term::Value(v) => roots.push(*v),
                }
            }
        }
        roots
    }
}

fn split(program: &StepProgram, value: ValueId, uses: &[usize], terms: &mut Vec<ValueId>) {
    match program.inst(value).op {
        Op::Binary(crate::step::BinaryOp::Add, a, b)
            if uses[value.index()] == 1
                && program.shape(a) == program.shape(value)
                && program.shape(b) == program.shape(value) =>
        {
            split(program, a, uses, terms);
            split(program, b, uses, terms);
        }
        _ => terms.push(value),
    }
}
