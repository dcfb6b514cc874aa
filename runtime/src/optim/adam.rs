//! Adam, exactly as `jax.example_libraries.optimizers.adam(step_size, b1, b2, eps)`, in `f64`.

use ndarray::{ArrayD, Zip};

use crate::optim::{OptimError, check_gradients, find_entry, read_step_count, step_entry};
use crate::params::ParamSet;

/// Adam's constants; [`Default`] gives JAX's `b1 = 0.9`, `b2 = 0.999`, `eps = 1e-8`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    /// Decay of the first-moment (mean) estimate.
    pub b1: f64,
    /// Decay of the second-moment (uncentred variance) estimate.
    pub b2: f64,
    /// Added to `√v̂` so the step stays finite when a gradient is zero.
    pub eps: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig { b1: 0.9, b2: 0.999, eps: 1e-8 }
    }
}

/// Adam's state: the step counter `i` and the moment estimates `m`, `v`, keyed like the
/// parameters. One update with step size `lr` and gradient `g` is, element by element (JAX's
/// order of operations, so results agree to the last bit in `f64`):
///
/// ```text
/// m ← (1 − b1)·g + b1·m
/// v ← (1 − b2)·g² + b2·v
/// m̂ = m / (1 − b1^(i+1)),  v̂ = v / (1 − b2^(i+1))
/// x ← x − lr·m̂ / (√v̂ + eps)
/// i ← i + 1
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Adam {
    config: AdamConfig,
    step: u64,
    first_moment: ParamSet,
    second_moment: ParamSet,
}

impl Adam {
    /// Zero moments shaped like `params`, step 0 (JAX's `init_fun`).
    pub fn new(config: AdamConfig, params: &ParamSet) -> Self {
        let zeros: ParamSet =
            params.iter().map(|(name, value)| (name.to_owned(), ArrayD::zeros(value.raw_dim()))).collect();
        Adam { config, step: 0, first_moment: zeros.clone(), second_moment: zeros }
    }

    /// The constants.
    pub fn config(&self) -> AdamConfig {
        self.config
    }

    /// Updates applied so far (`i`).
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// The first-moment estimates `m`.
    pub fn first_moment(&self) -> &ParamSet {
        &self.first_moment
    }

    /// The second-moment estimates `v`.
    pub fn second_moment(&self) -> &ParamSet {
        &self.second_moment
    }

    /// One update (see the type's documentation) of every parameter; `grads` must match `params`.
    pub fn update(&mut self, params: &mut ParamSet, grads: &ParamSet, learning_rate: f64) -> Result<(), OptimError> {
        check_gradients(params, grads)?;
        for (name, _) in params.iter() {
            for (moments, prefix) in [(&self.first_moment, "adam.m"), (&self.second_moment, "adam.v")] {
                if moments.get(name).map(ArrayD::shape) != params.get(name).map(ArrayD::shape) {
                    return Err(OptimError::MissingState { key: format!("{prefix}.{name}") });
                }
            }
        }
        let AdamConfig { b1, b2, eps } = self.config;
        let exponent = (self.step + 1) as f64;
        let first_correction = 1.0 - b1.powf(exponent);
        let second_correction = 1.0 - b2.powf(exponent);
        for (name, value) in params.iter_mut() {
            let (Some(gradient), Some(m), Some(v)) =
                (grads.get(name), self.first_moment.get_mut(name), self.second_moment.get_mut(name))
            else {
                continue; // unreachable: checked above
            };
            Zip::from(value).and(gradient).and(m).and(v).for_each(|x, &g, m, v| {
                *m = (1.0 - b1) * g + b1 * *m;
                *v = (1.0 - b2) * (g * g) + b2 * *v;
                let m_hat = *m / first_correction;
                let v_hat = *v / second_correction;
                *x -= learning_rate * m_hat / (v_hat.sqrt() + eps);
            });
        }
        self.step += 1;
        Ok(())
    }

    /// `adam.step`, then `adam.m.<name>` and `adam.v.<name>` for each parameter in order.
    pub fn state_entries(&self) -> Vec<(String, ArrayD<f64>)> {
        let mut entries = vec![step_entry("adam.step", self.step)];
        for (prefix, moments) in [("adam.m", &self.first_moment), ("adam.v", &self.second_moment)] {
            entries.extend(moments.iter().map(|(name, value)| (format!("{prefix}.{name}"), value.clone())));
        }
        entries
    }

