//! Round trips: Config → JSON → Config, and Config → lift → lower → the same Config.

use super::super::{Config, LiftError, LowerOptions, Matrix, Placement, SpikingNetwork, lift, lower};
use super::oracle::{oracle_network, oracle_options};
use super::{ids, network, population};

/// Two populations, recurrent, mixed-sign float weights, and per-neuron parameters that make
/// cores share (two tau_mem values → TAU2 in use, thresholds and biases averaged).
fn rich_network() -> SpikingNetwork {
    let w_in =
        Matrix::from_rows(&[vec![0.8, -0.3, 0.45, 0.1], vec![0.05, 0.6, -0.25, 0.9], vec![-0.4, 0.2, 0.7, 0.33]]);
    let w_rec = Matrix::from_rows(&[
        vec![0.0, 0.15, -0.2, 0.0],
        vec![0.3, 0.0, 0.0, -0.12],
        vec![0.0, 0.22, 0.0, 0.41],
        vec![-0.05, 0.0, 0.18, 0.0],
    ]);
    let mut hidden = population("hidden", 4, w_in, Some(w_rec));
    hidden.tau_mem = vec![0.02, 0.02, 0.035, 0.035];
    hidden.threshold = vec![1.0, 1.1, 0.9, 1.0];
    hidden.bias = vec![0.01, 0.0, 0.02, 0.0];
    let readout = population(
        "readout",
        2,
        Matrix::from_rows(&[vec![0.5, -0.5], vec![0.25, 0.75], vec![-0.6, 0.1], vec![0.4, 0.4]]),
        None,
    );
    network(3, vec![hidden, readout])
}

/// `hidden` on one core (so its parameters are shared), `readout` on chip 1.
fn rich_options() -> LowerOptions {
    LowerOptions {
        placement: Some(Placement { neurons: vec![ids(&[1, 2, 3, 4]), ids(&[1030, 1031])], virtual_ids: None }),
        ..LowerOptions::default()
    }
}

fn assert_json_round_trip(config: &Config) {
    let json = config.to_json().unwrap();
    let back = Config::from_json(&json).unwrap();
    assert_eq!(&back, config);
    assert_eq!(back.to_json().unwrap(), json, "byte-equal JSON");
}

fn assert_lift_lower_identity(config: &Config) {
    let lifted = lift(config).unwrap();
    let again = lower(&lifted.network, &lifted.lower_options()).unwrap().config;
    assert_eq!(&again, config);
    assert_eq!(again.to_json().unwrap(), config.to_json().unwrap());
}

#[test]
fn json_round_trip_is_identity() {
    assert_json_round_trip(&lower(&rich_network(), &rich_options()).unwrap().config);
    assert_json_round_trip(&lower(&oracle_network(), &oracle_options(true)).unwrap().config);
}

#[test]
fn lift_then_lower_gives_the_same_config() {
    let config = lower(&rich_network(), &rich_options()).unwrap().config;
    assert!(config.neurons.iter().any(|neuron| neuron.tau2), "the case exercises TAU2");
    assert_lift_lower_identity(&config);
    assert_lift_lower_identity(&lower(&oracle_network(), &oracle_options(true)).unwrap().config);
    // Also after a trip through JSON.
    assert_lift_lower_identity(&Config::from_json(&config.to_json().unwrap()).unwrap());
}

#[test]
fn round_trip_after_pruning() {
    // 70 weights into one neuron: 6 dropped for the budget, some rounded away.
    let w_in = Matrix { rows: 70, cols: 1, data: (1..=70).map(f64::from).collect() };
    let options = LowerOptions { prune: true, ..LowerOptions::default() };
    let lowered = lower(&network(70, vec![population("p", 1, w_in, None)]), &options).unwrap();
    assert!(!lowered.quantisation.pruned.is_empty());
    assert_lift_lower_identity(&lowered.config);
}

#[test]
fn lifted_network_has_integer_weights_times_base_weights() {
    let config = lower(&oracle_network(), &oracle_options(true)).unwrap().config;
    let lifted = lift(&config).unwrap();
    let counts = &lifted.counts[0];
    assert_eq!(counts.w_in.data, vec![1, -1, 2, 0, -1, 0, 0, 2]);
    assert_eq!(counts.w_rec.data, vec![0, 1, -1, 0, 0, 0, 0, 1, 1, 0, 0, -2, 0, 0, 0, 0]);
    let core = &config.cores[0];
    let population = &lifted.network.populations[0];
    // w = count × base weight of the connection's type (base weights ≈ 1 after bias rounding).
    assert!((population.w_in.get(0, 2) - 2.0 * core.base_weights.fast_exc).abs() < 1e-9);
    assert!((population.w_rec.as_ref().unwrap().get(2, 3) + 2.0 * core.base_weights.fast_inh).abs() < 1e-9);
    assert!((core.base_weights.slow_exc - 1.0).abs() < 0.02);
    // Shared parameters come back as the core's effective values.
    assert!(population.tau_mem.iter().all(|tau| (tau / 0.02 - 1.0).abs() < 0.01));
    assert_eq!(lifted.network.n_inputs, 2);
    assert!((lifted.network.dt - 1e-4).abs() < 1e-15);
}

#[test]
fn lifted_weights_are_close_to_the_trained_ones() {
    let trained = rich_network();
    let lowered = lower(&trained, &rich_options()).unwrap();
    let lifted = lift(&lowered.config).unwrap();
    let hidden = &lifted.network.populations[0];
    let (mut error, mut norm) = (0.0, 0.0);
    for (chip, wanted) in hidden.w_in.data.iter().zip(&trained.populations[0].w_in.data) {
        error += (chip - wanted).powi(2);
        norm += wanted.powi(2);
    }
    let relative = (error / norm).sqrt();
    let reported = lowered.quantisation.populations[0].relative_error;
    assert!(
        relative <= reported + 1e-9,
        "w_in alone cannot be worse than w_in and w_rec together: {relative} vs {reported}"
    );
    assert!(reported < 0.05, "{reported}");
}

#[test]
fn corrupt_configs_are_rejected_with_reasons() {
    let config = lower(&oracle_network(), &oracle_options(true)).unwrap().config;
    let json = config.to_json().unwrap();
    assert!(Config::from_json(&json.replace("\"id\": 69", "\"id\": 4096")).is_err(), "ids are range-checked");
    assert!(Config::from_json(&json.replace("IF_THR_N", "IF_THRESHOLD")).is_err(), "bias names are checked");
    assert!(Config::from_json(&json.replace("\"coarse\": 0", "\"coarse\": 9")).is_err(), "coarse is 0..=7");
    let mut orphan = config.clone();
    orphan.neurons.retain(|neuron| neuron.id.index() != 53);
    assert!(matches!(lift(&orphan), Err(LiftError::UnmatchedNeuron { .. })));
    let mut unrouted = config.clone();
    for neuron in &mut unrouted.neurons {
        neuron.srams.clear();
    }
    assert!(matches!(lift(&unrouted), Err(LiftError::UnresolvedCam { .. })));
    let mut shuffled = config.clone();
    shuffled.input.channels.swap(0, 1);
    assert_eq!(lift(&shuffled), Err(LiftError::InputChannels));
    let mut foreign = config;
    foreign.format = "something else".into();
    assert!(matches!(lift(&foreign), Err(LiftError::Format { .. })));
}
