//! Gradient terms read off another gradient's product. A contracted term
//! `∂L/∂θ[j] += Σ_t c[t, j] (x[t] @ W)[j]` (see [`super::compile::SequenceTerm::contract`]) whose
//! coefficient is `c = k ⊙ y`, with `k` a loop invariant and `Σ_t x[t]ᵀ y[t]` the whole sequence
//! part `G` of another parameter's gradient, sums to `k[j] Σ_i W[i, j] G[i, j]`: no rows stored
//! for it and no second matrix product after the loop. In the Rate model, τ's term has
//! `c = −λ·dt/τ²` and `w_rec`'s has `y = λ·dt/τ`, so `k = −1/τ` (half of A's weight-gradient
//! work). The sums are the same in exact arithmetic; rounding differs (products reordered).

use std::collections::HashMap;
use std::fmt::Write;

use super::JitReal;
use super::rows::add_contraction;
use crate::interp::{NoiseKey, Real, StepInputs, step};
use crate::step::{BinaryOp, Op, Shape, StepProgram, UnaryOp, ValueId};

/// `∂L/∂param[j] += k[j] Σ_i weight[i, j] G[i, j]`, with `G` the sequence product of `from`
/// (`k[j] G[j]` without a weight: `G` is then a sum of rows, a bias's gradient).
#[derive(Clone, Debug, PartialEq)]
pub struct DerivedTerm {
    /// The parameter whose gradient this adds to.
    pub param: u32,
    /// The parameter whose gradient's sequence product `G` is read.
    pub from: u32,
    /// The weight `W` contracted with `G`, if any.
    pub weight: Option<u32>,
    /// Computes `k` (its last instruction) from the parameters alone.
    pub scale: StepProgram,
}

/// How deep two values are compared for structural equality (deeper: treated as different).
const SAME_DEPTH: usize = 16;

/// Whether `a` and `b` compute the same thing (the adjoint repeats subexpressions, and the
/// reciprocal rewrite makes one `1/τ` per division).
pub(super) fn same(program: &StepProgram, a: ValueId, b: ValueId) -> bool {
    same_within(program, a, b, SAME_DEPTH)
}

fn same_within(program: &StepProgram, a: ValueId, b: ValueId, depth: usize) -> bool {
    if a == b {
        return true;
    }
    let (ia, ib) = (program.inst(a), program.inst(b));
    if depth == 0 || ia.shape != ib.shape {
        return false;
    }
    let (oa, ob) = (ia.op.operands(), ib.op.operands());
    ia.op.map_operands(|_| ValueId(0)) == ib.op.map_operands(|_| ValueId(0))
        && oa.len() == ob.len()
        && oa.iter().zip(&ob).all(|(x, y)| same_within(program, *x, *y, depth - 1))
}

/// A value as `constant · Π factor^power`, through products, quotients, negations and
/// broadcasts.
#[derive(Clone, Debug)]
pub(super) struct Factored {
    /// The constant factor.
    pub constant: f64,
    /// The other factors, each raised to ±1.
    pub factors: Vec<(ValueId, i8)>,
}

impl Factored {
    /// `value` factored.
    pub fn of(program: &StepProgram, value: ValueId) -> Self {
        let mut factored = Factored { constant: 1.0, factors: Vec::new() };
        factors(program, value, 1, &mut factored.constant, &mut factored.factors);
        factored
    }
}

fn factors(program: &StepProgram, value: ValueId, power: i8, constant: &mut f64, out: &mut Vec<(ValueId, i8)>) {
    match program.inst(value).op {
        Op::Binary(BinaryOp::Mul, a, b) => {
            factors(program, a, power, constant, out);
            factors(program, b, power, constant, out);
        }
        Op::Binary(BinaryOp::Div, a, b) => {
            factors(program, a, power, constant, out);
            factors(program, b, -power, constant, out);
        }
        Op::Unary(UnaryOp::Neg, a) => {
            *constant = -*constant;
            factors(program, a, power, constant, out);
        }
        Op::Broadcast(a) => factors(program, a, power, constant, out),
        Op::Const(value) if power > 0 => *constant *= value,
        Op::Const(value) => *constant /= value,
        _ => out.push((value, power)),
    }
}

