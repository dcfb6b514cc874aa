//! Placement: reserved addresses, the input chip, cores shared by parameters.

use std::collections::{BTreeMap, BTreeSet};

use super::super::{Config, LowerOptions, Matrix, Placement, lower};
use super::{filled, ids, network, population};

fn population_ids(config: &Config, name: &str) -> Vec<usize> {
    let population = config.populations.iter().find(|population| population.name == name).unwrap();
    population.neurons.iter().map(|id| id.index()).collect()
}

#[test]
fn populations_with_different_parameters_get_their_own_cores() {
    let mut second = population("second", 3, filled(2, 3, 0.5), None);
    second.tau_mem = vec![0.05; 3];
    let two = network(1, vec![population("first", 2, filled(1, 2, 1.0), None), second]);
    let config = lower(&two, &LowerOptions::default()).unwrap().config;
    // Chip 0 core 0 starts at slot 1 (address 0 is reserved); the next core at slot 0.
    assert_eq!(population_ids(&config, "first"), vec![1, 2]);
    assert_eq!(population_ids(&config, "second"), vec![256, 257, 258]);
    assert!(config.neurons.iter().all(|neuron| !neuron.tau2));
}

#[test]
fn identical_parameters_share_one_core_without_error() {
    let chain =
        network(2, vec![population("a", 3, filled(2, 3, 1.0), None), population("b", 4, filled(3, 4, 1.0), None)]);
    let lowered = lower(&chain, &LowerOptions::default()).unwrap();
    // `a` receives input (input chip, first core); `b` has the same parameters but is placed as
    // its own cluster, so it gets a core of its own: no sharing error anywhere.
    for core in &lowered.cores {
        assert!(core.sharing.iter().all(|sharing| sharing.max_error == 0.0), "{:?}", core.sharing);
    }
    let cores: BTreeSet<usize> = lowered.config.neurons.iter().map(|neuron| neuron.id.core().board_index()).collect();
    assert_eq!(cores.len(), 2);
}

#[test]
fn more_parameter_groups_than_cores_share_cores_and_report_it() {
    // 20 populations of 10 neurons with tau_mem 10, 11, … ms: 20 groups for 16 cores.
    let populations: Vec<_> = (0..20)
        .map(|layer| {
            let previous = if layer == 0 { 1 } else { 10 };
            let mut layer_population = population(&format!("l{layer}"), 10, filled(previous, 10, 0.1), None);
            layer_population.tau_mem = vec![0.01 + 0.001 * layer as f64; 10];
            layer_population
        })
        .collect();
    let deep = network(1, populations);
    let lowered = lower(&deep, &LowerOptions::default()).unwrap();
    assert_eq!(lowered.cores.len(), 16);
    let shared: Vec<_> = lowered.cores.iter().filter(|core| core.populations.len() > 1).collect();
    assert_eq!(shared.len(), 4, "20 groups on 16 cores: 4 cores hold two");
    for core in &shared {
        // Two tau_mem values are served exactly by TAU1 and TAU2 ...
        let tau_mem = core.sharing.iter().find(|sharing| sharing.parameter == "tau_mem").unwrap();
        assert!(tau_mem.max_error < 1e-12, "{tau_mem:?}");
        assert_eq!(tau_mem.shared.len(), 2);
        // ... but one membrane gain makes the TAU2 neurons' threshold differ: reported.
        let threshold = core.sharing.iter().find(|sharing| sharing.parameter == "threshold").unwrap();
        assert!(threshold.max_error > 0.0 && threshold.max_error < 0.1, "{threshold:?}");
        // Ward merging pairs neighbouring time constants.
        let layers: Vec<usize> = core.populations.iter().map(|(name, _)| name[1..].parse().unwrap()).collect();
        assert_eq!(layers[1] - layers[0], 1, "{layers:?}");
    }
    let tau2: usize = lowered.config.neurons.iter().filter(|neuron| neuron.tau2).count();
    assert_eq!(tau2, 40);
    // Every id is unique and avoids chip-local address 0; no two chips reuse an address.
    let addresses: Vec<usize> = lowered.config.neurons.iter().map(|neuron| neuron.id.address().index()).collect();
    assert!(addresses.iter().all(|address| *address != 0));
    assert_eq!(addresses.iter().collect::<BTreeSet<_>>().len(), addresses.len());
}

#[test]
fn input_neurons_live_on_the_input_chip() {
    let two = network(
        1,
        vec![
            population("in", 2, Matrix::from_rows(&[vec![1.0, 0.0]]), None),
            population("out", 1, filled(2, 1, 1.0), None),
        ],
    );
    let options = LowerOptions { input_chip: 2, ..LowerOptions::default() };
    let config = lower(&two, &options).unwrap().config;
    assert_eq!(config.input.chip.index(), 2);
    let first = config.populations[0].neurons[0];
    assert_eq!(first.chip().index(), 2);
    assert_eq!(first.index(), 2048 + 1, "slot 0 of core 0 is reserved");
    // The non-input neuron of the first population and the output go to other cores on chip 2.
    let chips: BTreeSet<usize> = config.neurons.iter().map(|neuron| neuron.id.chip().index()).collect();
    assert_eq!(chips, BTreeSet::from([2]));
    assert_eq!(config.input.core_mask.bits(), 0b0001);
}

