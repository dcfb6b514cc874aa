//! Matrix products with at most 16 columns (f32, AVX2 + FMA): `input @ W` for a narrow layer
//! (workload C: 2000 → 8) and its weight gradient `Xᵀ Λ`. A general GEMM packs both operands
//! into panels first; with 8 columns that copying costs more than the arithmetic (a third of
//! C's time in `matrixmultiply`'s packing), so these kernels read the operands in place: one
//! row of `b` is loaded once and multiplied by eight broadcast elements of `a` (eight
//! independent FMA chains). Each element of the result is a sum over `k` in order, whatever
//! the split into row blocks, so results do not depend on the number of threads.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Columns up to which the narrow kernels run.
pub const MAX_COLS: usize = 16;

/// `c[m×n] = a[m×k] · b[k×n]` (row-major) when `n <= MAX_COLS` and the CPU has AVX2 + FMA;
/// returns false (doing nothing) otherwise. The caller has checked the lengths.
pub fn multiply(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) -> bool {
    if !usable(n) || a.len() < m * k || b.len() < k * n || c.len() < m * n {
        return false;
    }
    let shape = Shape { rows: m, depth: k, cols: n, row_stride: k, depth_stride: 1, accumulate: false };
    // SAFETY: `usable` checked the CPU features; the lengths were checked above for `a` read at
    // `i·k + kk`, `b` at `kk·n + j` and `c` at `i·n + j` with i < m, kk < k, j < n.
    unsafe { run(shape, a.as_ptr(), b.as_ptr(), c.as_mut_ptr()) };
    true
}

/// `c[m×n] += aᵀ · b` for `a`: `k` rows of length `lda` (first `m` used) and `b[k×n]`, when
/// `n <= MAX_COLS` and the CPU has AVX2 + FMA; returns false (doing nothing) otherwise.
pub fn add_transposed_product(m: usize, k: usize, n: usize, a: &[f32], lda: usize, b: &[f32], c: &mut [f32]) -> bool {
    if !usable(n) || m == 0 || k == 0 || m > lda || a.len() < (k - 1) * lda + m || b.len() < k * n || c.len() < m * n {
        return false;
    }
    let shape = Shape { rows: m, depth: k, cols: n, row_stride: 1, depth_stride: lda, accumulate: true };
    // SAFETY: as in `multiply`, with `a` read at `kk·lda + i` (i < m <= lda, kk < k).
    unsafe { run(shape, a.as_ptr(), b.as_ptr(), c.as_mut_ptr()) };
    true
}

fn usable(n: usize) -> bool {
    n > 0 && n <= MAX_COLS && super::matvec::available()
}

/// `c[i, j] (+)= Σ_kk a[i·row_stride + kk·depth_stride] · b[kk·cols + j]`.
#[derive(Clone, Copy)]
struct Shape {
    rows: usize,
    depth: usize,
    cols: usize,
    row_stride: usize,
    depth_stride: usize,
    accumulate: bool,
}

/// # Safety
/// AVX2 + FMA present; the pointers valid for `shape` (see `Shape`).
#[cfg(target_arch = "x86_64")]
unsafe fn run(shape: Shape, a: *const f32, b: *const f32, c: *mut f32) {
    // SAFETY: forwarded; every block stays inside `shape`.
    unsafe {
        let mut i = 0;
        let wide = shape.cols > 8;
        while i + 8 <= shape.rows {
            if wide {
                block::<8, 2>(shape, i, a, b, c)
            } else {
                block::<8, 1>(shape, i, a, b, c)
            }
            i += 8;
        }
        while i < shape.rows {
            if wide {
                block::<1, 2>(shape, i, a, b, c)
            } else {
                block::<1, 1>(shape, i, a, b, c)
            }
            i += 1;
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn run(_: Shape, _: *const f32, _: *const f32, _: *mut f32) {
    unreachable!("`usable` is false without x86_64 AVX2")
}

/// Rows `first..first + R` of the result, columns as `W` vectors of 8 (lanes past `cols`
/// masked).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn block<const R: usize, const W: usize>(shape: Shape, first: usize, a: *const f32, b: *const f32, c: *mut f32) {
    let n = shape.cols;
    let lanes: [i32; 16] = std::array::from_fn(|lane| if lane < n { -1 } else { 0 });
    // SAFETY: `lanes` has 16 i32s; every access below is inside `shape` (see `Shape`): rows
    // `first + q < rows`, depth `kk < depth`, and only the lanes below `n` of each row of `b`
    // and `c` are read or written (masked).
    unsafe {
        let masks = [_mm256_loadu_si256(lanes.as_ptr().cast()), _mm256_loadu_si256(lanes.as_ptr().add(8).cast())];
        let mut acc = [[_mm256_setzero_ps(); W]; R];
        for kk in 0..shape.depth {
            let row = b.add(kk * n);
            let weights: [__m256; W] = std::array::from_fn(|half| _mm256_maskload_ps(row.add(8 * half), masks[half]));
            let column = a.add(first * shape.row_stride + kk * shape.depth_stride);
            for (q, sums) in acc.iter_mut().enumerate() {
                let x = _mm256_set1_ps(*column.add(q * shape.row_stride));
                for (sum, weight) in sums.iter_mut().zip(&weights) {
                    *sum = _mm256_fmadd_ps(x, *weight, *sum);
                }
            }
        }
        for (q, sums) in acc.iter().enumerate() {
            let out = c.add((first + q) * n);
            for (half, sum) in sums.iter().enumerate() {
                let place = out.add(8 * half);
                let value =
                    if shape.accumulate { _mm256_add_ps(_mm256_maskload_ps(place, masks[half]), *sum) } else { *sum };
                _mm256_maskstore_ps(place, masks[half], value);
            }
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
        for (m, k, n) in [(1, 1, 1), (9, 5, 3), (17, 300, 8), (8, 40, 16), (23, 64, 11), (64, 2000, 8)] {
            let (a, b) = (numbers(m * k, 1), numbers(k * n, 2));
            let mut c = vec![f32::NAN; m * n];
            assert!(multiply(m, k, n, &a, &b, &mut c));
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
            // aᵀ·b added to c, with `a` read as k rows of m + 3 (its first m columns).
            let lda = m + 3;
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

    #[test]
    fn wide_or_short_operands_are_refused() {
        let mut c = vec![0.0f32; 17];
        assert!(!multiply(1, 1, 17, &[1.0], &[0.0; 17], &mut c));
        assert!(!multiply(2, 2, 2, &[1.0; 3], &[1.0; 4], &mut c));
        assert!(!add_transposed_product(2, 2, 2, &[1.0; 4], 1, &[1.0; 4], &mut c));
    }
}
