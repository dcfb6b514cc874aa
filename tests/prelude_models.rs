//! Prelude models against steps computed by hand, and bad data rejected with clear errors.

use ndarray::{ArrayD, IxDyn};
use reef_lang::Sources;
use reef_runtime::io::Precision;
use reef_runtime::params::ParamSet;
use reef_runtime::run::{RunError, evolve};

fn compile(text: &str) -> reef_compiler::Compiled {
    let mut sources = Sources::with_prelude();
    let id = sources.add("test.net", text);
    match reef_compiler::compile_source(&sources, id) {
        Ok(mut networks) => networks.remove(0),
        Err(d) => panic!("{}", sources.render(&d, false)),
    }
}

fn params(values: &[(&str, Vec<f64>)]) -> ParamSet {
    values
        .iter()
        .map(|(name, v)| (name.to_string(), ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.clone()).unwrap()))
        .collect()
}

fn signal(values: &[f64]) -> ArrayD<f64> {
    ArrayD::from_shape_vec(IxDyn(&[values.len(), 1]), values.to_vec()).unwrap()
}

#[test]
fn lif_counts_several_spikes_and_resets_by_subtraction() {
    // dt = 1 ms, tau = 1 ms: alpha = beta = e^-1. Input 3.0 at step 0 only, threshold 1.
    let network = compile("network N(dt = 1 ms) = LIF(1, tau_mem = 1 ms, tau_syn = 1 ms)");
    let p = params(&[
        ("0_LIF.tau_mem", vec![1e-3]),
        ("0_LIF.tau_syn", vec![1e-3]),
        ("0_LIF.bias", vec![0.0]),
        ("0_LIF.threshold", vec![1.0]),
    ]);
    let out = evolve(&network, &p, &signal(&[3.0, 0.0, 0.0]), Precision::F64, true, 0).unwrap();
    let decay = (-1.0f64).exp();
    // Step 0: isyn = 3 e^-1 = 1.1036, vmem = 1.1036 -> 1 spike, vmem = 0.1036.
    let isyn0 = 3.0 * decay;
    assert_eq!(out.output[[0, 0, 0]], 1.0);
    let vmem0 = isyn0 - 1.0;
    // Step 1: vmem = e^-1 * vmem0 + e^-1 * isyn0.
    let isyn1 = isyn0 * decay;
    let vmem1 = decay * vmem0 + isyn1;
    let expected_spikes1 = if vmem1 >= 1.0 { (vmem1 / 1.0).floor() } else { 0.0 };
    assert_eq!(out.output[[0, 1, 0]], expected_spikes1);
    let vmem = &out.records.iter().find(|(n, _)| n == "0_LIF.vmem").unwrap().1;
    assert!((vmem[[0, 0, 0]] - vmem0).abs() < 1e-12);
    assert!((vmem[[0, 1, 0]] - (vmem1 - expected_spikes1)).abs() < 1e-12);

    // A large input: vmem = 2.5 after the step gives 2 spikes and leaves 0.5.
    let big = 2.5 / decay;
    let out = evolve(&network, &p, &signal(&[big]), Precision::F64, true, 0).unwrap();
    assert_eq!(out.output[[0, 0, 0]], 2.0);
    let vmem = &out.records.iter().find(|(n, _)| n == "0_LIF.vmem").unwrap().1;
    assert!((vmem[[0, 0, 0]] - 0.5).abs() < 1e-12, "subtractive reset leaves 0.5, got {}", vmem[[0, 0, 0]]);
}

#[test]
fn expsyn_decays_after_adding_the_input() {
    let network = compile("network N(dt = 1 ms) = ExpSyn(1)");
    let p = params(&[("0_ExpSyn.tau", vec![10e-3])]);
    let out = evolve(&network, &p, &signal(&[1.0, 0.0, 2.0]), Precision::F64, false, 0).unwrap();
    let d = (-0.1f64).exp();
    let expected = [d, d * d, (d * d + 2.0) * d];
    for (t, e) in expected.iter().enumerate() {
        assert!((out.output[[0, t, 0]] - e).abs() < 1e-12, "step {t}: {} vs {e}", out.output[[0, t, 0]]);
    }
}

#[test]
fn rate_outputs_activation_of_x_minus_threshold() {
    let network = compile("network N(dt = 1 ms) = Rate(1, activation = tanh)");
    let p = params(&[("0_Rate.tau", vec![20e-3]), ("0_Rate.bias", vec![0.5]), ("0_Rate.threshold", vec![0.2])]);
    let out = evolve(&network, &p, &signal(&[1.0, 1.0]), Precision::F64, false, 0).unwrap();
    let x1 = 0.0 + 0.05 * (-0.0 + 1.0 + 0.5);
    let x2 = x1 + 0.05 * (-x1 + 1.0 + 0.5);
    assert!((out.output[[0, 0, 0]] - (x1 - 0.2f64).tanh()).abs() < 1e-12);
    assert!((out.output[[0, 1, 0]] - (x2 - 0.2f64).tanh()).abs() < 1e-12);
    // relu (the default) is zero below threshold.
    let relu = compile("network N(dt = 1 ms) = Rate(1)");
    let p = params(&[("0_Rate.tau", vec![20e-3]), ("0_Rate.bias", vec![0.0]), ("0_Rate.threshold", vec![0.5])]);
    let out = evolve(&relu, &p, &signal(&[1.0]), Precision::F64, false, 0).unwrap();
    assert_eq!(out.output[[0, 0, 0]], 0.0);
}

#[test]
fn bad_data_is_rejected_with_clear_errors() {
    let network = compile("network N(dt = 1 ms) = Sequential(Linear(2, 3), Rate(3))");
    let p = reef_runtime::run::load_params(&network.graph, None, 0).unwrap();
    let wrong_channels = ArrayD::<f64>::zeros(IxDyn(&[5, 3]));
    let error = evolve(&network, &p, &wrong_channels, Precision::F32, false, 0).unwrap_err();
    assert!(matches!(error, RunError::InputShape { channels: 2, .. }));
    assert_eq!(error.to_string(), "input has shape [5, 3]; the network takes [time, 2] or [batch, time, 2]");
    let wrong_rank = ArrayD::<f64>::zeros(IxDyn(&[10]));
    assert!(matches!(evolve(&network, &p, &wrong_rank, Precision::F32, false, 0), Err(RunError::InputShape { .. })));
    let mut nan = ArrayD::<f64>::zeros(IxDyn(&[2, 4, 2]));
    nan[[1, 2, 0]] = f64::NAN;
    let error = evolve(&network, &p, &nan, Precision::F32, false, 0).unwrap_err();
    assert_eq!(error.to_string(), "input holds NaN at [batch 1, step 2, channel 0]; inputs must be finite");
}
