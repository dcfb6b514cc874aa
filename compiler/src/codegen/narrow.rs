//! Matrix products read in place (f32, AVX2 + FMA): `input @ W` for a narrow layer (at most 16
//! columns; workload C: 2000 → 8), and weight gradients `Xᵀ Λ` that are narrow or small (up to
//! [`MAX_IN_PLACE`] elements; A's 50 × 50 from 128 rows). A general GEMM packs both operands
//! into panels first; with 8 columns that copying costs more than the arithmetic (a third of
//! C's time in `matrixmultiply`'s packing), and its packing buffers (64 KB per call) were the
//! largest allocation of A's gradient after the tape. These kernels work on column panels of
//! 16: one row of `b`'s panel is loaded once and multiplied by up to eight broadcast elements
//! of `a` (independent FMA chains). Each element of the result is a sum over `k` in order,
//! whatever the split into row blocks, so results do not depend on the number of threads.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Columns up to which `multiply` runs; also the width of a column panel.
pub const MAX_COLS: usize = 16;

/// Elements of a result up to which `add_transposed_product` runs with any number of columns:
/// measured (f32, 128 rows), 50 × 50 took 0.85× `matrixmultiply`'s time, 64 × 50 1.05×,
/// 200 × 200 1.2× (its cache blocking pays for the packing there).
pub const MAX_IN_PLACE: usize = 1 << 12;

/// `c[m×n] = a[m×k] · b[k×n]` (row-major) when `n <= MAX_COLS` and the CPU has AVX2 + FMA;
/// returns false (doing nothing) otherwise. The caller has checked the lengths.
pub fn multiply(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) -> bool {
    if !usable(n) || a.len() < m * k || b.len() < k * n || c.len() < m * n {
        return false;
    }
    let shape = Shape { rows: m, depth: k, cols: n, stride: n, row_stride: k, depth_stride: 1, accumulate: false };
    // SAFETY: `usable` checked the CPU features; the lengths were checked above for `a` read at
    // `i·k + kk`, `b` at `kk·n + j` and `c` at `i·n + j` with i < m, kk < k, j < n.
    unsafe { run(shape, a.as_ptr(), b.as_ptr(), c.as_mut_ptr()) };
    true
}

/// `c[m×n] += aᵀ · b` for `a`: `k` rows of length `lda` (first `m` used) and `b[k×n]`, when
/// `n <= MAX_COLS` or `m·n <= MAX_IN_PLACE`, and the CPU has AVX2 + FMA; returns false (doing
/// nothing) otherwise.
pub fn add_transposed_product(m: usize, k: usize, n: usize, a: &[f32], lda: usize, b: &[f32], c: &mut [f32]) -> bool {
    let fits = usable(n) || (n > 0 && m * n <= MAX_IN_PLACE && super::matvec::available());
    if !fits || m == 0 || k == 0 || m > lda || a.len() < (k - 1) * lda + m || b.len() < k * n || c.len() < m * n {
        return false;
    }
    if n == 1 && m > 1 && lda == m {
        // One column (a readout's gradient `Σ_t x[t]ᵀ λ[t]` with one output): the same sums as
        // `c[1×m] += bᵀ a`, vectorised over `m` instead of one lane in eight.
        let shape = Shape { rows: 1, depth: k, cols: m, stride: m, row_stride: 1, depth_stride: 1, accumulate: true };
        // SAFETY: `b` is read at `kk` (kk < k <= b.len()), `a` at `kk·m + j` (j < m = lda, so
        // below (k − 1)·lda + m <= a.len()), `c` at j < m <= c.len().
        unsafe { run(shape, b.as_ptr(), a.as_ptr(), c.as_mut_ptr()) };
        return true;
    }
    let shape = Shape { rows: m, depth: k, cols: n, stride: n, row_stride: 1, depth_stride: lda, accumulate: true };
    // SAFETY: as in `multiply`, with `a` read at `kk·lda + i` (i < m <= lda, kk < k).
    unsafe { run(shape, a.as_ptr(), b.as_ptr(), c.as_mut_ptr()) };
    true
}