#[test]
fn the_whole_board_fills_without_address_zero() {
    let full = network(1, vec![population("all", 4092, Matrix::zeros(1, 4092), None)]);
    let config = lower(&full, &LowerOptions::default()).unwrap().config;
    let mut per_core: BTreeMap<usize, usize> = BTreeMap::new();
    for neuron in &config.neurons {
        assert_ne!(neuron.id.address().index(), 0);
        *per_core.entry(neuron.id.core().board_index()).or_default() += 1;
    }
    assert_eq!(config.neurons.len(), 4092);
    assert_eq!(per_core.len(), 16);
    assert!(per_core.iter().all(|(core, count)| *count == if core % 4 == 0 { 255 } else { 256 }));
}

#[test]
fn explicit_placement_is_kept() {
    let pair = network(1, vec![population("p", 2, filled(1, 2, 1.0), None)]);
    let options = LowerOptions {
        placement: Some(Placement { neurons: vec![ids(&[300, 17])], virtual_ids: None }),
        ..LowerOptions::default()
    };
    let config = lower(&pair, &options).unwrap().config;
    assert_eq!(population_ids(&config, "p"), vec![300, 17]);
    let neurons: Vec<(usize, usize)> = config.neurons.iter().map(|neuron| (neuron.id.index(), neuron.index)).collect();
    assert_eq!(neurons, vec![(17, 1), (300, 0)]);
    assert_eq!(config.input.core_mask.bits(), 0b0011);
}

#[test]
fn tau2_is_used_only_when_it_helps() {
    // One core, tau_mem 20 and 24 ms. With one membrane gain a TAU2 neuron's threshold scales by
    // tau1/tau2 = 0.833: thresholds following that are served exactly, opposite ones are not.
    let lowered_with = |thresholds: [f64; 4]| {
        let mut shared = population("p", 4, filled(1, 4, 1.0), None);
        shared.tau_mem = vec![0.02, 0.02, 0.024, 0.024];
        shared.threshold = thresholds.to_vec();
        let options = LowerOptions {
            placement: Some(Placement { neurons: vec![ids(&[1, 2, 3, 4])], virtual_ids: None }),
            ..LowerOptions::default()
        };
        lower(&network(1, vec![shared]), &options).unwrap()
    };
    let following = lowered_with([1.0, 1.0, 1.0 / 1.2, 1.0 / 1.2]);
    assert_eq!(following.config.neurons.iter().filter(|neuron| neuron.tau2).count(), 2);
    for sharing in &following.cores[0].sharing {
        assert!(sharing.max_error < 0.02, "{sharing:?}");
    }
    let opposing = lowered_with([1.0, 1.0, 1.2, 1.2]);
    assert!(opposing.config.neurons.iter().all(|neuron| !neuron.tau2));
    let tau_mem = opposing.cores[0].sharing.iter().find(|sharing| sharing.parameter == "tau_mem").unwrap();
    assert_eq!(tau_mem.shared, vec![0.022]);
    assert!((tau_mem.max_error - 0.1).abs() < 1e-12);
}

#[test]
fn a_placement_file_names_populations_and_is_range_checked() {
    use super::super::PlacementFileError;
    let chain =
        network(2, vec![population("a", 2, filled(2, 2, 1.0), None), population("b", 1, filled(2, 1, 1.0), None)]);
    let text = r#"{"populations": {"b": [1030], "a": [5, 6]}, "virtual_ids": [7, 8]}"#;
    let placement = Placement::from_json(text, &chain).unwrap();
    assert_eq!(placement.neurons, vec![ids(&[5, 6]), ids(&[1030])], "chain order, not file order");
    let config = lower(&chain, &LowerOptions { placement: Some(placement), ..LowerOptions::default() }).unwrap().config;
    assert_eq!(population_ids(&config, "b"), vec![1030]);
    let missing = Placement::from_json(r#"{"populations": {"a": [5, 6]}}"#, &chain);
    assert!(matches!(missing, Err(PlacementFileError::Missing { population }) if population == "b"));
    let unknown = Placement::from_json(r#"{"populations": {"a": [5, 6], "b": [7], "c": [8]}}"#, &chain);
    assert!(matches!(unknown, Err(PlacementFileError::Unknown { population }) if population == "c"));
    let out_of_range = Placement::from_json(r#"{"populations": {"a": [5, 4096], "b": [7]}}"#, &chain);
    assert!(matches!(out_of_range, Err(PlacementFileError::Json(_))));
}
