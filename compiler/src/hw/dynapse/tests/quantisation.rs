//! Quantisation: the fan-in budget is used, errors are what the config implies, and every
//! dropped weight is accounted for.

use super::super::{Config, DrcError, LowerOptions, Lowered, Matrix, PruneReason, Quantisation, SynapseType, lower};
use super::{filled, network, population};

fn target_base_weight(lowered: &Lowered, synapse: SynapseType) -> f64 {
    let wanted = format!("base weight {}", synapse.name());
    lowered.cores[0].biases.iter().find(|choice| choice.quantity == wanted).unwrap().target
}

/// The chip's weight into neuron `post` from virtual input `source`, read from the config.
fn chip_weight(config: &Config, post: usize, source: usize) -> f64 {
    let neuron = config.neurons.iter().find(|neuron| neuron.population == "p" && neuron.index == post).unwrap();
    let core = config.cores.iter().find(|core| core.core == neuron.id.core()).unwrap();
    neuron
        .cams
        .iter()
        .filter(|cam| cam.source.index() == config.input.channels[source].virtual_id.index())
        .map(|cam| cam.synapse.sign() * core.base_weights.get(cam.synapse))
        .sum()
}

#[test]
fn uniform_weights_fill_the_budget_exactly() {
    // 10 inputs of 0.5 per neuron: the finest feasible scale is 0.5 / 6 (60 of 64 CAMs).
    let lowered =
        lower(&network(10, vec![population("p", 3, filled(10, 3, 0.5), None)]), &LowerOptions::default()).unwrap();
    assert!((target_base_weight(&lowered, SynapseType::FastExc) - 0.5 / 6.0).abs() < 1e-12);
    assert!(lowered.config.neurons.iter().all(|neuron| neuron.cams.len() == 60));
    // The only error left is the bias rounding of the base weight (well under 1 %).
    let error = lowered.quantisation.populations[0].relative_error;
    assert!(error > 0.0 && error < 0.01, "{error}");
    assert_eq!((lowered.quantisation.populations[0].connections, lowered.quantisation.populations[0].cams), (30, 180));
}

#[test]
fn reported_error_is_the_configs_frobenius_error() {
    let w_in = Matrix::from_rows(&[vec![0.9, -0.35], vec![0.12, 0.5], vec![-0.71, 0.05], vec![0.33, -0.2]]);
    let trained = w_in.clone();
    let lowered = lower(&network(4, vec![population("p", 2, w_in, None)]), &LowerOptions::default()).unwrap();
    let (mut error, mut norm) = (0.0, 0.0);
    for post in 0..2 {
        let mut cam_total = 0;
        for source in 0..4 {
            let weight = trained.get(source, post);
            error += (chip_weight(&lowered.config, post, source) - weight).powi(2);
            norm += weight.powi(2);
        }
        let neuron = lowered.config.neurons.iter().find(|neuron| neuron.index == post).unwrap();
        cam_total += neuron.cams.len();
        assert!(cam_total <= 64);
    }
    let expected = (error / norm).sqrt();
    let reported = lowered.quantisation.populations[0].relative_error;
    // Config base weights are rounded to 12 digits.
    assert!((reported - expected).abs() < 1e-9, "{reported} vs {expected}");
    assert!(reported < 0.05, "{reported}");
    assert_eq!(lowered.quantisation.cores[0].relative_error, reported);
    // Signs are kept: excitatory and inhibitory types both in use.
    assert!(chip_weight(&lowered.config, 0, 2) < 0.0 && chip_weight(&lowered.config, 1, 1) > 0.0);
}

#[test]
fn small_weights_keep_one_connection_without_prune() {
    // 10.0 and 0.01 into one neuron: without prune the small one keeps one CAM.
    let w_in = Matrix::from_rows(&[vec![10.0], vec![0.01]]);
    let lowered = lower(&network(2, vec![population("p", 1, w_in.clone(), None)]), &LowerOptions::default()).unwrap();
    let cams = &lowered.config.neurons[0].cams;
    let small = lowered.config.input.channels[1].virtual_id.index();
    assert_eq!(cams.iter().filter(|cam| cam.source.index() == small).count(), 1);
    assert_eq!(cams.len(), 64);
    assert!(lowered.quantisation.pruned.is_empty());
    // With prune it may round to zero, and is then listed.
    let options = LowerOptions { prune: true, ..LowerOptions::default() };
    let pruned = lower(&network(2, vec![population("p", 1, w_in, None)]), &options).unwrap();
    assert_eq!(pruned.quantisation.pruned.len(), 1);
    let entry = &pruned.quantisation.pruned[0];
    assert_eq!((entry.pre, entry.post, entry.weight, entry.reason), (1, 0, 0.01, PruneReason::Rounding));
    assert_eq!(pruned.config.neurons[0].cams.len(), 64);
    assert!(super::super::report(&pruned).contains("pruned connections: 1 (fan-in budget 0, rounded to zero 1)"));
}

