//! Gradient terms added at every step that become sums after the loop. A term
//! `∂L/∂θ += c[t] ⊙ a[t]` whose coefficient is `c = k ⊙ y`, with `k` a loop invariant and `y`
//! rows the backward loop stores anyway (for another gradient), and whose factor `a` is a sum
//! of values whose rows exist after the loop, adds per summand of `a`:
//! - a state `s`: `k[j] Σ_t s[t, j] y[t, j]`, from the tape's rows and `y`'s (a [`DiagonalTerm`]);
//! - a stored value: the same, from its rows;
//! - a loop invariant `b`: `k[j] b[j] Σ_t y[t, j]`, read off another gradient that is that sum
//!   (a bias's; a [`DerivedTerm`] without weight), else a [`DiagonalTerm`] with ones as `x`;
//! - a product `x @ W` whose `Σ_t x[t]ᵀ y'[t]` is another gradient's whole product `G`, with
//!   `c = k' ⊙ y'`: `k'[j] Σ_i W[i, j] G[i, j]` (a [`DerivedTerm`]).
//!
//! The loop then neither computes nor adds the term. In the Rate model, τ's term
//! `−((−x + i + b) / τ² ⊙ t5)` is all of these (`y = λ·dt/τ`, the rows of `w_rec`'s and the
//! bias's gradients; `i = input @ W_in`). The sums are the same in exact arithmetic; rounding
//! differs (products reordered).

use std::fmt::Write;

use super::JitReal;
use super::compile::Side;
use super::derived::{DerivedTerm, Factored, describe_scale, quotient, read_off_product, same};
use crate::step::{BinaryOp, Op, Shape, StepProgram, UnaryOp, ValueId};

/// `∂L/∂param[j] += k[j] Σ_t x[t, j] y[t, j]`, summed from rows after the loop.
#[derive(Clone, Debug, PartialEq)]
pub struct DiagonalTerm {
    /// The parameter whose gradient this adds to.
    pub param: u32,
    /// `x`: a state's rows on the tape, stored rows, or ones.
    pub x: Side,
    /// `y`: stored rows.
    pub y: Side,
    /// Columns (the parameter's length).
    pub cols: usize,
    /// Computes `k` (its last instruction) from the parameters alone.
    pub scale: StepProgram,
}

/// What the search for a term's rows may read.
pub(super) struct Available<'a> {
    /// Loop invariants (by value).
    pub invariant: &'a [bool],
    /// The stored values and their buffers, in buffer order.
    pub stored: &'a [(ValueId, usize)],
    /// Row length of each buffer.
    pub lengths: &'a [usize],
    /// Per parameter: `(x, y)` when its gradient is `Σ_t x[t]ᵀ y[t]` alone (a derived term may
    /// read its product).
    pub sole_outer: &'a [Option<(ValueId, ValueId)>],
    /// Per parameter: `y` when its gradient is `Σ_t y[t]` alone (a bias's; a derived term may
    /// read it).
    pub sole_sum: &'a [Option<ValueId>],
    /// First element of each state in a tape row.
    pub state_offsets: &'a [usize],
}

/// The terms that replace `param`'s per-step term `value`, if it has the form above.
pub(super) fn take_out(
    program: &StepProgram,
    available: &Available<'_>,
    param: u32,
    value: ValueId,
) -> Option<(Vec<DiagonalTerm>, Vec<DerivedTerm>)> {
    let shape = program.shape(value);
    let Shape::Vector(cols) = shape else { return None };
    let whole = Factored::of(program, value);
    for (index, (a, power)) in whole.factors.iter().enumerate() {
        if *power != 1 || available.invariant[a.index()] || program.shape(*a) != shape {
            continue;
        }
        let mut c = whole.clone();
        c.factors.remove(index);
        let mut summands = Vec::new();
        split_sum(program, *a, 1.0, &mut summands);
        for (y, buffer) in available.stored {
            if available.lengths[*buffer] != cols
                || quotient(program, available.invariant, c.clone(), shape, *y).is_none()
            {
                continue;
            }
            let rows = Side::Buffer(*buffer, cols);
            let terms = (summands.iter())
                .map(|(leaf, sign)| {
                    let mut c = c.clone();
                    c.constant *= sign;
                    summand(program, available, (param, cols), *leaf, c, (*y, rows))
                })
                .collect::<Option<Vec<Moved>>>();
            if let Some(terms) = terms {
                let mut out = (Vec::new(), Vec::new());
                for term in terms {
                    match term {
                        Moved::Diagonal(term) => out.0.push(term),
                        Moved::Derived(term) => out.1.push(term),
                    }
                }
                return Some(out);
            }
        }
    }
    None
}

