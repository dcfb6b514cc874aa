//! Weight-gradient rows: the values of `Σ_t x[t]ᵀ y[t]` terms that generated code stores at every
//! step, gathered in buffers and added to the gradients as matrix products ("flushes"), on the
//! backward loop's thread or on a second thread while the loop goes on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};

use rayon::prelude::*;

use super::compile::{SequenceTerm, Side};
use super::derived::add_scaled;
use super::diagonal::{DiagonalTerm, add_diagonal};
use super::gemm::add_transposed_product;
use super::run::TASK_ROWS;
use super::{JitReal, MAX_GROUP};

/// Row buffers a block allocates beyond the one it fills before it waits for the flushing thread
/// to return one (once that thread is known to run): one, so that memory stays at two buffers.
const IN_FLIGHT: usize = 1;

/// What a flush reads besides the row buffers.
#[derive(Clone, Copy)]
pub(super) struct Source<'a, T> {
    /// The network input `[batch, steps, channels]`.
    pub input: &'a [T],
    /// Input channels per step.
    pub channels: usize,
    /// Parameters (the weights of contracted terms).
    pub params: &'a [Vec<T>],
    /// The forward pass's state tape (`[batch, steps + 1, state_size]`).
    pub tape: &'a [T],
    /// Elements of a tape row.
    pub state_size: usize,
    /// Terms summed from the rows (see [`super::diagonal`]).
    pub diagonals: &'a [DiagonalTerm],
    /// Each diagonal term's `k`, evaluated.
    pub scales: &'a [Vec<T>],
}

/// Steps of one batch element gathered in a row buffer: where its rows start in the input, on
/// the tape and in the buffers, and how many there are.
#[derive(Clone, Copy, Debug)]
pub(super) struct Segment {
    /// First element of its first input row.
    pub input: usize,
    /// First element of its first tape row.
    pub tape: usize,
    /// Rows (steps).
    pub rows: usize,
    /// Its first row in the buffers.
    pub row: usize,
}

/// The rows of one element of a lock-step group in a buffer: filled from the region's end
/// down, so that the backward pass's calls (later steps first) leave its steps in time order,
/// and consecutive calls of one element make one segment.
#[derive(Clone, Copy, Debug, Default)]
struct Region {
    /// Rows used (with the rows after segments, see [`Capacity::next_rows`]).
    filled: usize,
    /// The segment still growing downwards: its index, batch element and first step.
    open: Option<(usize, usize, usize)>,
}

/// The size of a row buffer.
#[derive(Clone, Copy, Debug)]
pub(super) struct Capacity {
    /// Rows for steps.
    pub rows: usize,
    /// Whether generated code writes the row after each call's rows (a carried value, see
    /// [`super::next_row`]): each segment then has a row of its own after it.
    pub next_rows: bool,
}

/// Rows of the weight-gradient sequences, gathered over chunks and batch elements until
/// `CHUNK` rows are full, then added to the gradients as one product `Xᵀ Y` per term and
/// segment: short sequences (many batch elements of few steps) still make large, efficient
/// GEMMs. Input and tape rows are not copied. A lock-step group of `count` elements splits the
/// rows into `count` regions, one per element (see [`Region`]).
pub(super) struct Rows<T> {
    /// One buffer of `capacity` rows per sequence (plus a row after each region's rows, with
    /// [`Capacity::next_rows`]).
    pub buffers: Vec<Vec<T>>,
    /// Rows per buffer (at most `CHUNK`).
    pub capacity: Capacity,
    /// The gathered steps.
    pub segments: Vec<Segment>,
    /// Rows filled so far.
    pub filled: usize,
    /// One per element of the group filling the buffers.
    regions: Vec<Region>,
    /// `capacity` ones: the `x` rows of [`Side::Ones`] terms.
    ones: Vec<T>,
}

