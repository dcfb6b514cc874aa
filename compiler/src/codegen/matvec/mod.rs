//! SIMD matrix–vector kernels that generated code calls for `x @ W` and `x @ Wᵀ` when the CPU
//! has AVX2 + FMA (Cranelift emits only 128-bit vectors; DESIGN.md §4 allows a tuned kernel
//! here, a call costs ≈1.6 ns). Detected once at compile time; without AVX2 + FMA the generated
//! SIMD code runs instead. The `avx2` kernels run by default; the `avx512` ones only with
//! `REEF_AVX512` set (see `use_avx512`). Results differ from the interpreter's only by rounding
//! (fused multiply-adds, another summation order).
//!
//! Summation order, the same for every column (row) whatever the tiling or the split across
//! threads, so that given inputs always give the same bits on a given CPU and kernel set:
//! - `x @ W`: AVX2 sums the rows in order; AVX-512 sums even and odd rows apart, then adds the
//!   two. Columns run in tiles of up to 8 (AVX2) or 14 (AVX-512) vectors whose accumulators
//!   stay in registers across the row loop.
//! - `x @ Wᵀ`: per lane, even and odd vectors of the row in two sums, then their sum, then a
//!   fixed tree across the lanes (one transposing reduction per block of rows). Rows go four
//!   at a time, sharing every load of `x`.
//!
//! On the development machine (AVX-512, 2 loads and 2 FMAs per cycle) small products are bound
//! by loads rather than FMA latency: rows of 50, 100 or 200 floats are not 64-byte aligned, so
//! most vector loads straddle two cache lines and cost two, more often with 64-byte vectors.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
mod group;
#[cfg(all(test, target_arch = "x86_64"))]
mod tests;

#[cfg(target_arch = "x86_64")]
use std::sync::atomic::{AtomicU8, Ordering};

#[cfg(target_arch = "x86_64")]
use super::Shared;

/// Products at least this large (multiply-adds) are split across two threads: a large matrix
/// is read from memory at every step, and one core cannot saturate the bandwidth.
const PARALLEL_WORK: usize = 1 << 18;

/// Whether the kernels can run on this CPU.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The kernel set in use: 0 before the first call, then `AVX2` or `AVX512`.
#[cfg(target_arch = "x86_64")]
static LEVEL: AtomicU8 = AtomicU8::new(0);
#[cfg(target_arch = "x86_64")]
const AVX2: u8 = 1;
#[cfg(target_arch = "x86_64")]
const AVX512: u8 = 2;

/// Whether to run the AVX-512 kernels (detected once, then one relaxed load per call).
#[cfg(target_arch = "x86_64")]
fn use_avx512() -> bool {
    match LEVEL.load(Ordering::Relaxed) {
        0 => {
            // Opt-in (`REEF_AVX512=1`): in the benchmark workloads the AVX-512 kernels measured
            // 0–15% slower than the AVX2 ones on the development machine (unaligned 64-byte
            // loads straddle cache lines), so AVX2 is the default.
            let wanted = std::env::var_os("REEF_AVX512").is_some();
            let level = if wanted && std::arch::is_x86_feature_detected!("avx512f") { AVX512 } else { AVX2 };
            LEVEL.store(level, Ordering::Relaxed);
            level == AVX512
        }
        level => level == AVX512,
    }
}

/// Whether the group kernels may use AVX-512VL's 32 vector registers (detected once).
#[cfg(target_arch = "x86_64")]
fn wide_registers() -> bool {
    static WIDE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *WIDE.get_or_init(|| {
        std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512vl")
    })
}

/// Column tiles of `from..to`: at most `max` vectors of `lanes` columns each, as even as
/// possible (a narrow last tile would have too few FMA chains to hide their latency). Yields
/// the first column, the number of vectors and the columns in the last vector (1..=lanes).
#[cfg(target_arch = "x86_64")]
fn tiles(from: usize, to: usize, lanes: usize, max: usize) -> impl Iterator<Item = (usize, usize, usize)> {
    let vectors = (to - from).div_ceil(lanes);
    let count = vectors.div_ceil(max);
    (0..count).scan(from, move |start, t| {
        let n = vectors / count + usize::from(t < vectors % count);
        let first = *start;
        *start += lanes * n;
        Some((first, n, (to - first - lanes * (n - 1)).min(lanes)))
    })
}

/// `vecmat` arguments for one column tile: x, w, y, rows, the distance between `w`'s rows,
/// first column, and the columns in its last vector.
#[cfg(target_arch = "x86_64")]
type TileArgs<E> = (*const E, *const E, *mut E, usize, usize, usize, usize);

/// `vecmat_t` arguments: x, w, y, first row, end row, cols.
#[cfg(target_arch = "x86_64")]
type RowArgs<E> = (*const E, *const E, *mut E, usize, usize, usize);

