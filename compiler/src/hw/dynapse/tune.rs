//! Tuning: a core's shared targets and base weights → its 25 bias codes.
//!
//! Each derived bias goes target quantity → current (`current.rs`) → nearest code (`biasgen.rs`),
//! in dependency order, each step using the *achieved* currents of the ones before (the synapse
//! gain follows the achieved synapse leak, the membrane gain the achieved TAU1 leak, the weight
//! currents the achieved gains and pulse width). Codes that had to be clamped are errors unless
//! `clamp_biases` is set; every choice is recorded for the report.

use super::address::CoreId;
use super::bias::{BiasName, BiasValue, CoreBiases};
use super::biasgen::encode_current;
use super::board::FIXED_BIASES;
use super::current::{CurrentModel, Leak};
use super::drc::DrcError;
use super::network::SourceRef;
use super::share::{CoreTargets, fit_threshold};
use super::synapse::SynapseType;

/// One bias chosen for a core: what was wanted and what the code gives.
#[derive(Clone, Debug, PartialEq)]
pub struct BiasChoice {
    /// The bias.
    pub bias: BiasName,
    /// The quantity it sets.
    pub quantity: String,
    /// Wanted value of the quantity.
    pub target: f64,
    /// Value the code gives.
    pub achieved: f64,
    /// Wanted current, ampere.
    pub target_current: f64,
    /// Current of the code, ampere.
    pub achieved_current: f64,
    /// The code.
    pub value: BiasValue,
    /// False if the target was out of range and `value` is the nearest achievable code.
    pub in_range: bool,
}

/// A core to tune.
pub(crate) struct TuneRequest<'a> {
    /// The core.
    pub core: CoreId,
    /// Shared targets (`share.rs`).
    pub targets: &'a CoreTargets,
    /// Trained threshold of each member (same order as `targets.uses_tau2`).
    pub thresholds: &'a [f64],
    /// Target base weight per type; `None` for unused types.
    pub base_weights: [Option<f64>; 4],
    /// A population on the core and its source, for errors.
    pub population: (&'a str, &'a SourceRef),
}

/// A tuned core.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Tuned {
    /// The codes.
    pub biases: CoreBiases,
    /// Every derived choice, in tuning order.
    pub choices: Vec<BiasChoice>,
    /// Per member: whether it uses IF_TAU2_N (cleared if TAU2 ended up equal to TAU1).
    pub uses_tau2: Vec<bool>,
    /// The fitted TAU1 threshold.
    pub threshold1: f64,
}

struct Tuner<'a> {
    request: &'a TuneRequest<'a>,
    clamp: bool,
    biases: CoreBiases,
    choices: Vec<BiasChoice>,
    errors: Vec<DrcError>,
}

impl Tuner<'_> {
    /// Sets `bias` to the code nearest `target_current`; returns the achieved current.
    fn set(
        &mut self,
        bias: BiasName,
        quantity: String,
        target: f64,
        target_current: f64,
        to_quantity: impl Fn(f64) -> f64,
    ) -> f64 {
        let encoded = encode_current(target_current);
        self.biases.set(bias, encoded.value);
        let achieved = to_quantity(encoded.current);
        if !encoded.in_range && !self.clamp {
            self.errors.push(DrcError::BiasOutOfRange {
                core: self.request.core,
                bias,
                quantity: quantity.clone(),
                requested: target,
                nearest: achieved,
                requested_current: target_current,
                nearest_current: encoded.current,
                population: self.request.population.0.to_string(),
                source: self.request.population.1.clone(),
            });
        }
        self.choices.push(BiasChoice {
            bias,
            quantity,
            target,
            achieved,
            target_current,
            achieved_current: encoded.current,
            value: encoded.value,
            in_range: encoded.in_range,
        });
        encoded.current
    }
}