impl<T: JitReal> Rows<T> {
    /// Empty buffers of `capacity` rows of each length.
    pub fn new(lengths: &[usize], capacity: Capacity) -> Self {
        let rows = capacity.rows + if capacity.next_rows { MAX_GROUP } else { 0 };
        Rows {
            buffers: lengths.iter().map(|len| vec![T::zero(); (rows * len).max(1)]).collect(),
            capacity,
            segments: Vec::new(),
            filled: 0,
            regions: Vec::new(),
            ones: vec![T::one(); capacity.rows],
        }
    }

    /// Rows of each of `count` regions, and the rows a new segment takes beyond its steps.
    fn region_rows(&self, count: usize) -> (usize, usize) {
        let after = usize::from(self.capacity.next_rows);
        (self.capacity.rows / count.max(1) + after, after)
    }

    /// Whether a call of `count` elements of `length` steps each fits: empty buffers are split
    /// into `count` regions; filled ones need the same count and room in every region (for a
    /// new segment).
    fn fits(&mut self, count: usize, length: usize) -> bool {
        if self.filled == 0 {
            self.regions = vec![Region::default(); count];
        }
        let (size, after) = self.region_rows(count);
        self.regions.len() == count && self.regions.iter().all(|r| r.filled + length + after <= size)
    }

    /// Places `length` rows of batch element `element`, steps `step..step + length` (first
    /// input and tape elements `input` and `tape`), in region `region`; returns their first
    /// row. The caller made room for them ([`Pipeline::make_room`]). With
    /// [`Capacity::next_rows`], the row after them is the next call's first row of the same
    /// segment, or a row of its own: generated code may write it.
    pub fn place(
        &mut self,
        region: usize,
        element: usize,
        step: usize,
        length: usize,
        (input, tape): (usize, usize),
    ) -> usize {
        let (size, after) = self.region_rows(self.regions.len());
        let r = &mut self.regions[region];
        let grows =
            matches!(r.open, Some((_, open_element, first)) if open_element == element && first == step + length);
        let used = r.filled + length + if grows { 0 } else { after };
        // Generated code writes these rows (and the next): they must lie inside the region
        // (`make_room`), and the buffers hold `MAX_GROUP` regions' rows after them.
        assert!(used <= size && region < MAX_GROUP, "rows placed past their region");
        let row = region * size + size - used;
        match r.open {
            Some((k, _, _)) if grows => {
                let segment = &mut self.segments[k];
                *segment = Segment { input, tape, rows: segment.rows + length, row };
                r.open = Some((k, element, step));
            }
            _ => {
                self.segments.push(Segment { input, tape, rows: length, row });
                r.open = Some((self.segments.len() - 1, element, step));
            }
        }
        r.filled = used;
        self.filled += length;
        row
    }