fn usable(n: usize) -> bool {
    n > 0 && n <= MAX_COLS && super::matvec::available()
}

/// `c[i·stride + j] (+)= Σ_kk a[i·row_stride + kk·depth_stride] · b[kk·stride + j]` for
/// `j < cols <= stride`.
#[derive(Clone, Copy)]
struct Shape {
    rows: usize,
    depth: usize,
    cols: usize,
    stride: usize,
    row_stride: usize,
    depth_stride: usize,
    accumulate: bool,
}

/// # Safety
/// AVX2 + FMA present; the pointers valid for `shape` (see `Shape`).
#[cfg(target_arch = "x86_64")]
unsafe fn run(shape: Shape, a: *const f32, b: *const f32, c: *mut f32) {
    // SAFETY: forwarded; every panel and block stays inside `shape`.
    unsafe {
        if shape.rows == 1 && shape.cols > MAX_COLS {
            // One row (a bias's or a one-channel input's gradient, a one-output readout's run
            // transposed): panels of 16 columns would each be two FMA chains waiting on each
            // other (a quarter of the FMA throughput); up to eight vectors side by side are not.
            for first_col in (0..shape.cols).step_by(ROW_COLS) {
                let panel = Shape { cols: ROW_COLS.min(shape.cols - first_col), ..shape };
                single_row(panel, a, b.add(first_col), c.add(first_col));
            }
            return;
        }
        for first_col in (0..shape.cols).step_by(MAX_COLS) {
            let panel = Shape { cols: MAX_COLS.min(shape.cols - first_col), ..shape };
            let (b, c) = (b.add(first_col), c.add(first_col));
            // A ragged last panel of one or two columns over many rows of `a` stored along
            // the rows (a weight gradient's `X`): vectorised over the rows instead (A's 50 × 50
            // gradient: its last two columns had used a quarter of eight lanes).
            if panel.cols <= 2 && shape.cols > MAX_COLS && panel.row_stride == 1 && panel.rows >= 16 {
                match panel.cols {
                    1 => columns::<1>(panel, a, b, c),
                    _ => columns::<2>(panel, a, b, c),
                }
                continue;
            }
            // Blocks of rows: 6 × 2 vectors (12 accumulators) or 8 × 1, so that accumulators,
            // the row of `b` and the broadcast fit the 16 vector registers (8 × 2 spilled: half
            // the speed); the last rows in one smaller block.
            let (wide, full) = (panel.cols > 8, if panel.cols > 8 { 6 } else { 8 });
            let mut i = 0;
            while i + full <= panel.rows {
                if wide && panel.cols == MAX_COLS {
                    block::<6, 2, true>(panel, i, a, b, c)
                } else if wide {
                    block::<6, 2, false>(panel, i, a, b, c)
                } else {
                    block::<8, 1, false>(panel, i, a, b, c)
                }
                i += full;
            }
            match (panel.rows - i, wide) {
                (0, _) => {}
                (1, true) => block::<1, 2, false>(panel, i, a, b, c),
                (2, true) => block::<2, 2, false>(panel, i, a, b, c),
                (3, true) => block::<3, 2, false>(panel, i, a, b, c),
                (4, true) => block::<4, 2, false>(panel, i, a, b, c),
                (_, true) => block::<5, 2, false>(panel, i, a, b, c),
                (1, false) => block::<1, 1, false>(panel, i, a, b, c),
                (2, false) => block::<2, 1, false>(panel, i, a, b, c),
                (3, false) => block::<3, 1, false>(panel, i, a, b, c),
                (4, false) => block::<4, 1, false>(panel, i, a, b, c),
                (5, false) => block::<5, 1, false>(panel, i, a, b, c),
                (6, false) => block::<6, 1, false>(panel, i, a, b, c),
                (_, false) => block::<7, 1, false>(panel, i, a, b, c),
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn run(_: Shape, _: *const f32, _: *const f32, _: *mut f32) {
    unreachable!("`usable` is false without x86_64 AVX2")
}

/// Rows `first..first + R` of the result, columns as `W` vectors of 8 (lanes past `cols`
/// masked); rows of `b` and `c` are `stride` apart. `WHOLE`: the panel has `8 W` columns, so
/// rows of `b` are loaded whole (masked loads made A's 50 × 50 gradient 12% slower; whole
/// ones, chosen by a test in the loop or by `WHOLE` in 8 × 1 blocks, made C's 2000 → 8
/// product 10% slower, so only the wide blocks take them).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn block<const R: usize, const W: usize, const WHOLE: bool>(
    shape: Shape,
    first: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
) {
    let (n, stride) = (shape.cols, shape.stride);
    let lanes: [i32; 16] = std::array::from_fn(|lane| if lane < n { -1 } else { 0 });
    // SAFETY: `lanes` has 16 i32s; every access below is inside `shape` (see `Shape`): rows
    // `first + q < rows`, depth `kk < depth`, and only the lanes below `n` of each row of `b`
    // and `c` are read or written (masked).
    unsafe {
        let masks = [_mm256_loadu_si256(lanes.as_ptr().cast()), _mm256_loadu_si256(lanes.as_ptr().add(8).cast())];
        let mut acc = [[_mm256_setzero_ps(); W]; R];
        for kk in 0..shape.depth {
            let row = b.add(kk * stride);
            let weights: [__m256; W] = if WHOLE {
                std::array::from_fn(|half| _mm256_loadu_ps(row.add(8 * half)))
            } else {
                std::array::from_fn(|half| _mm256_maskload_ps(row.add(8 * half), masks[half]))
            };
            let column = a.add(first * shape.row_stride + kk * shape.depth_stride);
            for (q, sums) in acc.iter_mut().enumerate() {
                let x = _mm256_set1_ps(*column.add(q * shape.row_stride));
                for (sum, weight) in sums.iter_mut().zip(&weights) {
                    *sum = _mm256_fmadd_ps(x, *weight, *sum);
                }
            }
        }
        // Results are stored with plain stores, the last vector in parts: masked stores are
        // slow on AMD cores (A's 50 × 50 gradient made 12 per block: A −6%, E −7%).
        for (q, sums) in acc.iter().enumerate() {
            let out = c.add((first + q) * stride);
            for (half, sum) in sums.iter().enumerate() {
                let place = out.add(8 * half);
                let whole = 8 * (half + 1) <= n;
                let value = match (shape.accumulate, whole) {
                    (false, _) => *sum,
                    (true, true) => _mm256_add_ps(_mm256_loadu_ps(place), *sum),
                    (true, false) => _mm256_add_ps(_mm256_maskload_ps(place, masks[half]), *sum),
                };
                if whole {
                    _mm256_storeu_ps(place, value);
                } else {
                    super::matvec::store_first_f32(place, n - 8 * half, value);
                }
            }
        }
    }
}

/// Columns of a one-row product per pass of [`single_row`].
const ROW_COLS: usize = 64;

/// The one row of the result over its `cols <= ROW_COLS` columns (lanes past `cols` masked),
/// summing over `depth` in order as [`block`] does (so the same bits).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn single_row(shape: Shape, a: *const f32, b: *const f32, c: *mut f32) {
    const VECTORS: usize = ROW_COLS / 8;
    let n = shape.cols;
    let vectors = n.div_ceil(8);
    let lanes: [i32; ROW_COLS] = std::array::from_fn(|lane| if lane < n { -1 } else { 0 });
    // SAFETY: `a` is read at `kk·depth_stride` (kk < depth), `b` at `kk·stride + j` and `c` at
    // `j` for j < n (the last vector masked): all inside `shape`.
    unsafe {
        let last = _mm256_loadu_si256(lanes[8 * (vectors - 1)..].as_ptr().cast());
        let mut acc = [_mm256_setzero_ps(); VECTORS];
        for kk in 0..shape.depth {
            let x = _mm256_set1_ps(*a.add(kk * shape.depth_stride));
            let row = b.add(kk * shape.stride);
            for (v, sum) in acc.iter_mut().enumerate().take(vectors) {
                let weights = if v + 1 < vectors {
                    _mm256_loadu_ps(row.add(8 * v))
                } else {
                    _mm256_maskload_ps(row.add(8 * v), last)
                };
                *sum = _mm256_fmadd_ps(x, weights, *sum);
            }
        }
        for (v, sum) in acc.iter().enumerate().take(vectors) {
            let place = c.add(8 * v);
            let count = (n - 8 * v).min(8);
            let old = if count == 8 { _mm256_loadu_ps(place) } else { _mm256_maskload_ps(place, last) };
            let value = if shape.accumulate { _mm256_add_ps(old, *sum) } else { *sum };
            if count == 8 {
                _mm256_storeu_ps(place, value);
            } else {
                super::matvec::store_first_f32(place, count, value);
            }
        }
    }
}

/// All rows of a panel of `C` columns (1 or 2) for `a` stored along the rows
/// (`row_stride` 1): each column of the result as vectors of 8 rows, four vectors at a time,
/// summing over `depth` in order as [`block`] does (so the same bits).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn columns<const C: usize>(shape: Shape, a: *const f32, b: *const f32, c: *mut f32) {
    const VECTORS: usize = 4;
    let (m, stride) = (shape.rows, shape.stride);
    // SAFETY: `a` is read at `kk·depth_stride + i` for i < m (masked in the last vector), `b`
    // at `kk·stride + q` for q < C <= cols, `c` at `i·stride + q`: all inside `shape`.
    unsafe {
        let mut first = 0;
        while first < m {
            let vectors = (m - first).div_ceil(8).min(VECTORS);
            let rows = (m - first).min(8 * vectors);
            let lanes: [i32; 8 * VECTORS] = std::array::from_fn(|lane| if lane < rows { -1 } else { 0 });
            let masks: [__m256i; VECTORS] = std::array::from_fn(|v| _mm256_loadu_si256(lanes[8 * v..].as_ptr().cast()));
            let mut acc = [[_mm256_setzero_ps(); VECTORS]; C];
            for kk in 0..shape.depth {
                let row = a.add(kk * shape.depth_stride + first);
                let weights: [__m256; C] = std::array::from_fn(|q| _mm256_set1_ps(*b.add(kk * stride + q)));
                for v in 0..vectors {
                    let x = if 8 * (v + 1) <= rows {
                        _mm256_loadu_ps(row.add(8 * v))
                    } else {
                        _mm256_maskload_ps(row.add(8 * v), masks[v])
                    };
                    for q in 0..C {
                        acc[q][v] = _mm256_fmadd_ps(x, weights[q], acc[q][v]);
                    }
                }
            }
            for (q, sums) in acc.iter().enumerate() {
                let mut values = [0.0f32; 8 * VECTORS];
                for (v, sum) in sums.iter().enumerate() {
                    _mm256_storeu_ps(values[8 * v..].as_mut_ptr(), *sum);
                }
                for (i, value) in values[..rows].iter().enumerate() {
                    let place = c.add((first + i) * stride + q);
                    *place = if shape.accumulate { *place + value } else { *value };
                }
            }
            first += rows;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(count: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(2_654_435_761) | 1;
        (0..count)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    /// Relative error against an f64 reference, scaled by the sum of |terms|.
    fn check(result: &[f32], reference: &[f64], scale: &[f64]) {
        for ((r, e), s) in result.iter().zip(reference).zip(scale) {
            assert!((f64::from(*r) - e).abs() <= 1e-6 * s.max(1e-30), "{r} vs {e}");
        }
    }

    #[test]
    fn products_equal_a_reference() {
        if !super::super::matvec::available() {
            return;
        }
        let shapes = [
            (1, 1, 1),
            (9, 5, 3),
            (17, 300, 8),
            (8, 40, 16),
            (23, 64, 11),
            (64, 2000, 8),
            (50, 128, 50),
            (9, 7, 33),
            (50, 70, 1),
            // Ragged last panels of one and two columns over rows in vectors of 8, a partial one.
            (45, 30, 17),
            (64, 20, 34),
            // One row over several panels (whole and ragged last vectors).
            (1, 40, 50),
            (1, 9, 64),
            (1, 7, 70),
        ];
        for (m, k, n) in shapes {
            let (a, b) = (numbers(m * k, 1), numbers(k * n, 2));
            let mut c = vec![f32::NAN; m * n];
            assert_eq!(multiply(m, k, n, &a, &b, &mut c), n <= MAX_COLS);
            if n > MAX_COLS {
                c = vec![0.0; m * n];
                crate::codegen::gemm::multiply(m, k, n, &a, &b, &mut c);
            }
            let mut reference = vec![0.0f64; m * n];
            let mut scale = vec![0.0f64; m * n];
            for i in 0..m {
                for j in 0..n {
                    for kk in 0..k {
                        let term = f64::from(a[i * k + kk]) * f64::from(b[kk * n + j]);
                        reference[i * n + j] += term;
                        scale[i * n + j] += term.abs();
                    }
                }
            }
            check(&c, &reference, &scale);
            // aᵀ·b added to c, with `a` read as k rows of m + 3 (its first m columns), or of m
            // when `b` has one column (then the product runs transposed).
            let lda = if n == 1 { m } else { m + 3 };
            let at = numbers(k * lda, 3);
            let before = numbers(m * n, 4);
            let mut c = before.clone();
            assert!(add_transposed_product(m, k, n, &at, lda, &b, &mut c));
            let mut reference: Vec<f64> = before.iter().map(|v| f64::from(*v)).collect();
            let mut scale: Vec<f64> = reference.iter().map(|v| v.abs()).collect();
            for i in 0..m {
                for j in 0..n {
                    for kk in 0..k {
                        let term = f64::from(at[kk * lda + i]) * f64::from(b[kk * n + j]);
                        reference[i * n + j] += term;
                        scale[i * n + j] += term.abs();
                    }
                }
            }
            check(&c, &reference, &scale);
        }
    }

    /// A one-row product gives the bits of the 16-column panels it replaced.
    #[test]
    fn one_row_equals_the_panels_bit_for_bit() {
        if !super::super::matvec::available() {
            return;
        }
        for (k, n) in [(300, 50), (3, 64), (17, 70)] {
            let (a, b, before) = (numbers(k, 5), numbers(k * n, 6), numbers(n, 7));
            let shape =
                Shape { rows: 1, depth: k, cols: n, stride: n, row_stride: 1, depth_stride: 1, accumulate: true };
            let mut panels = before.clone();
            for first in (0..n).step_by(MAX_COLS) {
                let panel = Shape { cols: MAX_COLS.min(n - first), ..shape };
                // SAFETY: AVX2 checked above; the panel lies inside `shape`, whose buffers
                // have `k`, `k × n` and `n` elements; one or two vectors as `run` picks them.
                unsafe {
                    let (a, b, c) = (a.as_ptr(), b[first..].as_ptr(), panels[first..].as_mut_ptr());
                    if panel.cols > 8 {
                        block::<1, 2, false>(panel, 0, a, b, c)
                    } else {
                        block::<1, 1, false>(panel, 0, a, b, c)
                    }
                };
            }
            let mut row = before.clone();
            assert!(add_transposed_product(1, k, n, &a, 1, &b, &mut row));
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&row), bits(&panels), "k = {k}, n = {n}");
        }
    }

    #[test]
    fn wide_or_short_operands_are_refused() {
        let mut c = vec![0.0f32; 17];
        assert!(!multiply(1, 1, 17, &[1.0], &[0.0; 17], &mut c));
        let wide = MAX_IN_PLACE / 17 + 1;
        let mut big = vec![0.0f32; wide * 17];
        assert!(!add_transposed_product(wide, 1, 17, &vec![1.0; wide], wide, &[0.0; 17], &mut big));
        assert!(!multiply(2, 2, 2, &[1.0; 3], &[1.0; 4], &mut c));
        assert!(!add_transposed_product(2, 2, 2, &[1.0; 4], 1, &[1.0; 4], &mut c));
    }
}
