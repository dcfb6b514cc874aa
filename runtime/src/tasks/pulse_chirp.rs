//! `pulse_chirp`: Rockpool's `sgd_recurrent_net` task. A short pulse must make a network sing a
//! chirp over the following second, with silence before and after.

use crate::tasks::{
    ArgumentKind, Arguments, Dataset, TaskArgument, TaskError, TaskInfo, check, check_size, chirp, dataset,
    linspace_time, steps,
};

/// The pulse-to-chirp task, one sample `[1, T, 1]` with `T = 2·padding/dt + duration/dt`:
/// `padding` of zeros, then `duration` in which the input is 1 while the chirp's time is below
/// `pulse` and the target is the chirp `sin(2π·t·(chirp_freq·t))`, then `padding` of zeros.
/// The chirp's time runs over `numpy.linspace(0, n·dt, n)` with `n = duration/dt`, exactly as
/// the tutorial builds it (so with the defaults the pulse lasts 50 steps and the data equal
/// Rockpool's fixture to the bit). Draws nothing: the seed does not matter.
#[derive(Clone, Debug, PartialEq)]
pub struct PulseChirp {
    /// How long the input pulse lasts, from the start of the chirp (s).
    pub pulse: f64,
    /// The chirp's frequency factor `f` in `sin(2π·t·(f·t))` (Hz per second).
    pub chirp_freq: f64,
    /// Silence before and after the chirp (s).
    pub padding: f64,
    /// How long the chirp lasts (s).
    pub duration: f64,
    /// The time step (s).
    pub dt: f64,
}

const ARGUMENTS: &[TaskArgument] = &[
    TaskArgument {
        name: "pulse",
        default: 0.05,
        unit: "s",
        kind: ArgumentKind::NonNegative,
        doc: "how long the input pulse lasts",
    },
    TaskArgument {
        name: "chirp_freq",
        default: 10.0,
        unit: "",
        kind: ArgumentKind::Real,
        doc: "f in the target sin(2π·t·(f·t))",
    },
    TaskArgument {
        name: "padding",
        default: 1.0,
        unit: "s",
        kind: ArgumentKind::NonNegative,
        doc: "silence before and after the chirp",
    },
    TaskArgument { name: "duration", default: 1.0, unit: "s", kind: ArgumentKind::Positive, doc: "chirp length" },
    TaskArgument { name: "dt", default: 1e-3, unit: "s", kind: ArgumentKind::Positive, doc: "time step" },
];

impl PulseChirp {
    /// The task's name and arguments.
    pub const INFO: TaskInfo = TaskInfo {
        name: "pulse_chirp",
        summary: "a pulse of ones → a chirp (Rockpool's sgd_recurrent_net tutorial)",
        arguments: ARGUMENTS,
        build: |arguments, _seed| PulseChirp::from_arguments(arguments).generate(),
    };

    fn from_arguments(arguments: &Arguments) -> Self {
        PulseChirp {
            pulse: arguments.get("pulse"),
            chirp_freq: arguments.get("chirp_freq"),
            padding: arguments.get("padding"),
            duration: arguments.get("duration"),
            dt: arguments.get("dt"),
        }
    }

    /// The dataset (input and target `[1, T, 1]`).
    pub fn generate(&self) -> Result<Dataset, TaskError> {
        let name = PulseChirp::INFO.name;
        check(name, "pulse", self.pulse, ArgumentKind::NonNegative)?;
        check(name, "chirp_freq", self.chirp_freq, ArgumentKind::Real)?;
        let padding = steps(name, "padding", self.padding, self.dt, 0)?;
        let chirp_steps = steps(name, "duration", self.duration, self.dt, 1)?;
        let total = padding.saturating_mul(2).saturating_add(chirp_steps);
        check_size(name, &[&[total, 1], &[total, 1]])?;

        let times = linspace_time(chirp_steps, self.dt);
        let mut input = dataset::zeros(1, total, 1);
        let mut target = dataset::zeros(1, total, 1);
        let middle = padding..padding + chirp_steps;
        for ((step, &time), value) in middle.zip(&times).zip(chirp(&times, self.chirp_freq)) {
            input[[0, step, 0]] = if time < self.pulse { 1.0 } else { 0.0 };
            target[[0, step, 0]] = value;
        }
        Ok(Dataset::new(input, target)?)
    }
}

impl Default for PulseChirp {
    /// The tutorial's settings: 50 ms pulse, f = 10, 1 s padding, 1 s chirp, dt = 1 ms.
    fn default() -> Self {
        PulseChirp::from_arguments(&Arguments::defaults(&PulseChirp::INFO))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{Dtype, read_npy};
    use std::path::PathBuf;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/rockpool/chirp_rate").join(name)
    }

    /// Rockpool's fixture stores the tutorial's input and target as float32 `[3000, 1]`; the
    /// generated `f64` data rounded to `f32` must equal them element for element.
    #[test]
    fn reproduces_the_rockpool_fixture_exactly() -> Result<(), Box<dyn std::error::Error>> {
        let data = PulseChirp::default().generate()?;
        assert_eq!(data.input().shape(), [1, 3000, 1]);
        for (generated, file) in [(data.input(), "input.npy"), (data.target(), "target.npy")] {
            let (expected, dtype) = read_npy(fixture(file))?;
            assert_eq!((expected.shape(), dtype), (&[3000, 1][..], Dtype::F32));
            let mismatches: Vec<(usize, f64, f64)> = generated
                .iter()
                .zip(expected.iter())
                .enumerate()
                .filter(|(_, (got, want))| f64::from(**got as f32) != **want)
                .map(|(step, (got, want))| (step, *got, *want))
                .collect();
            assert!(mismatches.is_empty(), "{file}: {} steps differ, first {:?}", mismatches.len(), mismatches.first());
        }
        let pulse_steps: Vec<usize> =
            data.input().iter().enumerate().filter(|(_, value)| **value == 1.0).map(|(step, _)| step).collect();
        assert_eq!((pulse_steps.first(), pulse_steps.len()), (Some(&1000), 50));
        Ok(())
    }

    #[test]
    fn arguments_change_the_layout() -> Result<(), TaskError> {
        let data = PulseChirp { pulse: 0.01, padding: 0.5, duration: 0.25, ..PulseChirp::default() }.generate()?;
        assert_eq!(data.time_steps(), 1250);
        assert_eq!(data.input().sum(), 10.0);
        assert_eq!(data.input()[[0, 500, 0]], 1.0);
        assert!(data.target().iter().take(500).chain(data.target().iter().skip(750)).all(|&value| value == 0.0));
        let bad = PulseChirp { dt: 0.0, ..PulseChirp::default() }.generate();
        assert!(matches!(bad, Err(TaskError::InvalidArgument { .. })));
        Ok(())
    }
}
