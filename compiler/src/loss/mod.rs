//! Losses: a weighted sum of terms (Rockpool's `training.jax_loss` and classification terms),
//! parsed from a `train` block or `--loss`, with parameter bounds from the models' `where`
//! clauses overridden by `bound` statements. The loss seeds the adjoint with `∂L/∂output[t]`
//! and adds its own parameter terms.

mod eval;
mod parse;
mod setup;

pub use eval::{LossValue, evaluate, logsoftmax, softmax};
pub use parse::{BoundOverride, bounds_with_overrides, find_param, parse_bound, parse_loss};
pub use setup::loss_setup;

use reef_lang::Span;

use crate::step::ParamId;

/// `Σ weight · term`.
#[derive(Clone, Debug, PartialEq)]
pub struct Loss {
    /// The terms.
    pub terms: Vec<Term>,
}

impl Loss {
    /// Whether a term reads parameter values (norms, `bounds_cost`); if none does, evaluating
    /// the loss needs no copy of the parameters.
    pub fn reads_params(&self) -> bool {
        self.terms
            .iter()
            .any(|t| matches!(t.kind, TermKind::L2SqrNorm(_) | TermKind::L0NormApprox(..) | TermKind::BoundsCost))
    }

    /// The parameters in f64 for [`evaluate`] (empty buffers when no term reads them:
    /// a copy of a large network's weights per call is not free).
    pub fn param_values<T: crate::interp::Real>(&self, params: &[Vec<T>]) -> Vec<Vec<f64>> {
        let reads = self.reads_params();
        params.iter().map(|p| if reads { p.iter().map(|v| v.to_f64()).collect() } else { Vec::new() }).collect()
    }
}

/// One weighted term.
#[derive(Clone, Debug, PartialEq)]
pub struct Term {
    /// Its factor.
    pub weight: f64,
    /// What it measures.
    pub kind: TermKind,
    /// Where it was written.
    pub span: Span,
}

/// The loss terms reef knows.
#[derive(Clone, Debug, PartialEq)]
pub enum TermKind {
    /// `mse(output, target)`: mean of `(o − t)²` over all elements.
    Mse,
    /// `sse(output, target)`: sum of `(o − t)²`.
    Sse,
    /// `l2sqr_norm(p, ...)`: mean over the tensors of `mean(p²)` (each tensor weighs the same);
    /// without arguments, over every parameter.
    L2SqrNorm(Vec<ParamId>),
    /// `l0_norm_approx(p, ..., sigma = 1e-4)`: mean over tensors of `mean(p⁴ / (p⁴ + σ))`.
    L0NormApprox(Vec<ParamId>, f64),
    /// `bounds_cost`: `Σ_{p<lo} exp(lo − p) + Σ_{p>hi} exp(p − hi)` over every bounded parameter.
    BoundsCost,
    /// `cross_entropy(output, target, readout = mean|last, over = rows|all)`: the cross-entropy
    /// of a readout of the output over time against the target's readout, with a softmax per
    /// batch row (`rows`, for classification) or over all elements (`all`, as Rockpool's
    /// `softmax`), averaged over the batch.
    CrossEntropy {
        /// How the output over time becomes one score per class.
        readout: Readout,
        /// What the softmax normalises over.
        over: Normalise,
    },
}

/// A readout of `[batch, time, n]` to `[batch, n]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readout {
    /// The mean over time.
    Mean,
    /// The last step.
    Last,
}

/// What a softmax normalises over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Normalise {
    /// Each batch row.
    Rows,
    /// All elements (Rockpool's `softmax` / `logsoftmax`).
    All,
}

/// Lower and upper bound of a parameter (SI units).
pub type Bound = (Option<f64>, Option<f64>);
