//! Calling the generated code: buffers for one batch element, the matrix products before and
//! after the loops, batch elements in parallel, and gradient reduction in a fixed order.

use std::sync::atomic::AtomicBool;

use rayon::prelude::*;

use super::derived::{add_derived, scale_values};
use super::gemm::multiply;
use super::layout::{KernelCopy, padded};
use super::rows::{Capacity, Pipeline, Source, flush_sent};
use super::{JitNetwork, JitReal, MAX_GROUP, Shared, in_pool};
use crate::interp::{Gradient, InterpError, add_loss_param_grads, initial_states, loss_value};
use crate::loss::{Bound, Loss};
use crate::step::StateInit;

/// `forward(params, inputs, outputs, tapes, states, scratches, steps, noises, pres, states_out,
/// count)`: every argument after `params` but `steps` and `count` is an array of `count`
/// per-element pointers (a lock-step group, see `function::build`).
type ForwardFn<T> = unsafe extern "C" fn(
    *const *const T,
    *const *const T,
    *const *mut T,
    *const *mut T,
    *const *mut T,
    *const *mut T,
    i64,
    *const *const u64,
    *const *const *const T,
    *const *mut T,
    i64,
);

/// `backward(params, inputs, tapes, seeds, grads, lambdas_a, lambdas_b, scratches, steps,
/// noises, lambdas_out, pres, seqs, count)`: per-element arrays as for [`ForwardFn`]; `grads`
/// is the group's one table of gradient buffers.
type BackwardFn<T> = unsafe extern "C" fn(
    *const *const T,
    *const *const T,
    *const *const T,
    *const *const T,
    *const *mut T,
    *const *mut T,
    *const *mut T,
    *const *mut T,
    i64,
    *const *const u64,
    *const *mut T,
    *const *const *const T,
    *const *const *mut T,
    i64,
);

/// Rows of a weight-gradient row buffer, and steps per backward call at most: memory beyond
/// the state tape does not grow with the sequence length.
const CHUNK: usize = 128;

/// Steps per forward call (a chunk): buffers of precomputed products hold one chunk. Longer
/// than the backward's calls: each forward call costs ≈ 0.5 µs beyond its steps (buffers,
/// the pool, the prologue); A's forward took 11 µs less in chunks of 512 than of 128 (8
/// interleaved rounds), while backward calls of 256 steps made value_and_grad slower.
const FORWARD_CHUNK: usize = 512;

/// Batch elements per gradient block (see `value_and_grad`), at least.
const BLOCK: usize = 8;

/// Batch elements per gradient block for a batch of `batch`: eight blocks while that leaves at
/// least [`BLOCK`] elements per block, at most `4 × BLOCK`. Fewer, larger blocks mean fewer
/// waves (each ends in a join, where a thread may wait): E's 128 elements in blocks of 16 took
/// 1–4% less time than in blocks of 8 (value_and_grad, best of 30, three alternations). The
/// size depends on the batch alone, so the sums do not depend on the number of threads.
fn block_size(batch: usize) -> usize {
    (batch / 8).clamp(BLOCK, 4 * BLOCK)
}

/// Batch elements per lock-step group of the backward pass, at most. A call's weight-gradient
/// rows share the row buffers, one region per element, and an element's rows make one flush
/// product per region: regions shorter than its steps per call split its products, which cost
/// the flushes more than the group kernel saves. So a group takes as many elements as fit a
/// full buffer of `CHUNK` rows with all their steps (E: 4 × 25 in a 100-row buffer; long
/// sequences: one element per call). Measured on E (one thread, value_and_grad, best of 20,
/// three alternations): one element 3.85 ms, fixed groups of 2 in 64-row buffers 3.50 ms,
/// groups of 4 in 100-row buffers 3.33 ms (peak memory 1.10 → 1.11× the tape; two threads
/// 1.16 → 1.19×); fixed groups of 4 in 64-row buffers (16-row regions) 3.77 ms.
const BACKWARD_GROUP: usize = 4;

/// `elements` in lock-step groups of `size`.
fn groups(elements: std::ops::Range<usize>, size: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let end = elements.end;
    elements.step_by(size).map(move |start| start..(start + size).min(end))
}

/// Matrices from this many elements may be multiplied on two threads at every step.
const PARALLEL_MATRIX: usize = 1 << 16;

/// Rows per task of a matrix product split across threads. Fixed (not derived from the thread
/// count), so every element of a result is computed the same way with any number of threads.
pub(super) const TASK_ROWS: usize = 64;

