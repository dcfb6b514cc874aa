//! The "limit" baseline for workload A: Linear(1, N) → Rate(N, rec, tanh) → Linear(N, 1) with
//! Rockpool's semantics and loss `mse`, forward and BPTT written by hand in Rust (f32) the way
//! a performance-minded programmer would: no allocation inside the time loops, the hot loops
//! compiled for AVX2 + FMA where the CPU has them (detected at run time, as reef's kernels
//! are), the recurrent products as row-by-row `axpy` loops the compiler vectorises (with `Wᵀ`
//! copied once for the backward pass), dot products over eight partial sums, the recurrent
//! weight gradient `Σ_t a[t−1]ᵀ d[t]` as one GEMM after the loop (`matrixmultiply`), and the
//! same rational `tanh` as reef's generated code.

/// Eigen's rational tanh, as in reef's generated f32 code.
#[inline(always)]
fn tanh(x: f32) -> f32 {
    let x = x.clamp(-7.905_311, 7.905_311);
    let x2 = x * x;
    let alpha = [
        -2.760_768_5e-16f32,
        2.000_188e-13,
        -8.604_672e-11,
        5.122_297e-8,
        1.485_722_4e-5,
        6.372_619_3e-4,
        4.893_524_6e-3,
    ];
    let beta = [1.198_258_4e-6f32, 1.185_347e-4, 2.268_434_6e-3, 4.893_525e-3];
    let p = alpha.iter().skip(1).fold(alpha[0], |p, a| p * x2 + a) * x;
    let q = beta.iter().skip(1).fold(beta[0], |q, b| q * x2 + b);
    p / q
}

/// `Σ a[i] b[i]` over eight partial sums (a single sum is one long dependency chain, and the
/// compiler may not reassociate it into vectors).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut sums = [0.0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let (a_rest, b_rest) = (a8.remainder(), b8.remainder());
    for (x, y) in a8.zip(b8) {
        for k in 0..8 {
            sums[k] += x[k] * y[k];
        }
    }
    let tail: f32 = a_rest.iter().zip(b_rest).map(|(x, y)| x * y).sum();
    sums.iter().sum::<f32>() + tail
}

/// `out = x @ W` for `W[x.len(), out.len()]`, row by row (vectorised over the columns).
#[inline(always)]
fn vecmat(x: &[f32], w: &[f32], out: &mut [f32]) {
    let n = out.len();
    out.fill(0.0);
    for (xi, row) in x.iter().zip(w.chunks_exact(n)) {
        for (o, wv) in out.iter_mut().zip(row) {
            *o += xi * wv;
        }
    }
}

/// Parameters of workload A.
pub struct RateNetwork {
    /// Hidden size.
    pub n: usize,
    /// `[1, n]`.
    pub w_in: Vec<f32>,
    /// `[n]` each.
    pub tau: Vec<f32>,
    /// Bias.
    pub bias: Vec<f32>,
    /// Threshold.
    pub threshold: Vec<f32>,
    /// `[n, n]`.
    pub w_rec: Vec<f32>,
    /// `[n, 1]`.
    pub w_out: Vec<f32>,
    /// Time step.
    pub dt: f32,
}

/// The six gradients, in declaration order.
pub type Gradients = [Vec<f32>; 6];

