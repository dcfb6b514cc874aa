//! Step program (+ adjoint) → native code with Cranelift: the forward time loop and the
//! backward time loop run entirely in generated code; batch elements run in parallel on a
//! rayon pool with a deterministic reduction of gradients.
//!
//! Safety: generated code indexes raw buffers. Every public entry point checks every length
//! against the layout fixed at compile time before calling it (see `SAFETY` comments), so no
//! call from safe Rust can make it read or write out of bounds.

mod carry;
mod compile;
mod derived;
mod diagonal;
mod dot;
mod emit;
mod function;
mod fuse;
mod gemm;
mod kept;
mod kernels;
mod layout;
mod matvec;
mod merge;
mod narrow;
mod next_row;
mod plan;
mod reciprocal;
mod rows;
mod run;
mod schedule;
mod skew;
mod summary;
mod tanh;
mod tune;

use std::fmt;
use std::marker::PhantomData;

pub use compile::Element;

/// Whether this CPU has the AVX2 + FMA matrix–vector kernels generated code calls (without
/// them every product is 128-bit generated code, and no readout merges into a product's call).
pub fn kernels_available() -> bool {
    matvec::available()
}

use crate::adjoint::AdjointProgram;
use crate::interp::{InterpError, Real, check_params};
use crate::step::StepProgram;

/// Code generation failed (a bug in reef or an unsupported host), with Cranelift's reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodegenError(pub String);

impl fmt::Display for CodegenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "code generation failed: {}", self.0)
    }
}

impl std::error::Error for CodegenError {}

/// Batch elements a generated function runs in lock-step, at most: the pointer arrays of its
/// group products have this many slots.
const MAX_GROUP: usize = 8;

/// Element types generated code can run in.
pub trait JitReal: Real + gemm::Gemm {
    /// The matching code-generation element.
    const ELEMENT: Element;
}

impl JitReal for f32 {
    const ELEMENT: Element = Element::F32;
}

impl JitReal for f64 {
    const ELEMENT: Element = Element::F64;
}

/// A network compiled to native code for element type `T`.
pub struct JitNetwork<T: JitReal> {
    compiled: compile::Compiled,
    forward_program: StepProgram,
    /// Whether the backward pass's weight-gradient products run beside its loop or after it,
    /// chosen by timing both (see [`tune`]).
    flush_beside: tune::Choice,
    /// `value_and_grad`'s state tape, kept for the next call (see [`kept`]).
    tape: kept::Kept<T>,
    _element: PhantomData<T>,
}

// SAFETY: the generated functions are pure functions of their buffers (no global state); the
// module is only touched on drop. Calling them from several threads with separate buffers is
// what cranelift-jit supports (its module is not used concurrently).
unsafe impl<T: JitReal> Sync for JitNetwork<T> {}
// SAFETY: as above; the module may move between threads.
unsafe impl<T: JitReal> Send for JitNetwork<T> {}

impl<T: JitReal> Drop for JitNetwork<T> {
    fn drop(&mut self) {
        if let Some(module) = self.compiled.module.take() {
            // SAFETY: the function pointers are private to this value, which is being dropped,
            // so no pointer into the code can be used afterwards.
            unsafe { module.free_memory() };
        }
    }
}

impl<T: JitReal> JitNetwork<T> {
    /// Compiles the forward program, and the adjoint if given, calling the AVX2 matrix–vector
    /// kernels where the CPU has them.
    pub fn compile(forward: &StepProgram, adjoint: Option<&AdjointProgram>) -> Result<Self, CodegenError> {
        Self::compile_with(forward, adjoint, true)
    }

    /// As [`JitNetwork::compile`]; `kernels = false` keeps every product in generated 128-bit
    /// SIMD code (the portable path, also what runs on CPUs without AVX2).
    pub fn compile_with(
        forward: &StepProgram,
        adjoint: Option<&AdjointProgram>,
        kernels: bool,
    ) -> Result<Self, CodegenError> {
        let compiled = compile::compile(forward, adjoint, T::ELEMENT, kernels)?;
        Ok(JitNetwork {
            compiled,
            forward_program: forward.clone(),
            flush_beside: tune::Choice::default(),
            tape: kept::Kept::default(),
            _element: PhantomData,
        })
    }

    /// What code generation made of the network: per function, the work of one step, values
    /// carried between steps, products moved out of the loops, and how each gradient is
    /// accumulated. The same on every CPU with AVX2 and FMA (see [`summary`]).
    pub fn summary(&self) -> &str {
        &self.compiled.summary
    }

    /// Bytes of the buffers kept from one `value_and_grad` to the next (its state tape): memory
    /// a call's peak includes although the call allocates none of it again.
    pub fn kept_bytes(&self) -> usize {
        self.tape.bytes()
    }

    fn channels(&self) -> usize {
        self.forward_program.inputs.first().copied().unwrap_or(0)
    }

    fn output_size(&self) -> usize {
        self.compiled.forward_layout.output_size
    }

    /// Checks every buffer against the program before generated code may see it.
    fn check(&self, params: &[Vec<T>], input: &[T], batch: usize, steps: usize) -> Result<(), InterpError> {
        check_params(&self.forward_program, params)?;
        let expected = batch * steps * self.channels();
        if input.len() != expected {
            return Err(InterpError::InputLength { expected, found: input.len() });
        }
        Ok(())
    }
}

/// A raw pointer that may cross to another thread for the duration of a parallel section:
/// either only read there (the parameter-pointer table) or written on disjoint ranges (the
/// halves of a matrix–vector product); each use says which.
#[derive(Clone, Copy)]
struct Shared<T>(*mut T);
// SAFETY: see the type's contract; every use is inside a `rayon` section that ends before the
// pointed-to buffers do, with read-only or disjoint access.
unsafe impl<T> Send for Shared<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// The pointer (a method, so closures capture the whole `Shared`, not its field).
    fn get(self) -> *mut T {
        self.0
    }
}

/// Runs `work` on a pool of `threads` threads (0: rayon's default pool). With `parallel` work
/// inside, it runs on one of the pool's threads: parallel loops, and the matrix–vector kernel's
/// two-thread split called from generated code at every step, then start without a hop between
/// threads (run from the calling thread instead, A1000's value_and_grad took 1.7× and D's 3.5×
/// as long). Without, it runs on the calling thread: the hop to the pool and back costs ≈ 10%
/// of A's forward pass on this VM.
fn in_pool<R: Send>(threads: usize, parallel: bool, work: impl FnOnce() -> R + Send) -> R {
    if threads == 0 {
        return if parallel { rayon::scope(|_| work()) } else { work() };
    }
    match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(pool) => pool.install(work),
        Err(_) => work(),
    }
}
