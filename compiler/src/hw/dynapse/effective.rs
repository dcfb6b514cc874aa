//! Effective parameters: a core's bias codes → what its neurons and synapses actually do.
//!
//! Used by lowering (the achieved values reported) and by `lift`, so both compute them the same way.

use super::bias::{BiasName, CoreBiases};
use super::biasgen::bias_current;
use super::current::{CurrentModel, Leak};
use super::synapse::SynapseType;

/// What one core's biases produce, under a current model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CoreEffective {
    /// tau_mem of neurons on IF_TAU1_N, seconds.
    pub tau1: f64,
    /// tau_mem of neurons on IF_TAU2_N, seconds.
    pub tau2: f64,
    /// Threshold of neurons on IF_TAU1_N.
    pub threshold1: f64,
    /// Threshold of neurons on IF_TAU2_N.
    pub threshold2: f64,
    /// Synaptic time constant per type ([`SynapseType::index`]), seconds.
    pub tau_syn: [f64; 4],
    /// Base weight per type, membrane units per connection; 0 for an unused type.
    pub base_weights: [f64; 4],
    /// LIF bias.
    pub bias: f64,
    /// Spike pulse width, seconds.
    pub pulse_width: f64,
    /// `I_tau2 / I_tau1`: how a TAU2 neuron's threshold relates to a TAU1 neuron's.
    pub tau2_ratio: f64,
}

impl CoreEffective {
    /// The effective parameters of `biases` under `model`.
    pub fn from_biases(biases: &CoreBiases, model: &CurrentModel) -> CoreEffective {
        let current = |name: BiasName| bias_current(biases.get(name));
        let (leak1, leak2, gain) = (current(BiasName::IfTau1N), current(BiasName::IfTau2N), current(BiasName::IfThrN));
        let pulse_width = model.pulse_width_of(current(BiasName::PulsePwlkP));
        let mut tau_syn = [0.0; 4];
        let mut base_weights = [0.0; 4];
        for synapse in SynapseType::ALL {
            tau_syn[synapse.index()] = model.leak_tau(Leak::Synapse, current(synapse.tau_bias()));
            base_weights[synapse.index()] =
                model.base_weight(current(synapse.weight_bias()), current(synapse.gain_bias()), pulse_width);
        }
        CoreEffective {
            tau1: model.leak_tau(Leak::Membrane, leak1),
            tau2: model.leak_tau(Leak::Membrane, leak2),
            threshold1: model.threshold(leak1, gain),
            threshold2: model.threshold(leak2, gain),
            tau_syn,
            base_weights,
            bias: model.bias(current(BiasName::IfDcP)),
            pulse_width,
            tau2_ratio: leak2 / leak1,
        }
    }

    /// (tau_mem, threshold) of a neuron with this TAU2 choice.
    pub fn membrane(&self, uses_tau2: bool) -> (f64, f64) {
        if uses_tau2 { (self.tau2, self.threshold2) } else { (self.tau1, self.threshold1) }
    }
}