/// Stores the first `n` (1..=8) lanes of `v` to `p` with plain stores (no `vmaskmov`, which is
/// slow on AMD cores).
///
/// # Safety
/// `p` valid for `n` elements; AVX2 present.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn store_first_f32(p: *mut f32, n: usize, v: std::arch::x86_64::__m256) {
    // SAFETY: the caller's guarantee.
    unsafe { <f32 as avx2::Ymm>::store_first(p, n, v) }
}

/// The element types of the kernels.
#[cfg(target_arch = "x86_64")]
trait Element: avx2::Ymm + avx512::Zmm + Send + Sync {}
#[cfg(target_arch = "x86_64")]
impl Element for f32 {}
#[cfg(target_arch = "x86_64")]
impl Element for f64 {}

/// `y[from..to] = (x @ W)[from..to]` with the kernel set chosen by `avx512`.
///
/// # Safety
/// As [`avx2::vecmat`]; AVX-512F present if `avx512`.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
unsafe fn vecmat_columns<E: Element>(
    avx512: bool,
    x: *const E,
    w: *const E,
    y: *mut E,
    (rows, cols, stride): (usize, usize, usize),
    from: usize,
    to: usize,
) {
    // SAFETY: forwarded under the caller's guarantee.
    unsafe {
        if avx512 {
            avx512::vecmat(x, w, y, (rows, cols, stride), from, to)
        } else {
            avx2::vecmat(x, w, y, (rows, cols, stride), from, to)
        }
    }
}

/// `y[from..to] = (x @ Wᵀ)[from..to]` with the kernel set chosen by `avx512`.
///
/// # Safety
/// As [`avx2::vecmat_t`]; AVX-512F present if `avx512`.
#[cfg(target_arch = "x86_64")]
unsafe fn vecmat_t_rows<E: Element>(
    avx512: bool,
    x: *const E,
    w: *const E,
    y: *mut E,
    from: usize,
    to: usize,
    cols: usize,
) {
    // SAFETY: forwarded under the caller's guarantee.
    unsafe { if avx512 { avx512::vecmat_t(x, w, y, from, to, cols) } else { avx2::vecmat_t(x, w, y, from, to, cols) } }
}

/// `y[cols] = x[rows] @ W[rows, cols]` (rows `stride` apart), large products on two threads
/// (halves of the columns: every column sums its rows in the same order either way).
///
/// # Safety
/// As [`vecmat_f32`].
#[cfg(target_arch = "x86_64")]
unsafe fn vecmat<E: Element>(x: *const E, w: *const E, y: *mut E, rows: usize, cols: usize, stride: usize) {
    let shape = (rows, cols, stride);
    let avx512 = use_avx512();
    if rows * cols >= PARALLEL_WORK && cols >= 32 {
        let half = cols / 2 / 16 * 16;
        let (xs, ws, ys) = (Shared(x.cast_mut()), Shared(w.cast_mut()), Shared(y));
        rayon::join(
            // SAFETY: disjoint column ranges of `y`; the caller's guarantee covers the rest.
            move || unsafe { vecmat_columns(avx512, xs.get(), ws.get(), ys.get(), shape, 0, half) },
            move || unsafe { vecmat_columns(avx512, xs.get(), ws.get(), ys.get(), shape, half, cols) },
        );
        return;
    }
    // SAFETY: forwarded under the caller's guarantee.
    unsafe { vecmat_columns(avx512, x, w, y, shape, 0, cols) }
}

/// `y[rows] = x[cols] @ Wᵀ`, large products on two threads (halves of the rows: every row is
/// summed in the same order either way).
///
/// # Safety
/// As [`vecmat_t_f32`].
#[cfg(target_arch = "x86_64")]
unsafe fn vecmat_t<E: Element>(x: *const E, w: *const E, y: *mut E, rows: usize, cols: usize) {
    let avx512 = use_avx512();
    if rows * cols >= PARALLEL_WORK && rows >= 8 {
        let half = rows / 2 / 4 * 4;
        let (xs, ws, ys) = (Shared(x.cast_mut()), Shared(w.cast_mut()), Shared(y));
        rayon::join(
            // SAFETY: disjoint row ranges of `y`.
            move || unsafe { vecmat_t_rows(avx512, xs.get(), ws.get(), ys.get(), 0, half, cols) },
            move || unsafe { vecmat_t_rows(avx512, xs.get(), ws.get(), ys.get(), half, rows, cols) },
        );
        return;
    }
    // SAFETY: forwarded under the caller's guarantee.
    unsafe { vecmat_t_rows(avx512, x, w, y, 0, rows, cols) }
}

