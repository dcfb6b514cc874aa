//! `white_noise_integration`: BrainPy's integrator-RNN task. A network must report the running
//! sum of a noisy, biased input.

use ndarray::Axis;
use rand::SeedableRng;
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;

use crate::tasks::{ArgumentKind, Arguments, Dataset, TaskArgument, TaskError, TaskInfo, check, check_size, dataset};

/// `batch` samples of `steps` steps, one channel each, as BrainPy's `build_inputs_and_targets`:
/// `input[b, t] = bias[b] + scale/√dt · z[b, t]` with `bias[b] = mean·2·(n[b] − 0.5)` and `n`,
/// `z` standard normal, and `target[b, t] = Σ_{s ≤ t} input[b, s]` (the running sum, not
/// multiplied by `dt`, as in BrainPy). `dt` only scales the noise (BrainPy's 0.04 s, 25 steps
/// per second). Draws from PCG-64 seeded with `seed`: every `n[b]`, then every `z` row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct WhiteNoiseIntegration {
    /// Time steps per sample.
    pub steps: usize,
    /// Samples.
    pub batch: usize,
    /// Scale of the per-sample bias.
    pub mean: f64,
    /// Noise scale before division by `√dt`.
    pub scale: f64,
    /// The time step the noise is scaled for (s).
    pub dt: f64,
}

const ARGUMENTS: &[TaskArgument] = &[
    TaskArgument { name: "steps", default: 25.0, unit: "", kind: ArgumentKind::Count, doc: "time steps per sample" },
    TaskArgument { name: "batch", default: 128.0, unit: "", kind: ArgumentKind::Count, doc: "samples" },
    TaskArgument { name: "mean", default: 0.025, unit: "", kind: ArgumentKind::Real, doc: "scale of the bias" },
    TaskArgument { name: "scale", default: 0.01, unit: "", kind: ArgumentKind::NonNegative, doc: "noise scale" },
    TaskArgument {
        name: "dt",
        default: 0.04,
        unit: "s",
        kind: ArgumentKind::Positive,
        doc: "time step the noise is scaled for",
    },
];

impl WhiteNoiseIntegration {
    /// The task's name and arguments.
    pub const INFO: TaskInfo = TaskInfo {
        name: "white_noise_integration",
        summary: "biased white noise → its running sum (BrainPy's integrator RNN)",
        arguments: ARGUMENTS,
        build: |arguments, seed| WhiteNoiseIntegration::from_arguments(arguments).generate(seed),
    };

    fn from_arguments(arguments: &Arguments) -> Self {
        WhiteNoiseIntegration {
            steps: arguments.count("steps"),
            batch: arguments.count("batch"),
            mean: arguments.get("mean"),
            scale: arguments.get("scale"),
            dt: arguments.get("dt"),
        }
    }

    /// The dataset drawn from `seed`.
    pub fn generate(&self, seed: u64) -> Result<Dataset, TaskError> {
        let name = WhiteNoiseIntegration::INFO.name;
        check(name, "steps", self.steps as f64, ArgumentKind::Count)?;
        check(name, "batch", self.batch as f64, ArgumentKind::Count)?;
        check(name, "mean", self.mean, ArgumentKind::Real)?;
        check(name, "scale", self.scale, ArgumentKind::NonNegative)?;
        check(name, "dt", self.dt, ArgumentKind::Positive)?;
        check_size(name, &[&[self.batch, self.steps], &[self.batch, self.steps]])?;

        let mut generator = Pcg64::seed_from_u64(seed);
        let bias: Vec<f64> = (0..self.batch)
            .map(|_| self.mean * 2.0 * (rand::RngExt::sample::<f64, _>(&mut generator, StandardNormal) - 0.5))
            .collect();
        let noise_scale = self.scale / self.dt.powf(0.5);
        let mut input = dataset::zeros(self.batch, self.steps, 1);
        let mut target = dataset::zeros(self.batch, self.steps, 1);
        for (sample, (mut row, mut sums)) in input.axis_iter_mut(Axis(0)).zip(target.axis_iter_mut(Axis(0))).enumerate()
        {
            let mut running = 0.0;
            for (value, sum) in row.iter_mut().zip(sums.iter_mut()) {
                let z: f64 = rand::RngExt::sample(&mut generator, StandardNormal);
                *value = bias[sample] + noise_scale * z;
                running += *value;
                *sum = running;
            }
        }
        Ok(Dataset::new(input, target)?)
    }
}

impl Default for WhiteNoiseIntegration {
    /// BrainPy's settings: 128 samples of 25 steps, mean 0.025, scale 0.01, dt = 0.04 s.
    fn default() -> Self {
        WhiteNoiseIntegration::from_arguments(&Arguments::defaults(&WhiteNoiseIntegration::INFO))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_is_the_running_sum_of_the_input() -> Result<(), TaskError> {
        let task = WhiteNoiseIntegration::default();
        let data = task.generate(5)?;
        assert_eq!(data.input().shape(), [128, 25, 1]);
        for sample in [0, 77, 127] {
            let mut running = 0.0;
            for step in 0..25 {
                running += data.input()[[sample, step, 0]];
                assert_eq!(data.target()[[sample, step, 0]], running);
            }
        }
        // The noise has standard deviation 0.01 / √0.04 = 0.05 around each sample's bias.
        let deviations: Vec<f64> = (0..128)
            .flat_map(|sample| (1..25).map(move |step| (sample, step)))
            .map(|(sample, step)| data.input()[[sample, step, 0]] - data.input()[[sample, step - 1, 0]])
            .collect();
        let spread = (deviations.iter().map(|d| d * d).sum::<f64>() / deviations.len() as f64 / 2.0).sqrt();
        assert!((spread - 0.05).abs() < 0.005, "noise std {spread}");
        assert_eq!(data, task.generate(5)?);
        assert_ne!(data, task.generate(6)?);
        Ok(())
    }
}