/// A program computing `k` with `c = k ⊙ y` elementwise (`c` of shape `shape`), if `c / y` is
/// a product of loop invariants (`invariant`, by value) of that shape or scalar.
pub(super) fn quotient(
    program: &StepProgram,
    invariant: &[bool],
    c: Factored,
    shape: Shape,
    y: ValueId,
) -> Option<StepProgram> {
    let Factored { constant: c_constant, factors: mut rest } = c;
    let y = Factored::of(program, y);
    let ratio = c_constant / y.constant;
    if !ratio.is_finite() {
        return None;
    }
    // c / y: y's factors cancel against c's, or divide the rest.
    for (factor, power) in y.factors {
        match rest.iter().position(|(f, p)| *p == power && same(program, *f, factor)) {
            Some(position) => {
                rest.swap_remove(position);
            }
            None => rest.push((factor, -power)),
        }
    }
    let fits = |f: ValueId| invariant[f.index()] && (program.shape(f) == Shape::Scalar || program.shape(f) == shape);
    if !rest.iter().all(|(f, _)| fits(*f)) {
        return None;
    }
    let mut scale = StepProgram { params: program.params.clone(), ..StepProgram::default() };
    let mut copied = HashMap::new();
    let mut k = scale.push(Op::Const(ratio), Shape::Scalar);
    for (factor, power) in rest {
        let f = copy(program, factor, &mut scale, &mut copied);
        let shape = Shape::broadcast(scale.shape(k), scale.shape(f))?;
        let op = if power > 0 { BinaryOp::Mul } else { BinaryOp::Div };
        k = scale.push(Op::Binary(op, k, f), shape);
    }
    Some(scale)
}

/// The term reading the time sum of `c ⊙ (x @ W)` (`W` parameter `weight`) off another
/// gradient's product, for `param`: from a parameter whose gradient is `G = Σ_t x'[t]ᵀ y'[t]`
/// alone (`sole_outer`), with `x'` the same as `x`, `y'` of `c`'s shape (`G` then has `W`'s) and
/// `c = k ⊙ y'` for a loop invariant `k`.
pub(super) fn read_off_product(
    program: &StepProgram,
    invariant: &[bool],
    sole_outer: &[Option<(ValueId, ValueId)>],
    (param, x, weight): (u32, ValueId, u32),
    c: &Factored,
    shape: Shape,
) -> Option<DerivedTerm> {
    sole_outer.iter().enumerate().find_map(|(from, outer)| {
        let (outer_x, outer_y) = (*outer)?;
        if !same(program, x, outer_x) || program.shape(outer_y) != shape {
            return None;
        }
        let scale = quotient(program, invariant, c.clone(), shape, outer_y)?;
        Some(DerivedTerm { param, from: from as u32, weight: Some(weight), scale })
    })
}

/// `target[j] += k[j] · sums[j]`, with one `k` for all columns or one per column.
pub(super) fn add_scaled<T: Real>(target: &mut [T], k: &[T], sums: &[T]) {
    for (j, (g, sum)) in target.iter_mut().zip(sums).enumerate() {
        *g = g.add(k[if k.len() == 1 { 0 } else { j }].mul(*sum));
    }
}

/// Copies `value` and what it reads into `into` (once each); returns its id there.
fn copy(from: &StepProgram, value: ValueId, into: &mut StepProgram, copied: &mut HashMap<ValueId, ValueId>) -> ValueId {
    if let Some(id) = copied.get(&value) {
        return *id;
    }
    let inst = from.inst(value);
    let operands: HashMap<ValueId, ValueId> =
        inst.op.operands().into_iter().map(|operand| (operand, copy(from, operand, into, copied))).collect();
    let id = into.push(inst.op.map_operands(|v| operands[&v]), inst.shape);
    copied.insert(value, id);
    id
}

