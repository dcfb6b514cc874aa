//! AVX2 + FMA matrix–vector kernels that generated code calls for `x @ W` and `x @ Wᵀ` when the
//! CPU has them (Cranelift emits only 128-bit vectors; DESIGN.md §4 allows a tuned kernel here,
//! a call costs ≈1.6 ns). Detected once at compile time; without AVX2 + FMA the generated
//! SIMD code runs instead. Results differ from the interpreter's only by rounding (fused
//! multiply-adds, another summation order).

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Products at least this large (multiply-adds) are split across two threads: a large matrix
/// is read from memory at every step, and one core cannot saturate the bandwidth.
const PARALLEL_WORK: usize = 1 << 18;

/// A raw pointer that may cross to another thread for the duration of a `rayon::join`.
#[derive(Clone, Copy)]
struct Shared<T>(*mut T);
// SAFETY: used only inside `rayon::join` on disjoint ranges of buffers the caller guarantees.
unsafe impl<T> Send for Shared<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// The pointer (a method, so closures capture the whole `Shared`, not its field).
    fn get(self) -> *mut T {
        self.0
    }
}

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

/// `y[cols] = x[rows] @ W[rows, cols]` (f32).
///
/// # Safety
/// `x` valid for `rows`, `w` for `rows × cols`, `y` for `cols` elements; AVX2 and FMA present.
#[cfg(target_arch = "x86_64")]
pub unsafe extern "C" fn vecmat_f32(x: *const f32, w: *const f32, y: *mut f32, rows: i64, cols: i64) {
    let (rows, cols) = (rows as usize, cols as usize);
    if rows * cols >= PARALLEL_WORK && cols >= 16 {
        // Two halves of the columns; each half is a contiguous part of `y`.
        let half = (cols / 2) / 8 * 8;
        let (xs, ws, ys) = (Shared(x as *mut f32), Shared(w as *mut f32), Shared(y));
        rayon::join(
            // SAFETY: disjoint column ranges of `y`; the caller's guarantee covers the rest.
            move || unsafe { vecmat_f32_avx(xs.get(), ws.get(), ys.get(), rows, cols, 0, half) },
            move || unsafe { vecmat_f32_avx(xs.get(), ws.get(), ys.get(), rows, cols, half, cols) },
        );
        return;
    }
    // SAFETY: forwarded under the caller's guarantee, which includes the CPU features.
    unsafe { vecmat_f32_avx(x, w, y, rows, cols, 0, cols) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn vecmat_f32_avx(x: *const f32, w: *const f32, y: *mut f32, rows: usize, cols: usize, from: usize, to: usize) {
    // Tiles of up to 64 columns: N accumulators stay in registers across the row loop (N is a
    // constant per instantiation, so the loop unrolls). The last tile may end in a partial
    // vector, read and written with a lane mask.
    let mut start = from;
    while start < to {
        let remaining = to - start;
        let full = (remaining / 8).min(8);
        let partial = if full < 8 { remaining - 8 * full } else { 0 };
        // SAFETY: the tile covers columns start..start + 8·full + partial <= to.
        unsafe {
            match (full, partial > 0) {
                (8, _) => tile_f32::<8, false>(x, w, y, rows, cols, start, 0),
                (7, m) => tile_dispatch::<7>(m, x, w, y, rows, cols, start, partial),
                (6, m) => tile_dispatch::<6>(m, x, w, y, rows, cols, start, partial),
                (5, m) => tile_dispatch::<5>(m, x, w, y, rows, cols, start, partial),
                (4, m) => tile_dispatch::<4>(m, x, w, y, rows, cols, start, partial),
                (3, m) => tile_dispatch::<3>(m, x, w, y, rows, cols, start, partial),
                (2, m) => tile_dispatch::<2>(m, x, w, y, rows, cols, start, partial),
                (1, m) => tile_dispatch::<1>(m, x, w, y, rows, cols, start, partial),
                (_, _) => tile_f32::<0, true>(x, w, y, rows, cols, start, partial),
            }
        }
        start += 8 * full + partial;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_dispatch<const N: usize>(
    masked: bool,
    x: *const f32,
    w: *const f32,
    y: *mut f32,
    rows: usize,
    cols: usize,
    start: usize,
    partial: usize,
) {
    // SAFETY: forwarded.
    unsafe {
        if masked {
            tile_f32::<N, true>(x, w, y, rows, cols, start, partial)
        } else {
            tile_f32::<N, false>(x, w, y, rows, cols, start, 0)
        }
    }
}

/// One tile: `N` full vectors of 8 columns, then (if `MASKED`) `partial` more columns.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_f32<const N: usize, const MASKED: bool>(
    x: *const f32,
    w: *const f32,
    y: *mut f32,
    rows: usize,
    cols: usize,
    start: usize,
    partial: usize,
) {
    let lanes: [i32; 8] = std::array::from_fn(|lane| if lane < partial { -1 } else { 0 });
    // SAFETY: `lanes` has 8 i32s.
    let mask = unsafe { _mm256_loadu_si256(lanes.as_ptr().cast()) };
    let mut acc = [_mm256_setzero_ps(); N];
    let mut tail = _mm256_setzero_ps();
    for i in 0..rows {
        // SAFETY: i < rows; full vectors end at start + 8N <= cols, the masked one reads only
        // lanes below `partial`, inside the row.
        unsafe {
            let xi = _mm256_set1_ps(*x.add(i));
            let row = w.add(i * cols + start);
            for (k, a) in acc.iter_mut().enumerate() {
                *a = _mm256_fmadd_ps(xi, _mm256_loadu_ps(row.add(8 * k)), *a);
            }
            if MASKED {
                tail = _mm256_fmadd_ps(xi, _mm256_maskload_ps(row.add(8 * N), mask), tail);
            }
        }
    }
    for (k, a) in acc.iter().enumerate() {
        // SAFETY: start + 8k + 8 <= cols.
        unsafe { _mm256_storeu_ps(y.add(start + 8 * k), *a) };
    }
    if MASKED {
        // SAFETY: only lanes below `partial` are written.
        unsafe { _mm256_maskstore_ps(y.add(start + 8 * N), mask, tail) };
    }
}

/// `y[rows] = x[cols] @ Wᵀ` for `W[rows, cols]` (f32).
///
/// # Safety
/// `x` valid for `cols`, `w` for `rows × cols`, `y` for `rows` elements; AVX2 and FMA present.
#[cfg(target_arch = "x86_64")]
pub unsafe extern "C" fn vecmat_t_f32(x: *const f32, w: *const f32, y: *mut f32, rows: i64, cols: i64) {
    let (rows, cols) = (rows as usize, cols as usize);
    if rows * cols >= PARALLEL_WORK && rows >= 2 {
        let half = rows / 2;
        let (xs, ws, ys) = (Shared(x as *mut f32), Shared(w as *mut f32), Shared(y));
        rayon::join(
            // SAFETY: disjoint row ranges of `y`.
            move || unsafe { vecmat_t_f32_avx(xs.get(), ws.get(), ys.get(), 0, half, cols) },
            move || unsafe { vecmat_t_f32_avx(xs.get(), ws.get(), ys.get(), half, rows, cols) },
        );
        return;
    }
    // SAFETY: forwarded under the caller's guarantee.
    unsafe { vecmat_t_f32_avx(x, w, y, 0, rows, cols) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn vecmat_t_f32_avx(x: *const f32, w: *const f32, y: *mut f32, from: usize, to: usize, cols: usize) {
    for i in from..to {
        // SAFETY: every index below is < rows × cols for `w`, < cols for `x`, < rows for `y`.
        unsafe {
            let row = w.add(i * cols);
            let (mut a0, mut a1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
            let mut j = 0;
            while j + 16 <= cols {
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x.add(j)), _mm256_loadu_ps(row.add(j)), a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x.add(j + 8)), _mm256_loadu_ps(row.add(j + 8)), a1);
                j += 16;
            }
            if j + 8 <= cols {
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x.add(j)), _mm256_loadu_ps(row.add(j)), a0);
                j += 8;
            }
            let sum = _mm256_add_ps(a0, a1);
            let half = _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps(sum, 1));
            let quarter = _mm_add_ps(half, _mm_movehl_ps(half, half));
            let mut total = _mm_cvtss_f32(_mm_add_ss(quarter, _mm_shuffle_ps(quarter, quarter, 1)));
            while j < cols {
                total += *x.add(j) * *row.add(j);
                j += 1;
            }
            *y.add(i) = total;
        }
    }
}

