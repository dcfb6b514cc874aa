//! reef: a compiler for dynamical and spiking neural networks.
//!
//! This facade re-exports the pipeline's crates: [`lang`] (grammar, AST, diagnostics),
//! [`compiler`] (graph IR, step programs, interpreter), [`runtime`] (parameters, data I/O) and
//! the [`network!`] macro, which checks a network when the Rust program compiles. [`fidelity`]
//! compares a network with its hardware-constrained (Dynap-SE1) version.
//!
//! ```
//! let net = reef::network! {
//!     network Tiny(dt = 1 ms) = Sequential(Linear(2, 4), Rate(4, activation = tanh), Linear(4, 1))
//! };
//! let compiled = net.compile().unwrap();
//! assert_eq!(compiled[0].graph.input_size(), 2);
//! ```

pub use reef_compiler as compiler;
pub use reef_lang as lang;
pub use reef_macros::network;
pub use reef_runtime as runtime;

pub mod fidelity;
mod inline;
pub mod train;
pub use inline::{InlineNetwork, Splice};
