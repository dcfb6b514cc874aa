//! AVX-512F kernels: 16 f32 or 8 f64 lanes per vector, 32 vector registers, and lane masks for
//! the columns past the last full vector.

use std::arch::x86_64::*;

/// Row sets of `vecmat`: row `i` is summed into set `i % SETS`, so a tile of `n` vectors keeps
/// `SETS · n` independent FMA chains in flight (an FMA waits ≈4 cycles for its addend).
const SETS: usize = 4;

/// Vectors per column tile of `vecmat`: `SETS · MAX_TILE` accumulators plus a broadcast and a
/// masked load fit the 32 registers.
const MAX_TILE: usize = 7;

/// Element types with 512-bit operations.
///
/// # Safety
/// Every method needs AVX-512F; pointers must be valid for the lanes each one touches.
pub(super) trait Zmm: Copy {
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

impl Zmm for f32 {
    type V = __m512;
    const LANES: usize = 16;

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn zero() -> __m512 {
        _mm512_setzero_ps()
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn splat(p: *const f32) -> __m512 {
        // SAFETY: the caller's guarantee.
        _mm512_set1_ps(unsafe { *p })
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load(p: *const f32) -> __m512 {
        // SAFETY: the caller's guarantee.
        unsafe { _mm512_loadu_ps(p) }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load_first(p: *const f32, n: usize) -> __m512 {
        // SAFETY: masked-off lanes are not read (nor can they fault).
        unsafe { _mm512_maskz_loadu_ps(((1u32 << n) - 1) as u16, p) }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn store_first(p: *mut f32, n: usize, v: __m512) {
        // SAFETY: masked-off lanes are not written.
        unsafe { _mm512_mask_storeu_ps(p, ((1u32 << n) - 1) as u16, v) }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn fma(a: __m512, b: __m512, c: __m512) -> __m512 {
        _mm512_fmadd_ps(a, b, c)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn add(a: __m512, b: __m512) -> __m512 {
        _mm512_add_ps(a, b)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn store_sums(y: *mut f32, n: usize, [v0, v1, v2, v3]: [__m512; 4]) {
        // Halve twice across 128-bit quarters, so that quarter k holds 4 partial sums of vk,
        // then twice inside the quarters; the sums end in lanes 0, 4, 8, 12.
        let v01 = _mm512_add_ps(_mm512_shuffle_f32x4::<0b01_00_01_00>(v0, v1), _mm512_shuffle_f32x4::<0b11_10_11_10>(v0, v1));
        let v23 = _mm512_add_ps(_mm512_shuffle_f32x4::<0b01_00_01_00>(v2, v3), _mm512_shuffle_f32x4::<0b11_10_11_10>(v2, v3));
        let s = _mm512_add_ps(
            _mm512_shuffle_f32x4::<0b10_00_10_00>(v01, v23),
            _mm512_shuffle_f32x4::<0b11_01_11_01>(v01, v23),
        );
        let s = _mm512_add_ps(s, _mm512_permute_ps::<0b01_00_11_10>(s));
        let s = _mm512_add_ps(s, _mm512_permute_ps::<0b10_11_00_01>(s));
        let s = _mm512_permutexvar_ps(_mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 8, 4, 0), s);
        // SAFETY: the caller's guarantee; masked-off lanes are not written.
        unsafe { _mm512_mask_storeu_ps(y, ((1u32 << n) - 1) as u16, s) }
    }
}

impl Zmm for f64 {
    type V = __m512d;
    const LANES: usize = 8;

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn zero() -> __m512d {
        _mm512_setzero_pd()
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn splat(p: *const f64) -> __m512d {
        // SAFETY: the caller's guarantee.
        _mm512_set1_pd(unsafe { *p })
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load(p: *const f64) -> __m512d {
        // SAFETY: the caller's guarantee.
        unsafe { _mm512_loadu_pd(p) }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load_first(p: *const f64, n: usize) -> __m512d {
        // SAFETY: masked-off lanes are not read (nor can they fault).
        unsafe { _mm512_maskz_loadu_pd(((1u32 << n) - 1) as u8, p) }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn store_first(p: *mut f64, n: usize, v: __m512d) {
        // SAFETY: masked-off lanes are not written.
        unsafe { _mm512_mask_storeu_pd(p, ((1u32 << n) - 1) as u8, v) }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn fma(a: __m512d, b: __m512d, c: __m512d) -> __m512d {
        _mm512_fmadd_pd(a, b, c)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn add(a: __m512d, b: __m512d) -> __m512d {
        _mm512_add_pd(a, b)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn store_sums(y: *mut f64, n: usize, [v0, v1, v2, v3]: [__m512d; 4]) {
        // As for f32: quarter k ends with 2 partial sums of vk, then one swap inside the
        // quarters leaves the sums in lanes 0, 2, 4, 6.
        let v01 = _mm512_add_pd(_mm512_shuffle_f64x2::<0b01_00_01_00>(v0, v1), _mm512_shuffle_f64x2::<0b11_10_11_10>(v0, v1));
        let v23 = _mm512_add_pd(_mm512_shuffle_f64x2::<0b01_00_01_00>(v2, v3), _mm512_shuffle_f64x2::<0b11_10_11_10>(v2, v3));
        let s = _mm512_add_pd(
            _mm512_shuffle_f64x2::<0b10_00_10_00>(v01, v23),
            _mm512_shuffle_f64x2::<0b11_01_11_01>(v01, v23),
        );
        let s = _mm512_add_pd(s, _mm512_permute_pd::<0b0101_0101>(s));
        let s = _mm512_permutexvar_pd(_mm512_set_epi64(0, 0, 0, 0, 6, 4, 2, 0), s);
        // SAFETY: the caller's guarantee; masked-off lanes are not written.
        unsafe { _mm512_mask_storeu_pd(y, ((1u32 << n) - 1) as u8, s) }
    }
}

/// `y[from..to] = (x[rows] @ W[rows, cols])[from..to]`.
///
/// # Safety
/// `x` valid for `rows`, `w` for `rows × cols`, `y` for `to` elements; `from <= to <= cols`;
/// AVX-512F present.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn vecmat<E: Zmm>(x: *const E, w: *const E, y: *mut E, rows: usize, cols: usize, from: usize, to: usize) {
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
                6 => tile::<E, 6>(args),
                _ => tile::<E, MAX_TILE>(args),
            }
        }
    }
}

/// `vecmat` arguments for one tile: x, w, y, rows, cols, first column, lanes of the last vector.
type TileArgs<E> = (*const E, *const E, *mut E, usize, usize, usize, usize);

/// One tile of `N` vectors (the last one `last` lanes wide) starting at column `start`; its
/// accumulators stay in registers across the row loop.
#[target_feature(enable = "avx512f")]
unsafe fn tile<E: Zmm, const N: usize>((x, w, y, rows, cols, start, last): TileArgs<E>) {
    let lanes = E::LANES;
    // SAFETY: row i < rows is read at columns start..start + lanes·(N − 1) + last <= cols, the
    // same columns of `y` are written, and `x` is read below `rows`.
    unsafe {
        let mut acc = [[E::zero(); N]; SETS];
        // Adds row `i` to accumulator set `s`.
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
            let sum = E::add(E::add(acc[0][k], acc[1][k]), E::add(acc[2][k], acc[3][k]));
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
/// `x` valid for `cols`, `w` for `to × cols`, `y` for `to` elements; AVX-512F present.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn vecmat_t<E: Zmm>(x: *const E, w: *const E, y: *mut E, from: usize, to: usize, cols: usize) {
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
