//! The "limit" baseline for workload A: Linear(1, N) → Rate(N, rec, tanh) → Linear(N, 1) with
//! Rockpool's semantics and loss `mse`, forward and BPTT written by hand in plain Rust (f32),
//! as fast as straightforward code gets (row-major weights, contiguous inner loops the compiler
//! vectorises, the same rational `tanh` as reef's generated code, weight gradients as sums of
//! outer products).

/// Eigen's rational tanh, as in reef's generated f32 code.
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

impl RateNetwork {
    /// The output for a `[T]` input.
    pub fn forward(&self, input: &[f32]) -> Vec<f32> {
        let n = self.n;
        let mut x = vec![0.0f32; n];
        let mut a: Vec<f32> = (0..n).map(|j| tanh(x[j] - self.threshold[j])).collect();
        let mut recurrent = vec![0.0f32; n];
        let mut out = Vec::with_capacity(input.len());
        for &u in input {
            recurrent.iter_mut().for_each(|r| *r = 0.0);
            for (i, ai) in a.iter().enumerate() {
                let row = &self.w_rec[i * n..(i + 1) * n];
                for (r, w) in recurrent.iter_mut().zip(row) {
                    *r += ai * w;
                }
            }
            let mut y = 0.0;
            for j in 0..n {
                x[j] += self.dt / self.tau[j] * (-x[j] + u * self.w_in[j] + self.bias[j] + recurrent[j]);
                a[j] = tanh(x[j] - self.threshold[j]);
                y += a[j] * self.w_out[j];
            }
            out.push(y);
        }
        out
    }

    /// `mse` against `target` and the gradients of all six parameters (in declaration order).
    pub fn value_and_grad(&self, input: &[f32], target: &[f32]) -> (f32, [Vec<f32>; 6]) {
        let n = self.n;
        let steps = input.len();
        // Forward with a tape of x (after the update) per step.
        let mut xs = vec![0.0f32; (steps + 1) * n];
        let mut as_ = vec![0.0f32; (steps + 1) * n];
        for j in 0..n {
            as_[j] = tanh(0.0 - self.threshold[j]);
        }
        let mut recurrent = vec![0.0f32; n];
        let mut out = vec![0.0f32; steps];
        for t in 0..steps {
            let (prev_x, prev_a) = (&xs[t * n..(t + 1) * n].to_vec(), &as_[t * n..(t + 1) * n].to_vec());
            recurrent.iter_mut().for_each(|r| *r = 0.0);
            for (i, ai) in prev_a.iter().enumerate() {
                let row = &self.w_rec[i * n..(i + 1) * n];
                for (r, w) in recurrent.iter_mut().zip(row) {
                    *r += ai * w;
                }
            }
            let mut y = 0.0;
            for j in 0..n {
                let x = prev_x[j]
                    + self.dt / self.tau[j] * (-prev_x[j] + input[t] * self.w_in[j] + self.bias[j] + recurrent[j]);
                xs[(t + 1) * n + j] = x;
                let a = tanh(x - self.threshold[j]);
                as_[(t + 1) * n + j] = a;
                y += a * self.w_out[j];
            }
            out[t] = y;
        }
        let loss = out.iter().zip(target).map(|(o, y)| (o - y) * (o - y)).sum::<f32>() / steps as f32;
        // Backward.
        let mut g_in = vec![0.0f32; n];
        let mut g_tau = vec![0.0f32; n];
        let mut g_bias = vec![0.0f32; n];
        let mut g_threshold = vec![0.0f32; n];
        let mut g_rec = vec![0.0f32; n * n];
        let mut g_out = vec![0.0f32; n];
        let mut lambda_x = vec![0.0f32; n];
        let mut lambda_a_next = vec![0.0f32; n];
        let mut d = vec![0.0f32; n];
        for t in (0..steps).rev() {
            let seed = 2.0 * (out[t] - target[t]) / steps as f32;
            let a = &as_[(t + 1) * n..(t + 2) * n];
            let prev_a = &as_[t * n..(t + 1) * n];
            let prev_x = &xs[t * n..(t + 1) * n];
            for j in 0..n {
                g_out[j] += seed * a[j];
                let lambda_a = seed * self.w_out[j] + lambda_a_next[j];
                let lambda_new_x = lambda_x[j] + lambda_a * (1.0 - a[j] * a[j]);
                let k = self.dt / self.tau[j];
                d[j] = lambda_new_x * k;
                // x_new = x + (dt/τ)·drive, so ∂x_new/∂τ = -(x_new - x)/τ.
                g_tau[j] -= lambda_new_x * (xs[(t + 1) * n + j] - prev_x[j]) / self.tau[j];
                g_bias[j] += d[j];
                g_in[j] += d[j] * input[t];
                g_threshold[j] -= lambda_a * (1.0 - a[j] * a[j]);
                lambda_x[j] = lambda_new_x * (1.0 - k);
            }
            // λ_prev_a = d @ W_recᵀ; g_rec += outer(prev_a, d).
            for i in 0..n {
                let row = &self.w_rec[i * n..(i + 1) * n];
                let grad_row = &mut g_rec[i * n..(i + 1) * n];
                let mut dot = 0.0;
                for j in 0..n {
                    dot += d[j] * row[j];
                    grad_row[j] += prev_a[i] * d[j];
                }
                lambda_a_next[i] = dot;
            }
            // λ flows into prev x through prev a = tanh(prev_x - θ).
            for i in 0..n {
                let slope = 1.0 - prev_a[i] * prev_a[i];
                lambda_x[i] += lambda_a_next[i] * slope;
                g_threshold[i] -= lambda_a_next[i] * slope;
                lambda_a_next[i] = 0.0;
            }
        }
        (loss, [g_in, g_tau, g_bias, g_threshold, g_rec, g_out])
    }
}
