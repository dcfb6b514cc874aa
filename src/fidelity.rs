//! Fidelity of a hardware lowering: the float network against the hardware-constrained one, run
//! by reef's own interpreter on the same input.
//!
//! The hardware-constrained network is the *same* reef network with the values a Dynap-SE1
//! config realises: [`lift`] reads the config back (integer connection counts × each core's base
//! weights, each neuron's shared per-core tau_mem, tau_syn, threshold and bias, in the source
//! network's neuron order by the config's metadata) and [`embed`] writes them into the graph's
//! parameters. Both networks then run in f64 with reef's LIF semantics, so the difference is
//! what quantisation, parameter sharing and bias rounding cost, and nothing else (the chip's
//! analog dynamics, mismatch and noise are not simulated).

use std::fmt;

use ndarray::{ArrayD, Axis, IxDyn};
use reef_compiler::Compiled;
use reef_compiler::hw::dynapse::{Config, EmbedError, LiftError, embed, lift};
use reef_runtime::io::Precision;
use reef_runtime::params::ParamSet;
use reef_runtime::run::{RunError, evolve};

/// Why the comparison could not be made.
#[derive(Debug)]
pub enum FidelityError {
    /// The config cannot be read back.
    Lift(LiftError),
    /// The lifted network does not fit the source network.
    Embed(EmbedError),
    /// A lifted parameter is not in the network's parameter table.
    UnknownParameter(String),
    /// A run failed (input shape, non-finite input).
    Run(RunError),
}

impl fmt::Display for FidelityError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FidelityError::Lift(error) => write!(formatter, "cannot read the config back: {error}"),
            FidelityError::Embed(error) => write!(formatter, "{error}"),
            FidelityError::UnknownParameter(name) => write!(formatter, "the network has no parameter `{name}`"),
            FidelityError::Run(error) => write!(formatter, "{error}"),
        }
    }
}

impl std::error::Error for FidelityError {}

/// `float` with every parameter `config` constrains replaced by its hardware value (see the module doc).
pub fn constrained_params(network: &Compiled, float: &ParamSet, config: &Config) -> Result<ParamSet, FidelityError> {
    let lifted = lift(config).map_err(FidelityError::Lift)?;
    let mut params = float.clone();
    for (name, values) in embed(&network.graph, &lifted.network).map_err(FidelityError::Embed)? {
        let Some(info) = network.graph.params.iter().find(|param| param.name == name) else {
            return Err(FidelityError::UnknownParameter(name));
        };
        let array = ArrayD::from_shape_vec(IxDyn(&info.shape.dims()), values)
            .map_err(|_| FidelityError::UnknownParameter(name.clone()))?;
        params.insert(name, array);
    }
    Ok(params)
}

/// Output spike counts of the float and the constrained network.
#[derive(Clone, Debug, PartialEq)]
pub struct Fidelity {
    /// Per output channel.
    pub outputs: Vec<OutputFidelity>,
    /// Batches × time steps compared.
    pub bins: usize,
    /// Fraction of (batch, step, channel) bins where both networks emit the same count.
    pub matching_bins: f64,
}

/// One output channel's spike counts, summed over batches and time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OutputFidelity {
    /// The channel.
    pub channel: usize,
    /// Spikes of the float network.
    pub float: f64,
    /// Spikes of the hardware-constrained network.
    pub constrained: f64,
}

impl OutputFidelity {
    /// `constrained − float`.
    pub fn difference(&self) -> f64 {
        self.constrained - self.float
    }

    /// `|constrained − float| / float`; `None` when the float network is silent on this channel.
    pub fn relative_error(&self) -> Option<f64> {
        (self.float > 0.0).then(|| self.difference().abs() / self.float)
    }
}

impl Fidelity {
    /// `Σ |difference| / Σ float` over the channels; `None` when the float network is silent.
    pub fn relative_error(&self) -> Option<f64> {
        let float: f64 = self.outputs.iter().map(|output| output.float).sum();
        let difference: f64 = self.outputs.iter().map(|output| output.difference().abs()).sum();
        (float > 0.0).then(|| difference / float)
    }
}

/// Runs `network` with `float` and with `constrained` parameters on `input` (`[time, channels]`
/// or `[batch, time, channels]`) in f64 and compares the output spike counts.
pub fn compare(
    network: &Compiled,
    float: &ParamSet,
    constrained: &ParamSet,
    input: &ArrayD<f64>,
    seed: u64,
) -> Result<Fidelity, FidelityError> {
    let run = |params: &ParamSet| {
        evolve(network, params, input, Precision::F64, false, seed).map(|run| run.output).map_err(FidelityError::Run)
    };
    let (reference, chip) = (run(float)?, run(constrained)?);
    let channels = reference.shape().get(2).copied().unwrap_or(0);
    let totals = |output: &ArrayD<f64>| -> Vec<f64> {
        (0..channels).map(|channel| output.index_axis(Axis(2), channel).sum()).collect()
    };
    let outputs = totals(&reference)
        .into_iter()
        .zip(totals(&chip))
        .enumerate()
        .map(|(channel, (float, constrained))| OutputFidelity { channel, float, constrained })
        .collect();
    let matching = reference.iter().zip(chip.iter()).filter(|(float, constrained)| float == constrained).count();
    Ok(Fidelity {
        outputs,
        bins: reference.len() / channels.max(1),
        matching_bins: if reference.is_empty() { 1.0 } else { matching as f64 / reference.len() as f64 },
    })
}

impl fmt::Display for Fidelity {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let percent = |value: Option<f64>| value.map_or("-".to_string(), |value| format!("{:.2}%", value * 100.0));
        writeln!(formatter, "output spike counts, float vs hardware-constrained ({} time bins)", self.bins)?;
        writeln!(
            formatter,
            "  {:>7} {:>9} {:>11} {:>10} {:>9}",
            "output", "float", "constrained", "difference", "relative"
        )?;
        for output in &self.outputs {
            writeln!(
                formatter,
                "  {:>7} {:>9} {:>11} {:>+10} {:>9}",
                output.channel,
                output.float,
                output.constrained,
                output.difference(),
                percent(output.relative_error())
            )?;
        }
        writeln!(formatter, "  total relative error {}", percent(self.relative_error()))?;
        writeln!(formatter, "  identical bins {:.2}%", self.matching_bins * 100.0)
    }
}
