//! Stochastic gradient descent: `x ← x − lr·g`, with a step counter for schedules.

use ndarray::{ArrayD, Zip};

use crate::optim::{OptimError, check_gradients, read_step_count, step_entry};
use crate::params::ParamSet;

/// SGD's state: only the number of updates applied, which learning-rate schedules read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sgd {
    step: u64,
}

impl Sgd {
    /// Step 0.
    pub fn new() -> Self {
        Sgd::default()
    }

    /// Updates applied so far.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// `x ← x − lr·g` for every element of every parameter; `grads` must match `params`.
    pub fn update(&mut self, params: &mut ParamSet, grads: &ParamSet, learning_rate: f64) -> Result<(), OptimError> {
        check_gradients(params, grads)?;
        for (name, value) in params.iter_mut() {
            if let Some(gradient) = grads.get(name) {
                Zip::from(value).and(gradient).for_each(|x, &g| *x -= learning_rate * g);
            }
        }
        self.step += 1;
        Ok(())
    }

    /// `sgd.step`.
    pub fn state_entries(&self) -> Vec<(String, ArrayD<f64>)> {
        vec![step_entry("sgd.step", self.step)]
    }

    /// Reads `sgd.step`.
    pub fn from_state_entries(entries: &[(String, ArrayD<f64>)]) -> Result<Self, OptimError> {
        Ok(Sgd { step: read_step_count(entries, "sgd.step")? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn steps_against_the_gradient_and_counts() -> Result<(), OptimError> {
        let mut params: ParamSet = std::iter::once(("w".to_owned(), array![1.0, -2.0].into_dyn())).collect();
        let grads: ParamSet = std::iter::once(("w".to_owned(), array![0.5, 4.0].into_dyn())).collect();
        let mut sgd = Sgd::new();
        sgd.update(&mut params, &grads, 0.25)?;
        sgd.update(&mut params, &grads, 0.25)?;
        assert_eq!(params.get("w"), Some(&array![0.75, -4.0].into_dyn()));
        let restored = Sgd::from_state_entries(&sgd.state_entries())?;
        assert_eq!(restored.step_count(), 2);
        Ok(())
    }
}
