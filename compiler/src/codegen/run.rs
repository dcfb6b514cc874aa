//! Calling the generated code: buffers for one batch element, the matrix products before and
//! after the loops, batch elements in parallel, and gradient reduction in a fixed order.

use rayon::prelude::*;

use super::compile::Side;
use super::gemm::{add_transposed_product, multiply};
use super::{JitNetwork, JitReal, in_pool};
use crate::interp::{Gradient, InterpError, bounds_in, initial_states};
use crate::loss::{Bound, Loss, evaluate};
use crate::step::StateInit;

type ForwardFn<T> = unsafe extern "C" fn(
    *const *const T,
    *const T,
    *mut T,
    *mut T,
    *mut T,
    *mut T,
    *mut T,
    i64,
    *const u64,
    *const *const T,
    *mut T,
);

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
    *const *const T,
    *const *mut T,
);

/// Steps per call of generated code: buffers of precomputed products and weight-gradient rows
/// hold one chunk, so memory beyond the state tape does not grow with the sequence length.
const CHUNK: usize = 256;

/// Batch elements per gradient block (see `value_and_grad`).
const BLOCK: usize = 8;

/// The chunks `(start, length)` of `0..steps`.
fn chunks(steps: usize) -> Vec<(usize, usize)> {
    (0..steps).step_by(CHUNK).map(|start| (start, CHUNK.min(steps - start))).collect()
}

/// What the forward pass of one batch element leaves for the backward pass.
struct ForwardRun<T> {
    output: Vec<T>,
    tape: Vec<T>,
}

impl<T: JitReal> JitNetwork<T> {
    /// `input @ W` for every precomputed product, `[steps, cols]` each.
    fn precompute(&self, params: &[Vec<T>], input: &[T], steps: usize) -> Vec<Vec<T>> {
        self.compiled
            .precomputed
            .iter()
            .map(|product| {
                let mut rows = vec![T::zero(); (steps * product.cols).max(1)];
                // Lengths: input has steps × rows (checked), the weight rows × cols (checked
                // against the parameter table); `multiply` re-checks and does nothing otherwise.
                multiply(steps, product.rows, product.cols, input, &params[product.param as usize], &mut rows);
                rows
            })
            .collect()
    }