/// The forward chunks `(start, length)` of `0..steps` (see [`FORWARD_CHUNK`]).
fn chunks(steps: usize) -> Vec<(usize, usize)> {
    (0..steps).step_by(FORWARD_CHUNK).map(|start| (start, FORWARD_CHUNK.min(steps - start))).collect()
}

/// What carries one batch element's time loop from chunk to chunk: its state, and its output
/// (a buffer of its own: elements that share a cache line of one output buffer would make two
/// threads write the same line at every step). Working buffers live only during a call.
struct Carry<T> {
    output: Vec<T>,
    state: Vec<T>,
}

impl<T: JitReal> Carry<T> {
    fn new(initial: Vec<T>, state_size: usize, output: usize) -> Self {
        let mut state = initial;
        state.resize(state_size.max(1), T::zero());
        Carry { output: vec![T::zero(); output.max(1)], state }
    }
}

/// What the forward pass over a batch leaves for the backward pass.
struct ForwardRun<T> {
    /// `[batch, steps, outputs]`.
    output: Vec<T>,
    /// `[batch, steps + 1, state_size]` when kept for the backward pass (the states before
    /// each step, then the final states); else one chunk per element.
    tape: Vec<T>,
    /// Elements per batch element in `tape`.
    tape_stride: usize,
    /// Per chunk, per product: `[batch, chunk length, cols]` for the products the backward
    /// function reads (empty for the others).
    products: Vec<Vec<Vec<T>>>,
}

/// Writes to `out` the pointers to the products of one batch element in one chunk of `length`
/// steps, from its step `row`; an empty buffer (a product the function does not read) gives a
/// dangling pointer the generated code never dereferences.
fn element_rows<T>(
    out: &mut [*const T],
    products: &[Vec<T>],
    element: usize,
    length: usize,
    row: usize,
    cols: impl Iterator<Item = usize>,
) {
    for ((pointer, rows), cols) in out.iter_mut().zip(products).zip(cols) {
        *pointer = if rows.is_empty() { rows.as_ptr() } else { rows[(element * length + row) * cols..].as_ptr() };
    }
}

/// The parameter-pointer table of a generated function: the parameters, then the kernels'
/// copies its layout lists (`Layout::copies`).
fn pointer_table<T>(params: &[Vec<T>], copies: &[KernelWeight<T>]) -> Vec<*const T> {
    params.iter().map(|p| p.as_ptr()).chain(copies.iter().map(|c| c.data[c.start..].as_ptr())).collect()
}

/// A parameter matrix copied for the kernels: rows padded to [`padded`] elements, the first
/// at `data[start]`, 64-byte aligned.
struct KernelWeight<T> {
    data: Vec<T>,
    start: usize,
}

impl<T: JitReal> JitNetwork<T> {
    /// The copies `list` asks for: each `W[rows, cols]` (or `Wᵀ`, `[cols, rows]`) with its rows
    /// padded and aligned (see [`crate::codegen::layout::Layout::copied`]).
    fn kernel_weights(&self, params: &[Vec<T>], list: &[KernelCopy]) -> Vec<KernelWeight<T>> {
        const ALIGN: usize = 64;
        list.iter()
            .map(|copy| {
                let w = &params[copy.param as usize];
                let shape = |param: u32| match self.forward_program.params[param as usize].shape {
                    crate::step::Shape::Matrix(rows, cols) => (rows, cols),
                    shape => (1, shape.len()),
                };
                let (rows, cols) = shape(copy.param);
                // Appended columns (`merge`): another `[rows, extra]` weight after `W`'s.
                let extra = copy.appended.map_or(0, |p| shape(p).1);
                let (out_rows, out_cols) = if copy.transposed { (cols, rows) } else { (rows, cols + extra) };
                let stride = padded(out_cols);
                let lanes = ALIGN / std::mem::size_of::<T>();
                let mut data = vec![T::zero(); out_rows * stride + lanes];
                let start = data.as_ptr().align_offset(ALIGN).min(lanes);
                for (i, row) in w.chunks(cols.max(1)).enumerate().take(rows) {
                    for (j, value) in row.iter().enumerate() {
                        let (r, c) = if copy.transposed { (j, i) } else { (i, j) };
                        data[start + r * stride + c] = *value;
                    }
                }
                if let Some(appended) = copy.appended {
                    for (i, row) in params[appended as usize].chunks(extra.max(1)).enumerate().take(rows) {
                        let first = start + i * stride + cols;
                        data[first..first + row.len()].copy_from_slice(row);
                    }
                }
                KernelWeight { data, start }
            })
            .collect()
    }