#[test]
fn budget_pruning_drops_the_smallest_weights_and_counts_them() {
    // 70 distinct weights 1..=70 into one neuron.
    let w_in = Matrix { rows: 70, cols: 1, data: (1..=70).map(f64::from).collect() };
    let wide = network(70, vec![population("p", 1, w_in, None)]);
    match lower(&wide, &LowerOptions::default()) {
        Err(errors) => assert!(matches!(errors[..], [DrcError::FanInExceeded { count: 70, .. }])),
        Ok(_) => panic!("70 weights cannot fit 64 CAMs without pruning"),
    }
    let lowered = lower(&wide, &LowerOptions { prune: true, ..LowerOptions::default() }).unwrap();
    let budget: Vec<f64> = lowered
        .quantisation
        .pruned
        .iter()
        .filter(|entry| entry.reason == PruneReason::Budget)
        .map(|entry| entry.weight)
        .collect();
    assert_eq!(budget, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert!(lowered.config.neurons[0].cams.len() <= 64);
    let rounded = lowered.quantisation.pruned.len() - budget.len();
    let connected: std::collections::BTreeSet<usize> =
        lowered.config.neurons[0].cams.iter().map(|cam| cam.source.index()).collect();
    assert_eq!(connected.len() + lowered.quantisation.pruned.len(), 70, "every weight is on the chip or listed");
    assert_eq!(lowered.quantisation.populations[0].connections, 70);
    assert!(rounded <= 64);
}

#[test]
fn integer_and_given_base_weights() {
    let w_in = Matrix::from_rows(&[vec![3.0, -2.0]]);
    let integer = lower(
        &network(1, vec![population("p", 2, w_in.clone(), None)]),
        &LowerOptions { quantisation: Quantisation::Integer, ..LowerOptions::default() },
    )
    .unwrap();
    let counts: Vec<usize> = integer.config.neurons.iter().map(|neuron| neuron.cams.len()).collect();
    assert_eq!(counts, vec![3, 2]);
    assert!((target_base_weight(&integer, SynapseType::FastExc) - 1.0).abs() < 1e-15);
    // Given base weights of 0.5: counts double.
    let given = super::super::CoreBaseWeights {
        core: integer.config.cores[0].core,
        weights: [Some(0.5), None, Some(0.5), None],
    };
    let halves = lower(
        &network(1, vec![population("p", 2, w_in, None)]),
        &LowerOptions { quantisation: Quantisation::BaseWeights(vec![given]), ..LowerOptions::default() },
    )
    .unwrap();
    let counts: Vec<usize> = halves.config.neurons.iter().map(|neuron| neuron.cams.len()).collect();
    assert_eq!(counts, vec![6, 4]);
}

#[test]
fn types_on_one_core_share_the_budget() {
    // Per neuron: 20 excitatory inputs of 1.0 and 20 inhibitory of -0.5; one neuron, one core.
    let mut data = vec![1.0; 20];
    data.extend(vec![-0.5; 20]);
    let w_in = Matrix { rows: 40, cols: 1, data };
    let lowered = lower(&network(40, vec![population("p", 1, w_in, None)]), &LowerOptions::default()).unwrap();
    let cams = &lowered.config.neurons[0].cams;
    assert!(cams.len() <= 64);
    let excitatory = cams.iter().filter(|cam| cam.synapse == SynapseType::FastExc).count();
    let inhibitory = cams.iter().filter(|cam| cam.synapse == SynapseType::FastInh).count();
    assert_eq!(excitatory + inhibitory, cams.len());
    // Both weights are exact multiples of one scale: 1 connection each (b = 1.0 and 0.5) is feasible.
    assert!(lowered.quantisation.populations[0].relative_error < 0.01);
    assert!(excitatory >= 20 && inhibitory >= 20);
}
