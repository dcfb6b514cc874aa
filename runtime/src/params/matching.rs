//! A parameter file's arrays + the network's specs → a checked `ParamSet`, or every problem at once.
//!
//! File keys may use Rockpool names (`1_RateJax.tau`); they are mapped to reef names first. A spec
//! of shape `[n]` also accepts a stored `[n, 1]` (Rockpool keeps LIF's `tau_syn` as
//! `[n, n_syn]` with `n_syn = 1`), which is reshaped to `[n]`.

use std::fmt;

use ndarray::{ArrayD, Dimension, IxDyn};
use thiserror::Error;

use crate::params::{ParamSet, ParamSpec, initialise, rockpool_to_reef};

/// Every way a parameter file failed to match the network's specs, found in one pass.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamMismatch {
    /// The problems: the specs' in spec order, then unexpected and repeated file entries in file order.
    pub problems: Vec<ParamProblem>,
}

impl fmt::Display for ParamMismatch {
    /// A summary line, then one indented line per problem.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        let plural = if count == 1 { "" } else { "s" };
        write!(formatter, "the parameters do not match the network ({count} problem{plural}):")?;
        for problem in &self.problems {
            write!(formatter, "\n  {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParamMismatch {}

/// One way a stored parameter disagrees with the specs. `key` is the name as stored in the file
/// (perhaps Rockpool's); `name` is the reef name.
#[derive(Clone, Debug, PartialEq, Error)]
pub enum ParamProblem {
    /// A spec has no array in the file.
    #[error("missing parameter `{name}` (shape {shape:?})")]
    Missing {
        /// The spec's name.
        name: String,
        /// The shape it needs.
        shape: Vec<usize>,
    },
    /// A file entry matches no spec; `suggestion` is a missing spec with a close name.
    #[error("unexpected parameter `{key}`{}", did_you_mean(.suggestion.as_deref()))]
    Unexpected {
        /// The entry's key in the file.
        key: String,
        /// A spec name the entry was perhaps meant to be.
        suggestion: Option<String>,
    },
    /// An entry has the wrong shape.
    #[error("parameter `{name}`{} has shape {found:?}, expected {expected:?}", stored_as(.key, .name))]
    Shape {
        /// The reef name.
        name: String,
        /// The entry's key in the file.
        key: String,
        /// The spec's shape.
        expected: Vec<usize>,
        /// The stored shape.
        found: Vec<usize>,
    },
    /// An entry holds NaN or ±inf.
    #[error(
        "parameter `{name}`{} holds {value} at index {index:?} ({count} non-finite value{} in all)",
        stored_as(.key, .name),
        if *.count == 1 { "" } else { "s" }
    )]
    NonFinite {
        /// The reef name.
        name: String,
        /// The entry's key in the file.
        key: String,
        /// The first non-finite element's index, in row-major order.
        index: Vec<usize>,
        /// That element (NaN, inf or -inf).
        value: f64,
        /// How many elements are not finite.
        count: usize,
    },
    /// Two entries map to one reef name (e.g. `1_RateJax.tau` and `1_Rate.tau`).
    #[error("parameter `{name}` is stored twice, as `{first_key}` and as `{second_key}`")]
    Repeated {
        /// The reef name both map to.
        name: String,
        /// The entry that was used.
        first_key: String,
        /// The entry that was not.
        second_key: String,
    },
}

/// Checks a file's arrays against `specs` and returns them as a [`ParamSet`] in spec order, or all
/// problems: missing, unexpected, mis-shaped, non-finite and repeated parameters.
pub fn match_params(specs: &[ParamSpec], file: Vec<(String, ArrayD<f64>)>) -> Result<ParamSet, ParamMismatch> {
    match_against(specs, file, None)
}

/// Like [`match_params`], but parameters the file lacks are initialised from their specs, with
/// exactly the values `initialise(specs, seed)` gives them (for files holding only some
/// parameters). All other problems are still reported.
pub fn match_params_or_init(
    specs: &[ParamSpec],
    file: Vec<(String, ArrayD<f64>)>,
    seed: u64,
) -> Result<ParamSet, ParamMismatch> {
    match_against(specs, file, Some(initialise(specs, seed)))
}

/// A file entry under its reef name; `array` is taken once a spec claims it.
struct Entry {
    key: String,
    name: String,
    array: Option<ArrayD<f64>>,
}

fn match_against(
    specs: &[ParamSpec],
    file: Vec<(String, ArrayD<f64>)>,
    mut initial: Option<ParamSet>,
) -> Result<ParamSet, ParamMismatch> {
    let mut entries: Vec<Entry> = Vec::with_capacity(file.len());
    let mut repeated = Vec::new();
    for (key, array) in file {
        let name = rockpool_to_reef(&key);
        match entries.iter().find(|entry| entry.name == name) {
            Some(first) => {
                repeated.push(ParamProblem::Repeated { name, first_key: first.key.clone(), second_key: key })
            }
            None => entries.push(Entry { key, name, array: Some(array) }),
        }
    }

    let mut problems = Vec::new();
    let mut absent: Vec<&str> = Vec::new();
    let mut set = ParamSet::new();
    for spec in specs {
        match entries.iter_mut().find(|entry| entry.name == spec.name) {
            Some(entry) => {
                // A spec listed twice finds its entry already taken.
                let Some(array) = entry.array.take() else {
                    continue;
                };
                match check(spec, &entry.key, array) {
                    Ok(array) => {
                        set.insert(spec.name.clone(), array);
                    }
                    Err(problem) => problems.push(problem),
                }
            }
            None => {
                absent.push(&spec.name);
                match initial.as_mut().and_then(|initial| initial.remove(&spec.name)) {
                    Some(array) => {
                        set.insert(spec.name.clone(), array);
                    }
                    None => problems.push(ParamProblem::Missing { name: spec.name.clone(), shape: spec.shape.clone() }),
                }
            }
        }
    }

    for entry in entries.into_iter().filter(|entry| entry.array.is_some()) {
        let suggestion = closest(&entry.name, &absent).map(str::to_owned);
        problems.push(ParamProblem::Unexpected { key: entry.key, suggestion });
    }
    problems.extend(repeated);
    if problems.is_empty() { Ok(set) } else { Err(ParamMismatch { problems }) }
}

/// Checks one stored array against its spec: shape (accepting `[n, 1]` for `[n]`), then finiteness.
fn check(spec: &ParamSpec, key: &str, array: ArrayD<f64>) -> Result<ArrayD<f64>, ParamProblem> {
    let shape_problem = |found: &[usize]| ParamProblem::Shape {
        name: spec.name.clone(),
        key: key.to_owned(),
        expected: spec.shape.clone(),
        found: found.to_vec(),
    };
    let array = match (spec.shape.as_slice(), array.shape()) {
        (expected, found) if expected == found => array,
        (&[length], &[found_length, 1]) if found_length == length => {
            let values = array.iter().copied().collect();
            ArrayD::from_shape_vec(IxDyn(&[length]), values).map_err(|_| shape_problem(array.shape()))?
        }
        (_, found) => return Err(shape_problem(found)),
    };
    let mut non_finite = array.indexed_iter().filter(|(_, value)| !value.is_finite());
    if let Some((index, &value)) = non_finite.next() {
        return Err(ParamProblem::NonFinite {
            name: spec.name.clone(),
            key: key.to_owned(),
            index: index.slice().to_vec(),
            value,
            count: 1 + non_finite.count(),
        });
    }
    Ok(array)
}

/// The candidate closest to `name` by edit distance (ignoring case), if close enough to be a
/// plausible misspelling: at most 2 edits, or a third of the candidate's length.
fn closest<'candidate>(name: &str, candidates: &[&'candidate str]) -> Option<&'candidate str> {
    let name = name.to_lowercase();
    candidates
        .iter()
        .map(|candidate| (strsim::levenshtein(&name, &candidate.to_lowercase()), *candidate))
        .filter(|(distance, candidate)| *distance <= (candidate.chars().count() / 3).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

fn did_you_mean(suggestion: Option<&str>) -> String {
    suggestion.map(|name| format!("; did you mean `{name}`?")).unwrap_or_default()
}

fn stored_as(key: &str, name: &str) -> String {
    if key == name { String::new() } else { format!(" (stored as `{key}`)") }
}

#[cfg(test)]
#[path = "matching_tests.rs"]
mod tests;