    /// `input @ W` for the `wanted` precomputed products over steps `start..start + length` of
    /// every batch element: one `[batch, length, cols]` buffer per product (empty if not
    /// wanted), computed in blocks of [`TASK_ROWS`] rows in parallel.
    #[allow(clippy::too_many_arguments)]
    fn precompute(
        &self,
        params: &[Vec<T>],
        input: &[T],
        batch: usize,
        steps: usize,
        (start, length): (usize, usize),
        wanted: &[bool],
    ) -> Vec<Vec<T>> {
        let channels = self.channels();
        self.compiled
            .precomputed
            .iter()
            .zip(wanted)
            .map(|(product, wanted)| {
                let cols = product.cols;
                if !wanted || cols == 0 || length == 0 {
                    return Vec::new();
                }
                let weight = &params[product.param as usize];
                let mut rows = vec![T::zero(); batch * length * cols];
                if length == steps {
                    // One chunk holds every step: the batch's rows are one contiguous matrix,
                    // multiplied in one block per thread (each block packs `W` once; per
                    // element and 64 rows, D packed its 2000 × 200 weight six times). A row's
                    // result does not depend on the block it falls in.
                    let task = TASK_ROWS.max((batch * length).div_ceil(rayon::current_num_threads().max(1)));
                    rows.par_chunks_mut(task * cols).enumerate().for_each(|(block, out)| {
                        // Lengths: the input holds `batch × steps` rows of `channels`; `multiply`
                        // re-checks and does nothing otherwise.
                        multiply(out.len() / cols, product.rows, cols, &input[block * task * channels..], weight, out);
                    });
                    return rows;
                }
                rows.par_chunks_mut(length * cols).enumerate().for_each(|(b, element)| {
                    let first = (b * steps + start) * channels;
                    let x = &input[first..first + length * channels];
                    element.par_chunks_mut(TASK_ROWS * cols).enumerate().for_each(|(block, out)| {
                        // Lengths: `x` holds `length` rows of `channels`, the weight
                        // `product.rows × cols` (checked against the parameter table);
                        // `multiply` re-checks and does nothing otherwise.
                        multiply(out.len() / cols, product.rows, cols, &x[block * TASK_ROWS * channels..], weight, out);
                    });
                });
                rows
            })
            .collect()
    }

