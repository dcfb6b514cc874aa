//! The current model: how reef's LIF parameters become Dynap-SE1 bias currents, and back.
//!
//! Dynap-SE1 neurons and synapses are subthreshold DPI (differential pair integrator) circuits.
//! reef uses the first-order model Rockpool's DynapSim uses, with its constants; Rockpool itself
//! says these factors are not verified on Dynap-SE1 silicon ("Neither experimental nor
//! theoretical", `scaling_factor_se1.py`), so treat absolute values as approximate.
//!
//! * Leak: `tau = C · U_T / (κ · I_tau)`, with `C` = `membrane_capacitance` for IF_TAU1_N /
//!   IF_TAU2_N and `synapse_capacitance` for the four NPDPI*_TAU_* biases.
//! * Units: one membrane unit of input (a LIF `isyn` or `bias` of 1.0) is `unit_current`
//!   (Rockpool's `Iscale`, 10 nA). So IF_DC_P = `bias · unit_current`.
//! * Threshold: Dynap-SE1 has no spike-threshold bias. In steady state the DPI neuron gives
//!   `I_mem = (I_gain / I_tau) · I_in` and fires at a fixed current, so a LIF threshold θ is
//!   encoded in the membrane gain IF_THR_N: `θ = membrane_gain_ratio · I_tau / I_gain`, where
//!   `membrane_gain_ratio` (4, Rockpool's `Igain_mem = 4 · Itau_mem`) is the gain ratio of θ = 1.
//!   A neuron that uses IF_TAU2_N therefore sees `θ · I_tau2 / I_tau1`.
//! * Synapse gain: NPDPI*_THR_* = `synapse_gain_ratio · I_tau_syn` (Rockpool's ratio, 100).
//! * Pulse: PULSE_PWLK_P sets the spike pulse width `t_pulse = C_pulse · V_pulse / I_pulse`;
//!   IF_RFR_N likewise sets the refractory period with `refractory_capacitance`.
//! * Weight: during a pulse of width `t_pulse ≪ tau_syn` the DPI synapse current jumps by
//!   `ΔI_syn = (I_gain / I_tau) · I_w · t_pulse / tau_syn = κ · I_gain · I_w · t_pulse / (C_syn · U_T)`.
//!   A base weight `b` (membrane units per CAM connection) is a jump of `b · unit_current`, so
//!   PS_WEIGHT_* = `b · unit_current · C_syn · U_T / (κ · I_gain · t_pulse)`.

use serde::{Deserialize, Serialize};

/// The constants of the current model (see the module doc). Defaults are Rockpool 3.1
/// DynapSim's; the config records the model it was lowered with.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurrentModel {
    /// Thermal voltage `U_T`, in volt.
    pub thermal_voltage: f64,
    /// Subthreshold slope factor κ (Rockpool: mean of 0.75 and 0.66).
    pub kappa: f64,
    /// Membrane capacitance, in farad.
    pub membrane_capacitance: f64,
    /// Synapse (DPI) capacitance, in farad.
    pub synapse_capacitance: f64,
    /// Current of one membrane unit of input, in ampere (Rockpool's `Iscale`).
    pub unit_current: f64,
    /// `I_gain / I_tau` of the membrane for a threshold of 1.
    pub membrane_gain_ratio: f64,
    /// `I_gain / I_tau` of every synapse.
    pub synapse_gain_ratio: f64,
    /// Pulse-extender capacitance, in farad.
    pub pulse_capacitance: f64,
    /// Pulse-extender switching voltage, in volt.
    pub pulse_voltage: f64,
    /// Spike pulse width to configure, in seconds.
    pub pulse_width: f64,
    /// Refractory capacitance, in farad.
    pub refractory_capacitance: f64,
    /// Refractory period to configure, in seconds. reef's LIF has none, so this is short.
    pub refractory_period: f64,
}

