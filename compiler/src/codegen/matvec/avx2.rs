//! AVX2 + FMA kernels: 8 f32 or 4 f64 lanes per vector, 16 vector registers, and lane masks
//! (`vmaskmov`) for the columns past the last full vector.

use std::arch::x86_64::*;

/// Row sets of `vecmat`: row `i` is summed into set `i % SETS`, so a tile of `n` vectors keeps
/// `SETS · n` independent FMA chains in flight (an FMA waits 4–5 cycles for its addend).
const SETS: usize = 2;

/// Vectors per column tile of `vecmat`: `SETS · MAX_TILE` accumulators plus a broadcast, a
/// masked load and its mask fit the 16 registers.
const MAX_TILE: usize = 6;

/// `MASK[8 − n..]` starts with `n` set lanes.
static MASK32: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];
/// `MASK64[4 − n..]` starts with `n` set lanes.
static MASK64: [i64; 8] = [-1, -1, -1, -1, 0, 0, 0, 0];

/// Element types with 256-bit operations.
///
/// # Safety
/// Every method needs AVX2 and FMA; pointers must be valid for the lanes each one touches.
pub(super) trait Ymm: Copy {
    /// A vector of `LANES` elements.
    type V: Copy;
    /// Elements per vector.
    const LANES: usize;
    /// All lanes zero.
    unsafe fn zero() -> Self::V;
    /// `*p` in every lane.
    unsafe fn splat(p: *const Self) -> Self::V;
    /// `LANES` elements from `p`.
    unsafe fn load(p: *const Self) -> Self::V;
    /// The first `n` (1..=LANES) elements from `p`, zeros above; reads nothing past them.
    unsafe fn load_first(p: *const Self, n: usize) -> Self::V;
    /// Stores the first `n` (1..=LANES) lanes of `v` to `p`.
    unsafe fn store_first(p: *mut Self, n: usize, v: Self::V);
    /// `a · b + c`, rounded once.
    unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `a + b`.
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    /// Stores the lane sums of the first `n` (1..=4) of `v` to `y`. Each sum adds its lanes in
    /// the same order, whichever slot its vector is in.
    unsafe fn store_sums(y: *mut Self, n: usize, v: [Self::V; 4]);
}

/// A mask of the first `n` (0..=8) i32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn mask32(n: usize) -> __m256i {
    // SAFETY: 8 − n + 8 <= 16 elements.
    unsafe { _mm256_loadu_si256(MASK32.as_ptr().add(8 - n).cast()) }
}

/// A mask of the first `n` (0..=4) i64 lanes.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn mask64(n: usize) -> __m256i {
    // SAFETY: 4 − n + 4 <= 8 elements.
    unsafe { _mm256_loadu_si256(MASK64.as_ptr().add(4 - n).cast()) }
}