/// Tunes one core (see the module doc).
pub(crate) fn tune(request: &TuneRequest<'_>, model: &CurrentModel, clamp: bool) -> Result<Tuned, Vec<DrcError>> {
    let targets = request.targets;
    let mut tuner = Tuner { request, clamp, biases: CoreBiases::default(), choices: Vec::new(), errors: Vec::new() };
    let membrane_tau = |current| model.leak_tau(Leak::Membrane, current);
    let leak1 = tuner.set(
        BiasName::IfTau1N,
        "tau_mem (TAU1)".into(),
        targets.tau1,
        model.leak_current(Leak::Membrane, targets.tau1),
        membrane_tau,
    );
    let mut uses_tau2 = targets.uses_tau2.clone();
    let leak2 = match targets.tau2 {
        Some(tau2) => tuner.set(
            BiasName::IfTau2N,
            "tau_mem (TAU2)".into(),
            tau2,
            model.leak_current(Leak::Membrane, tau2),
            membrane_tau,
        ),
        None => {
            tuner.biases.set(BiasName::IfTau2N, tuner.biases.get(BiasName::IfTau1N));
            leak1
        }
    };
    if tuner.biases.get(BiasName::IfTau2N) == tuner.biases.get(BiasName::IfTau1N) {
        uses_tau2.iter_mut().for_each(|flag| *flag = false);
    }
    let mut synapse_leak = [0.0; 4];
    for synapse in SynapseType::ALL {
        synapse_leak[synapse.index()] = tuner.set(
            synapse.tau_bias(),
            format!("tau_syn {}", synapse.name()),
            targets.tau_syn,
            model.leak_current(Leak::Synapse, targets.tau_syn),
            |current| model.leak_tau(Leak::Synapse, current),
        );
    }
    let pulse = tuner.set(
        BiasName::PulsePwlkP,
        "pulse width".into(),
        model.pulse_width,
        model.pulse_current(model.pulse_width),
        |current| model.pulse_width_of(current),
    );
    let pulse_width = model.pulse_width_of(pulse);
    tuner.set(
        BiasName::IfRfrN,
        "refractory period".into(),
        model.refractory_period,
        model.refractory_current(model.refractory_period),
        |current| model.refractory_capacitance * model.pulse_voltage / current,
    );
    let mut synapse_gain = [0.0; 4];
    for synapse in SynapseType::ALL {
        let leak = synapse_leak[synapse.index()];
        synapse_gain[synapse.index()] = tuner.set(
            synapse.gain_bias(),
            format!("synapse gain ratio {}", synapse.name()),
            model.synapse_gain_ratio,
            model.synapse_gain_current(leak),
            |current| current / leak,
        );
    }
    let ratios: Vec<f64> = uses_tau2.iter().map(|tau2| if *tau2 { leak2 / leak1 } else { 1.0 }).collect();
    let threshold1 = fit_threshold(request.thresholds, &ratios);
    tuner.set(
        BiasName::IfThrN,
        "threshold (TAU1)".into(),
        threshold1,
        model.membrane_gain_current(leak1, threshold1),
        |current| model.threshold(leak1, current),
    );
    tuner.set(BiasName::IfDcP, "bias".into(), targets.bias, model.dc_current(targets.bias), |current| {
        model.bias(current)
    });
    for synapse in SynapseType::ALL {
        let gain = synapse_gain[synapse.index()];
        match request.base_weights[synapse.index()] {
            Some(weight) => {
                tuner.set(
                    synapse.weight_bias(),
                    format!("base weight {}", synapse.name()),
                    weight,
                    model.weight_current(weight, gain, pulse_width),
                    |current| model.base_weight(current, gain, pulse_width),
                );
            }
            None => tuner.biases.set(synapse.weight_bias(), BiasValue::ZERO),
        }
    }
    for (name, coarse, fine) in FIXED_BIASES {
        if let Ok(value) = BiasValue::new(coarse, fine) {
            tuner.biases.set(name, value);
        }
    }
    if tuner.errors.is_empty() {
        Ok(Tuned { biases: tuner.biases, choices: tuner.choices, uses_tau2, threshold1 })
    } else {
        Err(tuner.errors)
    }
}
