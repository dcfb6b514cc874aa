//! AVX2 + FMA kernels: 8 f32 or 4 f64 lanes per vector, 16 vector registers, and lane masks
//! (`vmaskmov`) for loads of the columns past the last full vector (stores of them are plain
//! partial stores).

use std::arch::x86_64::*;

/// Vectors per column tile of `vecmat`: one accumulator set of `MAX_TILE`, a broadcast, a mask
/// and a masked load fit the 16 registers. (Two sets of 6, summing even and odd rows apart,
/// measured 5–20% slower in the A and E workloads: N = 50 then needs two passes over the rows.)
const MAX_TILE: usize = 8;

/// `MASK32[8 − n..]` starts with `n` set lanes.
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
    /// Stores the lane sums of the first `n` (1..=LANES) of the `LANES` vectors `v` to `y`,
    /// summing every vector in the same order whatever its slot (a transposing tree of adds).
    unsafe fn store_sums(y: *mut Self, n: usize, v: &[Self::V; 8]);
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
        // Plain stores of 8, 4, 2 and 1 lanes rather than `vmaskmovps`: a masked store is slow
        // on AMD cores and its value is not forwarded to the loads that soon read it.
        // SAFETY: only the first `n` lanes are written.
        unsafe {
            if n == 8 {
                return _mm256_storeu_ps(p, v);
            }
            let (mut p, mut n, mut part) = (p, n, _mm256_castps256_ps128(v));
            if n >= 4 {
                _mm_storeu_ps(p, part);
                (p, n, part) = (p.add(4), n - 4, _mm256_extractf128_ps::<1>(v));
            }
            if n >= 2 {
                _mm_store_sd(p.cast(), _mm_castps_pd(part));
                (p, n, part) = (p.add(2), n - 2, _mm_movehl_ps(part, part));
            }
            if n == 1 {
                _mm_store_ss(p, part);
            }
        }
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
    unsafe fn store_sums(y: *mut f32, n: usize, v: &[__m256; 8]) {
        // Two rounds of horizontal adds leave, in each 128-bit half, one partial sum of each of
        // rows 4m..4m + 4; adding the halves finishes them.
        let h: [__m256; 4] = std::array::from_fn(|m| _mm256_hadd_ps(v[2 * m], v[2 * m + 1]));
        let (g0, g1) = (_mm256_hadd_ps(h[0], h[1]), _mm256_hadd_ps(h[2], h[3]));
        let sums = _mm256_add_ps(_mm256_permute2f128_ps::<0x20>(g0, g1), _mm256_permute2f128_ps::<0x31>(g0, g1));
        // SAFETY: the caller's guarantee.
        unsafe { Self::store_first(y, n, sums) }
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
        // Plain stores, as for f32.
        // SAFETY: only the first `n` lanes are written.
        unsafe {
            if n == 4 {
                return _mm256_storeu_pd(p, v);
            }
            let (mut p, mut n, mut part) = (p, n, _mm256_castpd256_pd128(v));
            if n >= 2 {
                _mm_storeu_pd(p, part);
                (p, n, part) = (p.add(2), n - 2, _mm256_extractf128_pd::<1>(v));
            }
            if n == 1 {
                _mm_store_sd(p, part);
            }
        }
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
    unsafe fn store_sums(y: *mut f64, n: usize, v: &[__m256d; 8]) {
        // Horizontal adds leave pair sums [v0, v1 | v0, v1] and [v2, v3 | v2, v3]; adding the
        // low halves to the high ones gives [v0, v1, v2, v3].
        let (s01, s23) = (_mm256_hadd_pd(v[0], v[1]), _mm256_hadd_pd(v[2], v[3]));
        let sums = _mm256_add_pd(_mm256_permute2f128_pd::<0x20>(s01, s23), _mm256_permute2f128_pd::<0x31>(s01, s23));
        // SAFETY: the caller's guarantee.
        unsafe { Self::store_first(y, n, sums) }
    }
}

/// `y[from..to] = (x[rows] @ W[rows, cols])[from..to]`, `W`'s rows `stride` elements apart.
/// A tile whose last vector ends within the row's `stride` elements loads it whole (padded
/// rows: no masked loads; the lanes past `to` are computed but never stored).
///
/// # Safety
/// `x` valid for `rows`, `w` for `rows × stride`, `y` for `to` elements;
/// `from <= to <= cols <= stride`;
/// AVX2 and FMA present.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn vecmat<E: Ymm>(
    x: *const E,
    w: *const E,
    y: *mut E,
    (rows, cols, stride): (usize, usize, usize),
    from: usize,
    to: usize,
) {
    debug_assert!(from <= to && to <= cols && cols <= stride);
    for (start, vectors, last) in super::tiles(from, to, E::LANES, MAX_TILE) {
        let args = (x, w, y, rows, stride, start, last);
        // SAFETY: the tile covers columns start..start + LANES·(vectors − 1) + last <= to.
        unsafe {
            match vectors {
                1 => tile::<E, 1>(args),
                2 => tile::<E, 2>(args),
                3 => tile::<E, 3>(args),
                4 => tile::<E, 4>(args),
                5 => tile::<E, 5>(args),
                6 => tile::<E, 6>(args),
                7 => tile::<E, 7>(args),
                _ => tile::<E, MAX_TILE>(args),
            }
        }
    }
}