impl Ymm for f32 {
    type V = __m256;
    const LANES: usize = 8;

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn zero() -> __m256 {
        _mm256_setzero_ps()
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn splat(p: *const f32) -> __m256 {
        // SAFETY: the caller's guarantee.
        _mm256_set1_ps(unsafe { *p })
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn load(p: *const f32) -> __m256 {
        // SAFETY: the caller's guarantee.
        unsafe { _mm256_loadu_ps(p) }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn load_first(p: *const f32, n: usize) -> __m256 {
        // SAFETY: masked-off lanes are not read (nor can they fault).
        unsafe { _mm256_maskload_ps(p, mask32(n)) }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn store_first(p: *mut f32, n: usize, v: __m256) {
        // SAFETY: masked-off lanes are not written.
        unsafe { _mm256_maskstore_ps(p, mask32(n), v) }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn fma(a: __m256, b: __m256, c: __m256) -> __m256 {
        _mm256_fmadd_ps(a, b, c)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn add(a: __m256, b: __m256) -> __m256 {
        _mm256_add_ps(a, b)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn store_sums(y: *mut f32, n: usize, [v0, v1, v2, v3]: [__m256; 4]) {
        // After two horizontal adds, lane k of each 128-bit half holds 4 partial sums of vk.
        let s = _mm256_hadd_ps(_mm256_hadd_ps(v0, v1), _mm256_hadd_ps(v2, v3));
        let s = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps::<1>(s));
        // SAFETY: the caller's guarantee; masked-off lanes are not written.
        unsafe { _mm_maskstore_ps(y, _mm256_castsi256_si128(mask32(n)), s) }
    }
}

impl Ymm for f64 {
    type V = __m256d;
    const LANES: usize = 4;

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn zero() -> __m256d {
        _mm256_setzero_pd()
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn splat(p: *const f64) -> __m256d {
        // SAFETY: the caller's guarantee.
        _mm256_set1_pd(unsafe { *p })
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn load(p: *const f64) -> __m256d {
        // SAFETY: the caller's guarantee.
        unsafe { _mm256_loadu_pd(p) }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn load_first(p: *const f64, n: usize) -> __m256d {
        // SAFETY: masked-off lanes are not read (nor can they fault).
        unsafe { _mm256_maskload_pd(p, mask64(n)) }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn store_first(p: *mut f64, n: usize, v: __m256d) {
        // SAFETY: masked-off lanes are not written.
        unsafe { _mm256_maskstore_pd(p, mask64(n), v) }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn fma(a: __m256d, b: __m256d, c: __m256d) -> __m256d {
        _mm256_fmadd_pd(a, b, c)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn add(a: __m256d, b: __m256d) -> __m256d {
        _mm256_add_pd(a, b)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn store_sums(y: *mut f64, n: usize, [v0, v1, v2, v3]: [__m256d; 4]) {
        // Horizontal adds leave pair sums [v0, v1 | v0, v1] and [v2, v3 | v2, v3]; adding the
        // low halves to the high ones gives [v0, v1, v2, v3].
        let (s01, s23) = (_mm256_hadd_pd(v0, v1), _mm256_hadd_pd(v2, v3));
        let s = _mm256_add_pd(_mm256_permute2f128_pd::<0x20>(s01, s23), _mm256_permute2f128_pd::<0x31>(s01, s23));
        // SAFETY: the caller's guarantee; masked-off lanes are not written.
        unsafe { _mm256_maskstore_pd(y, mask64(n), s) }
    }
}

/// `y[from..to] = (x[rows] @ W[rows, cols])[from..to]`.
///
/// # Safety
/// `x` valid for `rows`, `w` for `rows × cols`, `y` for `to` elements; `from <= to <= cols`;
/// AVX2 and FMA present.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn vecmat<E: Ymm>(x: *const E, w: *const E, y: *mut E, rows: usize, cols: usize, from: usize, to: usize) {
    for (start, vectors, last) in super::tiles(from, to, E::LANES, MAX_TILE) {
        let args = (x, w, y, rows, cols, start, last);
        // SAFETY: the tile covers columns start..start + LANES·(vectors − 1) + last <= to.
        unsafe {
            match vectors {
                1 => tile::<E, 1>(args),
                2 => tile::<E, 2>(args),
                3 => tile::<E, 3>(args),
                4 => tile::<E, 4>(args),
                5 => tile::<E, 5>(args),
                _ => tile::<E, MAX_TILE>(args),
            }
        }
    }
}

/// `vecmat` arguments for one tile: x, w, y, rows, cols, first column, lanes of the last vector.
type TileArgs<E> = (*const E, *const E, *mut E, usize, usize, usize, usize);

/// One tile of `N` vectors (the last one `last` lanes wide) starting at column `start`; its
/// accumulators stay in registers across the row loop.
#[target_feature(enable = "avx2,fma")]
unsafe fn tile<E: Ymm, const N: usize>((x, w, y, rows, cols, start, last): TileArgs<E>) {
    let lanes = E::LANES;
    // SAFETY: row i < rows is read at columns start..start + lanes·(N − 1) + last <= cols, the
    // same columns of `y` are written, and `x` is read below `rows`.
    unsafe {
        let mut acc = [[E::zero(); N]; SETS];
        // Adds row `i` to an accumulator set.
        let step = |acc: &mut [E::V; N], i: usize| {
            let xi = E::splat(x.add(i));
            let row = w.add(i * cols + start);
            for (k, a) in acc.iter_mut().enumerate() {
                let weights = if k + 1 < N { E::load(row.add(lanes * k)) } else { E::load_first(row.add(lanes * k), last) };
                *a = E::fma(xi, weights, *a);
            }
        };
        let mut i = 0;
        while i + SETS <= rows {
            for (s, set) in acc.iter_mut().enumerate() {
                step(set, i + s);
            }
            i += SETS;
        }
        for (s, set) in acc.iter_mut().enumerate() {
            if i + s < rows {
                step(set, i + s);
            }
        }
        for k in 0..N {
            let sum = E::add(acc[0][k], acc[1][k]);
            let out = y.add(start + lanes * k);
            if k + 1 < N {
                E::store_first(out, lanes, sum);
            } else {
                E::store_first(out, last, sum);
            }
        }
    }
}

/// `y[from..to] = (x[cols] @ Wᵀ)[from..to]` for `W[rows, cols]`: four rows at a time share
/// each load of `x`, two accumulators per row.
///
/// # Safety
/// `x` valid for `cols`, `w` for `to × cols`, `y` for `to` elements; AVX2 and FMA present.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn vecmat_t<E: Ymm>(x: *const E, w: *const E, y: *mut E, from: usize, to: usize, cols: usize) {
    let lanes = E::LANES;
    let mut i = from;
    while i < to {
        let n = (to - i).min(4);
        // SAFETY: rows i..i + n are below `to`; a group of fewer than four repeats its last
        // row (reading it, storing nothing for it). Columns stay below `cols`.
        unsafe {
            let row: [*const E; 4] = std::array::from_fn(|k| w.add((i + k.min(n - 1)) * cols));
            let mut acc = [[E::zero(); 2]; 4];
            let mut j = 0;
            while j + 2 * lanes <= cols {
                let (x0, x1) = (E::load(x.add(j)), E::load(x.add(j + lanes)));
                for (a, r) in acc.iter_mut().zip(row) {
                    a[0] = E::fma(x0, E::load(r.add(j)), a[0]);
                    a[1] = E::fma(x1, E::load(r.add(j + lanes)), a[1]);
                }
                j += 2 * lanes;
            }
            if j + lanes <= cols {
                let x0 = E::load(x.add(j));
                for (a, r) in acc.iter_mut().zip(row) {
                    a[0] = E::fma(x0, E::load(r.add(j)), a[0]);
                }
                j += lanes;
            }
            if j < cols {
                let x1 = E::load_first(x.add(j), cols - j);
                for (a, r) in acc.iter_mut().zip(row) {
                    a[1] = E::fma(x1, E::load_first(r.add(j), cols - j), a[1]);
                }
            }
            E::store_sums(y.add(i), n, acc.map(|[a0, a1]| E::add(a0, a1)));
        }
        i += 4;
    }
}