    /// Runs the whole batch forward, chunk by chunk (batch elements in parallel within a
    /// chunk). With `for_backward`, keeps the full state tape and the products the backward
    /// function reads.
    fn forward(
        &self,
        params: &[Vec<T>],
        input: &[T],
        batch: usize,
        steps: usize,
        seed: u64,
        for_backward: bool,
    ) -> ForwardRun<T> {
        let layout = &self.compiled.forward_layout;
        let (channels, outputs, state_size) = (self.channels(), layout.output_size, layout.state_size);
        let initial = initial_states(&self.forward_program, params).concat();
        let mut carries: Vec<Carry<T>> =
            (0..batch).map(|_| Carry::new(initial.clone(), state_size, steps * outputs)).collect();
        // The forward function keeps the states on the tape: a call of `length` steps reads
        // its start state from row 0 (it copies it there) and writes rows 1..=length. Kept for
        // the backward pass, the tape has a last row for the final states (the backward
        // function reads each step's new state from the row after it). Not kept, each element
        // writes one chunk's rows to a buffer of its own, allocated where it runs (not a
        // batch-sized one zeroed and faulted in at every call).
        let tape_stride = if for_backward { steps } else { steps.min(FORWARD_CHUNK) } + 1;
        let tape_stride = tape_stride * state_size.max(1);
        // A kept tape holds the last call's rows: every row this call reads is written below
        // first (row 0 of a chunk from the state it starts from, the rest by its steps).
        let mut tape = if for_backward { self.tape.take(batch * tape_stride) } else { Vec::new() };
        let mut element_tapes: Vec<&mut [T]> = match for_backward {
            true => tape.chunks_mut(tape_stride).collect(),
            false => (0..batch).map(|_| &mut [][..]).collect(),
        };
        let wanted: Vec<bool> = (self.compiled.forward_products.iter())
            .zip(&self.compiled.backward_products)
            .map(|(forward, backward)| *forward || (for_backward && *backward))
            .collect();
        let mut kept = Vec::new();
        let copies = self.kernel_weights(params, &layout.copies);
        let pointers = pointer_table(params, &copies);
        // Shared read-only: generated code only reads the pointer table.
        let pointers = Shared(pointers.as_ptr() as *mut *const T);
        // SAFETY: the pointers are finalised forward functions compiled with this signature, the
        // group one for 2 to `MAX_GROUP` elements.
        let (single, grouped): (ForwardFn<T>, Option<ForwardFn<T>>) = unsafe {
            (
                std::mem::transmute::<*const u8, ForwardFn<T>>(self.compiled.forward),
                self.compiled.forward_group.map(|f| std::mem::transmute::<*const u8, ForwardFn<T>>(f)),
            )
        };
        let cols = || self.compiled.precomputed.iter().map(|p| p.cols);
        // Lock-step groups: at most `MAX_GROUP` elements, and at least one group per thread. An
        // element's results do not depend on its group (see `matvec::vecmat_group`).
        let group = match self.compiled.forward_group {
            Some(_) => batch.div_ceil(rayon::current_num_threads().max(1)).clamp(1, MAX_GROUP),
            None => 1,
        };
        for (start, length) in chunks(steps) {
            let products = self.precompute(params, input, batch, steps, (start, length), &wanted);
            let groups = element_tapes.par_chunks_mut(group).zip(carries.par_chunks_mut(group));
            groups.enumerate().for_each(|(g, (tapes, carries))| {
                let count = carries.len();
                let elements = g * group..g * group + count;
                let mut own: Vec<Vec<T>> = match for_backward {
                    true => Vec::new(),
                    false => (0..count).map(|_| vec![T::zero(); tape_stride]).collect(),
                };
                let tape_row = if for_backward { start * state_size } else { 0 };
                let tape_pointers: Vec<*mut T> = match for_backward {
                    true => tapes.iter_mut().map(|tape| tape[tape_row..].as_mut_ptr()).collect(),
                    false => own.iter_mut().map(|tape| tape.as_mut_ptr()).collect(),
                };
                let pres: Vec<Vec<*const T>> = (elements.clone())
                    .map(|b| {
                        let mut pre = vec![std::ptr::null(); self.compiled.precomputed.len()];
                        element_rows(&mut pre, &products, b, length, 0, cols());
                        pre
                    })
                    .collect();
                let mut outs: Vec<Vec<T>> = (0..count).map(|_| vec![T::zero(); state_size.max(1)]).collect();
                let mut scratches: Vec<Vec<T>> = (0..count).map(|_| vec![T::zero(); layout.scratch.max(1)]).collect();
                let contexts: Vec<[u64; 3]> = elements.clone().map(|b| [seed, b as u64, start as u64]).collect();
                let inputs: Vec<*const T> =
                    elements.clone().map(|b| input[(b * steps + start) * channels..].as_ptr()).collect();
                let outputs: Vec<*mut T> =
                    carries.iter_mut().map(|carry| carry.output[start * outputs..].as_mut_ptr()).collect();
                let states: Vec<*mut T> = carries.iter_mut().map(|carry| carry.state.as_mut_ptr()).collect();
                let outs_pointers: Vec<*mut T> = outs.iter_mut().map(|b| b.as_mut_ptr()).collect();
                let scratch_pointers: Vec<*mut T> = scratches.iter_mut().map(|b| b.as_mut_ptr()).collect();
                let context_pointers: Vec<*const u64> = contexts.iter().map(|c| c.as_ptr()).collect();
                let pre_pointers: Vec<*const *const T> = pres.iter().map(|p| p.as_ptr()).collect();
                let function = match grouped {
                    Some(grouped) if count > 1 => grouped,
                    _ => single,
                };
                assert!(count <= MAX_GROUP, "lock-step groups have at most MAX_GROUP elements");
                // SAFETY: `check` verified that `params` match the parameter table (each
                // buffer has its shape's length; the pointer table adds the transposed
                // copies the layout lists, each as long as its parameter, and lives until
                // the end of this function) and that `input` holds `batch × steps` rows of
                // `channels`. Every array has `count <= MAX_GROUP` entries, one per element of
                // the group (distinct buffers); for each, this call reads rows
                // `start..start + length` of its input and writes the same rows of its
                // `output` (`steps × outputs`), and rows `0..=length` of its tape from
                // `tape_row` (the tape has `steps + 1` rows when kept, with `tape_row` at row
                // `start`, `start + length <= steps`; else `min(steps, FORWARD_CHUNK) + 1` rows
                // with `length <= min(steps, FORWARD_CHUNK)`). The state buffers have
                // `state_size` elements, scratch the layout's size; each
                // product the function reads has `length × cols` elements from the element's
                // row (the others are never dereferenced). Each context has three u64s.
                unsafe {
                    function(
                        pointers.get(),
                        inputs.as_ptr(),
                        outputs.as_ptr(),
                        tape_pointers.as_ptr(),
                        states.as_ptr(),
                        scratch_pointers.as_ptr(),
                        length as i64,
                        context_pointers.as_ptr(),
                        pre_pointers.as_ptr(),
                        outs_pointers.as_ptr(),
                        count as i64,
                    );
                }
                for (carry, out) in carries.iter_mut().zip(outs) {
                    carry.state = out;
                }
            });
            if for_backward {
                let backward = &self.compiled.backward_products;
                kept.push(
                    products.into_iter().zip(backward).map(|(p, used)| if *used { p } else { Vec::new() }).collect(),
                );
            }
        }
        drop(element_tapes);
        let output = carries.iter().flat_map(|carry| carry.output[..steps * outputs].iter().copied()).collect();
        ForwardRun { output, tape, tape_stride, products: kept }
    }