impl RateNetwork {
    /// The output for a `[T]` input.
    pub fn forward(&self, input: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0f32; input.len()];
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has the features the function is compiled for.
            unsafe { self.run_avx2(input, &mut out, None) };
            return out;
        }
        self.run(input, &mut out, None);
        out
    }

    /// `mse` against `target` and the gradients of all six parameters (in declaration order).
    pub fn value_and_grad(&self, input: &[f32], target: &[f32]) -> (f32, Gradients) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has the features the function is compiled for.
            return unsafe { self.gradient_avx2(input, target) };
        }
        self.gradient(input, target)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(&self, input: &[f32], out: &mut [f32], tape: Option<(&mut [f32], &mut [f32])>) {
        self.run(input, out, tape);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn gradient_avx2(&self, input: &[f32], target: &[f32]) -> (f32, Gradients) {
        self.gradient(input, target)
    }

    /// The forward loop; with a tape, records `x` and `a = tanh(x − θ)` before each step and
    /// after the last (`[T + 1, n]` each).
    #[inline(always)]
    fn run(&self, input: &[f32], out: &mut [f32], mut tape: Option<(&mut [f32], &mut [f32])>) {
        let n = self.n;
        let k: Vec<f32> = self.tau.iter().map(|tau| self.dt / tau).collect();
        let mut x = vec![0.0f32; n];
        let mut a: Vec<f32> = self.threshold.iter().map(|th| tanh(-th)).collect();
        let mut recurrent = vec![0.0f32; n];
        for (t, (&u, y)) in input.iter().zip(out.iter_mut()).enumerate() {
            if let Some((xs, as_)) = &mut tape {
                xs[t * n..(t + 1) * n].copy_from_slice(&x);
                as_[t * n..(t + 1) * n].copy_from_slice(&a);
            }
            vecmat(&a, &self.w_rec, &mut recurrent);
            for j in 0..n {
                x[j] += k[j] * (-x[j] + u * self.w_in[j] + self.bias[j] + recurrent[j]);
                a[j] = tanh(x[j] - self.threshold[j]);
            }
            *y = dot(&a, &self.w_out);
        }
        if let Some((xs, as_)) = tape {
            let steps = input.len();
            xs[steps * n..(steps + 1) * n].copy_from_slice(&x);
            as_[steps * n..(steps + 1) * n].copy_from_slice(&a);
        }
    }

    #[inline(always)]
    fn gradient(&self, input: &[f32], target: &[f32]) -> (f32, Gradients) {
        let n = self.n;
        let steps = input.len();
        let mut xs = vec![0.0f32; (steps + 1) * n];
        let mut as_ = vec![0.0f32; (steps + 1) * n];
        let mut out = vec![0.0f32; steps];
        self.run(input, &mut out, Some((&mut xs, &mut as_)));
        let loss = out.iter().zip(target).map(|(o, y)| (o - y) * (o - y)).sum::<f32>() / steps.max(1) as f32;
        let k: Vec<f32> = self.tau.iter().map(|tau| self.dt / tau).collect();
        let inverse_tau: Vec<f32> = self.tau.iter().map(|tau| 1.0 / tau).collect();
        let mut w_rec_t = vec![0.0f32; n * n];
        for i in 0..n {
            for j in 0..n {
                w_rec_t[j * n + i] = self.w_rec[i * n + j];
            }
        }
        let mut g_in = vec![0.0f32; n];
        let mut g_tau = vec![0.0f32; n];
        let mut g_bias = vec![0.0f32; n];
        let mut g_threshold = vec![0.0f32; n];
        let mut g_out = vec![0.0f32; n];
        let mut lambda_x = vec![0.0f32; n];
        let mut lambda_a_next = vec![0.0f32; n];
        // d[t] = ∂L/∂(drive at step t) · dt/τ, kept for the recurrent weight's GEMM.
        let mut ds = vec![0.0f32; steps * n];
        for t in (0..steps).rev() {
            let seed = 2.0 * (out[t] - target[t]) / steps as f32;
            let (prev_a, a) = (&as_[t * n..(t + 1) * n], &as_[(t + 1) * n..(t + 2) * n]);
            let (prev_x, new_x) = (&xs[t * n..(t + 1) * n], &xs[(t + 1) * n..(t + 2) * n]);
            let d = &mut ds[t * n..(t + 1) * n];
            for j in 0..n {
                g_out[j] += seed * a[j];
                // λ of this activation from the recurrence already went into λ_x (below).
                let lambda_a = seed * self.w_out[j];
                let through_tanh = lambda_a * (1.0 - a[j] * a[j]);
                let lambda_new_x = lambda_x[j] + through_tanh;
                d[j] = lambda_new_x * k[j];
                // x_new = x + (dt/τ)·drive, so ∂x_new/∂τ = -(x_new - x)/τ.
                g_tau[j] -= lambda_new_x * (new_x[j] - prev_x[j]) * inverse_tau[j];
                g_bias[j] += d[j];
                g_in[j] += d[j] * input[t];
                g_threshold[j] -= through_tanh;
                lambda_x[j] = lambda_new_x * (1.0 - k[j]);
            }
            // λ of the previous activation: d @ W_recᵀ.
            vecmat(d, &w_rec_t, &mut lambda_a_next);
            // It flows into the previous x through a = tanh(x − θ).
            for i in 0..n {
                let through_tanh = lambda_a_next[i] * (1.0 - prev_a[i] * prev_a[i]);
                lambda_x[i] += through_tanh;
                g_threshold[i] -= through_tanh;
            }
        }
        // ∂L/∂W_rec = Σ_t a[t]ᵀ d[t] (a[t] the activation before step t): rows 0..T of the
        // activation tape, transposed.
        let mut g_rec = vec![0.0f32; n * n];
        if steps > 0 && n > 0 {
            // SAFETY: `as_` holds at least `steps × n` elements read as the `n × steps` matrix
            // with strides (1, n); `ds` is `steps × n` row-major; `g_rec` is `n × n`.
            unsafe {
                matrixmultiply::sgemm(
                    n,
                    steps,
                    n,
                    1.0,
                    as_.as_ptr(),
                    1,
                    n as isize,
                    ds.as_ptr(),
                    n as isize,
                    1,
                    0.0,
                    g_rec.as_mut_ptr(),
                    n as isize,
                    1,
                )
            };
        }
        (loss, [g_in, g_tau, g_bias, g_threshold, g_rec, g_out])
    }
}