/// `y[cols] = x[rows] @ W[rows, cols]` (f32), `W`'s rows `stride` apart (padded rows keep
/// vector loads inside cache lines).
///
/// # Safety
/// `x` valid for `rows`, `w` for `rows × stride`, `y` for `cols` elements;
/// `cols <= stride`; AVX2 and FMA present.
#[cfg(target_arch = "x86_64")]
pub unsafe extern "C" fn vecmat_f32(x: *const f32, w: *const f32, y: *mut f32, rows: i64, cols: i64, stride: i64) {
    // SAFETY: forwarded under the caller's guarantee.
    unsafe { vecmat(x, w, y, rows as usize, cols as usize, stride as usize) }
}

/// `y[rows] = x[cols] @ Wᵀ` for `W[rows, cols]` (f32).
///
/// # Safety
/// `x` valid for `cols`, `w` for `rows × cols`, `y` for `rows` elements; AVX2 and FMA present.
#[cfg(target_arch = "x86_64")]
pub unsafe extern "C" fn vecmat_t_f32(x: *const f32, w: *const f32, y: *mut f32, rows: i64, cols: i64) {
    // SAFETY: forwarded under the caller's guarantee.
    unsafe { vecmat_t(x, w, y, rows as usize, cols as usize) }
}

/// `y[cols] = x[rows] @ W[rows, cols]` (f64).
///
/// # Safety
/// As [`vecmat_f32`].
#[cfg(target_arch = "x86_64")]
pub unsafe extern "C" fn vecmat_f64(x: *const f64, w: *const f64, y: *mut f64, rows: i64, cols: i64, stride: i64) {
    // SAFETY: forwarded under the caller's guarantee.
    unsafe { vecmat(x, w, y, rows as usize, cols as usize, stride as usize) }
}

/// `y[rows] = x[cols] @ Wᵀ` (f64).
///
/// # Safety
/// As [`vecmat_t_f32`].
#[cfg(target_arch = "x86_64")]
pub unsafe extern "C" fn vecmat_t_f64(x: *const f64, w: *const f64, y: *mut f64, rows: i64, cols: i64) {
    // SAFETY: forwarded under the caller's guarantee.
    unsafe { vecmat_t(x, w, y, rows as usize, cols as usize) }
}

/// `ys[e] = xs[e] @ W` for the `count` elements of a lock-step group. One element runs the
/// one-element kernel; more share every loaded vector of `W` (see [`group`]). With the opt-in
/// AVX-512 kernels (another summation order) every element runs the one-element kernel, so an
/// element's bits never depend on its group.
///
/// # Safety
/// `xs` and `ys` valid for `count` pointers; each `xs[e]` valid for `rows`, each `ys[e]` for
/// `cols` elements, `w` for `rows × stride`; no `y` overlaps an `x`, another `y`
/// or `W`; AVX2 and FMA present.
#[cfg(target_arch = "x86_64")]
unsafe fn vecmat_group<E: Element>(
    xs: *const *const E,
    w: *const E,
    ys: *const *mut E,
    count: usize,
    (rows, cols, stride): (usize, usize, usize),
) {
    // SAFETY: the caller's guarantee.
    unsafe {
        let (xs, ys) = (std::slice::from_raw_parts(xs, count), std::slice::from_raw_parts(ys, count));
        if count == 1 || use_avx512() {
            for (x, y) in xs.iter().zip(ys) {
                vecmat(*x, w, *y, rows, cols, stride);
            }
        } else {
            group::vecmat_group(xs, w, ys, rows, cols, stride, wide_registers());
        }
    }
}

/// `ys[e] = xs[e] @ W` for a lock-step group of `count` elements (f32).
///
/// # Safety
/// As [`vecmat_group`].
#[cfg(target_arch = "x86_64")]
pub unsafe extern "C" fn vecmat_group_f32(
    xs: *const *const f32,
    w: *const f32,
    ys: *const *mut f32,
    count: i64,
    rows: i64,
    cols: i64,
    stride: i64,
) {
    // SAFETY: forwarded under the caller's guarantee.
    unsafe { vecmat_group(xs, w, ys, count as usize, (rows as usize, cols as usize, stride as usize)) }
}

/// `ys[e] = xs[e] @ W` for a lock-step group of `count` elements (f64).
///
/// # Safety
/// As [`vecmat_group`].
#[cfg(target_arch = "x86_64")]
pub unsafe extern "C" fn vecmat_group_f64(
    xs: *const *const f64,
    w: *const f64,
    ys: *const *mut f64,
    count: i64,
    rows: i64,
    cols: i64,
    stride: i64,
) {
    // SAFETY: forwarded under the caller's guarantee.
    unsafe { vecmat_group(xs, w, ys, count as usize, (rows as usize, cols as usize, stride as usize)) }
}