/// Evaluates `k` (one value per column of `G`, or one for all).
pub(super) fn scale_values<T: Real>(scale: &StepProgram, params: &[Vec<T>]) -> Vec<T> {
    let inputs = StepInputs {
        params,
        states: &[],
        input: &[],
        seeds: &[],
        state_adjoints: &[],
        next_states: &[],
        noise: NoiseKey { seed: 0, batch: 0, step: 0 },
    };
    step(scale, &inputs).pop().unwrap_or_default()
}

/// Adds the derived terms to the gradients of one gradient block. `flushed` holds each
/// parameter's sequence products alone (see `JitNetwork::flush_targets`), before they are
/// merged into `grads`; a term adds to `grads` unless that buffer was moved into `flushed`.
pub(super) fn add_derived<T: JitReal>(
    terms: &[DerivedTerm],
    params: &[Vec<T>],
    flushed: &mut [Vec<T>],
    grads: &mut [Vec<T>],
) {
    for term in terms {
        let product = &flushed[term.from as usize];
        let k = scale_values(&term.scale, params);
        let cols = match term.scale.insts.last().map(|inst| inst.shape) {
            Some(Shape::Vector(n)) => n,
            _ => grads[term.param as usize].len().max(flushed[term.param as usize].len()),
        };
        if k.is_empty() {
            continue;
        }
        let mut sums = vec![T::from_f64(0.0); cols];
        match term.weight {
            Some(weight) => add_contraction(&mut sums, &params[weight as usize], product),
            None if product.len() == cols => sums.copy_from_slice(product),
            None => continue,
        }
        let param = term.param as usize;
        let target = if grads[param].is_empty() { &mut flushed[param] } else { &mut grads[param] };
        if target.len() != cols {
            continue;
        }
        add_scaled(target, &k, &sums);
    }
}