/// `y[cols] = x[rows] @ W[rows, cols]` (f64).
///
/// # Safety
/// As [`vecmat_f32`].
#[cfg(target_arch = "x86_64")]
pub unsafe extern "C" fn vecmat_f64(x: *const f64, w: *const f64, y: *mut f64, rows: i64, cols: i64) {
    // SAFETY: forwarded under the caller's guarantee.
    unsafe { vecmat_f64_avx(x, w, y, rows as usize, cols as usize) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn vecmat_f64_avx(x: *const f64, w: *const f64, y: *mut f64, rows: usize, cols: usize) {
    let mut start = 0;
    while start + 4 <= cols {
        let width = ((cols - start) / 4).min(8);
        let mut acc = [_mm256_setzero_pd(); 8];
        for i in 0..rows {
            // SAFETY: i < rows, start + 4·width <= cols.
            unsafe {
                let xi = _mm256_set1_pd(*x.add(i));
                let row = w.add(i * cols + start);
                for (k, a) in acc.iter_mut().enumerate().take(width) {
                    *a = _mm256_fmadd_pd(xi, _mm256_loadu_pd(row.add(4 * k)), *a);
                }
            }
        }
        for (k, a) in acc.iter().enumerate().take(width) {
            // SAFETY: start + 4k + 4 <= cols.
            unsafe { _mm256_storeu_pd(y.add(start + 4 * k), *a) };
        }
        start += 4 * width;
    }
    for j in start..cols {
        let mut total = 0.0f64;
        for i in 0..rows {
            // SAFETY: i < rows, j < cols.
            unsafe { total += *x.add(i) * *w.add(i * cols + j) };
        }
        // SAFETY: j < cols.
        unsafe { *y.add(j) = total };
    }
}

/// `y[rows] = x[cols] @ Wᵀ` (f64).
///
/// # Safety
/// As [`vecmat_t_f32`].
#[cfg(target_arch = "x86_64")]
pub unsafe extern "C" fn vecmat_t_f64(x: *const f64, w: *const f64, y: *mut f64, rows: i64, cols: i64) {
    // SAFETY: forwarded under the caller's guarantee.
    unsafe { vecmat_t_f64_avx(x, w, y, rows as usize, cols as usize) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn vecmat_t_f64_avx(x: *const f64, w: *const f64, y: *mut f64, rows: usize, cols: usize) {
    for i in 0..rows {
        // SAFETY: indices within the buffers as documented.
        unsafe {
            let row = w.add(i * cols);
            let mut acc = _mm256_setzero_pd();
            let mut j = 0;
            while j + 4 <= cols {
                acc = _mm256_fmadd_pd(_mm256_loadu_pd(x.add(j)), _mm256_loadu_pd(row.add(j)), acc);
                j += 4;
            }
            let half = _mm_add_pd(_mm256_castpd256_pd128(acc), _mm256_extractf128_pd(acc, 1));
            let mut total = _mm_cvtsd_f64(_mm_add_sd(half, _mm_unpackhi_pd(half, half)));
            while j < cols {
                total += *x.add(j) * *row.add(j);
                j += 1;
            }
            *y.add(i) = total;
        }
    }
}
