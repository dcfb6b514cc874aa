//! `y_e = x_e @ W` for a group of batch elements that run their time loops in lock-step: each
//! vector of `W` loaded is used by four elements, so the product is bound by FMA throughput
//! rather than by loads (at 100 × 100 f32, 205 ns per element against 345 ns for the one-element
//! kernel, measured on the development machine; 2.5× at 200 × 200).
//!
//! Every element's columns sum the rows in order from zero with one FMA per row, exactly as
//! [`super::avx2::vecmat`] does, so an element's result has the same bits whichever group it
//! runs in (or none).

use super::avx2::Ymm;

/// Elements sharing each loaded vector of `W`.
const ELEMENTS: usize = 4;
/// Vectors per column tile with AVX-512VL's 32 vector registers (4 × 5 accumulators, 5 weight
/// vectors and a broadcast), and with AVX2's 16 (4 × 2 + 2 + 1: tiles of 3 fill all 16 and
/// measured 1.6× slower than tiles of 2).
const WIDE_TILE: usize = 5;
const NARROW_TILE: usize = 2;

/// `ys[e] = xs[e] @ W` for every element `e`, `W[rows, cols]`.
///
/// # Safety
/// Each `xs[e]` valid for `rows`, each `ys[e]` for `cols` elements (no `y` overlapping an `x`
/// or `W`), `w` for `rows × stride` (rows `stride >= cols` apart); AVX2 and FMA
/// present, and AVX-512F/VL if `wide`.
pub(super) unsafe fn vecmat_group<E: Ymm>(
    xs: &[*const E],
    w: *const E,
    ys: &[*mut E],
    rows: usize,
    cols: usize,
    stride: usize,
    wide: bool,
) {
    for (xs, ys) in xs.chunks(ELEMENTS).zip(ys.chunks(ELEMENTS)) {
        // SAFETY: forwarded; the target features are the caller's guarantee.
        let shape = (rows, cols, stride);
        unsafe { if wide { columns_wide(xs, w, ys, shape) } else { columns_narrow(xs, w, ys, shape) } }
    }
}

/// [`columns`] compiled for AVX-512VL (32 vector registers).
#[target_feature(enable = "avx2,fma,avx512f,avx512vl")]
unsafe fn columns_wide<E: Ymm>(xs: &[*const E], w: *const E, ys: &[*mut E], shape: Shape) {
    // SAFETY: forwarded.
    unsafe { columns::<E, WIDE_TILE>(xs, w, ys, shape) }
}

/// [`columns`] compiled for AVX2 (16 vector registers).
#[target_feature(enable = "avx2,fma")]
unsafe fn columns_narrow<E: Ymm>(xs: &[*const E], w: *const E, ys: &[*mut E], shape: Shape) {
    // SAFETY: forwarded.
    unsafe { columns::<E, NARROW_TILE>(xs, w, ys, shape) }
}

/// Up to [`ELEMENTS`] elements, the columns in tiles of at most `TILE` vectors (as even as
/// possible, see [`super::tiles`]).
#[inline(always)]
unsafe fn columns<E: Ymm, const TILE: usize>(xs: &[*const E], w: *const E, ys: &[*mut E], (rows, cols, stride): Shape) {
    for (start, vectors, last) in super::tiles(0, cols, E::LANES, TILE) {
        let args = Tile { xs, w, ys, rows, stride, start, last };
        // SAFETY: the tile covers columns start..start + lanes·(vectors − 1) + last <= cols.
        unsafe {
            match xs.len() {
                1 => by_vectors::<E, 1, TILE>(args, vectors),
                2 => by_vectors::<E, 2, TILE>(args, vectors),
                3 => by_vectors::<E, 3, TILE>(args, vectors),
                _ => by_vectors::<E, ELEMENTS, TILE>(args, vectors),
            }
        }
    }
}

/// One column tile's arguments.
#[derive(Clone, Copy)]
struct Tile<'a, E> {
    xs: &'a [*const E],
    w: *const E,
    ys: &'a [*mut E],
    rows: usize,
    stride: usize,
    start: usize,
    last: usize,
}

/// Rows and columns of `W`, and the distance between its rows.
type Shape = (usize, usize, usize);

/// Dispatches a tile of `vectors` (1..=TILE) to its monomorphic kernel.
#[inline(always)]
unsafe fn by_vectors<E: Ymm, const N: usize, const TILE: usize>(args: Tile<'_, E>, vectors: usize) {
    // SAFETY: forwarded.
    unsafe {
        match vectors.min(TILE) {
            1 => tile::<E, N, 1>(args),
            2 => tile::<E, N, 2>(args),
            3 => tile::<E, N, 3>(args),
            4 => tile::<E, N, 4>(args),
            _ => tile::<E, N, TILE>(args),
        }
    }
}

/// `N` elements × `V` vectors (the last `last` lanes wide) from column `start`: the `N·V`
/// accumulators stay in registers across the row loop.
#[inline(always)]
unsafe fn tile<E: Ymm, const N: usize, const V: usize>(t: Tile<'_, E>) {
    let lanes = E::LANES;
    let xs: [*const E; N] = std::array::from_fn(|e| t.xs[e]);
    // SAFETY: row i < rows is read at columns start..start + lanes·(V − 1) + last <= cols, or to
    // start + lanes·V <= stride, the columns below start + lanes·(V − 1) + last of each `y` are
    // written, and each `x` is read below `rows`.
    unsafe {
        // A last vector ending within the row's padding is loaded whole (as in `avx2::vecmat`).
        let whole = t.start + lanes * V <= t.stride;
        let mut acc = [[E::zero(); V]; N];
        for i in 0..t.rows {
            let row = t.w.add(i * t.stride + t.start);
            let weights: [E::V; V] = std::array::from_fn(|k| {
                if k + 1 < V || whole { E::load(row.add(lanes * k)) } else { E::load_first(row.add(lanes * k), t.last) }
            });
            for (a, x) in acc.iter_mut().zip(xs) {
                let xi = E::splat(x.add(i));
                for (a, weights) in a.iter_mut().zip(weights) {
                    *a = E::fma(xi, weights, *a);
                }
            }
        }
        for (a, y) in acc.iter().zip(t.ys) {
            for (k, a) in a.iter().enumerate() {
                E::store_first(y.add(t.start + lanes * k), if k + 1 < V { lanes } else { t.last }, *a);
            }
        }
    }
}
