//! Step program → adjoint step program: the exact discrete BPTT of `s[t] = F(s[t-1], u[t], θ)`.
//! `λ_s[t-1] = (∂F/∂s)ᵀ λ_s[t] + ∂L/∂s[t-1]` and `g_θ += (∂F/∂θ)ᵀ λ_s[t]`, derived by
//! reverse-mode differentiation of the SSA with symbolic partials, simplified and shared by the
//! symbolic engine, in the same IR so the interpreter (and later the JIT) runs it.

mod contract;
mod derive;
mod print;
mod rules;

pub use derive::{derive, derive_with};
pub use print::{NOTATION, print_adjoint};

use crate::step::{StepProgram, ValueId};

/// The reverse step of a network.
///
/// Its program reads parameters, the states of step `t-1` (from the forward pass's tape), the
/// input of step `t`, the loss's `∂L/∂output[t]` (`Seed`) and `λ_s[t]` (`StateAdjoint`). Its
/// `state_updates` are `λ_s[t-1]`, so running it from `t = T-1` down to `0` is a time loop like
/// the forward one.
#[derive(Clone, Debug)]
pub struct AdjointProgram {
    /// Forward recomputation followed by the reverse sweep.
    pub program: StepProgram,
    /// `λ_s[t-1]` per state (also the program's `state_updates`).
    pub state_adjoints: Vec<ValueId>,
    /// This step's contribution to `∂L/∂θ` per parameter; `None` where the step does not
    /// depend on it.
    pub param_grads: Vec<Option<ValueId>>,
    /// `∂L/∂input[t]` per input, when derived with inputs active (`derive_with`).
    pub input_adjoints: Vec<Option<ValueId>>,
    /// Structure code generation can exploit; the interpreter ignores it.
    pub marks: Marks,
}

/// Structure marks (DESIGN.md §2).
#[derive(Clone, Debug, Default)]
pub struct Marks {
    /// Outer products `x[t]ᵀ λ[t]` that go into a weight's gradient: summed over time they are
    /// one matrix product `Xᵀ Λ` after the backward loop (ids in the adjoint program).
    pub weight_gradients: Vec<ValueId>,
    /// Products `x @ W` of the forward program whose `x` does not depend on state: they can run
    /// for all steps as one matrix product before the loop (ids in the forward program).
    pub feedforward: Vec<ValueId>,
}
