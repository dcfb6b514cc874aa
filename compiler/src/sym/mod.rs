//! The symbolic engine: step-program values as hash-consed expressions with deterministic
//! simplification (constant folding, algebraic identities) and common-subexpression
//! elimination, dead-code elimination, and a math-like printer for people.

mod builder;
mod dce;
mod print;
mod simplify;

pub use builder::Builder;
pub use dce::eliminate_dead_code;
pub use print::{Naming, print_equations};
