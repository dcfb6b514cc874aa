//! Matrix products outside the time loops (DESIGN.md §2): `input @ W` for all steps before the
//! forward loop, and weight gradients `Xᵀ Y` after the backward loop, with the well-kept
//! `matrixmultiply` crate (cache-blocked, runtime AVX/FMA dispatch, deterministic).

/// Element types with a GEMM.
pub trait Gemm: Copy {
    /// `C = A·B (+ C)`, raw strides; see `matrixmultiply::sgemm`.
    ///
    /// # Safety
    /// The pointers and strides must describe valid `m×k`, `k×n` and `m×n` matrices.
    #[allow(clippy::too_many_arguments)]
    unsafe fn raw(
        m: usize,
        k: usize,
        n: usize,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
    /// `c = a·b` by the narrow kernels (see `super::narrow`) if they apply.
    fn narrow_multiply(_m: usize, _k: usize, _n: usize, _a: &[Self], _b: &[Self], _c: &mut [Self]) -> bool {
        false
    }
    /// `c += aᵀ·b` by the narrow kernels if they apply.
    #[allow(clippy::too_many_arguments)]
    fn narrow_add_transposed(
        _m: usize,
        _k: usize,
        _n: usize,
        _a: &[Self],
        _lda: usize,
        _b: &[Self],
        _c: &mut [Self],
    ) -> bool {
        false
    }
    /// One.
    fn one() -> Self;
    /// Zero.
    fn nothing() -> Self;
}

impl Gemm for f32 {
    unsafe fn raw(
        m: usize,
        k: usize,
        n: usize,
        a: *const f32,
        rsa: isize,
        csa: isize,
        b: *const f32,
        rsb: isize,
        csb: isize,
        beta: f32,
        c: *mut f32,
        rsc: isize,
        csc: isize,
    ) {
        // SAFETY: forwarded under the caller's guarantee.
        unsafe { matrixmultiply::sgemm(m, k, n, 1.0, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
    }
    fn narrow_multiply(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) -> bool {
        super::narrow::multiply(m, k, n, a, b, c)
    }
    fn narrow_add_transposed(m: usize, k: usize, n: usize, a: &[f32], lda: usize, b: &[f32], c: &mut [f32]) -> bool {
        super::narrow::add_transposed_product(m, k, n, a, lda, b, c)
    }
    fn one() -> f32 {
        1.0
    }
    fn nothing() -> f32 {
        0.0
    }
}

impl Gemm for f64 {
    unsafe fn raw(
        m: usize,
        k: usize,
        n: usize,
        a: *const f64,
        rsa: isize,
        csa: isize,
        b: *const f64,
        rsb: isize,
        csb: isize,
        beta: f64,
        c: *mut f64,
        rsc: isize,
        csc: isize,
    ) {
        // SAFETY: forwarded under the caller's guarantee.
        unsafe { matrixmultiply::dgemm(m, k, n, 1.0, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
    }
    fn one() -> f64 {
        1.0
    }
    fn nothing() -> f64 {
        0.0
    }
}

/// `c[m×n] = a[m×k] · b[k×n]`, all row-major. Returns false (doing nothing) if a slice is too
/// short.
pub fn multiply<T: Gemm>(m: usize, k: usize, n: usize, a: &[T], b: &[T], c: &mut [T]) -> bool {
    if a.len() < m * k || b.len() < k * n || c.len() < m * n {
        return false;
    }
    if m == 0 || n == 0 || T::narrow_multiply(m, k, n, a, b, c) {
        return true;
    }
    // SAFETY: the lengths were checked above for row-major m×k, k×n and m×n matrices.
    unsafe {
        T::raw(
            m,
            k,
            n,
            a.as_ptr(),
            k as isize,
            1,
            b.as_ptr(),
            n as isize,
            1,
            T::nothing(),
            c.as_mut_ptr(),
            n as isize,
            1,
        )
    };
    true
}

/// `c[m×n] += aᵀ · b` for `a`: `k` rows of length `lda` (the first `m` elements of each are
/// used) and row-major `b[k×n]` — a sum of outer products of rows. Returns false (doing
/// nothing) if a slice is too short.
pub fn add_transposed_product<T: Gemm>(
    m: usize,
    k: usize,
    n: usize,
    a: &[T],
    lda: usize,
    b: &[T],
    c: &mut [T],
) -> bool {
    if m == 0 || n == 0 || k == 0 {
        return true;
    }
    if m > lda || a.len() < (k - 1) * lda + m || b.len() < k * n || c.len() < m * n {
        return false;
    }
    if T::narrow_add_transposed(m, k, n, a, lda, b, c) {
        return true;
    }
    // SAFETY: the lengths were checked above; aᵀ is read through strides (1, lda).
    unsafe {
        T::raw(m, k, n, a.as_ptr(), 1, lda as isize, b.as_ptr(), n as isize, 1, T::one(), c.as_mut_ptr(), n as isize, 1)
    };
    true
}