    /// The rows of `side` in `segment` and their stride; input and tape rows are read in place.
    fn rows_of<'s>(&'s self, side: Side, segment: &Segment, source: &Source<'s, T>) -> (&'s [T], usize) {
        match side {
            Side::Buffer(k, len) => (&self.buffers[k][segment.row * len..], len),
            Side::NextRow(k, len) => (&self.buffers[k][(segment.row + 1) * len..], len),
            Side::Ones => (&self.ones[..], 1),
            Side::Input => {
                let channels = source.channels;
                (&source.input[segment.input..segment.input + segment.rows * channels], channels)
            }
            Side::Tape { offset, next, .. } => {
                let first = segment.tape + usize::from(next) * source.state_size + offset;
                (source.tape.get(first..).unwrap_or(&[]), source.state_size)
            }
        }
    }

    /// Adds the gathered rows' products (and diagonal sums) to `grads` and empties the
    /// buffers. A large product is split into blocks of [`TASK_ROWS`] gradient rows computed in
    /// parallel; within a block, input segments are added in order (the same sums for any
    /// number of threads).
    pub fn flush(&mut self, terms: &[SequenceTerm], grads: &mut [Vec<T>], source: Source<'_, T>) {
        let params = source.params;
        for term in terms {
            let (m, n) = (term.rows, term.cols);
            // A contracted term's `Xᵀ Y` goes to a scratch matrix first.
            let mut product = match term.contract {
                Some(_) => vec![T::zero(); m * n],
                None => Vec::new(),
            };
            let grad = match term.contract {
                Some(_) => &mut product,
                None => &mut grads[term.param as usize],
            };
            if n == 0 || m * n > grad.len() {
                continue;
            }
            // The (x, x's row stride, y) row ranges of each segment's product with its rows.
            let parts: Vec<(&[T], usize, &[T], usize)> = (self.segments.iter())
                .map(|segment| {
                    let ((x, stride), (y, _)) =
                        (self.rows_of(term.x, segment, &source), self.rows_of(term.y, segment, &source));
                    (x, stride, y, segment.rows)
                })
                .collect();
            grad[..m * n].par_chunks_mut(TASK_ROWS * n).enumerate().for_each(|(block, part)| {
                // Columns `block · TASK_ROWS ..` of x's `k` rows (`stride` apart) give these
                // rows of the gradient; `add_transposed_product` checks the lengths.
                let first = block * TASK_ROWS;
                for (x, stride, y, k) in &parts {
                    add_transposed_product(part.len() / n, *k, n, &x[first.min(x.len())..], *stride, y, part);
                }
            });
            if let Some(weight) = term.contract {
                // ∂L/∂θ[j] += Σ_i W[i, j] (Xᵀ Y)[i, j].
                add_contraction(&mut grads[term.param as usize], &params[weight as usize], &product);
            }
        }
        for (term, k) in source.diagonals.iter().zip(source.scales) {
            let grad = &mut grads[term.param as usize];
            if grad.len() != term.cols || k.is_empty() {
                continue;
            }
            let mut sums = vec![T::zero(); term.cols];
            for segment in &self.segments {
                let x = (term.x != Side::Ones).then(|| self.rows_of(term.x, segment, &source));
                add_diagonal(&mut sums, x, self.rows_of(term.y, segment, &source).0, segment.rows);
            }
            add_scaled(grad, k, &sums);
        }
        self.segments.clear();
        self.filled = 0;
        self.regions.clear();
    }
}

/// `sums[j] += Σ_i weight[i, j] product[i, j]` for row-major matrices of `sums.len()` columns,
/// rows in order; nothing if the lengths disagree.
pub(super) fn add_contraction<T: JitReal>(sums: &mut [T], weight: &[T], product: &[T]) {
    let cols = sums.len();
    if cols == 0 || weight.len() != product.len() || !weight.len().is_multiple_of(cols) {
        return;
    }
    for (w_row, p_row) in weight.chunks(cols).zip(product.chunks(cols)) {
        for ((sum, w), p) in sums.iter_mut().zip(w_row).zip(p_row) {
            *sum = sum.add(w.mul(*p));
        }
    }
}

/// Where a gradient block's full row buffers go.
enum Target<'a, T> {
    /// Flushed on the backward loop's thread, into these gradients.
    Here { terms: &'a [SequenceTerm], flushed: &'a mut [Vec<T>], source: Source<'a, T> },
    /// Sent to the flushing thread (see [`flush_sent`]); emptied buffers come back.
    Thread {
        full: Sender<Rows<T>>,
        empty: Receiver<Rows<T>>,
        /// Buffers allocated beyond the first.
        extra: usize,
        /// Set by the flushing thread when it starts.
        started: &'a AtomicBool,
        /// Whether it failed to start within [`START_WAIT`] once (then buffers are allocated).
        late: bool,
    },
}

/// The row buffers of one gradient block: the one being filled, and where full ones go.
pub(super) struct Pipeline<'a, T> {
    /// The buffer generated code writes to.
    pub filling: Rows<T>,
    lengths: &'a [usize],
    target: Target<'a, T>,
}

impl<'a, T: JitReal> Pipeline<'a, T> {
    /// Flushes on this thread, into `flushed`.
    pub fn here(
        lengths: &'a [usize],
        capacity: Capacity,
        terms: &'a [SequenceTerm],
        flushed: &'a mut [Vec<T>],
        source: Source<'a, T>,
    ) -> Self {
        Pipeline { filling: Rows::new(lengths, capacity), lengths, target: Target::Here { terms, flushed, source } }
    }

