//! f32 `tanh` as Eigen's rational approximation: `x` clamped to ±[`CLAMP`], then
//! `x·P(x²)/Q(x²)` with a degree-13/6 fit ([`ALPHA`], [`BETA`]). Error ≤ 5e-7 against f64
//! `tanh` (test `fast_tanh_is_accurate`).
//!
//! Generated code computes it inline, four lanes at a time (Cranelift's widest vectors), or,
//! for vectors of at least [`NATIVE_MIN_LEN`] elements on a CPU with AVX2 + FMA, calls
//! [`tanh_f32`]: the same operations in the same order per lane, eight lanes at a time, so
//! both give the same bits. On A's 50 neurons the call measured ≈ 4× fewer instructions than the
//! inline code, which keeps sixteen constants in too few 128-bit registers. [`tanh_difference_f32`]
//! is the same of `a - b` read from two buffers (a Rate's `tanh(x - threshold)`): A's forward
//! pass took 6% less time than with the difference stored by generated code and loaded back.

/// Inputs beyond ±`CLAMP` give ±1 in f32.
pub const CLAMP: f64 = 7.905_311_107_635_498;
/// `P`'s coefficients, highest degree first (Horner's order).
pub const ALPHA: [f64; 7] = [
    -2.760_768_477_423_55e-16,
    2.000_187_904_824_77e-13,
    -8.604_671_522_137_35e-11,
    5.122_297_090_371_14e-8,
    1.485_722_357_179_79e-5,
    6.372_619_288_754_36e-4,
    4.893_524_558_917_86e-3,
];
/// `Q`'s coefficients, highest degree first.
pub const BETA: [f64; 4] =
    [1.198_258_394_667_02e-6, 1.185_347_056_866_54e-4, 2.268_434_632_439e-3, 4.893_525_185_543_85e-3];

/// Vectors at least this long call [`tanh_f32`] rather than inlining the approximation; shorter
/// ones (C's 8 neurons) stay fused with their neighbours.
pub const NATIVE_MIN_LEN: usize = 16;

/// Whether [`tanh_f32`] can run on this CPU.
pub fn native_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `dst[i] = tanh(src[i])` for `i < n`, by the rational approximation.
///
/// # Safety
/// `src` and `dst` valid for `n` elements (they may be the same buffer); AVX2 and FMA present
/// (generated code calls it only then, see [`native_available`]).
#[cfg(target_arch = "x86_64")]
pub unsafe extern "C" fn tanh_f32(src: *const f32, dst: *mut f32, n: i64) {
    // SAFETY: the caller's guarantee.
    unsafe { avx2::tanh(src, dst, n.max(0) as usize) }
}