/// `k` in words, for the generated-code summary (`-1.0 / 1_Rate.tau`).
pub(super) fn describe_scale(scale: &StepProgram) -> String {
    fn text(program: &StepProgram, value: ValueId, out: &mut String) {
        let operand = |v: ValueId, out: &mut String| {
            let simple = matches!(program.inst(v).op, Op::Const(_) | Op::Param(_));
            if !simple {
                out.push('(');
            }
            text(program, v, out);
            if !simple {
                out.push(')');
            }
        };
        match program.inst(value).op {
            Op::Const(c) => out.push_str(&crate::step::number(c)),
            Op::Param(p) => out.push_str(&program.params[p.0 as usize].name),
            Op::Unary(op, a) => {
                let _ = write!(out, "{}", op.name());
                operand(a, out);
            }
            Op::Binary(op, a, b) => {
                operand(a, out);
                let symbol = match op {
                    BinaryOp::Mul => " · ",
                    BinaryOp::Div => " / ",
                    BinaryOp::Add => " + ",
                    BinaryOp::Sub => " - ",
                    op => op.name(),
                };
                out.push_str(symbol);
                operand(b, out);
            }
            Op::Broadcast(a) => text(program, a, out),
            op => {
                let _ = write!(out, "{op:?}");
            }
        }
    }
    let mut out = String::new();
    if let Some(last) = scale.insts.len().checked_sub(1) {
        text(scale, ValueId(last as u32), &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step::{ParamId, ParamSlot, StateId, StateInit, StateSlot};

    /// A program with τ [3] (p0) and a state λ [3].
    fn program() -> (StepProgram, ValueId, ValueId) {
        let v = Shape::Vector(3);
        let mut p = StepProgram {
            params: vec![ParamSlot { name: "tau".into(), shape: v }],
            states: vec![StateSlot { name: "l".into(), shape: v, init: StateInit::Constant(0.0) }],
            ..StepProgram::default()
        };
        let tau = p.push(Op::Param(ParamId(0)), v);
        let lambda = p.push(Op::State(StateId(0)), v);
        (p, tau, lambda)
    }

    fn flags(p: &StepProgram) -> Vec<bool> {
        super::super::compile::invariant(p)
    }

    /// `k` with `c = k ⊙ y`, for `c` a value.
    fn scale_of(program: &StepProgram, invariant: &[bool], c: ValueId, y: ValueId) -> Option<StepProgram> {
        quotient(program, invariant, Factored::of(program, c), program.shape(c), y)
    }

    #[test]
    fn a_coefficient_that_is_the_other_rows_times_an_invariant_gives_its_scale() {
        let (mut p, tau, lambda) = program();
        let v = Shape::Vector(3);
        // y = (λ · 0.001) · (1/τ);  c = -(((1/τ) / τ) · (λ · 0.001)), so k = -1/τ.
        let one = p.push(Op::Const(1.0), Shape::Scalar);
        let dt = p.push(Op::Const(0.001), Shape::Scalar);
        let scaled = p.push(Op::Binary(BinaryOp::Mul, lambda, dt), v);
        let reciprocal = p.push(Op::Binary(BinaryOp::Div, one, tau), v);
        let y = p.push(Op::Binary(BinaryOp::Mul, scaled, reciprocal), v);
        let again = p.push(Op::Binary(BinaryOp::Div, one, tau), v);
        let square = p.push(Op::Binary(BinaryOp::Div, again, tau), v);
        let product = p.push(Op::Binary(BinaryOp::Mul, square, scaled), v);
        let c = p.push(Op::Unary(UnaryOp::Neg, product), v);
        let scale = scale_of(&p, &flags(&p), c, y).expect("c = k ⊙ y");
        assert_eq!(describe_scale(&scale), "-1.0 / tau");
        let k = scale_values(&scale, &[vec![2.0, 4.0, -0.5]]);
        assert_eq!(k, vec![-0.5, -0.25, 2.0]);
    }

    #[test]
    fn a_coefficient_with_another_step_value_has_no_scale() {
        let (mut p, tau, lambda) = program();
        let v = Shape::Vector(3);
        let y = p.push(Op::Binary(BinaryOp::Div, lambda, tau), v);
        // c = λ² / τ: the extra λ changes at every step.
        let square = p.push(Op::Binary(BinaryOp::Mul, lambda, lambda), v);
        let c = p.push(Op::Binary(BinaryOp::Div, square, tau), v);
        assert_eq!(scale_of(&p, &flags(&p), c, y), None);
        // c = τ: y's λ does not cancel.
        assert_eq!(scale_of(&p, &flags(&p), tau, y), None);
    }

    #[test]
    fn derived_terms_add_the_scaled_contraction_to_the_gradient() {
        let (mut p, tau, _) = program();
        p.params.push(ParamSlot { name: "w".into(), shape: Shape::Matrix(2, 3) });
        p.params.push(ParamSlot { name: "g".into(), shape: Shape::Matrix(2, 3) });
        let two = p.push(Op::Const(2.0), Shape::Scalar);
        let k = p.push(Op::Binary(BinaryOp::Mul, two, tau), Shape::Vector(3));
        let mut scale = StepProgram { params: p.params.clone(), ..StepProgram::default() };
        copy(&p, k, &mut scale, &mut HashMap::new());
        let term = DerivedTerm { param: 0, from: 2, weight: Some(1), scale };
        let params = vec![vec![1.0, 2.0, 3.0], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], vec![0.0; 6]];
        let mut flushed = vec![Vec::new(), Vec::new(), vec![1.0, 0.0, 1.0, 1.0, 1.0, 0.0]];
        let mut grads = vec![vec![10.0, 10.0, 10.0], vec![0.0; 6], Vec::new()];
        add_derived(&[term], &params, &mut flushed, &mut grads);
        // Σ_i W[i, j] G[i, j] = [1 + 4, 0 + 5, 3 + 0]; k = 2τ = [2, 4, 6].
        assert_eq!(grads[0], vec![20.0, 30.0, 28.0]);
    }
}