/// What one summand of `a` becomes.
enum Moved {
    Diagonal(DiagonalTerm),
    Derived(DerivedTerm),
}

/// The term for `c ⊙ leaf` (see the module's list), `y` stored in `rows`.
fn summand(
    program: &StepProgram,
    available: &Available<'_>,
    (param, cols): (u32, usize),
    leaf: ValueId,
    mut c: Factored,
    (y, rows): (ValueId, Side),
) -> Option<Moved> {
    let shape = Shape::Vector(cols);
    let invariant = available.invariant;
    let tape = |state: crate::step::StateId, next: bool| Side::Tape {
        state: state.0,
        offset: available.state_offsets[state.0 as usize],
        next,
    };
    let stored_rows = |leaf: ValueId| {
        (available.stored.iter())
            .find(|(v, k)| available.lengths[*k] == cols && same(program, *v, leaf))
            .map(|(_, k)| Side::Buffer(*k, cols))
    };
    let leaf_shape = program.shape(leaf);
    let x = match program.inst(leaf).op {
        _ if invariant[leaf.index()] && (leaf_shape == Shape::Scalar || leaf_shape == shape) => {
            c.factors.push((leaf, 1));
            // `Σ_t y'[t]` is another gradient already: read it (with `c = k ⊙ y'`).
            let read = (available.sole_sum.iter().enumerate()).find_map(|(from, sum)| {
                // The sum must have this term's columns (else `add_derived` could not add it).
                let sum = (*sum).filter(|y| program.shape(*y) == shape)?;
                let scale = quotient(program, invariant, c.clone(), shape, sum)?;
                Some(Moved::Derived(DerivedTerm { param, from: from as u32, weight: None, scale }))
            });
            if read.is_some() {
                return read;
            }
            Side::Ones
        }
        Op::State(state) if leaf_shape == shape => tape(state, false),
        Op::NextState(state) if leaf_shape == shape => tape(state, true),
        Op::VecMat(x, w) if leaf_shape == shape => {
            let read = match program.inst(w).op {
                Op::Param(weight) => {
                    read_off_product(program, invariant, available.sole_outer, (param, x, weight.0), &c, shape)
                }
                _ => None,
            };
            match read {
                Some(term) => return Some(Moved::Derived(term)),
                None => stored_rows(leaf)?,
            }
        }
        _ => stored_rows(leaf)?,
    };
    let scale = quotient(program, invariant, c, shape, y)?;
    Some(Moved::Diagonal(DiagonalTerm { param, x, y: rows, cols, scale }))
}

/// `value` as a sum of signed summands (through sums, differences and negations).
fn split_sum(program: &StepProgram, value: ValueId, sign: f64, out: &mut Vec<(ValueId, f64)>) {
    match program.inst(value).op {
        Op::Binary(BinaryOp::Add, a, b) if program.shape(a) == program.shape(b) => {
            split_sum(program, a, sign, out);
            split_sum(program, b, sign, out);
        }
        Op::Binary(BinaryOp::Sub, a, b) if program.shape(a) == program.shape(b) => {
            split_sum(program, a, sign, out);
            split_sum(program, b, -sign, out);
        }
        Op::Unary(UnaryOp::Neg, a) => split_sum(program, a, -sign, out),
        _ => out.push((value, sign)),
    }
}