    /// Runs one batch element forward, chunk by chunk, carrying the state.
    fn forward_one(
        &self,
        params: &[Vec<T>],
        input: &[T],
        steps: usize,
        batch_index: usize,
        seed: u64,
    ) -> ForwardRun<T> {
        let layout = &self.compiled.forward_layout;
        let (channels, outputs, state_size) = (self.channels(), layout.output_size, layout.state_size);
        let mut state = initial_states(&self.forward_program, params).concat();
        state.resize(state_size.max(1), T::zero());
        let mut other = vec![T::zero(); state_size.max(1)];
        let mut state_out = vec![T::zero(); state_size.max(1)];
        let mut scratch = vec![T::zero(); layout.scratch.max(1)];
        let mut output = vec![T::zero(); (steps * outputs).max(1)];
        let mut tape = vec![T::zero(); (steps * state_size).max(1)];
        let pointers: Vec<*const T> = params.iter().map(|p| p.as_ptr()).collect();
        // SAFETY: the pointer is the finalised forward function compiled with this signature.
        let function: ForwardFn<T> = unsafe { std::mem::transmute(self.compiled.forward) };
        for (start, length) in chunks(steps) {
            let precomputed = self.precompute(params, &input[start * channels..(start + length) * channels], length);
            let pre: Vec<*const T> = precomputed.iter().map(|p| p.as_ptr()).collect();
            let context = [seed, batch_index as u64, start as u64];
            // SAFETY: `check` verified that `params` match the parameter table (each buffer has
            // its shape's length) and that `input` holds `steps` rows of `channels`; this chunk
            // reads rows `start..start + length` of it and writes the same rows of `output`
            // (`steps × outputs`) and of the tape (`steps × state_size`). The state buffers
            // have `state_size`, scratch the layout's size, each precomputed buffer
            // `length × cols` elements — what the layout the code was generated from addresses.
            // `context` has three u64s.
            unsafe {
                function(
                    pointers.as_ptr(),
                    input.as_ptr().add(start * channels),
                    output.as_mut_ptr().add(start * outputs),
                    tape.as_mut_ptr().add(start * state_size),
                    state.as_mut_ptr(),
                    other.as_mut_ptr(),
                    scratch.as_mut_ptr(),
                    length as i64,
                    context.as_ptr(),
                    pre.as_ptr(),
                    state_out.as_mut_ptr(),
                );
            }
            state.copy_from_slice(&state_out);
        }
        output.truncate(steps * outputs);
        ForwardRun { output, tape }
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
                .map(|b| self.forward_one(params, &input[b * rows..(b + 1) * rows], steps, b, seed).output)
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
        let runs: Vec<ForwardRun<T>> = in_pool(threads, || {
            (0..batch)
                .into_par_iter()
                .map(|b| self.forward_one(params, &input[b * rows..(b + 1) * rows], steps, b, seed))
                .collect()
        });
        let output: Vec<T> = runs.iter().flat_map(|run| run.output.iter().copied()).collect();
        let output_f64: Vec<f64> = output.iter().map(|v| v.to_f64()).collect();
        let params_f64: Vec<Vec<f64>> = params.iter().map(|p| p.iter().map(|v| v.to_f64()).collect()).collect();
        let value = evaluate(loss, &bounds_in::<T>(bounds), &output_f64, target, [batch, steps, size], &params_f64);
        // SAFETY: the pointer is the finalised backward function compiled with exactly this
        // signature for element type T.
        let backward_function: BackwardFn<T> = unsafe { std::mem::transmute(*backward) };
        let state_size = backward_layout.state_size;
        let channels = self.channels();
        // Adds batch element `b`'s gradient into `grads`.
        let backward_one = |b: usize, grads: &mut Vec<Vec<T>>, rows_buffer: &mut Rows<T>| {
            let element_input = &input[b * rows..(b + 1) * rows];
            let mut seeds: Vec<T> =
                value.output_grad[b * steps * size..(b + 1) * steps * size].iter().map(|g| T::from_f64(*g)).collect();
            seeds.resize((steps * size).max(1), T::zero());
            let mut lambda = vec![T::zero(); state_size.max(1)];
            let mut other = vec![T::zero(); state_size.max(1)];
            let mut lambda_out = vec![T::zero(); state_size.max(1)];
            let mut scratch = vec![T::zero(); backward_layout.scratch.max(1)];
            let pointers: Vec<*const T> = params.iter().map(|p| p.as_ptr()).collect();
            let tape = &runs[b].tape;
            for (start, length) in chunks(steps).into_iter().rev() {
                let chunk_input = &element_input[start * channels..(start + length) * channels];
                let precomputed = self.precompute(params, chunk_input, length);
                let pre: Vec<*const T> = precomputed.iter().map(|p| p.as_ptr()).collect();
                if rows_buffer.filled + length > CHUNK {
                    rows_buffer.flush(&self.compiled.sequences, grads);
                }
                let filled = rows_buffer.filled;
                let seq: Vec<*mut T> = rows_buffer
                    .buffers
                    .iter_mut()
                    .zip(&self.compiled.sequence_lengths)
                    // `filled + length <= CHUNK`, so the offset rows fit the buffer.
                    .map(|(buffer, len)| buffer[filled * len..].as_mut_ptr())
                    .collect();
                // Fresh pointers each chunk: the gradients are also updated through `&mut` below.
                let grad_pointers: Vec<*mut T> = grads.iter_mut().map(|g| g.as_mut_ptr()).collect();
                let context = [seed, b as u64, start as u64];
                // SAFETY: as for the forward call, for rows `start..start + length`: the tape
                // has `steps × state_size` elements (written by the forward call over the same
                // states), seeds `steps × outputs`, every gradient buffer its parameter's length,
                // the λ buffers `state_size`, scratch the backward layout's size, each sequence
                // buffer `CHUNK × its row length`, written from row `filled` with
                // `filled + length <= CHUNK`.
                unsafe {
                    backward_function(
                        pointers.as_ptr(),
                        chunk_input.as_ptr(),
                        tape.as_ptr().add(start * state_size),
                        seeds.as_ptr().add(start * size),
                        grad_pointers.as_ptr(),
                        lambda.as_mut_ptr(),
                        other.as_mut_ptr(),
                        scratch.as_mut_ptr(),
                        length as i64,
                        context.as_ptr(),
                        lambda_out.as_mut_ptr(),
                        pre.as_ptr(),
                        seq.as_ptr(),
                    );
                }
                lambda.copy_from_slice(&lambda_out);
                rows_buffer.input[filled * channels..(filled + length) * channels].copy_from_slice(chunk_input);
                rows_buffer.filled += length;
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
        };
        // Batch elements in fixed blocks: each block sums its elements in order, blocks are
        // summed in order — the same result for any number of threads, and only one gradient
        // buffer per block alive at once.
        let blocks: Vec<(usize, usize)> =
            (0..batch).step_by(BLOCK).map(|start| (start, BLOCK.min(batch - start))).collect();
        let per_block = in_pool(threads, || {
            blocks
                .par_iter()
                .map(|(start, length)| {
                    let mut grads: Vec<Vec<T>> = params.iter().map(|p| vec![T::zero(); p.len()]).collect();
                    let mut rows_buffer = Rows::new(&self.compiled.sequence_lengths, channels);
                    for b in *start..start + length {
                        backward_one(b, &mut grads, &mut rows_buffer);
                    }
                    rows_buffer.flush(&self.compiled.sequences, &mut grads);
                    grads
                })
                .collect::<Vec<_>>()
        });
        let mut grads: Vec<Vec<T>> = params.iter().map(|p| vec![T::zero(); p.len()]).collect();
        for element in &per_block {
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

/// Rows of the weight-gradient sequences, gathered over chunks and batch elements until
/// `CHUNK` rows are full, then added to the gradients as one product `Xᵀ Y` per term: short
/// sequences (many batch elements of few steps) still make one large, efficient GEMM.
struct Rows<T> {
    /// One buffer of `CHUNK` rows per sequence.
    buffers: Vec<Vec<T>>,
    /// The input rows of the same steps (for terms whose `x` is the input).
    input: Vec<T>,
    /// Rows filled so far.
    filled: usize,
}

impl<T: JitReal> Rows<T> {
    fn new(lengths: &[usize], channels: usize) -> Self {
        Rows {
            buffers: lengths.iter().map(|len| vec![T::zero(); (CHUNK * len).max(1)]).collect(),
            input: vec![T::zero(); (CHUNK * channels).max(1)],
            filled: 0,
        }
    }

    /// Adds the gathered rows' products to `grads` and empties the buffers.
    fn flush(&mut self, terms: &[super::compile::SequenceTerm], grads: &mut [Vec<T>]) {
        for term in terms {
            let side = |side: Side| -> &[T] {
                match side {
                    Side::Input => &self.input,
                    Side::Buffer(k, _) => &self.buffers[k],
                }
            };
            let (x, y) = (side(term.x), side(term.y));
            add_transposed_product(term.rows, self.filled, term.cols, x, y, &mut grads[term.param as usize]);
        }
        self.filled = 0;
    }
}
