//! `frozen_noise_chirp`: Rockpool's `jax_lif_sgd` task. A fixed random spike raster must be
//! turned into a chirp by a spiking network.

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

use crate::tasks::{
    ArgumentKind, Arguments, Dataset, TaskArgument, TaskError, TaskInfo, check, check_size, chirp, dataset,
    linspace_time, steps,
};

/// The frozen-noise-to-chirp task, one sample: input `[1, T, channels]` of spikes, target
/// `[1, T, 1]` the chirp `sin(2π·t·(chirp_freq·t))` with `t` over `numpy.linspace(0, T·dt, T)`,
/// `T = duration/dt`. Each input element is 1 with probability `rate·dt` and 0 otherwise
/// (`rand(T, channels) < rate·dt` as in the tutorial: a Poisson process at `rate`, at most one
/// spike per step). Draws one uniform `f64` per element, time-major, from PCG-64 seeded with
/// `seed`.
#[derive(Clone, Debug, PartialEq)]
pub struct FrozenNoiseChirp {
    /// Input channels.
    pub channels: usize,
    /// Each channel's firing rate (Hz).
    pub rate: f64,
    /// Length of the sample (s).
    pub duration: f64,
    /// The chirp's frequency factor `f` in `sin(2π·t·(f·t))`.
    pub chirp_freq: f64,
    /// The time step (s).
    pub dt: f64,
}

const ARGUMENTS: &[TaskArgument] = &[
    TaskArgument { name: "channels", default: 200.0, unit: "", kind: ArgumentKind::Count, doc: "input channels" },
    TaskArgument {
        name: "rate",
        default: 10.0,
        unit: "Hz",
        kind: ArgumentKind::NonNegative,
        doc: "firing rate of each input channel",
    },
    TaskArgument { name: "duration", default: 1.0, unit: "s", kind: ArgumentKind::Positive, doc: "sample length" },
    TaskArgument {
        name: "chirp_freq",
        default: 10.0,
        unit: "",
        kind: ArgumentKind::Real,
        doc: "f in the target sin(2π·t·(f·t))",
    },
    TaskArgument { name: "dt", default: 1e-3, unit: "s", kind: ArgumentKind::Positive, doc: "time step" },
];

impl FrozenNoiseChirp {
    /// The task's name and arguments.
    pub const INFO: TaskInfo = TaskInfo {
        name: "frozen_noise_chirp",
        summary: "a frozen Poisson spike raster → a chirp (Rockpool's jax_lif_sgd tutorial)",
        arguments: ARGUMENTS,
        build: |arguments, seed| FrozenNoiseChirp::from_arguments(arguments).generate(seed),
    };

    fn from_arguments(arguments: &Arguments) -> Self {
        FrozenNoiseChirp {
            channels: arguments.count("channels"),
            rate: arguments.get("rate"),
            duration: arguments.get("duration"),
            chirp_freq: arguments.get("chirp_freq"),
            dt: arguments.get("dt"),
        }
    }

    /// The dataset drawn from `seed`.
    pub fn generate(&self, seed: u64) -> Result<Dataset, TaskError> {
        let name = FrozenNoiseChirp::INFO.name;
        check(name, "channels", self.channels as f64, ArgumentKind::Count)?;
        check(name, "rate", self.rate, ArgumentKind::NonNegative)?;
        check(name, "chirp_freq", self.chirp_freq, ArgumentKind::Real)?;
        let length = steps(name, "duration", self.duration, self.dt, 1)?;
        check_size(name, &[&[length, self.channels], &[length, 1]])?;

        let probability = self.rate * self.dt;
        let mut generator = Pcg64::seed_from_u64(seed);
        let mut input = dataset::zeros(1, length, self.channels);
        input.iter_mut().for_each(|spike| *spike = if generator.random::<f64>() < probability { 1.0 } else { 0.0 });
        let mut target = dataset::zeros(1, length, 1);
        let times = linspace_time(length, self.dt);
        target.iter_mut().zip(chirp(&times, self.chirp_freq)).for_each(|(slot, value)| *slot = value);
        Ok(Dataset::new(input, target)?)
    }
}

impl Default for FrozenNoiseChirp {
    /// The tutorial's settings: 200 channels at 10 Hz for 1 s, f = 10, dt = 1 ms.
    fn default() -> Self {
        FrozenNoiseChirp::from_arguments(&Arguments::defaults(&FrozenNoiseChirp::INFO))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raster_has_the_rate_and_target_is_the_chirp() -> Result<(), TaskError> {
        let task = FrozenNoiseChirp::default();
        let data = task.generate(3)?;
        assert_eq!((data.input().shape(), data.target().shape()), (&[1, 1000, 200][..], &[1, 1000, 1][..]));
        assert!(data.input().iter().all(|&spike| spike == 0.0 || spike == 1.0));
        // 200 000 Bernoulli(0.01) draws: 2000 expected, standard deviation ≈ 44.
        let spikes = data.input().sum();
        assert!((1800.0..2200.0).contains(&spikes), "{spikes} spikes");
        let last = 1.0_f64;
        assert!((data.target()[[0, 999, 0]] - (last * 2.0 * std::f64::consts::PI * (last * 10.0)).sin()).abs() < 1e-15);
        assert_eq!(data, task.generate(3)?);
        assert_ne!(data.input(), task.generate(4)?.input());
        let silent = FrozenNoiseChirp { rate: 0.0, ..task }.generate(3)?;
        assert_eq!(silent.input().sum(), 0.0);
        Ok(())
    }
}
