//! Constraints applied around an update: clipping gradients by their global norm, and projecting
//! parameters onto intervals after the step.

use crate::optim::OptimError;
use crate::params::ParamSet;

/// Intervals parameters are projected onto after each update (`bound NAME >= VALUE` in a
/// `train` block, with the projection method): each element is clamped to `[lower, upper]`.
/// Infinite ends leave a side open. A penalty (Rockpool's `bounds_cost`) is a loss term instead
/// and does not use this type.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bounds {
    entries: Vec<(String, f64, f64)>,
}

impl Bounds {
    /// No bounds.
    pub fn new() -> Self {
        Bounds::default()
    }

    /// Sets `name`'s lower bound, keeping any upper bound.
    pub fn set_lower(&mut self, name: &str, lower: f64) {
        self.entry(name).1 = lower;
    }

    /// Sets `name`'s upper bound, keeping any lower bound.
    pub fn set_upper(&mut self, name: &str, upper: f64) {
        self.entry(name).2 = upper;
    }

    /// Sets both of `name`'s bounds.
    pub fn set(&mut self, name: &str, lower: f64, upper: f64) {
        let entry = self.entry(name);
        (entry.1, entry.2) = (lower, upper);
    }

    /// `name`'s `(lower, upper)`, if bounded.
    pub fn get(&self, name: &str) -> Option<(f64, f64)> {
        self.entries.iter().find(|(entry, ..)| entry == name).map(|&(_, lower, upper)| (lower, upper))
    }

    /// `(name, lower, upper)` in the order the bounds were first set.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64, f64)> {
        self.entries.iter().map(|(name, lower, upper)| (name.as_str(), *lower, *upper))
    }

    /// Whether no parameter is bounded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Checks that every bound names a parameter of `params` and leaves a non-empty interval
    /// (`lower ≤ upper`, neither NaN).
    pub fn check(&self, params: &ParamSet) -> Result<(), OptimError> {
        for (name, lower, upper) in self.iter() {
            if !params.contains(name) {
                let closest = params
                    .names()
                    .map(|candidate| (strsim::jaro_winkler(name, candidate), candidate))
                    .filter(|(similarity, _)| *similarity > 0.8)
                    .max_by(|a, b| a.0.total_cmp(&b.0))
                    .map(|(_, candidate)| candidate.to_owned());
                return Err(OptimError::UnknownBound { name: name.to_owned(), closest });
            }
            if lower.is_nan() || upper.is_nan() || lower > upper {
                return Err(OptimError::EmptyBound { name: name.to_owned(), lower, upper });
            }
        }
        Ok(())
    }

    /// Clamps every bounded element into its interval; NaN stays NaN (so it is still detected),
    /// and names that `params` lacks are skipped ([`check`](Self::check) reports them).
    pub fn project(&self, params: &mut ParamSet) {
        for (name, lower, upper) in self.iter() {
            if let Some(value) = params.get_mut(name) {
                value.mapv_inplace(|x| {
                    if x < lower {
                        lower
                    } else if x > upper {
                        upper
                    } else {
                        x
                    }
                });
            }
        }
    }

    fn entry(&mut self, name: &str) -> &mut (String, f64, f64) {
        let position = match self.entries.iter().position(|(entry, ..)| entry == name) {
            Some(position) => position,
            None => {
                self.entries.push((name.to_owned(), f64::NEG_INFINITY, f64::INFINITY));
                self.entries.len() - 1
            }
        };
        &mut self.entries[position]
    }
}

/// `√(Σ g²)` over every element of every gradient.
pub fn global_norm(grads: &ParamSet) -> f64 {
    grads.iter().map(|(_, gradient)| gradient.iter().map(|g| g * g).sum::<f64>()).sum::<f64>().sqrt()
}

/// Scales all gradients by `max_norm / norm` when their [`global_norm`] exceeds `max_norm`
/// (optax's `clip_by_global_norm`: `g / norm · max_norm`), and returns the norm before clipping.
pub fn clip_by_global_norm(grads: &mut ParamSet, max_norm: f64) -> f64 {
    let norm = global_norm(grads);
    if norm > max_norm {
        for (_, gradient) in grads.iter_mut() {
            gradient.mapv_inplace(|g| g / norm * max_norm);
        }
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn set(entries: &[(&str, &[f64])]) -> ParamSet {
        entries.iter().map(|(name, values)| (name.to_string(), ndarray::arr1(values).into_dyn())).collect()
    }

    #[test]
    fn clipping_scales_to_the_maximum_norm_only_when_above_it() {
        let mut grads = set(&[("a", &[3.0]), ("b", &[0.0, 4.0])]);
        assert_eq!(clip_by_global_norm(&mut grads, 10.0), 5.0);
        assert_eq!(grads, set(&[("a", &[3.0]), ("b", &[0.0, 4.0])]));
        assert_eq!(clip_by_global_norm(&mut grads, 1.0), 5.0);
        assert!((global_norm(&grads) - 1.0).abs() < 1e-15);
        assert_eq!(grads.get("a"), Some(&array![0.6].into_dyn()));
    }

    #[test]
    fn projection_clamps_each_side_and_keeps_nan() {
        let mut params = set(&[("1_Rate.tau", &[0.005, 0.02, f64::NAN]), ("w", &[-5.0, 5.0])]);
        let mut bounds = Bounds::new();
        bounds.set_lower("1_Rate.tau", 0.011);
        bounds.set_upper("w", 1.0);
        bounds.set_lower("w", -1.0);
        assert_eq!(bounds.get("w"), Some((-1.0, 1.0)));
        assert_eq!(bounds.check(&params), Ok(()));
        bounds.project(&mut params);
        let tau = params.get("1_Rate.tau").map(|tau| tau.iter().copied().collect::<Vec<f64>>()).unwrap_or_default();
        assert_eq!(&tau[..2], [0.011, 0.02]);
        assert!(tau[2].is_nan());
        assert_eq!(params.get("w"), Some(&array![-1.0, 1.0].into_dyn()));
    }

    #[test]
    fn unknown_names_and_empty_intervals_are_reported() {
        let params = set(&[("1_Rate.tau", &[0.02])]);
        let mut bounds = Bounds::new();
        bounds.set_lower("1_Rate.tua", 0.0);
        assert_eq!(
            bounds.check(&params),
            Err(OptimError::UnknownBound { name: "1_Rate.tua".into(), closest: Some("1_Rate.tau".into()) })
        );
        let mut bounds = Bounds::new();
        bounds.set("1_Rate.tau", 1.0, 0.5);
        assert!(matches!(bounds.check(&params), Err(OptimError::EmptyBound { .. })));
    }
}
