//! Parameter specs + files or a seed → `ParamSet`: a network's parameter values by reef name.
//!
//! A network declares its parameters as [`ParamSpec`]s (name, shape, [`Init`]). Values come
//! either from [`initialise`] (reproducible from a seed: PCG-64, specs in order, elements
//! row-major; its documentation gives the exact stream) or from a file checked by
//! [`match_params`], which accepts Rockpool's names ([`rockpool_to_reef`]) and reports every
//! mismatch at once. [`ParamSet::write_npz`] writes them back with reef or Rockpool names.
//!
//! ```
//! # use reef_runtime::params::{initialise, match_params, Init, ParamSpec};
//! let specs = [
//!     ParamSpec::new("0_Linear.weight", [1, 50], Init::Uniform { low: -2.4, high: 2.4 }),
//!     ParamSpec::new("1_Rate.tau", [50], Init::Constant(0.02)),
//! ];
//! let initial = initialise(&specs, 0);
//! assert_eq!(initial, initialise(&specs, 0));
//!
//! // A Rockpool-named file missing `tau` is reported, not half-loaded.
//! let weight = initial.get("0_Linear.weight").cloned().into_iter();
//! let file = weight.map(|values| ("0_LinearJax.weight".to_owned(), values)).collect();
//! let error = match_params(&specs, file).unwrap_err();
//! assert_eq!(error.problems.len(), 1);
//! ```

mod init;
mod matching;
mod names;
mod set;
mod spec;

pub use init::initialise;
pub use matching::{ParamMismatch, ParamProblem, match_params, match_params_or_init};
pub use names::{NameStyle, reef_to_rockpool, rockpool_to_reef};
pub use set::ParamSet;
pub use spec::{Init, ParamSpec};
