//! Step count → learning rate: constant or exponentially decaying, as JAX's `optimizers` schedules.

/// How the learning rate changes with the optimiser's step count `i` (updates applied so far).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Schedule {
    /// The base rate at every step.
    #[default]
    Constant,
    /// `lr·rate^(i / decay_steps)` (JAX's `exponential_decay(lr, decay_steps, decay_rate)`): the
    /// rate is multiplied by `rate` every `decay_steps` updates, smoothly in between.
    ExponentialDecay {
        /// Updates over which the rate is multiplied by `rate` once; must be > 0.
        decay_steps: f64,
        /// The factor per `decay_steps` updates; must be > 0 (< 1 decays).
        rate: f64,
    },
}

impl Schedule {
    /// The learning rate for the update that follows `step` updates, from the base rate `base`.
    pub fn learning_rate(&self, base: f64, step: u64) -> f64 {
        match *self {
            Schedule::Constant => base,
            Schedule::ExponentialDecay { decay_steps, rate } => base * rate.powf(step as f64 / decay_steps),
        }
    }

    /// Why the schedule's constants are unusable, if they are (`decay_steps` or `rate` not
    /// finite and positive).
    pub fn problem(&self) -> Option<String> {
        match *self {
            Schedule::Constant => None,
            Schedule::ExponentialDecay { decay_steps, rate } => {
                if !(decay_steps.is_finite() && decay_steps > 0.0) {
                    Some(format!("exponential decay needs decay_steps > 0, got {decay_steps}"))
                } else if !(rate.is_finite() && rate > 0.0) {
                    Some(format!("exponential decay needs a rate > 0, got {rate}"))
                } else {
                    None
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_decay_halves_every_decay_steps() {
        let schedule = Schedule::ExponentialDecay { decay_steps: 100.0, rate: 0.5 };
        assert_eq!(schedule.learning_rate(1e-3, 0), 1e-3);
        assert_eq!(schedule.learning_rate(1e-3, 100), 5e-4);
        assert_eq!(schedule.learning_rate(1e-3, 200), 2.5e-4);
        assert!((schedule.learning_rate(1e-3, 50) - 1e-3 * 0.5f64.sqrt()).abs() < 1e-18);
        assert_eq!(Schedule::Constant.learning_rate(0.1, 1000), 0.1);
        assert!(schedule.problem().is_none());
        assert!(Schedule::ExponentialDecay { decay_steps: 0.0, rate: 0.5 }.problem().is_some());
        assert!(Schedule::ExponentialDecay { decay_steps: 1.0, rate: f64::NAN }.problem().is_some());
    }
}