    /// Where the flushes of a gradient block add the sequence products: a parameter's gradient
    /// buffer itself, moved out of `grads`, if nothing else adds to it during the backward
    /// pass; else a buffer of its own, added to `grads` at the end (see `merge_flushed`).
    /// Parameters without sequence or diagonal terms get an empty buffer. Flushes may then run
    /// on another thread while generated code adds to `grads`, with the same sums for any
    /// thread count.
    fn flush_targets(&self, grads: &mut [Vec<T>]) -> Vec<Vec<T>> {
        let compiled = &self.compiled;
        (0..grads.len())
            .map(|param| {
                let flushed = compiled.sequences.iter().any(|term| term.param as usize == param)
                    || compiled.diagonals.iter().any(|term| term.param as usize == param);
                if !flushed {
                    Vec::new()
                } else if compiled.step_gradients.get(param).is_none_or(|every| *every) {
                    vec![T::zero(); grads[param].len()]
                } else {
                    std::mem::take(&mut grads[param])
                }
            })
            .collect()
    }

    /// Whether a call over `batch` elements has parallel work: several elements, products
    /// computed by GEMM, or a matrix large enough for the kernels' two-thread split.
    fn parallel(&self, batch: usize) -> bool {
        batch > 1
            || !self.compiled.precomputed.is_empty()
            || self.forward_program.params.iter().any(|p| p.shape.len() >= PARALLEL_MATRIX)
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
        Ok(in_pool(threads, self.parallel(batch), || self.forward(params, input, batch, steps, seed, false).output))
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
        if self.compiled.backward.is_none() {
            return Err(InterpError::NoAdjoint);
        }
        // Sequence products may run beside the backward loop (see `Pipeline`). Whether that
        // pays depends on where the host placed the vCPUs at the time: both ways give the same
        // gradients, so the faster is chosen by timing them (see `tune`), the pool's hop
        // included (flushing after the loop runs on this thread).
        let pool_threads = if threads == 0 { rayon::current_num_threads() } else { threads };
        let may_overlap = self.may_flush_beside(batch, pool_threads);
        let beside = may_overlap && self.flush_beside.pick();
        let started = std::time::Instant::now();
        let parallel = self.parallel(batch) || beside;
        let gradient = in_pool(threads, parallel, || {
            self.gradient(loss, bounds, params, input, target, (batch, steps), seed, beside)
        });
        if may_overlap {
            // Per step of each element, so that calls of other lengths compare.
            self.flush_beside.record(beside, started.elapsed().div_f64((batch * steps).max(1) as f64));
        }
        Ok(gradient)
    }

    /// Whether the backward pass may multiply its weight-gradient rows on a second thread while
    /// its loop goes on: with a core to spare (fewer gradient blocks than `threads`) and no
    /// matrix–vector products split across threads at every step.
    fn may_flush_beside(&self, batch: usize, threads: usize) -> bool {
        self.compiled.flush_beside_loop
            && !self.compiled.sequences.is_empty()
            && batch.div_ceil(block_size(batch)) < threads
            && !self.forward_program.params.iter().any(|p| p.shape.len() >= PARALLEL_MATRIX)
    }