/// One tile of `N` vectors (the last one `last` lanes wide) starting at column `start`: the
/// accumulators stay in registers across the row loop, which sums the rows in order.
#[target_feature(enable = "avx2,fma")]
unsafe fn tile<E: Ymm, const N: usize>((x, w, y, rows, stride, start, last): super::TileArgs<E>) {
    let lanes = E::LANES;
    // SAFETY: row i < rows (at i · stride) is read at columns start..start + lanes·(N − 1) + last,
    // or to start + lanes·N <= stride, the same columns of `y` are written up to
    // start + lanes·(N − 1) + last, and `x` is read below `rows`.
    unsafe {
        let whole = start + lanes * N <= stride;
        let mut acc = [E::zero(); N];
        for i in 0..rows {
            let xi = E::splat(x.add(i));
            let row = w.add(i * stride + start);
            for (k, a) in acc.iter_mut().enumerate() {
                let weights = if k + 1 < N || whole {
                    E::load(row.add(lanes * k))
                } else {
                    E::load_first(row.add(lanes * k), last)
                };
                *a = E::fma(xi, weights, *a);
            }
        }
        for (k, a) in acc.iter().enumerate() {
            E::store_first(y.add(start + lanes * k), if k + 1 < N { lanes } else { last }, *a);
        }
    }
}

/// `y[from..to] = (x[cols] @ Wᵀ)[from..to]` for `W[rows, cols]`.
///
/// # Safety
/// `x` valid for `cols`, `w` for `to × cols`, `y` for `to` elements; AVX2 and FMA present.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn vecmat_t<E: Ymm>(x: *const E, w: *const E, y: *mut E, from: usize, to: usize, cols: usize) {
    // SAFETY: forwarded.
    unsafe { blocks((x, w, y, from, to, cols), |rows| dot4(x, w, cols, rows)) }
}

/// Runs `dot4` on the rows `from..to` four at a time, and reduces and stores their sums a block
/// of `LANES` rows at a time. A group of fewer than four repeats its last row (that sum lands in
/// a slot that is not stored).
///
/// # Safety
/// `y` valid for `to` elements, `dot4` safe for rows below `to`; AVX2 and FMA present.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn blocks<E: Ymm>((_, _, y, from, to, _): super::RowArgs<E>, dot4: impl Fn([usize; 4]) -> [E::V; 4]) {
    let mut i = from;
    while i < to {
        let n = (to - i).min(E::LANES);
        // SAFETY: n elements of `y` from i, below `to`.
        unsafe {
            let mut sums = [E::zero(); 8];
            for first in (0..n).step_by(4) {
                sums[first..first + 4]
                    .copy_from_slice(&dot4(std::array::from_fn(|k| i + first + k.min(n - first - 1))));
            }
            E::store_sums(y.add(i), n, &sums);
        }
        i += E::LANES;
    }
}

/// Four rows of `W` times `x`, each left as a vector to sum across: vector k of a row goes to
/// accumulator k % 2 (eight independent FMA chains).
///
/// # Safety
/// `x` valid for `cols`, `w` for the listed rows × `cols`; AVX2 and FMA present.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot4<E: Ymm>(x: *const E, w: *const E, cols: usize, rows: [usize; 4]) -> [E::V; 4] {
    let lanes = E::LANES;
    // SAFETY: columns stay below `cols` (masked loads at the end), rows as the caller says.
    unsafe {
        let row = rows.map(|r| w.add(r * cols));
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
        // At most two vectors left (the last one maybe partial): to accumulators 0 and 1.
        for (slot, column) in [(0, j), (1, j + lanes)] {
            if column < cols {
                let n = (cols - column).min(lanes);
                let xk = E::load_first(x.add(column), n);
                for (a, r) in acc.iter_mut().zip(row) {
                    a[slot] = E::fma(xk, E::load_first(r.add(column), n), a[slot]);
                }
            }
        }
        acc.map(|[a0, a1]| E::add(a0, a1))
    }
}