impl Default for CurrentModel {
    fn default() -> CurrentModel {
        CurrentModel {
            thermal_voltage: 0.025,
            kappa: 0.705,
            membrane_capacitance: 3e-12,
            synapse_capacitance: 25e-12,
            unit_current: 1e-8,
            membrane_gain_ratio: 4.0,
            synapse_gain_ratio: 100.0,
            pulse_capacitance: 0.5e-12,
            pulse_voltage: 0.7,
            pulse_width: 1e-5,
            refractory_capacitance: 1.5e-12,
            refractory_period: 1e-6,
        }
    }
}

/// Which capacitor a leak bias charges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leak {
    /// The membrane (IF_TAU1_N, IF_TAU2_N).
    Membrane,
    /// A DPI synapse (NPDPI*_TAU_*).
    Synapse,
}

impl CurrentModel {
    fn capacitance(&self, leak: Leak) -> f64 {
        match leak {
            Leak::Membrane => self.membrane_capacitance,
            Leak::Synapse => self.synapse_capacitance,
        }
    }

    /// Leak current for time constant `tau` (seconds).
    pub fn leak_current(&self, leak: Leak, tau: f64) -> f64 {
        self.capacitance(leak) * self.thermal_voltage / (self.kappa * tau)
    }

    /// Time constant (seconds) of leak current `current`; infinite for zero current.
    pub fn leak_tau(&self, leak: Leak, current: f64) -> f64 {
        self.capacitance(leak) * self.thermal_voltage / (self.kappa * current)
    }

    /// PULSE_PWLK_P current for pulse width `width` (seconds).
    pub fn pulse_current(&self, width: f64) -> f64 {
        self.pulse_capacitance * self.pulse_voltage / width
    }

    /// Pulse width (seconds) of PULSE_PWLK_P current `current`.
    pub fn pulse_width_of(&self, current: f64) -> f64 {
        self.pulse_capacitance * self.pulse_voltage / current
    }

    /// IF_RFR_N current for refractory period `period` (seconds).
    pub fn refractory_current(&self, period: f64) -> f64 {
        self.refractory_capacitance * self.pulse_voltage / period
    }

    /// IF_THR_N current giving threshold `threshold` to neurons leaking with `leak_current`.
    pub fn membrane_gain_current(&self, leak_current: f64, threshold: f64) -> f64 {
        self.membrane_gain_ratio * leak_current / threshold
    }

    /// Threshold of a neuron leaking with `leak_current` under membrane gain `gain_current`.
    pub fn threshold(&self, leak_current: f64, gain_current: f64) -> f64 {
        self.membrane_gain_ratio * leak_current / gain_current
    }

    /// NPDPI*_THR_* current for a synapse leaking with `leak_current`.
    pub fn synapse_gain_current(&self, leak_current: f64) -> f64 {
        self.synapse_gain_ratio * leak_current
    }

    /// IF_DC_P current for LIF bias `bias`.
    pub fn dc_current(&self, bias: f64) -> f64 {
        bias * self.unit_current
    }

    /// LIF bias of IF_DC_P current `current`.
    pub fn bias(&self, current: f64) -> f64 {
        current / self.unit_current
    }

    /// PS_WEIGHT_* current for base weight `weight` through a synapse with gain current
    /// `gain_current`, driven by pulses of width `pulse_width`.
    pub fn weight_current(&self, weight: f64, gain_current: f64, pulse_width: f64) -> f64 {
        weight * self.unit_current * self.synapse_capacitance * self.thermal_voltage
            / (self.kappa * gain_current * pulse_width)
    }

    /// Base weight of PS_WEIGHT_* current `current` (the inverse of [`CurrentModel::weight_current`]);
    /// zero when any factor is zero.
    pub fn base_weight(&self, current: f64, gain_current: f64, pulse_width: f64) -> f64 {
        let weight = current * self.kappa * gain_current * pulse_width
            / (self.unit_current * self.synapse_capacitance * self.thermal_voltage);
        if weight.is_finite() { weight } else { 0.0 }
    }
}
