//! `random_sin_mapping`: Rockpool's `jax-training` task (`MultiClassRandomSinMapping`). Each
//! class is one frozen noise input that must be mapped to its own set of sinusoids.

use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;

use crate::tasks::{
    ArgumentKind, Arguments, Dataset, TaskArgument, TaskError, TaskInfo, check, check_size, dataset, steps,
};

/// One sample per class: input `[classes, T, channels]` of Gaussian noise with mean 1
/// (`randn + 1`), target `[classes, T, targets]` with `target[c, t, k] = sin(2π·ω[c,k]·t/T + φ[c,k])`,
/// `φ` uniform in [0, 2π) and `ω` uniform in [0, T/50) cycles per sample, `T = duration/dt`.
/// Draws from PCG-64 seeded with `seed`, in numpy's order: every input element (row-major), then
/// every phase, then every frequency.
#[derive(Clone, Debug, PartialEq)]
pub struct RandomSinMapping {
    /// Classes, which are the samples.
    pub classes: usize,
    /// Input channels.
    pub channels: usize,
    /// Target channels (sinusoids per class).
    pub targets: usize,
    /// Length of each sample (s).
    pub duration: f64,
    /// The time step (s).
    pub dt: f64,
}

const ARGUMENTS: &[TaskArgument] = &[
    TaskArgument { name: "classes", default: 2.0, unit: "", kind: ArgumentKind::Count, doc: "classes (samples)" },
    TaskArgument { name: "channels", default: 2000.0, unit: "", kind: ArgumentKind::Count, doc: "input channels" },
    TaskArgument { name: "targets", default: 2.0, unit: "", kind: ArgumentKind::Count, doc: "target channels" },
    TaskArgument { name: "duration", default: 0.1, unit: "s", kind: ArgumentKind::Positive, doc: "sample length" },
    TaskArgument { name: "dt", default: 1e-3, unit: "s", kind: ArgumentKind::Positive, doc: "time step" },
];

impl RandomSinMapping {
    /// The task's name and arguments.
    pub const INFO: TaskInfo = TaskInfo {
        name: "random_sin_mapping",
        summary: "one frozen noise per class → its sinusoids (Rockpool's jax-training tutorial)",
        arguments: ARGUMENTS,
        build: |arguments, seed| RandomSinMapping::from_arguments(arguments).generate(seed),
    };

    fn from_arguments(arguments: &Arguments) -> Self {
        RandomSinMapping {
            classes: arguments.count("classes"),
            channels: arguments.count("channels"),
            targets: arguments.count("targets"),
            duration: arguments.get("duration"),
            dt: arguments.get("dt"),
        }
    }

    /// The dataset drawn from `seed`.
    pub fn generate(&self, seed: u64) -> Result<Dataset, TaskError> {
        let name = RandomSinMapping::INFO.name;
        for (argument, value) in [("classes", self.classes), ("channels", self.channels), ("targets", self.targets)] {
            check(name, argument, value as f64, ArgumentKind::Count)?;
        }
        let length = steps(name, "duration", self.duration, self.dt, 1)?;
        check_size(name, &[&[self.classes, length, self.channels], &[self.classes, length, self.targets]])?;

        let mut generator = Pcg64::seed_from_u64(seed);
        let mut input = dataset::zeros(self.classes, length, self.channels);
        input.iter_mut().for_each(|value| *value = generator.sample::<f64, _>(StandardNormal) + 1.0);
        let pairs = self.classes * self.targets;
        let phases: Vec<f64> = (0..pairs).map(|_| generator.random::<f64>() * 2.0 * std::f64::consts::PI).collect();
        let frequencies: Vec<f64> = (0..pairs).map(|_| generator.random::<f64>() * length as f64 / 50.0).collect();

        let mut target = dataset::zeros(self.classes, length, self.targets);
        for ((class, step, channel), value) in
            target.indexed_iter_mut().map(|(index, value)| ((index[0], index[1], index[2]), value))
        {
            let pair = class * self.targets + channel;
            let time = step as f64 / length as f64;
            *value = (2.0 * std::f64::consts::PI * frequencies[pair] * time + phases[pair]).sin();
        }
        Ok(Dataset::new(input, target)?)
    }
}

impl Default for RandomSinMapping {
    /// The tutorial's settings: 2 classes, 2000 input channels, 2 targets, 100 steps of 1 ms.
    fn default() -> Self {
        RandomSinMapping::from_arguments(&Arguments::defaults(&RandomSinMapping::INFO))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_get_noise_around_one_and_bounded_sinusoids() -> Result<(), TaskError> {
        let task = RandomSinMapping { channels: 300, ..RandomSinMapping::default() };
        let data = task.generate(11)?;
        assert_eq!((data.input().shape(), data.target().shape()), (&[2, 100, 300][..], &[2, 100, 2][..]));
        let mean = data.input().mean().unwrap_or(f64::NAN);
        assert!((mean - 1.0).abs() < 0.02, "input mean {mean}");
        assert!(data.target().iter().all(|value| value.abs() <= 1.0));
        // Classes differ in input and target.
        assert_ne!(data.target().index_axis(ndarray::Axis(0), 0), data.target().index_axis(ndarray::Axis(0), 1));
        assert_eq!(data, task.generate(11)?);
        assert_ne!(data.target(), task.generate(12)?.target());
        Ok(())
    }
}