/// `sums[j] += Σ_t x[t · stride + j] y[t · cols + j]` over `rows` rows, `x` ones when `None`,
/// `cols = sums.len()`; nothing if a side is too short. Each column adds the sum of its even rows
/// and that of its odd rows, each in row order (the same bits however columns are vectorised).
pub(super) fn add_diagonal<T: JitReal>(sums: &mut [T], x: Option<(&[T], usize)>, y: &[T], rows: usize) {
    let cols = sums.len();
    let short = match x {
        Some((x, stride)) => rows > 0 && x.len() < (rows - 1) * stride + cols,
        None => false,
    };
    if rows == 0 || cols == 0 || y.len() < rows * cols || short {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if super::matvec::available() {
        // SAFETY: AVX2 and FMA are present (checked just above).
        unsafe { diagonal_avx2(sums, x, y, rows) };
        return;
    }
    diagonal(sums, x, y, rows);
}

/// [`diagonal`] compiled for AVX2 (eight f32 columns per instruction, against four).
///
/// # Safety
/// AVX2 and FMA must be present.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn diagonal_avx2<T: JitReal>(sums: &mut [T], x: Option<(&[T], usize)>, y: &[T], rows: usize) {
    diagonal(sums, x, y, rows);
}

/// The sums of [`add_diagonal`] (lengths checked by the caller), over blocks of 32, 16, 8, 4, 2
/// and 1 columns whose partial sums stay in registers over the rows (summing all columns row
/// by row loads and stores every sum once per row), two sets of them (even and odd rows) so
/// that the additions do not wait for each other.
#[inline(always)]
fn diagonal<T: JitReal>(sums: &mut [T], x: Option<(&[T], usize)>, y: &[T], rows: usize) {
    let cols = sums.len();
    let mut j = 0;
    while j < cols {
        let x = x.map(|(x, stride)| (&x[j..], stride));
        let (y, rest) = (&y[j..], &mut sums[j..]);
        j += match rest.len() {
            32.. => columns::<T, 32>(rest, x, y, cols, rows),
            16.. => columns::<T, 16>(rest, x, y, cols, rows),
            8.. => columns::<T, 8>(rest, x, y, cols, rows),
            4.. => columns::<T, 4>(rest, x, y, cols, rows),
            2.. => columns::<T, 2>(rest, x, y, cols, rows),
            _ => columns::<T, 1>(rest, x, y, cols, rows),
        };
    }
}

/// Adds the sums of the first `W` columns (rows `stride` and `y_stride` apart): the even rows'
/// and the odd rows' sums (each in row order), then their sum; returns `W`.
#[inline(always)]
fn columns<T: JitReal, const W: usize>(
    sums: &mut [T],
    x: Option<(&[T], usize)>,
    y: &[T],
    y_stride: usize,
    rows: usize,
) -> usize {
    let (mut even, mut odd) = ([T::zero(); W], [T::zero(); W]);
    let y_row = |t: usize| &y[t * y_stride..t * y_stride + W];
    match x {
        None => {
            for t in (0..rows).step_by(2) {
                let a = y_row(t);
                for c in 0..W {
                    even[c] = even[c].add(a[c]);
                }
                if t + 1 < rows {
                    let b = y_row(t + 1);
                    for c in 0..W {
                        odd[c] = odd[c].add(b[c]);
                    }
                }
            }
        }
        Some((x, stride)) => {
            let x_row = |t: usize| &x[t * stride..t * stride + W];
            for t in (0..rows).step_by(2) {
                let (xa, ya) = (x_row(t), y_row(t));
                for c in 0..W {
                    even[c] = even[c].add(xa[c].mul(ya[c]));
                }
                if t + 1 < rows {
                    let (xb, yb) = (x_row(t + 1), y_row(t + 1));
                    for c in 0..W {
                        odd[c] = odd[c].add(xb[c].mul(yb[c]));
                    }
                }
            }
        }
    }
    for c in 0..W {
        sums[c] = sums[c].add(even[c].add(odd[c]));
    }
    W
}

