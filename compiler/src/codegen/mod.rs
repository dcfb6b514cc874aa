//! Step program (+ adjoint) → native code with Cranelift: the forward time loop and the
//! backward time loop run entirely in generated code; batch elements run in parallel on a
//! rayon pool with a deterministic reduction of gradients.
//!
//! Safety: generated code indexes raw buffers. Every public entry point checks every length
//! against the layout fixed at compile time before calling it (see `SAFETY` comments), so no
//! call from safe Rust can make it read or write out of bounds.

mod compile;
mod emit;
mod kernels;
mod layout;

use std::fmt;
use std::marker::PhantomData;

use rayon::prelude::*;

pub use compile::Element;

use crate::adjoint::AdjointProgram;
use crate::interp::{Gradient, InterpError, Real, check_params, initial_states};
use crate::loss::{Bound, Loss, evaluate};
use crate::step::{StateInit, StepProgram};

/// Code generation failed (a bug in reef or an unsupported host), with Cranelift's reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodegenError(pub String);

impl fmt::Display for CodegenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "code generation failed: {}", self.0)
    }
}

impl std::error::Error for CodegenError {}

/// Element types generated code can run in.
pub trait JitReal: Real {
    /// The matching code-generation element.
    const ELEMENT: Element;
}

impl JitReal for f32 {
    const ELEMENT: Element = Element::F32;
}

impl JitReal for f64 {
    const ELEMENT: Element = Element::F64;
}

type ForwardFn<T> =
    unsafe extern "C" fn(*const *const T, *const T, *mut T, *mut T, *mut T, *mut T, *mut T, i64, *const u64);
type BackwardFn<T> = unsafe extern "C" fn(
    *const *const T,
    *const T,
    *const T,
    *const T,
    *const *mut T,
    *mut T,
    *mut T,
    *mut T,
    i64,
    *const u64,
    *mut T,
);

/// A network compiled to native code for element type `T`.
pub struct JitNetwork<T: JitReal> {
    compiled: compile::Compiled,
    forward_program: StepProgram,
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
    /// Compiles the forward program, and the adjoint if given.
    pub fn compile(forward: &StepProgram, adjoint: Option<&AdjointProgram>) -> Result<Self, CodegenError> {
        let compiled = compile::compile(forward, adjoint, T::ELEMENT)?;
        Ok(JitNetwork { compiled, forward_program: forward.clone(), _element: PhantomData })
    }

    fn channels(&self) -> usize {
        self.forward_program.inputs.first().copied().unwrap_or(0)
    }

    fn output_size(&self) -> usize {
        self.compiled.forward_layout.output_size
    }

    fn check(&self, params: &[Vec<T>], input: &[T], batch: usize, steps: usize) -> Result<(), InterpError> {
        check_params(&self.forward_program, params)?;
        let expected = batch * steps * self.channels();
        if input.len() != expected {
            return Err(InterpError::InputLength { expected, found: input.len() });
        }
        Ok(())
    }

    /// Runs one batch element forward; returns its output and (optionally) its state tape.
    fn forward_one(
        &self,
        params: &[Vec<T>],
        input: &[T],
        steps: usize,
        batch_index: usize,
        seed: u64,
        tape: bool,
    ) -> (Vec<T>, Vec<T>) {
        let layout = &self.compiled.forward_layout;
        let states = initial_states(&self.forward_program, params).concat();
        let mut state_a = states.clone();
        let mut state_b = states;
        let mut scratch = vec![T::zero(); layout.scratch.max(1)];
        let mut output = vec![T::zero(); steps * layout.output_size];
        // Without a tape wanted, a one-row buffer is reused: the code writes row t, so it
        // needs `steps` rows; allocate them either way (states are small).
        let mut tape_buffer = vec![T::zero(); (steps * layout.state_size).max(1)];
        let _ = tape;
        let pointers: Vec<*const T> = params.iter().map(|p| p.as_ptr()).collect();
        let context = [seed, batch_index as u64];
        // SAFETY: checked by the caller (`check`): `params` match the parameter table (each
        // buffer has its shape's length), `input` holds `steps` rows of `channels`. Here:
        // `output` has `steps × output_size`, the tape `steps × state_size`, both state buffers
        // `state_size` and scratch `layout.scratch` elements — exactly what the layout the code
        // was generated from addresses. `context` has two u64s.
        unsafe {
            let function: ForwardFn<T> = std::mem::transmute(self.compiled.forward);
            function(
                pointers.as_ptr(),
                input.as_ptr(),
                output.as_mut_ptr(),
                tape_buffer.as_mut_ptr(),
                state_a.as_mut_ptr(),
                state_b.as_mut_ptr(),
                scratch.as_mut_ptr(),
                steps as i64,
                context.as_ptr(),
            );
        }
        (output, tape_buffer)
    }

    /// Runs the network over `input` (`[batch, steps, channels]`) on `threads` threads
    /// (0: all); returns the output `[batch, steps, outputs]`.
    pub fn evolve(
        &self,
        params: &[Vec<T>],
        input: &[T],
        batch: usize,
        steps: usize,
        threads: usize,
        seed: u64,
    ) -> Result<Vec<T>, InterpError> {
        self.check(params, input, batch, steps)?;
        let rows = steps * self.channels();
        let run = || -> Vec<Vec<T>> {
            (0..batch)
                .into_par_iter()
                .map(|b| self.forward_one(params, &input[b * rows..(b + 1) * rows], steps, b, seed, false).0)
                .collect()
        };
        Ok(in_pool(threads, run).concat())
    }

