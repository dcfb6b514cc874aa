//! AVX-512F kernels: 16 f32 or 8 f64 lanes per vector, 32 vector registers, and lane masks for
//! the columns past the last full vector.

use std::arch::x86_64::*;

/// Vectors per column tile of `vecmat`: two accumulator sets of `MAX_TILE` plus a broadcast and
/// a masked load fit the 32 registers. Wide tiles mean few passes over the rows of `W` (each
/// pass also reloads the cache lines its tile shares with the next one): for a 200 × 200 f32
/// matrix, read from L2, one pass is ≈20 % faster than two.
const MAX_TILE: usize = 14;

/// Vectors per column tile of `vecmat` for matrices of more than `LARGE` bytes, read from L3 or
/// memory at every pass: there narrow tiles measured faster (≈20 % for 1000 × 1000 f32; the
/// hardware prefetcher runs ahead along each row, into the next tiles).
const NARROW_TILE: usize = 4;
const LARGE: usize = 2 << 20;

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
    /// Stores the lane sums of the first `n` (1..=LANES) of the `LANES` vectors `v` to `y`,
    /// summing every vector in the same order whatever its slot (a transposing tree of adds).
    unsafe fn store_sums(y: *mut Self, n: usize, v: &[Self::V; 16]);
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
    unsafe fn store_sums(y: *mut f32, n: usize, v: &[__m512; 16]) {
        // Rows 2m, 2m + 1 → per 128-bit lane [r0 + r2, r1 + r3, s2 + s0, s3 + s1].
        let a: [__m512; 8] = std::array::from_fn(|m| {
            let (r, s) = (v[2 * m], v[2 * m + 1]);
            _mm512_add_ps(_mm512_mask_blend_ps(0xCCCC, r, s), _mm512_shuffle_ps::<0b01_00_11_10>(r, s))
        });
        // → per 128-bit lane one partial sum of each of rows 4m..4m + 4.
        let b: [__m512; 4] = std::array::from_fn(|m| {
            let (r, s) = (a[2 * m], a[2 * m + 1]);
            _mm512_add_ps(_mm512_shuffle_ps::<0b10_00_10_00>(r, s), _mm512_shuffle_ps::<0b11_01_11_01>(r, s))
        });
        // → quarters 0 + 2 and 1 + 3 of b[2m] in the low half, of b[2m + 1] in the high half.
        let z: [__m512; 2] = std::array::from_fn(|m| {
            let (r, s) = (b[2 * m], b[2 * m + 1]);
            _mm512_add_ps(_mm512_mask_blend_ps(0xFF00, r, s), _mm512_shuffle_f32x4::<0b01_00_11_10>(r, s))
        });
        // → quarter m holds the sums of rows 4m..4m + 4.
        let sums = _mm512_add_ps(
            _mm512_shuffle_f32x4::<0b10_00_10_00>(z[0], z[1]),
            _mm512_shuffle_f32x4::<0b11_01_11_01>(z[0], z[1]),
        );
        // SAFETY: the caller's guarantee.
        unsafe { Self::store_first(y, n, sums) }
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
    unsafe fn store_sums(y: *mut f64, n: usize, v: &[__m512d; 16]) {
        // Rows 2m, 2m + 1 → per 128-bit lane [r0 + r1, s1 + s0].
        let a: [__m512d; 4] = std::array::from_fn(|m| {
            let (r, s) = (v[2 * m], v[2 * m + 1]);
            _mm512_add_pd(_mm512_mask_blend_pd(0b1010_1010, r, s), _mm512_shuffle_pd::<0b0101_0101>(r, s))
        });
        // → quarters 0 + 2 and 1 + 3 of a[2m] in the low half, of a[2m + 1] in the high half.
        let z: [__m512d; 2] = std::array::from_fn(|m| {
            let (r, s) = (a[2 * m], a[2 * m + 1]);
            _mm512_add_pd(_mm512_mask_blend_pd(0xF0, r, s), _mm512_shuffle_f64x2::<0b01_00_11_10>(r, s))
        });
        // → quarter m holds the sums of rows 2m, 2m + 1.
        let sums = _mm512_add_pd(
            _mm512_shuffle_f64x2::<0b10_00_10_00>(z[0], z[1]),
            _mm512_shuffle_f64x2::<0b11_01_11_01>(z[0], z[1]),
        );
        // SAFETY: the caller's guarantee.
        unsafe { Self::store_first(y, n, sums) }
    }
}

/// `y[from..to] = (x[rows] @ W[rows, cols])[from..to]`, `W`'s rows `stride` elements apart.
///
/// # Safety
/// `x` valid for `rows`, `w` for `(rows − 1) × stride + cols`, `y` for `to` elements;
/// `from <= to <= cols <= stride`;
/// AVX-512F present.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn vecmat<E: Zmm>(
    x: *const E,
    w: *const E,
    y: *mut E,
    (rows, cols, stride): (usize, usize, usize),
    from: usize,
    to: usize,
) {
    let max = if rows * cols * std::mem::size_of::<E>() > LARGE { NARROW_TILE } else { MAX_TILE };
    for (start, vectors, last) in super::tiles(from, to, E::LANES, max) {
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
                8 => tile::<E, 8>(args),
                9 => tile::<E, 9>(args),
                10 => tile::<E, 10>(args),
                11 => tile::<E, 11>(args),
                12 => tile::<E, 12>(args),
                13 => tile::<E, 13>(args),
                _ => tile::<E, MAX_TILE>(args),
            }
        }
    }
}