    /// Sends full buffers to [`flush_sent`], which runs with the other ends and sets `started`.
    pub fn sending(
        lengths: &'a [usize],
        capacity: Capacity,
        started: &'a AtomicBool,
    ) -> (Self, Receiver<Rows<T>>, Sender<Rows<T>>) {
        let (full, full_end) = channel();
        let (empty_end, empty) = channel();
        let target = Target::Thread { full, empty, extra: 0, started, late: false };
        (Pipeline { filling: Rows::new(lengths, capacity), lengths, target }, full_end, empty_end)
    }

    /// Makes room for a call of `count` elements of `length` steps each (see [`Rows::place`]):
    /// hands the buffer over if they would not fit.
    pub fn make_room(&mut self, count: usize, length: usize) {
        if !self.filling.fits(count, length) {
            self.hand_over();
            self.filling.fits(count, length);
        }
    }

    /// Hands the remaining rows over; a sending pipeline then closes its channel.
    pub fn finish(self) {
        let Pipeline { mut filling, target, .. } = self;
        if filling.filled == 0 {
            return;
        }
        match target {
            Target::Here { terms, flushed, source } => filling.flush(terms, flushed, source),
            Target::Thread { full, .. } => {
                let _ = full.send(filling);
            }
        }
    }

    fn hand_over(&mut self) {
        let capacity = self.filling.capacity;
        match &mut self.target {
            Target::Here { terms, flushed, source } => self.filling.flush(terms, flushed, *source),
            Target::Thread { full, empty, extra, started, late } => {
                // An emptied buffer; else a new one while few exist; else wait for the flushing
                // thread to return one, but only once it has started: `rayon::join` runs it on
                // this very thread after this side returns if no other thread takes it (a busy
                // pool), so waiting for it then would wait forever. A thread woken for it
                // starts within [`START_WAIT`] on an idle pool; if it does not, buffers are
                // allocated instead (memory then grows with the rows of the call).
                let next = match empty.try_recv() {
                    Ok(rows) => rows,
                    Err(_) if *extra < IN_FLIGHT || *late || !wait_for(started) => {
                        *late = *extra >= IN_FLIGHT;
                        *extra += 1;
                        Rows::new(self.lengths, capacity)
                    }
                    Err(_) => empty.recv().unwrap_or_else(|_| Rows::new(self.lengths, capacity)),
                };
                let rows = std::mem::replace(&mut self.filling, next);
                // The flushing thread only stops early by panicking, which the enclosing
                // `rayon::join` passes on; the rows are then lost with the call.
                let _ = full.send(rows);
            }
        }
    }
}

/// How long a block waits for its flushing thread to start before it stops relying on it.
const START_WAIT: std::time::Duration = std::time::Duration::from_millis(2);

/// Whether `started` is set within [`START_WAIT`] (yielding meanwhile).
fn wait_for(started: &AtomicBool) -> bool {
    let deadline = std::time::Instant::now() + START_WAIT;
    while !started.load(Ordering::Acquire) {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::yield_now();
    }
    true
}

/// The flushing thread's loop: flushes the buffers `full` brings, in order, into `flushed`, and
/// returns them emptied, until the pipeline finishes. It polls (spinning, then yielding) rather
/// than sleeping: a woken thread starts tens of µs late, as long as a flush takes.
pub(super) fn flush_sent<T: JitReal>(
    (full, empty, started): (Receiver<Rows<T>>, Sender<Rows<T>>, &AtomicBool),
    terms: &[SequenceTerm],
    flushed: &mut [Vec<T>],
    source: Source<'_, T>,
) {
    started.store(true, Ordering::Release);
    let mut idle = 0u32;
    loop {
        match full.try_recv() {
            Ok(mut rows) => {
                rows.flush(terms, flushed, source);
                let _ = empty.send(rows);
                idle = 0;
            }
            Err(TryRecvError::Empty) => {
                idle += 1;
                if idle < 100 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
            Err(TryRecvError::Disconnected) => return,
        }
    }
}