    /// [`JitNetwork::value_and_grad`] after its checks, on the current pool.
    #[allow(clippy::too_many_arguments)]
    fn gradient(
        &self,
        loss: &Loss,
        bounds: &[Bound],
        params: &[Vec<T>],
        input: &[T],
        target: &[f64],
        (batch, steps): (usize, usize),
        seed: u64,
        overlap: bool,
    ) -> Gradient<T> {
        let Some((backward, backward_layout)) = &self.compiled.backward else {
            unreachable!("value_and_grad checked that there is a backward function")
        };
        let size = self.output_size();
        let run = self.forward(params, input, batch, steps, seed, true);
        let mut value = loss_value(loss, bounds, &run.output, target, [batch, steps, size], params);
        // ∂L/∂output in the element type, once (the f64 rows are not kept alongside).
        let seeds: Vec<T> = std::mem::take(&mut value.output_grad).into_iter().map(T::from_f64).collect();
        // SAFETY: the pointers are finalised backward functions compiled with exactly this
        // signature for element type T, the group one for 2 to `MAX_GROUP` elements.
        let (single, grouped): (BackwardFn<T>, Option<BackwardFn<T>>) = unsafe {
            (
                std::mem::transmute::<*const u8, BackwardFn<T>>(*backward),
                self.compiled.backward_group.map(|f| std::mem::transmute::<*const u8, BackwardFn<T>>(f)),
            )
        };
        let state_size = backward_layout.state_size;
        let channels = self.channels();
        // The kernels' weight copies, once per call (not per element or chunk).
        let copies = self.kernel_weights(params, &backward_layout.copies);
        let rows_len = steps * channels;
        let cols = || self.compiled.precomputed.iter().map(|p| p.cols);
        let terms = &self.compiled.sequences;
        let diagonals = &self.compiled.diagonals;
        let scales: Vec<Vec<T>> = diagonals.iter().map(|term| scale_values(&term.scale, params)).collect();
        let source = Source { input, channels, params, tape: &run.tape, state_size, diagonals, scales: &scales };
        // With a core to spare (fewer blocks than threads, and no matrix–vector products split
        // across threads at every step), a block's rows are multiplied on a second thread while
        // its backward loop goes on.
        let blocks: Vec<(usize, usize)> =
            (0..batch).step_by(block_size(batch)).map(|start| (start, block_size(batch).min(batch - start))).collect();
        // Steps per backward call, and so rows per buffer: two buffers are alive when flushing
        // beside the loop, so each holds half a chunk (the same memory as one). Decided at
        // compile time, not by `overlap`: the products' row groups, and so the sums, are then
        // the same for any number of threads.
        let call_steps = if self.compiled.flush_beside_loop { CHUNK / 2 } else { CHUNK };
        // Elements per backward call (see `BACKWARD_GROUP`).
        // Steps of one element per call: all of a short sequence, else `call_steps`. Lock-step
        // groups take as many elements as fit the `CHUNK` rows of a full buffer that way (at
        // most `BACKWARD_GROUP`), so each element's rows make one long flush product.
        let element_steps = steps.min(call_steps).max(1);
        let group_size = match self.compiled.backward_group {
            Some(_) => (CHUNK / element_steps).clamp(1, BACKWARD_GROUP),
            None => 1,
        };
        // Adds the gradients of a lock-step group of a block's elements into `grads`
        // (terms added at every step) and `rows` (the sequence products).
        let backward_group = |elements: std::ops::Range<usize>, grads: &mut Vec<Vec<T>>, rows: &mut Pipeline<T>| {
            let count = elements.len();
            let buffer = || -> Vec<Vec<T>> { (0..count).map(|_| vec![T::zero(); state_size.max(1)]).collect() };
            let (mut lambdas, mut others, mut lambdas_out) = (buffer(), buffer(), buffer());
            let mut scratches: Vec<Vec<T>> =
                (0..count).map(|_| vec![T::zero(); backward_layout.scratch.max(1)]).collect();
            let pointers = pointer_table(params, &copies);
            // The arrays of per-element pointers: fixed ones once, per-call ones refilled. λ goes
            // in through one set of buffers and out through the other, which swap roles after
            // each call (no copy between them).
            let mut lambda_pointers: Vec<*mut T> = lambdas.iter_mut().map(|b| b.as_mut_ptr()).collect();
            let mut out_pointers: Vec<*mut T> = lambdas_out.iter_mut().map(|b| b.as_mut_ptr()).collect();
            let mut final_in_out = false;
            let other_pointers: Vec<*mut T> = others.iter_mut().map(|b| b.as_mut_ptr()).collect();
            let scratch_pointers: Vec<*mut T> = scratches.iter_mut().map(|b| b.as_mut_ptr()).collect();
            let products = self.compiled.precomputed.len();
            let sequences = self.compiled.sequence_lengths.len();
            let (mut inputs, mut tapes, mut element_seeds) =
                (vec![std::ptr::null(); count], vec![std::ptr::null(); count], vec![std::ptr::null(); count]);
            let mut contexts = vec![[seed, 0, 0]; count];
            // Element `e`'s product and sequence pointers at `e × products` and `e × sequences`.
            let mut pre_rows: Vec<*const T> = vec![std::ptr::null(); (count * products).max(1)];
            let mut seq_rows: Vec<*mut T> = vec![std::ptr::null_mut(); (count * sequences).max(1)];
            // A gradient the function never adds to (`step_gradients`) may be an empty buffer;
            // the pointers stay valid until `grads` is next used below, after the calls.
            let grad_pointers: Vec<*mut T> = grads.iter_mut().map(|g| g.as_mut_ptr()).collect();
            // Calls of at most `element_steps` steps, each inside one forward chunk.
            let calls = chunks(steps).into_iter().flat_map(|(chunk, chunk_length)| {
                (chunk..chunk + chunk_length)
                    .step_by(element_steps)
                    .map(move |start| (chunk, chunk_length, start, element_steps.min(chunk + chunk_length - start)))
            });
            for (chunk, chunk_length, start, length) in calls.collect::<Vec<_>>().into_iter().rev() {
                rows.make_room(count, length);
                let filling = &mut rows.filling;
                for (e, b) in elements.clone().enumerate() {
                    inputs[e] = input[b * rows_len + start * channels..].as_ptr();
                    tapes[e] = run.tape[b * run.tape_stride + start * state_size..].as_ptr();
                    element_seeds[e] = seeds[(b * steps + start) * size..].as_ptr();
                    contexts[e] = [seed, b as u64, start as u64];
                    let pre = &mut pre_rows[e * products..(e + 1) * products];
                    element_rows(pre, &run.products[chunk / FORWARD_CHUNK], b, chunk_length, start - chunk, cols());
                    // Element `e` of the group writes its rows from the row its region gives.
                    let offsets = (b * rows_len + start * channels, b * run.tape_stride + start * state_size);
                    let row = filling.place(e, b, start, length, offsets);
                    let seq = seq_rows[e * sequences..(e + 1) * sequences].iter_mut();
                    for ((pointer, buffer), len) in seq.zip(&mut filling.buffers).zip(&self.compiled.sequence_lengths) {
                        // `row + length <= capacity`, so the offset rows fit the buffer.
                        *pointer = buffer[row * len..].as_mut_ptr();
                    }
                }
                let context_pointers: Vec<*const u64> = contexts.iter().map(|c| c.as_ptr()).collect();
                let pre_pointers: Vec<*const *const T> =
                    (0..count).map(|e| pre_rows[e * products..].as_ptr()).collect();
                let seq_pointers: Vec<*const *mut T> = (0..count).map(|e| seq_rows[e * sequences..].as_ptr()).collect();
                let backward_function = match grouped {
                    Some(grouped) if count > 1 => grouped,
                    _ => single,
                };
                assert!(count <= MAX_GROUP, "lock-step groups have at most MAX_GROUP elements");
                // SAFETY: as for the forward call, for rows `start..start + length` of each of
                // the group's `count <= MAX_GROUP` elements (one entry per element in every
                // array, distinct buffers): the tape has `(steps + 1) × state_size` elements
                // per batch element (written by the forward pass; the function reads rows
                // `start..=start + length`), seeds `steps × outputs`, every gradient buffer the
                // function adds to its parameter's length, the λ buffers `state_size`, scratch
                // the backward layout's size, each product the function reads `length × cols`
                // elements from the element's row `start - chunk` of its chunk (kept by the
                // forward pass; `start - chunk + length <= chunk_length`), each sequence buffer
                // `capacity` rows of its row length (plus `MAX_GROUP` with next rows), written
                // by each element from the row `place` gave it to that row + `length`, or to
                // the row after them with next rows (`next_row`): `place` asserts that these
                // lie in the element's region, and the regions in the buffer. A concurrent
                // flush touches other buffers.
                unsafe {
                    backward_function(
                        pointers.as_ptr(),
                        inputs.as_ptr(),
                        tapes.as_ptr(),
                        element_seeds.as_ptr(),
                        grad_pointers.as_ptr(),
                        lambda_pointers.as_ptr(),
                        other_pointers.as_ptr(),
                        scratch_pointers.as_ptr(),
                        length as i64,
                        context_pointers.as_ptr(),
                        out_pointers.as_ptr(),
                        pre_pointers.as_ptr(),
                        seq_pointers.as_ptr(),
                        count as i64,
                    );
                }
                std::mem::swap(&mut lambda_pointers, &mut out_pointers);
                final_in_out = !final_in_out;
            }
            // A state that starts from a parameter passes its adjoint on to it.
            for lambda_out in if final_in_out { &lambdas_out } else { &lambdas } {
                let mut offset = 0;
                for state in &self.forward_program.states {
                    let len = state.shape.len();
                    if let StateInit::Param(param) = state.init {
                        add_into(&mut grads[param.0 as usize], &lambda_out[offset..offset + len]);
                    }
                    offset += len;
                }
            }
        };
        // Batch elements in fixed blocks (`blocks`): each block sums its elements in order,
        // blocks are summed in order — the same result for any number of threads.
        // The sum of the blocks' gradients (the first block's own buffers, then added to).
        let mut total: Option<Vec<Vec<T>>> = None;
        // Waves of one block per thread bound the gradient buffers alive at once (the total and
        // one block's per thread). The blocks are still added in block order, so the sums do
        // not depend on the wave size.
        for wave in blocks.chunks(rayon::current_num_threads().max(1)) {
            let per_block: Vec<Vec<Vec<T>>> = wave
                .par_iter()
                .map(|(start, length)| {
                    let mut grads: Vec<Vec<T>> = params.iter().map(|p| vec![T::zero(); p.len()]).collect();
                    let mut flushed = self.flush_targets(&mut grads);
                    // Rows for the whole block if it has fewer than `call_steps` steps in all.
                    // One call of the largest group fits (at most `CHUNK` rows).
                    let rows = call_steps.min(*length * steps).max(group_size.min(*length) * element_steps).max(1);
                    // With next rows, each element's segment takes a row after it too: room for
                    // all of the block's, so that short sequences still make one flush.
                    let rows = rows + if self.compiled.next_rows { *length } else { 0 };
                    let capacity = Capacity { rows, next_rows: self.compiled.next_rows };
                    let lengths = &self.compiled.sequence_lengths;
                    let elements = *start..start + length;
                    if overlap {
                        let started = AtomicBool::new(false);
                        let (mut rows, full, empty) = Pipeline::sending(lengths, capacity, &started);
                        rayon::join(
                            || {
                                for group in groups(elements.clone(), group_size) {
                                    backward_group(group, &mut grads, &mut rows);
                                }
                                rows.finish();
                            },
                            || flush_sent((full, empty, &started), terms, &mut flushed, source),
                        );
                    } else {
                        let mut rows = Pipeline::here(lengths, capacity, terms, &mut flushed, source);
                        for group in groups(elements.clone(), group_size) {
                            backward_group(group, &mut grads, &mut rows);
                        }
                        rows.finish();
                    }
                    if steps > 0 {
                        add_derived(&self.compiled.derived, params, &mut flushed, &mut grads);
                    }
                    merge_flushed(&mut grads, flushed);
                    grads
                })
                .collect();
            for element in per_block {
                match &mut total {
                    None => total = Some(element),
                    Some(total) => {
                        for (sum, part) in total.iter_mut().zip(&element) {
                            add_into(sum, part);
                        }
                    }
                }
            }
        }
        let mut grads = total.unwrap_or_else(|| params.iter().map(|p| vec![T::zero(); p.len()]).collect());
        add_loss_param_grads(&mut grads, &value);
        self.tape.keep(run.tape);
        Gradient { loss: value.value, terms: value.terms, grads, output: run.output }
    }
}

/// Puts the flushed sequence products (see `JitNetwork::flush_targets`) into `grads`: a moved
/// buffer goes back, a separate one is added.
fn merge_flushed<T: JitReal>(grads: &mut [Vec<T>], flushed: Vec<Vec<T>>) {
    for (grad, part) in grads.iter_mut().zip(flushed) {
        if grad.is_empty() {
            *grad = part;
        } else {
            add_into(grad, &part);
        }
    }
}

/// `total[i] += part[i]`, in index order.
fn add_into<T: JitReal>(total: &mut [T], part: &[T]) {
    for (t, p) in total.iter_mut().zip(part) {
        *t = t.add(*p);
    }
}