/// One tile of `N` vectors (the last one `last` lanes wide) starting at column `start`. Even
/// rows are summed into one set of accumulators, odd rows into another (`2N` independent FMA
/// chains, so that an FMA rarely waits for the one before), added at the end; all stay in
/// registers across the row loop.
#[target_feature(enable = "avx512f")]
unsafe fn tile<E: Zmm, const N: usize>((x, w, y, rows, stride, start, last): super::TileArgs<E>) {
    let lanes = E::LANES;
    // SAFETY: row i < rows (at i · stride) is read at columns start..start + lanes·(N − 1) + last, the
    // same columns of `y` are written, and `x` is read below `rows`.
    unsafe {
        // Adds row `i` to a set of accumulators.
        let step = |acc: &mut [E::V; N], i: usize| {
            let xi = E::splat(x.add(i));
            let row = w.add(i * stride + start);
            for (k, a) in acc.iter_mut().enumerate() {
                let weights =
                    if k + 1 < N { E::load(row.add(lanes * k)) } else { E::load_first(row.add(lanes * k), last) };
                *a = E::fma(xi, weights, *a);
            }
        };
        let (mut even, mut odd) = ([E::zero(); N], [E::zero(); N]);
        let mut i = 0;
        while i + 2 <= rows {
            step(&mut even, i);
            step(&mut odd, i + 1);
            i += 2;
        }
        if i < rows {
            step(&mut even, i);
        }
        for k in 0..N {
            E::store_first(y.add(start + lanes * k), if k + 1 < N { lanes } else { last }, E::add(even[k], odd[k]));
        }
    }
}

/// `y[from..to] = (x[cols] @ Wᵀ)[from..to]` for `W[rows, cols]`.
///
/// # Safety
/// `x` valid for `cols`, `w` for `to × cols`, `y` for `to` elements; AVX-512F present.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn vecmat_t<E: Zmm>(x: *const E, w: *const E, y: *mut E, from: usize, to: usize, cols: usize) {
    let args = (x, w, y, from, to, cols);
    // SAFETY: forwarded.
    unsafe {
        match cols.div_ceil(E::LANES) {
            1 => short_rows::<E, 1>(args),
            2 => short_rows::<E, 2>(args),
            3 => short_rows::<E, 3>(args),
            4 => short_rows::<E, 4>(args),
            5 => short_rows::<E, 5>(args),
            6 => short_rows::<E, 6>(args),
            7 => short_rows::<E, 7>(args),
            8 => short_rows::<E, 8>(args),
            _ => blocks(args, |rows| dot4(x, w, cols, rows)),
        }
    }
}

/// `vecmat_t` for rows of `K` vectors (the last one partial or full): `x` stays in registers
/// and the loop over the columns is unrolled.
///
/// # Safety
/// As [`vecmat_t`], with `cols` in `LANES·(K − 1) + 1..=LANES·K`.
#[target_feature(enable = "avx512f")]
unsafe fn short_rows<E: Zmm, const K: usize>(args: super::RowArgs<E>) {
    let (x, w, _, _, _, cols) = args;
    let lanes = E::LANES;
    let tail = cols - lanes * (K - 1);
    // SAFETY: columns below `cols`, rows as the caller guarantees.
    unsafe {
        let load = |p: *const E, k: usize| {
            if k + 1 < K { E::load(p.add(lanes * k)) } else { E::load_first(p.add(lanes * k), tail) }
        };
        let xs: [E::V; K] = std::array::from_fn(|k| load(x, k));
        blocks(args, |rows| {
            let row = rows.map(|r| w.add(r * cols));
            // Vector k of a row goes to accumulator k % 2, as in `dot4`.
            let mut acc = [[E::zero(); 2]; 4];
            for (k, xk) in xs.iter().enumerate() {
                for (a, r) in acc.iter_mut().zip(row) {
                    a[k % 2] = E::fma(*xk, load(r, k), a[k % 2]);
                }
            }
            acc.map(|[a0, a1]| E::add(a0, a1))
        })
    }
}

/// Runs `dot4` on the rows `from..to` four at a time, and reduces and stores their sums a block
/// of `LANES` rows at a time. A group of fewer than four repeats its last row (that sum lands in
/// a slot that is not stored).
///
/// # Safety
/// `y` valid for `to` elements, `dot4` safe for rows below `to`; AVX-512F present.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn blocks<E: Zmm>((_, _, y, from, to, _): super::RowArgs<E>, dot4: impl Fn([usize; 4]) -> [E::V; 4]) {
    let mut i = from;
    while i < to {
        let n = (to - i).min(E::LANES);
        // SAFETY: n elements of `y` from i, below `to`.
        unsafe {
            let mut sums = [E::zero(); 16];
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
/// `x` valid for `cols`, `w` for the listed rows × `cols`; AVX-512F present.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn dot4<E: Zmm>(x: *const E, w: *const E, cols: usize, rows: [usize; 4]) -> [E::V; 4] {
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
