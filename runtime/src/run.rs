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

/// Input as `[batch, time, channels]`: a `[time, channels]` array gets a batch of 1.
pub fn batched_input(input: &ArrayD<f64>, channels: usize) -> Result<ArrayD<f64>, RunError> {
    let shape = input.shape().to_vec();
    let batched = match shape.as_slice() {
        [steps, c] if *c == channels => input.clone().into_shape_with_order(IxDyn(&[1, *steps, *c])).ok(),
        [_, _, c] if *c == channels => Some(input.clone()),
        _ => None,
    };
    let batched = batched.ok_or(RunError::InputShape { found: shape, channels })?;
    let batched = if batched.is_standard_layout() { batched } else { batched.as_standard_layout().into_owned() };
    if let Some((flat, value)) = contiguous(&batched).iter().enumerate().find(|(_, v)| !v.is_finite()) {
        let dims = batched.shape();
        let index = [flat / (dims[1] * dims[2]), (flat / dims[2]) % dims[1], flat % dims[2]];
        return Err(RunError::NonFiniteInput { index, value: *value });
    }
    Ok(batched)
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
    let input = batched_input(input, network.graph.input_size())?;
    let (batch, steps) = (input.shape()[0], input.shape()[1]);
    let buffers = buffers::<T>(network, params);
    let flat: Vec<T> = contiguous(&input).iter().map(|v| T::from_f64(*v)).collect();
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

/// The elements of an array in row-major order, without iterating over dynamic dimensions
/// element by element when the array is contiguous (it always is after `batched_input`).
pub fn contiguous(array: &ArrayD<f64>) -> std::borrow::Cow<'_, [f64]> {
    match array.as_slice() {
        Some(slice) => std::borrow::Cow::Borrowed(slice),
        None => std::borrow::Cow::Owned(array.iter().copied().collect()),
    }
}

/// Parameter buffers in the table's order, in element type `T` (a missing parameter gives an
/// empty buffer, which the length checks before any run refuse).
pub fn buffers<T: Real>(network: &Compiled, params: &ParamSet) -> Vec<Vec<T>> {
    network
        .graph
        .params
        .iter()
        .map(|p| params.get(&p.name).map(|a| a.iter().map(|v| T::from_f64(*v)).collect()).unwrap_or_default())
        .collect()
}
