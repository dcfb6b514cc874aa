//! Bias conversion: the coarse/fine table, the current model and their round trips.

use super::super::board::{COARSE_BASE_CURRENTS, DARK_CURRENT, MAX_BIAS_CURRENT};
use super::super::{
    BiasName, BiasValue, CoreBiases, CoreEffective, CurrentModel, Leak, LowerOptions, bias_current, encode_current,
    lower,
};
use super::{network, population};

#[test]
fn table_values() {
    assert_eq!(bias_current(BiasValue::new(0, 255).unwrap()), 15e-12);
    assert_eq!(bias_current(BiasValue::new(7, 255).unwrap()), MAX_BIAS_CURRENT);
    assert_eq!(bias_current(BiasValue::ZERO), 0.0);
    assert!((bias_current(BiasValue::new(3, 51).unwrap()) - 1.3e-9).abs() < 1e-21);
    assert!(BiasValue::new(8, 0).is_err());
}

#[test]
fn every_code_encodes_back_to_itself_or_a_finer_alias() {
    for coarse in 0..8u8 {
        for fine in 0..=255u8 {
            let value = BiasValue::new(coarse, fine).unwrap();
            let current = bias_current(value);
            if current < DARK_CURRENT {
                continue;
            }
            let encoded = encode_current(current);
            assert!(encoded.in_range);
            assert!((encoded.current - current).abs() <= current * 1e-12, "{coarse}/{fine}");
            assert!(encoded.value.coarse() <= coarse, "ties go to the finer coarse value");
            // Encoding is canonical: the chosen code encodes to itself.
            assert_eq!(encode_current(encoded.current).value, encoded.value);
        }
    }
    // An exact alias: coarse 0 fine 7k = coarse 1 fine k, since 105 pA = 7 × 15 pA.
    assert_eq!(encode_current(bias_current(BiasValue::new(1, 30).unwrap())).value, BiasValue::new(0, 210).unwrap());
}

#[test]
fn nearest_code_and_its_error() {
    // 20 ms membrane leak: C·U_T/(κ·τ) = 3 pF · 25 mV / (0.705 · 20 ms) = 5.319 pA → coarse 0, fine 90.
    let model = CurrentModel::default();
    let current = model.leak_current(Leak::Membrane, 0.02);
    assert!((current - 5.319_148_936e-12).abs() < 1e-20);
    let encoded = encode_current(current);
    assert_eq!((encoded.value.coarse(), encoded.value.fine()), (0, 90));
    let tau = model.leak_tau(Leak::Membrane, encoded.current);
    assert!((tau / 0.02 - 1.0).abs() < 0.005, "{tau}");
    // Above 1.5 pA (fine ≥ 25 on coarse 0; each coarse step is ≈ 8×, so fine ≥ 31 above) the
    // relative error stays below 2 %; below, coarse 0's 0.059 pA steps dominate.
    let bottom = encode_current(DARK_CURRENT);
    assert!((bottom.current - 9.0 / 255.0 * 15e-12).abs() < 1e-25);
    let mut current = 1.5e-12;
    while current < MAX_BIAS_CURRENT {
        let encoded = encode_current(current);
        assert!(encoded.in_range && ((encoded.current - current) / current).abs() < 0.02, "{current}");
        current *= 1.37;
    }
}

#[test]
fn out_of_range_currents_give_the_nearest_code() {
    let high = encode_current(1e-3);
    assert!(!high.in_range);
    assert_eq!((high.value.coarse(), high.value.fine()), (7, 255));
    let low = encode_current(1e-14);
    assert!(!low.in_range);
    assert_eq!((low.value.coarse(), low.value.fine()), (0, 9));
    assert!(low.current >= DARK_CURRENT);
    let negative = encode_current(-1e-9);
    assert!(!negative.in_range && negative.value == BiasValue::ZERO);
    assert!(encode_current(0.0).in_range);
    assert_eq!(COARSE_BASE_CURRENTS.len(), 8);
}

#[test]
fn current_model_inverts() {
    let model = CurrentModel::default();
    for tau in [1e-4, 5e-3, 0.1] {
        for leak in [Leak::Membrane, Leak::Synapse] {
            assert!((model.leak_tau(leak, model.leak_current(leak, tau)) / tau - 1.0).abs() < 1e-12);
        }
    }
    let gain = model.membrane_gain_current(2e-12, 0.5);
    assert!((model.threshold(2e-12, gain) - 0.5).abs() < 1e-15);
    let weight_current = model.weight_current(0.25, 3e-9, 1e-5);
    assert!((model.base_weight(weight_current, 3e-9, 1e-5) - 0.25).abs() < 1e-15);
    assert!((model.bias(model.dc_current(0.3)) - 0.3).abs() < 1e-15);
    assert!((model.pulse_width_of(model.pulse_current(1e-5)) - 1e-5).abs() < 1e-20);
}

#[test]
fn lowered_biases_give_back_the_shared_parameters() {
    let mut single = population("p", 3, super::filled(1, 3, 1.0), None);
    single.tau_syn = vec![0.004; 3];
    single.threshold = vec![0.8; 3];
    single.bias = vec![0.05; 3];
    let lowered = lower(&network(1, vec![single]), &LowerOptions::default()).unwrap();
    let core = &lowered.config.cores[0];
    let effective = CoreEffective::from_biases(&core.biases, &CurrentModel::default());
    let close = |achieved: f64, wanted: f64, tolerance: f64| (achieved / wanted - 1.0).abs() < tolerance;
    assert!(close(effective.tau1, 0.02, 0.01), "{}", effective.tau1);
    assert!(effective.tau_syn.iter().all(|tau| close(*tau, 0.004, 0.01)));
    // Threshold and base weight follow the achieved leaks, so only their own rounding remains.
    assert!(close(effective.threshold1, 0.8, 0.01), "{}", effective.threshold1);
    assert!(close(effective.bias, 0.05, 0.01), "{}", effective.bias);
    assert!(close(effective.base_weights[0], 1.0 / 64.0, 0.01), "{:?}", effective.base_weights);
    assert_eq!(effective.base_weights[1..], [0.0, 0.0, 0.0]);
    // Every recorded choice is in range and its achieved value is what the codes give.
    for choice in &lowered.cores[0].biases {
        assert!(choice.in_range);
        assert_eq!(bias_current(core.biases.get(choice.bias)), choice.achieved_current);
    }
    // Fixed biases keep cAER's defaults; adaptation is off.
    assert_eq!(core.biases.get(BiasName::IfBufP), BiasValue::new(3, 80).unwrap());
    assert_eq!(core.biases.get(BiasName::IfAhwP).fine(), 0);
    assert_eq!(CoreBiases::default().iter().count(), 25);
}