/// The diagonal terms in words, for the generated-code summary.
pub(super) fn describe(out: &mut String, adjoint: &StepProgram, terms: &[DiagonalTerm], side: impl Fn(Side) -> String) {
    for term in terms {
        let name = &adjoint.params[term.param as usize].name;
        let scale = describe_scale(&term.scale);
        let _ = match term.x {
            Side::Ones => writeln!(
                out,
                "  after the loop: ∂L/∂{name} += k ⊙ the sum of the rows of {}, k = {scale}",
                side(term.y)
            ),
            x => writeln!(
                out,
                "  after the loop: ∂L/∂{name}[j] += k[j] Σ_t x[t, j] y[t, j], x rows of {}, y rows of {}, k = {scale}",
                side(x),
                side(term.y)
            ),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codegen::compile::invariant;
    use crate::codegen::derived::scale_values;
    use crate::step::{ParamId, ParamSlot, StateId, StateInit, StateSlot};

    /// Rate's τ term `−((−x + i + b) / τ / τ ⊙ t5)` with `y = t5 / τ` stored in buffer 0,
    /// `i = input @ W` (W's gradient `Σ_t inputᵀ y`) and b's gradient `Σ_t y`. Params: W [1, 3]
    /// (p0), τ [3] (p1), b [3] (p2); state x [3].
    struct Rate {
        program: StepProgram,
        term: ValueId,
        y: ValueId,
        input: ValueId,
        i: ValueId,
    }

    fn rate() -> Rate {
        let v = Shape::Vector(3);
        let param = |name: &str, shape| ParamSlot { name: name.into(), shape };
        let mut p = StepProgram {
            params: vec![param("w", Shape::Matrix(1, 3)), param("tau", v), param("b", v)],
            states: vec![StateSlot { name: "x".into(), shape: v, init: StateInit::Constant(0.0) }],
            inputs: vec![1],
            ..StepProgram::default()
        };
        let w = p.push(Op::Param(ParamId(0)), Shape::Matrix(1, 3));
        let tau = p.push(Op::Param(ParamId(1)), v);
        let b = p.push(Op::Param(ParamId(2)), v);
        let x = p.push(Op::State(StateId(0)), v);
        let input = p.push(Op::Input(0), Shape::Vector(1));
        let i = p.push(Op::VecMat(input, w), v);
        let lambda = p.push(Op::StateAdjoint(StateId(0)), v);
        let dt = p.push(Op::Const(0.001), Shape::Scalar);
        let t5 = p.push(Op::Binary(BinaryOp::Mul, lambda, dt), v);
        let y = p.push(Op::Binary(BinaryOp::Div, t5, tau), v);
        let minus_x = p.push(Op::Unary(UnaryOp::Neg, x), v);
        let sum = p.push(Op::Binary(BinaryOp::Add, minus_x, i), v);
        let a = p.push(Op::Binary(BinaryOp::Add, sum, b), v);
        let once = p.push(Op::Binary(BinaryOp::Div, a, tau), v);
        let twice = p.push(Op::Binary(BinaryOp::Div, once, tau), v);
        let product = p.push(Op::Binary(BinaryOp::Mul, twice, t5), v);
        let term = p.push(Op::Unary(UnaryOp::Neg, product), v);
        Rate { program: p, term, y, input, i }
    }

    fn available<'a>(
        invariant: &'a [bool],
        stored: &'a [(ValueId, usize)],
        outer: &'a [Option<(ValueId, ValueId)>],
        sums: &'a [Option<ValueId>],
    ) -> Available<'a> {
        Available { invariant, stored, lengths: &[3], sole_outer: outer, sole_sum: sums, state_offsets: &[0] }
    }

    #[test]
    fn the_rate_tau_term_becomes_a_tape_diagonal_and_two_read_off_products() {
        let r = rate();
        let flags = invariant(&r.program);
        let stored = [(r.y, 0)];
        let outer = [Some((r.input, r.y)), None, None];
        let sums = [None, None, Some(r.y)];
        let (diagonals, derived) =
            take_out(&r.program, &available(&flags, &stored, &outer, &sums), 1, r.term).expect("the term has the form");
        // −x: k = 1/τ on the tape's x rows; i: −1/τ with W's product; b: −b/τ with b's sum.
        let params = vec![vec![0.5f64, 1.0, 2.0], vec![2.0, 4.0, 0.5], vec![1.0, -3.0, 2.0]];
        assert_eq!(diagonals.len(), 1);
        let tape = Side::Tape { state: 0, offset: 0, next: false };
        assert_eq!((diagonals[0].param, diagonals[0].x, diagonals[0].y), (1, tape, Side::Buffer(0, 3)));
        assert_eq!(scale_values(&diagonals[0].scale, &params), vec![0.5, 0.25, 2.0]);
        let read: Vec<(u32, Option<u32>, Vec<f64>)> =
            derived.iter().map(|d| (d.from, d.weight, scale_values(&d.scale, &params))).collect();
        assert_eq!(read, vec![(0, Some(0), vec![-0.5, -0.25, -2.0]), (2, None, vec![-0.5, 0.75, -4.0])]);
        assert!(derived.iter().all(|d| d.param == 1));
    }

    #[test]
    fn without_the_other_gradients_the_bias_is_summed_and_the_product_stays_in_the_loop() {
        let r = rate();
        let flags = invariant(&r.program);
        let stored = [(r.y, 0)];
        // No gradient is the bias's sum: b becomes a diagonal term with ones.
        let outer = [Some((r.input, r.y)), None, None];
        let (diagonals, _) = take_out(&r.program, &available(&flags, &stored, &outer, &[None; 3]), 1, r.term)
            .expect("the term has the form");
        assert_eq!(diagonals.iter().map(|d| d.x).collect::<Vec<_>>()[1], Side::Ones);
        // No product to read `i` from, nor rows of `i`: the term stays.
        assert!(take_out(&r.program, &available(&flags, &stored, &[None; 3], &[None; 3]), 1, r.term).is_none());
        // `i`'s rows stored: read from them.
        let stored = [(r.y, 0), (r.i, 0)];
        let (diagonals, _) = take_out(&r.program, &available(&flags, &stored, &[None; 3], &[None; 3]), 1, r.term)
            .expect("the term has the form");
        assert!(diagonals.iter().any(|d| d.x == Side::Buffer(0, 3)));
        // No rows of y stored: nothing to sum against.
        assert!(take_out(&r.program, &available(&flags, &[], &outer, &[None; 3]), 1, r.term).is_none());
    }

    #[test]
    fn a_factor_that_is_not_a_sum_of_available_rows_keeps_the_term() {
        let mut r = rate();
        let v = Shape::Vector(3);
        // −(tanh(x) ⊙ t5 / τ): tanh(x) has no rows after the loop.
        let Op::Unary(_, product) = r.program.inst(r.term).op else { unreachable!() };
        let Op::Binary(_, _, t5) = r.program.inst(product).op else { unreachable!() };
        let x = r.program.push(Op::State(StateId(0)), v);
        let tanh = r.program.push(Op::Unary(UnaryOp::Tanh, x), v);
        let tau = r.program.push(Op::Param(ParamId(1)), v);
        let scaled = r.program.push(Op::Binary(BinaryOp::Div, t5, tau), v);
        let term = r.program.push(Op::Binary(BinaryOp::Mul, tanh, scaled), v);
        let flags = invariant(&r.program);
        let stored = [(r.y, 0)];
        assert!(take_out(&r.program, &available(&flags, &stored, &[None; 3], &[None; 3]), 1, term).is_none());
    }

    /// Each column's even and odd rows summed in row order, then added, one operation at a time.
    fn reference(cols: usize, x: Option<(&[f32], usize)>, y: &[f32], rows: usize) -> Vec<f32> {
        let mut sums = vec![0.25f32; cols];
        for j in 0..cols {
            let mut parts = [0.0f32; 2];
            for t in 0..rows {
                let xv = x.map_or(1.0, |(x, stride)| x[t * stride + j]);
                parts[t % 2] += if x.is_some() { xv * y[t * cols + j] } else { y[t * cols + j] };
            }
            sums[j] += parts[0] + parts[1];
        }
        sums
    }

    #[test]
    fn diagonal_sums_give_the_bits_of_row_order_for_every_width() {
        let values = |seed: u32, n: usize| -> Vec<f32> {
            (0..n).map(|i| (((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 2001) as f32 / 997.0 - 1.0).collect()
        };
        for cols in 0..=70 {
            for rows in [0, 1, 5, 64] {
                let stride = cols + 7;
                let (x, y) = (values(3, rows * stride), values(5, rows * cols));
                for x in [Some((&x[..], stride)), None] {
                    let mut sums = vec![0.25f32; cols];
                    add_diagonal(&mut sums, x, &y, rows);
                    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&sums), bits(&reference(cols, x, &y, rows)), "cols {cols} rows {rows}");
                }
            }
        }
        // Too short a side: nothing added.
        let mut sums = vec![0.0f32; 4];
        add_diagonal(&mut sums, Some((&[1.0; 4], 4)), &[1.0; 8], 2);
        assert_eq!(sums, vec![0.0; 4]);
    }
}
