//! f32 dot products for generated code (a readout `x @ w` with one output): AVX2, in exactly
//! the order of the 128-bit code that `Emitter::vecmat_transposed` emits, so both give the same
//! bits. Emitted inline, the 50-element readout of workload A kept its 26 loaded vectors alive
//! until the sums at the end (Cranelift places the arithmetic next to its one use) and spilled
//! ten of them: a sixteenth of A's forward pass.
//!
//! The order: 4-lane chunks `c` summed into partial sums `c % 4` (`c` itself below four chunks),
//! each product rounded before its addition; the partial sums added in slot order, then their
//! lanes in lane order, then the elements past the last chunk one by one.

/// Elements from which generated code calls [`dot_f32`] rather than summing inline.
pub const NATIVE_MIN_LEN: usize = 16;

/// `Σ x[i] · w[i]` over `i < n`, in the order of the module's description.
///
/// # Safety
/// `x` and `w` valid for `n` elements; AVX2 present (generated code calls it only where the
/// kernels run, see `super::matvec::available`).
#[cfg(target_arch = "x86_64")]
pub unsafe extern "C" fn dot_f32(x: *const f32, w: *const f32, n: i64) -> f32 {
    // SAFETY: the caller's guarantee.
    unsafe { avx2::dot(x, w, n.max(0) as usize) }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// # Safety
    /// As [`super::dot_f32`].
    #[target_feature(enable = "avx2")]
    pub unsafe fn dot(x: *const f32, w: *const f32, n: usize) -> f32 {
        let chunks = n / 4;
        // SAFETY: every load is of chunks below `chunks` (elements below 4 · chunks <= n) or of
        // single elements below `n`.
        unsafe {
            let chunk = |c: usize| _mm_mul_ps(_mm_loadu_ps(x.add(4 * c)), _mm_loadu_ps(w.add(4 * c)));
            let sums = if chunks < 4 {
                // One partial sum per chunk (none: a single zero sum).
                let mut sum = _mm_add_ps(_mm_setzero_ps(), if chunks > 0 { chunk(0) } else { _mm_setzero_ps() });
                for c in 1..chunks {
                    sum = _mm_add_ps(sum, _mm_add_ps(_mm_setzero_ps(), chunk(c)));
                }
                sum
            } else {
                // Partial sums 0 and 1 in `low`, 2 and 3 in `high`, eight lanes at a time.
                let pair = |c: usize| _mm256_mul_ps(_mm256_loadu_ps(x.add(4 * c)), _mm256_loadu_ps(w.add(4 * c)));
                let (mut low, mut high) = (_mm256_setzero_ps(), _mm256_setzero_ps());
                let mut c = 0;
                while c + 4 <= chunks {
                    low = _mm256_add_ps(low, pair(c));
                    high = _mm256_add_ps(high, pair(c + 2));
                    c += 4;
                }
                let (mut s0, mut s1) = (_mm256_castps256_ps128(low), _mm256_extractf128_ps::<1>(low));
                let (mut s2, s3) = (_mm256_castps256_ps128(high), _mm256_extractf128_ps::<1>(high));
                if c < chunks {
                    s0 = _mm_add_ps(s0, chunk(c));
                }
                if c + 1 < chunks {
                    s1 = _mm_add_ps(s1, chunk(c + 1));
                }
                if c + 2 < chunks {
                    s2 = _mm_add_ps(s2, chunk(c + 2));
                }
                _mm_add_ps(_mm_add_ps(_mm_add_ps(s0, s1), s2), s3)
            };
            let lanes: [f32; 4] = std::mem::transmute(sums);
            let mut total = ((lanes[0] + lanes[1]) + lanes[2]) + lanes[3];
            for i in 4 * chunks..n {
                total += *x.add(i) * *w.add(i);
            }
            total
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    /// The order of the module's description, one f32 operation at a time.
    fn reference(x: &[f32], w: &[f32]) -> f32 {
        let chunks = x.len() / 4;
        let slots = chunks.clamp(1, 4);
        let mut sums = vec![[0.0f32; 4]; slots];
        for c in 0..chunks {
            for lane in 0..4 {
                sums[c % slots][lane] += x[4 * c + lane] * w[4 * c + lane];
            }
        }
        let mut sum = sums[0];
        for part in &sums[1..] {
            for lane in 0..4 {
                sum[lane] += part[lane];
            }
        }
        let mut total = ((sum[0] + sum[1]) + sum[2]) + sum[3];
        for i in 4 * chunks..x.len() {
            total += x[i] * w[i];
        }
        total
    }

    #[test]
    fn every_length_gives_the_bits_of_the_order_described() {
        if !crate::codegen::matvec::available() {
            return;
        }
        let values = |seed: u32, n: usize| -> Vec<f32> {
            (0..n).map(|i| (((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 2001) as f32 / 997.0 - 1.0).collect()
        };
        for n in 0..=80 {
            let (x, w) = (values(7, n), values(11, n));
            // SAFETY: both hold `n` elements; AVX2 checked above.
            let fast = unsafe { dot_f32(x.as_ptr(), w.as_ptr(), n as i64) };
            assert_eq!(fast.to_bits(), reference(&x, &w).to_bits(), "n = {n}");
        }
        // A zero product stays the sign the order gives it (0 + −0 is +0).
        let (x, w) = (vec![-0.0f32; 20], vec![1.0f32; 20]);
        // SAFETY: 20 elements each.
        let fast = unsafe { dot_f32(x.as_ptr(), w.as_ptr(), 20) };
        assert_eq!(fast.to_bits(), reference(&x, &w).to_bits());
    }
}