/// `dst[i] = tanh(a[i] - b[i])` for `i < n`: the same bits as subtracting first (one f32
/// rounding either way) and calling [`tanh_f32`], without storing the difference and loading it
/// back. Generated code calls it for `tanh(x - threshold)` of a state and a parameter (see
/// `Fusion::difference`), on the forward loop's critical path.
///
/// # Safety
/// `a`, `b` and `dst` valid for `n` elements (`dst` may be `a` or `b`); AVX2 and FMA present.
#[cfg(target_arch = "x86_64")]
pub unsafe extern "C" fn tanh_difference_f32(a: *const f32, b: *const f32, dst: *mut f32, n: i64) {
    // SAFETY: the caller's guarantee.
    unsafe { avx2::tanh_difference(a, b, dst, n.max(0) as usize) }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{ALPHA, BETA, CLAMP};

    /// Eight lanes of the approximation, in the inline code's order: clamp (a NaN stays NaN),
    /// `x²`, Horner's FMAs for `P`, times `x`, Horner's FMAs for `Q`, one division.
    #[target_feature(enable = "avx2,fma")]
    fn tanh8(x: __m256) -> __m256 {
        let x = _mm256_min_ps(_mm256_set1_ps(CLAMP as f32), x);
        let x = _mm256_max_ps(_mm256_set1_ps(-CLAMP as f32), x);
        let x2 = _mm256_mul_ps(x, x);
        let mut p = _mm256_set1_ps(ALPHA[0] as f32);
        for alpha in &ALPHA[1..] {
            p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(*alpha as f32));
        }
        p = _mm256_mul_ps(p, x);
        let mut q = _mm256_set1_ps(BETA[0] as f32);
        for beta in &BETA[1..] {
            q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(*beta as f32));
        }
        _mm256_div_ps(p, q)
    }

    /// # Safety
    /// As [`super::tanh_difference_f32`].
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn tanh_difference(a: *const f32, b: *const f32, dst: *mut f32, n: usize) {
        // SAFETY: `map` reads eight elements from below `n - 7`, or the lanes below `n`.
        unsafe {
            map(
                dst,
                n,
                |i| _mm256_sub_ps(_mm256_loadu_ps(a.add(i)), _mm256_loadu_ps(b.add(i))),
                |mask| _mm256_sub_ps(_mm256_maskload_ps(a, mask), _mm256_maskload_ps(b, mask)),
            )
        }
    }

    /// # Safety
    /// As [`super::tanh_f32`].
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn tanh(src: *const f32, dst: *mut f32, n: usize) {
        // SAFETY: as in `tanh_difference`.
        unsafe { map(dst, n, |i| _mm256_loadu_ps(src.add(i)), |mask| _mm256_maskload_ps(src, mask)) }
    }

    /// `dst[i] = tanh(x[i])` for `i < n`, where `load(i)` gives `x[i..i + 8]` and, for `n < 8`,
    /// `masked(mask)` gives the lanes `mask` selects. With eight or more, the last eight
    /// elements are loaded first and stored last, overlapping the vector before: no masked load
    /// or store (slow on AMD cores, and a masked load cannot take its value from the 128-bit
    /// stores that just wrote it); loading them first keeps this right when `dst` is a buffer
    /// `load` reads.
    ///
    /// # Safety
    /// `dst` valid for `n` elements, `load(i)` for `i + 8 <= n`, `masked` for the lanes below
    /// `n`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn map(dst: *mut f32, n: usize, load: impl Fn(usize) -> __m256, masked: impl Fn(__m256i) -> __m256) {
        // SAFETY: every store is below `n` (masked in a short vector).
        unsafe {
            if n >= 8 {
                let last = load(n - 8);
                let mut i = 0;
                while i + 8 < n {
                    _mm256_storeu_ps(dst.add(i), tanh8(load(i)));
                    i += 8;
                }
                _mm256_storeu_ps(dst.add(n - 8), tanh8(last));
            } else if n > 0 {
                let lanes: [i32; 8] = std::array::from_fn(|lane| -i32::from(lane < n));
                let mask = _mm256_loadu_si256(lanes.as_ptr().cast());
                _mm256_maskstore_ps(dst, mask, tanh8(masked(mask)));
            }
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    /// Every length (a short masked vector, whole vectors, an overlapping last vector), in place
    /// or not, gives each element the bits it gets alone.
    #[test]
    fn every_length_and_in_place_give_each_element_its_own_bits() {
        if !native_available() {
            return;
        }
        let input: Vec<f32> = (0..41).map(|i| ((i * 37 % 41) as f32 - 20.0) * 0.23).collect();
        let alone: Vec<u32> = input
            .iter()
            .map(|x| {
                let mut y = 0.0f32;
                // SAFETY: one element each; AVX2 and FMA checked above.
                unsafe { tanh_f32(x, &mut y, 1) };
                y.to_bits()
            })
            .collect();
        for n in 0..=input.len() {
            let mut out = vec![f32::NAN; n + 1];
            let mut in_place = input[..n].to_vec();
            // SAFETY: `n` elements in each buffer (`out` has one more, which must stay NaN).
            unsafe {
                tanh_f32(input.as_ptr(), out.as_mut_ptr(), n as i64);
                tanh_f32(in_place.as_ptr(), in_place.as_mut_ptr(), n as i64);
            }
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&out[..n]), alone[..n], "n = {n}");
            assert_eq!(bits(&in_place), alone[..n], "n = {n}, in place");
            assert!(out[n].is_nan(), "n = {n}: wrote past the end");
        }
    }

    /// `tanh(a - b)` in one call gives the bits of the difference's `tanh`, in place or not.
    #[test]
    fn the_difference_gives_the_bits_of_subtracting_first() {
        if !native_available() {
            return;
        }
        let a: Vec<f32> = (0..41).map(|i| ((i * 37 % 41) as f32 - 20.0) * 0.31).collect();
        let b: Vec<f32> = (0..41).map(|i| ((i * 11 % 41) as f32 - 20.0) * 0.17).collect();
        for n in 0..=a.len() {
            let mut expected: Vec<f32> = a[..n].iter().zip(&b).map(|(x, y)| x - y).collect();
            let mut out = vec![f32::NAN; n + 1];
            let mut in_place = a[..n].to_vec();
            // SAFETY: `n` elements in each buffer (`out` has one more, which must stay NaN).
            unsafe {
                tanh_f32(expected.as_ptr(), expected.as_mut_ptr(), n as i64);
                tanh_difference_f32(a.as_ptr(), b.as_ptr(), out.as_mut_ptr(), n as i64);
                tanh_difference_f32(in_place.as_ptr(), b.as_ptr(), in_place.as_mut_ptr(), n as i64);
            }
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&out[..n]), bits(&expected), "n = {n}");
            assert_eq!(bits(&in_place), bits(&expected), "n = {n}, in place");
            assert!(out[n].is_nan(), "n = {n}: wrote past the end");
        }
    }
}
