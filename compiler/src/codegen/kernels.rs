//! Host functions generated code calls for what the CPU has no instruction for: elementwise
//! `exp`, `log`, `tanh`, `sin`, `cos`, `pow` over a whole vector (one call per op per step, so
//! the call costs ≈1.6 ns against ≈10 ns per element of the function itself), and noise.
//! They use Rust's `f32`/`f64` methods, exactly as the interpreter does, so JIT and interpreter
//! agree to the last bit on these functions. None of them can panic.

use crate::interp::{Noise, NoiseKey};

macro_rules! vector_kernels {
    ($t:ty, $($name:ident => $f:expr),* $(,)?) => {$(
        /// Applies the function to `n` elements from `src` into `dst`.
        ///
        /// # Safety
        /// `src` and `dst` must be valid for `n` elements (generated code passes slots whose
        /// sizes the layout fixed at compile time).
        pub unsafe extern "C" fn $name(src: *const $t, dst: *mut $t, n: i64) {
            for i in 0..n.max(0) as usize {
                // SAFETY: the caller guarantees `n` valid elements in both buffers.
                unsafe { *dst.add(i) = $f(*src.add(i)) };
            }
        }
    )*};
}

vector_kernels!(f32,
    exp_f32 => f32::exp, log_f32 => f32::ln, tanh_f32 => f32::tanh, sin_f32 => f32::sin, cos_f32 => f32::cos);
vector_kernels!(f64,
    exp_f64 => f64::exp, log_f64 => f64::ln, tanh_f64 => f64::tanh, sin_f64 => f64::sin, cos_f64 => f64::cos);

/// `x.powf(y)` for one element pair.
pub extern "C" fn pow_f32(x: f32, y: f32) -> f32 {
    x.powf(y)
}

/// `x.powf(y)` for one element pair.
pub extern "C" fn pow_f64(x: f64, y: f64) -> f64 {
    x.powf(y)
}

/// Fills `dst[0..n]` with the standard normal numbers of noise stream `stream` at step `step`;
/// `context` holds `[seed, batch, first step of this call]`. The same numbers as the
/// interpreter's.
///
/// # Safety
/// `dst` must be valid for `n` elements and `context` for three `u64`s.
pub unsafe extern "C" fn noise_f32(dst: *mut f32, n: i64, context: *const u64, step: i64, stream: i64) {
    // SAFETY: the caller passes the two-element context it owns.
    let key = unsafe {
        NoiseKey { seed: *context, batch: *context.add(1) as usize, step: (*context.add(2) as usize) + step as usize }
    };
    let mut noise = Noise::for_step(key, stream as u32);
    for i in 0..n.max(0) as usize {
        // SAFETY: `n` valid elements.
        unsafe { *dst.add(i) = noise.normal() as f32 };
    }
}

/// As [`noise_f32`], in f64.
///
/// # Safety
/// `dst` must be valid for `n` elements and `context` for three `u64`s.
pub unsafe extern "C" fn noise_f64(dst: *mut f64, n: i64, context: *const u64, step: i64, stream: i64) {
    // SAFETY: the caller passes the two-element context it owns.
    let key = unsafe {
        NoiseKey { seed: *context, batch: *context.add(1) as usize, step: (*context.add(2) as usize) + step as usize }
    };
    let mut noise = Noise::for_step(key, stream as u32);
    for i in 0..n.max(0) as usize {
        // SAFETY: `n` valid elements.
        unsafe { *dst.add(i) = noise.normal() };
    }
}
