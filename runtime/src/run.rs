//! Running a compiled network on data: parameter tables from the graph IR, input validation,
//! and the interpreter in f32 or f64 over `[batch, time, channels]`.

use std::fmt;
use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use reef_compiler::Compiled;
use reef_compiler::graph::NetworkGraph;
use reef_compiler::interp::{self, Real};

use crate::io::{self, IoError, Precision};
use crate::params::{self, ParamMismatch, ParamSet, ParamSpec};

/// Why a run could not start.
#[derive(Debug)]
pub enum RunError {
    /// A file could not be read or written.
    Io(IoError),
    /// The parameter file does not fit the network.
    Params(ParamMismatch),
    /// The input has the wrong rank or channel count.
    InputShape {
        /// What was given.
        found: Vec<usize>,
        /// Channels the network takes.
        channels: usize,
    },
    /// The input holds NaN or infinity.
    NonFiniteInput {
        /// Index of the first bad element, `[batch, time, channel]`.
        index: [usize; 3],
        /// Its value.
        value: f64,
    },
    /// The target does not have the output's shape.
    TargetShape {
        /// What was given.
        found: Vec<usize>,
        /// `[batch, time, outputs]` of the run.
        expected: Vec<usize>,
    },
    /// The target holds NaN or infinity.
    NonFiniteTarget {
        /// Flat index of the first bad element.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// Native code could not be generated (a bug in reef or an unsupported host).
    Codegen(String),
    /// The interpreter refused the buffers (a bug if it happens after the checks above).
    Interp(interp::InterpError),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Io(error) => write!(f, "{error}"),
            RunError::Params(error) => write!(f, "{error}"),
            RunError::InputShape { found, channels } => write!(
                f,
                "input has shape {found:?}; the network takes [time, {channels}] or [batch, time, {channels}]"
            ),
            RunError::NonFiniteInput { index, value } => {
                write!(
                    f,
                    "input holds {value} at [batch {}, step {}, channel {}]; inputs must be finite",
                    index[0], index[1], index[2]
                )
            }
            RunError::TargetShape { found, expected } => write!(
                f,
                "target has shape {found:?}; the output has shape {expected:?} (a [time, outputs] target is accepted for a batch of 1)"
            ),
            RunError::NonFiniteTarget { index, value } => {
                write!(f, "target holds {value} at flat index {index}; targets must be finite")
            }
            RunError::Codegen(message) => write!(f, "{message}"),
            RunError::Interp(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for RunError {}

impl From<IoError> for RunError {
    fn from(error: IoError) -> Self {
        RunError::Io(error)
    }
}

/// The network's parameters as specs for [`params::initialise`] and [`params::match_params`].
pub fn param_specs(graph: &NetworkGraph) -> Vec<ParamSpec> {
    graph.params.iter().map(|p| ParamSpec::new(p.name.clone(), p.shape.dims(), p.init)).collect()
}

/// Parameters from an `.npz` file (reef or Rockpool names), or initialised from `seed`.
pub fn load_params(graph: &NetworkGraph, path: Option<&Path>, seed: u64) -> Result<ParamSet, RunError> {
    let specs = param_specs(graph);
    match path {
        None => Ok(params::initialise(&specs, seed)),
        Some(path) => {
            let file = io::read_npz(path)?;
            params::match_params(&specs, file).map_err(RunError::Params)
        }
    }
}

/// The input as a flat `[batch, time, channels]` buffer in element type `T`, with its batch and
/// time lengths (a `[time, channels]` array is a batch of 1). One pass checks, converts and
/// copies: a NaN or infinity is refused with its index.
pub fn input_buffer<T: Real>(input: &ArrayD<f64>, channels: usize) -> Result<(Vec<T>, usize, usize), RunError> {
    let (batch, steps) = match input.shape() {
        [steps, c] if *c == channels => (1, *steps),
        [batch, steps, c] if *c == channels => (*batch, *steps),
        shape => return Err(RunError::InputShape { found: shape.to_vec(), channels }),
    };
    let flat = finite_elements(input).map_err(|(flat, value)| {
        let index = [flat / (steps * channels).max(1), (flat / channels.max(1)) % steps.max(1), flat % channels.max(1)];
        RunError::NonFiniteInput { index, value }
    })?;
    Ok((flat, batch, steps))
}

/// The elements of `array` in row-major order converted to `T`, or the first non-finite one
/// (its row-major index and value).
pub fn finite_elements<T: Real>(array: &ArrayD<f64>) -> Result<Vec<T>, (usize, f64)> {
    let convert = |(index, value): (usize, &f64)| {
        if value.is_finite() { Ok(T::from_f64(*value)) } else { Err((index, *value)) }
    };
    match array.as_slice() {
        Some(slice) => slice.iter().enumerate().map(convert).collect(),
        None => array.iter().enumerate().map(convert).collect(),
    }
}

/// What a run produced: the output `[batch, time, size]` and, if asked, named records.
#[derive(Clone, Debug)]
pub struct RunOutput {
    /// Network output.
    pub output: ArrayD<f64>,
    /// Module outputs and states, `[batch, time, size]` each.
    pub records: Vec<(String, ArrayD<f64>)>,
}

/// Runs the interpreter in the given precision.
pub fn evolve(
    network: &Compiled,
    params: &ParamSet,
    input: &ArrayD<f64>,
    precision: Precision,
    record: bool,
    seed: u64,
) -> Result<RunOutput, RunError> {
    match precision {
        Precision::F32 => evolve_in::<f32>(network, params, input, record, seed),
        Precision::F64 => evolve_in::<f64>(network, params, input, record, seed),
    }
}

fn evolve_in<T: Real>(
    network: &Compiled,
    params: &ParamSet,
    input: &ArrayD<f64>,
    record: bool,
    seed: u64,
) -> Result<RunOutput, RunError> {
    let (flat, batch, steps) = input_buffer::<T>(input, network.graph.input_size())?;
    let buffers = buffers::<T>(network, params);
    let evolution =
        interp::evolve(&network.program, &buffers, &flat, batch, steps, record, seed).map_err(RunError::Interp)?;
    let to_array = |data: &[T], size: usize| {
        ArrayD::from_shape_vec(IxDyn(&[batch, steps, size]), data.iter().map(|v| v.to_f64()).collect())
    };
    let output = to_array(&evolution.output, evolution.output_size)
        .map_err(|_| RunError::InputShape { found: vec![batch, steps], channels: evolution.output_size })?;
    let records =
        evolution.records.iter().filter_map(|r| to_array(&r.data, r.size).ok().map(|a| (r.name.clone(), a))).collect();
    Ok(RunOutput { output, records })
}

/// Parameter buffers in the table's order, in element type `T` (a missing parameter gives an
/// empty buffer, which the length checks before any run refuse).
pub fn buffers<T: Real>(network: &Compiled, params: &ParamSet) -> Vec<Vec<T>> {
    network
        .graph
        .params
        .iter()
        .map(|p| {
            params
                .get(&p.name)
                .map(|a| match a.as_slice() {
                    Some(slice) => slice.iter().map(|v| T::from_f64(*v)).collect(),
                    None => a.iter().map(|v| T::from_f64(*v)).collect(),
                })
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