    /// Reads the entries [`state_entries`](Self::state_entries) wrote, for `params`' names and shapes.
    pub fn from_state_entries(
        config: AdamConfig,
        params: &ParamSet,
        entries: &[(String, ArrayD<f64>)],
    ) -> Result<Self, OptimError> {
        let step = read_step_count(entries, "adam.step")?;
        let mut moments = [ParamSet::new(), ParamSet::new()];
        for (prefix, target) in ["adam.m", "adam.v"].into_iter().zip(moments.iter_mut()) {
            for (name, value) in params.iter() {
                let key = format!("{prefix}.{name}");
                let stored = find_entry(entries, &key)?;
                if stored.shape() != value.shape() {
                    let (expected, found) = (value.shape().to_vec(), stored.shape().to_vec());
                    return Err(OptimError::StateShape { key, expected, found });
                }
                target.insert(name, stored.clone());
            }
        }
        let [first_moment, second_moment] = moments;
        Ok(Adam { config, step, first_moment, second_moment })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{IxDyn, array};

    fn one(name: &str, values: [f64; 2]) -> ParamSet {
        std::iter::once((name.to_owned(), array![values[0], values[1]].into_dyn())).collect()
    }

    /// Three steps on a 2-element parameter against the formula evaluated by hand (scalar code
    /// below, independent of the implementation) and against numbers from numpy float64 running
    /// JAX's update expression.
    #[test]
    fn matches_jax_adam_for_three_steps() -> Result<(), OptimError> {
        let gradients = [[0.1, -0.2], [0.3, 0.05], [-0.4, 0.25]];
        let numpy = [
            [0.4900000009999999, -1.4900000005],
            [0.480822190220559, -1.4853053191100447],
            [0.48143620019388816, -1.4879283398301437],
        ];
        let learning_rate = 0.01;
        let (b1, b2, eps): (f64, f64, f64) = (0.9, 0.999, 1e-8);

        let mut params = one("w", [0.5, -1.5]);
        let mut adam = Adam::new(AdamConfig::default(), &params);
        let (mut x, mut m, mut v) = ([0.5, -1.5], [0.0; 2], [0.0; 2]);
        for (i, (g, expected)) in gradients.iter().zip(numpy).enumerate() {
            adam.update(&mut params, &one("w", *g), learning_rate)?;
            for k in 0..2 {
                m[k] = (1.0 - b1) * g[k] + b1 * m[k];
                v[k] = (1.0 - b2) * (g[k] * g[k]) + b2 * v[k];
                let m_hat = m[k] / (1.0 - b1.powf(i as f64 + 1.0));
                let v_hat = v[k] / (1.0 - b2.powf(i as f64 + 1.0));
                x[k] -= learning_rate * m_hat / (v_hat.sqrt() + eps);
            }
            let got = params.get("w").map(|w| [w[0], w[1]]);
            assert_eq!(got, Some(x), "step {i}: implementation vs formula");
            assert_eq!(got, Some(expected), "step {i}: implementation vs numpy");
        }
        assert_eq!(adam.step_count(), 3);
        assert_eq!(adam.first_moment().get("w").map(|m| [m[0], m[1]]), Some(m));
        assert_eq!(adam.second_moment().get("w").map(|v| [v[0], v[1]]), Some(v));
        Ok(())
    }

    #[test]
    fn state_round_trips_and_resumes_identically() -> Result<(), OptimError> {
        let mut params = one("w", [1.0, 2.0]);
        params.insert("b", ArrayD::from_elem(IxDyn(&[]), 0.5));
        let grads = |scale: f64| -> ParamSet {
            params.iter().map(|(name, value)| (name.to_owned(), value.mapv(|x| scale * x + 0.1))).collect()
        };
        let (grads_1, grads_2) = (grads(1.0), grads(-2.0));
        let mut straight = Adam::new(AdamConfig::default(), &params);
        let mut straight_params = params.clone();
        straight.update(&mut straight_params, &grads_1, 0.1)?;
        let entries = straight.state_entries();
        let keys: Vec<&str> = entries.iter().map(|(key, _)| key.as_str()).collect();
        assert_eq!(keys, ["adam.step", "adam.m.w", "adam.m.b", "adam.v.w", "adam.v.b"]);

        let mut resumed = Adam::from_state_entries(AdamConfig::default(), &straight_params, &entries)?;
        assert_eq!(resumed, straight);
        let mut resumed_params = straight_params.clone();
        straight.update(&mut straight_params, &grads_2, 0.1)?;
        resumed.update(&mut resumed_params, &grads_2, 0.1)?;
        assert_eq!(resumed_params, straight_params);
        Ok(())
    }

    #[test]
    fn missing_or_misshapen_state_is_reported() {
        let params = one("w", [1.0, 2.0]);
        let entries = Adam::new(AdamConfig::default(), &params).state_entries();
        let without_v: Vec<_> = entries.iter().filter(|(key, _)| key != "adam.v.w").cloned().collect();
        assert_eq!(
            Adam::from_state_entries(AdamConfig::default(), &params, &without_v),
            Err(OptimError::MissingState { key: "adam.v.w".into() })
        );
        let other_shape: ParamSet = std::iter::once(("w".to_owned(), ArrayD::zeros(IxDyn(&[3])))).collect();
        assert!(matches!(
            Adam::from_state_entries(AdamConfig::default(), &other_shape, &entries),
            Err(OptimError::StateShape { expected, found, .. }) if expected == [3] && found == [2]
        ));
        let mut bad_step = entries.clone();
        bad_step[0].1 = ArrayD::from_elem(IxDyn(&[]), 1.5);
        assert!(matches!(
            Adam::from_state_entries(AdamConfig::default(), &params, &bad_step),
            Err(OptimError::BadStepCount { value, .. }) if value == 1.5
        ));
    }

    #[test]
    fn mismatched_gradients_change_nothing() {
        let mut params = one("w", [1.0, 2.0]);
        let mut adam = Adam::new(AdamConfig::default(), &params);
        let before = (params.clone(), adam.clone());
        assert_eq!(
            adam.update(&mut params, &one("v", [0.0, 0.0]), 0.1),
            Err(OptimError::MissingGradient { name: "w".into() })
        );
        let mut extra = one("w", [0.0, 0.0]);
        extra.insert("v", ArrayD::zeros(IxDyn(&[1])));
        assert_eq!(adam.update(&mut params, &extra, 0.1), Err(OptimError::UnexpectedGradient { name: "v".into() }));
        let wrong: ParamSet = std::iter::once(("w".to_owned(), ArrayD::zeros(IxDyn(&[2, 1])))).collect();
        assert!(matches!(adam.update(&mut params, &wrong, 0.1), Err(OptimError::GradientShape { .. })));
        assert_eq!((params, adam), before);
    }
}