    /// The loss against `target` (`[batch, steps, outputs]`) and its gradient, like
    /// [`crate::interp::value_and_grad`]. Gradients are summed over batch elements in index
    /// order, so the result is the same for any number of threads.
    #[allow(clippy::too_many_arguments)]
    pub fn value_and_grad(
        &self,
        loss: &Loss,
        bounds: &[Bound],
        params: &[Vec<T>],
        input: &[T],
        target: &[f64],
        batch: usize,
        steps: usize,
        threads: usize,
        seed: u64,
    ) -> Result<Gradient<T>, InterpError> {
        self.check(params, input, batch, steps)?;
        let size = self.output_size();
        if target.len() != batch * steps * size {
            return Err(InterpError::TargetLength { expected: batch * steps * size, found: target.len() });
        }
        let Some((backward, backward_layout)) = &self.compiled.backward else {
            return Err(InterpError::NoAdjoint);
        };
        let rows = steps * self.channels();
        let forward = || -> Vec<(Vec<T>, Vec<T>)> {
            (0..batch)
                .into_par_iter()
                .map(|b| self.forward_one(params, &input[b * rows..(b + 1) * rows], steps, b, seed, true))
                .collect()
        };
        let runs = in_pool(threads, forward);
        let output: Vec<T> = runs.iter().flat_map(|(out, _)| out.iter().copied()).collect();
        let output_f64: Vec<f64> = output.iter().map(|v| v.to_f64()).collect();
        let params_f64: Vec<Vec<f64>> = params.iter().map(|p| p.iter().map(|v| v.to_f64()).collect()).collect();
        let value = evaluate(loss, bounds, &output_f64, target, [batch, steps, size], &params_f64);
        // SAFETY: the pointer is the finalised backward function compiled with exactly this
        // signature for element type T.
        let backward_function: BackwardFn<T> = unsafe { std::mem::transmute(*backward) };
        let state_size = backward_layout.state_size;
        let backward_one = |b: usize| -> Vec<Vec<T>> {
            let mut grads: Vec<Vec<T>> = params.iter().map(|p| vec![T::zero(); p.len()]).collect();
            let seeds: Vec<T> =
                value.output_grad[b * steps * size..(b + 1) * steps * size].iter().map(|g| T::from_f64(*g)).collect();
            let mut lambda_a = vec![T::zero(); state_size.max(1)];
            let mut lambda_b = vec![T::zero(); state_size.max(1)];
            let mut lambda_out = vec![T::zero(); state_size.max(1)];
            let mut scratch = vec![T::zero(); backward_layout.scratch.max(1)];
            let pointers: Vec<*const T> = params.iter().map(|p| p.as_ptr()).collect();
            let grad_pointers: Vec<*mut T> = grads.iter_mut().map(|g| g.as_mut_ptr()).collect();
            let context = [seed, b as u64];
            let tape = &runs[b].1;
            // SAFETY: lengths as checked in `check` and above: the tape has `steps × state_size`
            // elements (written by the forward call with the same program's states), seeds
            // `steps × outputs`, every gradient buffer its parameter's length, λ buffers
            // `state_size`, scratch the backward layout's size.
            unsafe {
                backward_function(
                    pointers.as_ptr(),
                    input[b * rows..(b + 1) * rows].as_ptr(),
                    tape.as_ptr(),
                    seeds.as_ptr(),
                    grad_pointers.as_ptr(),
                    lambda_a.as_mut_ptr(),
                    lambda_b.as_mut_ptr(),
                    scratch.as_mut_ptr(),
                    steps as i64,
                    context.as_ptr(),
                    lambda_out.as_mut_ptr(),
                );
            }
            // A state that starts from a parameter passes its adjoint on to it.
            let mut offset = 0;
            for state in &self.forward_program.states {
                let len = state.shape.len();
                if let StateInit::Param(param) = state.init {
                    for (g, l) in grads[param.0 as usize].iter_mut().zip(&lambda_out[offset..offset + len]) {
                        *g = g.add(*l);
                    }
                }
                offset += len;
            }
            grads
        };
        let per_element = in_pool(threads, || (0..batch).into_par_iter().map(backward_one).collect::<Vec<_>>());
        let mut grads: Vec<Vec<T>> = params.iter().map(|p| vec![T::zero(); p.len()]).collect();
        for element in &per_element {
            for (total, part) in grads.iter_mut().zip(element) {
                for (t, p) in total.iter_mut().zip(part) {
                    *t = t.add(*p);
                }
            }
        }
        for (grad, direct) in grads.iter_mut().zip(&value.param_grads) {
            for (g, d) in grad.iter_mut().zip(direct) {
                *g = g.add(T::from_f64(*d));
            }
        }
        Ok(Gradient { loss: value.value, terms: value.terms, grads, output })
    }
}

/// Runs `work` on a pool of `threads` threads (0: rayon's default pool).
fn in_pool<R: Send>(threads: usize, work: impl FnOnce() -> R + Send) -> R {
    if threads == 0 {
        return work();
    }
    match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(pool) => pool.install(work),
        Err(_) => work(),
    }
}
