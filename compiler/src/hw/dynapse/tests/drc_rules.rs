//! Every design rule, triggered once, with its code, message, help and source.

use super::super::{
    AliasSource, CapacityScope, DrcError, LowerOptions, Matrix, Placement, PlacementPart, PlacementProblem,
    Quantisation, SourceRef, SpikingNetwork, SynapseType, Unsupported, VirtualIdProblem, lower,
};
use super::{filled, ids, network, population, virtual_ids};

fn errors(network: &SpikingNetwork, options: &LowerOptions) -> Vec<DrcError> {
    match lower(network, options) {
        Ok(_) => panic!("expected design-rule errors"),
        Err(errors) => errors,
    }
}

fn only(network: &SpikingNetwork, options: &LowerOptions) -> DrcError {
    let mut found = errors(network, options);
    assert_eq!(found.len(), 1, "{found:?}");
    found.remove(0)
}

/// Every error names its code, says something, and (where it has a module) points at it.
fn assert_described(error: &DrcError, code: &str, words: &[&str]) {
    assert_eq!(error.code(), code);
    let message = error.message();
    for word in words {
        assert!(message.contains(word), "`{message}` lacks `{word}`");
    }
    assert!(error.to_string().starts_with(&format!("error[{code}]")));
}

fn simple(size: usize) -> SpikingNetwork {
    network(1, vec![population("hidden", size, filled(1, size, 1.0), None)])
}

fn declared(name: &str) -> SourceRef {
    SourceRef { module: name.to_string(), span: (10, 20) }
}

#[test]
fn no_population() {
    let error = only(&network(0, Vec::new()), &LowerOptions::default());
    assert_described(&error, "E0700", &["no LIF population"]);
    assert_eq!(error.source(), None);
}

#[test]
fn shapes_lengths_values_and_parameters() {
    let mut bad = simple(3);
    bad.populations[0].w_in = filled(2, 3, 1.0);
    bad.populations[0].w_rec = Some(Matrix { rows: 3, cols: 3, data: vec![0.0; 8] });
    bad.populations[0].tau_syn.pop();
    bad.populations[0].tau_mem[1] = f64::NAN;
    bad.populations[0].threshold[2] = -1.0;
    let found = errors(&bad, &LowerOptions::default());
    let codes: Vec<&str> = found.iter().map(DrcError::code).collect();
    assert_eq!(codes, vec!["E0714", "E0714", "E0713", "E0714", "E0712"]);
    assert_described(&found[0], "E0714", &["`hidden.w_in` is 2×3, expected 1×3"]);
    assert_described(&found[1], "E0714", &["`hidden.w_rec`"]);
    assert_described(&found[2], "E0713", &["`hidden.tau_mem`", "NaN", "index 1"]);
    assert_described(&found[3], "E0714", &["`hidden.tau_syn` has 2 values for 3 neurons"]);
    assert_described(&found[4], "E0712", &["threshold", "neuron 2", "-1"]);
    assert!(found.iter().all(|error| error.source() == Some(&declared("hidden"))));
}

#[test]
fn dt_out_of_range() {
    // Below one tick, above 65535 ISI units of ≈728 µs (≈47.7 s), and not a number.
    for dt in [1e-9, 60.0, f64::NAN] {
        let mut slow = simple(1);
        slow.dt = dt;
        let error = only(&slow, &LowerOptions::default());
        assert_described(&error, "E0707", &["outside what the FPGA can time"]);
        assert!(error.help().unwrap().contains("11.11 ns"));
    }
    let mut longest = simple(1);
    longest.dt = 65_536.0 / 9.0 * 1e-7;
    let timing = lower(&longest, &LowerOptions::default()).unwrap().config.timing;
    assert_eq!((timing.isi_per_step, timing.isi_base_ticks), (1, 65_536), "≈728 µs is the longest ISI base");
}

#[test]
fn a_step_longer_than_the_isi_base_is_several_isi_units() {
    // (dt, ISI units per step, ISI base in ticks): exact splits where they exist, else the
    // largest realisable step below dt, with the fewest units.
    let cases: [(f64, u64, u64); 5] = [
        (1e-4, 1, 9_000),
        (1e-3, 2, 45_000),
        (1.0, 1_440, 62_500),
        (65_537.0 / 9.0 * 1e-7, 1, 65_536),
        (20.0, 28_125, 64_000),
    ];
    for (dt, units, base) in cases {
        let timing = super::super::step_timing(dt).unwrap();
        assert_eq!((timing.isi_per_step, timing.isi_base_ticks), (units, base), "dt = {dt}");
        // The realised step maps to itself, so lift → lower keeps the timing.
        let again = super::super::step_timing(timing.dt).unwrap();
        assert_eq!(again, timing, "dt = {dt}");
    }
    assert!(super::super::step_timing(super::super::board::MAX_DT * 1.001).is_none());
}

#[test]
fn non_spiking_modules_and_linear_biases() {
    let mut mixed = simple(1);
    mixed.unsupported = vec![
        Unsupported::NonSpiking { module: "0_Rate".into(), kind: "Rate".into(), source: declared("0_Rate") },
        Unsupported::LinearBias { module: "fc".into(), source: declared("fc") },
    ];
    let found = errors(&mixed, &LowerOptions::default());
    assert_described(&found[0], "E0708", &["`0_Rate` is a Rate module"]);
    assert_eq!(found[0].source(), Some(&declared("0_Rate")));
    assert_described(&found[1], "E0709", &["`fc` has a bias"]);
    assert_eq!(found[1].source(), Some(&declared("fc")));
    assert!(found[1].help().unwrap().contains("remove the bias"));
}

#[test]
fn input_chip_must_exist() {
    let error = only(&simple(1), &LowerOptions { input_chip: 4, ..LowerOptions::default() });
    assert_described(&error, "E0718", &["input chip 4"]);
}

#[test]
fn too_many_neurons_for_the_board_and_the_input_chip() {
    let board = network(1, vec![population("big", 4093, Matrix::zeros(1, 4093), None)]);
    let error = only(&board, &LowerOptions::default());
    assert_described(&error, "E0704", &["4093 neurons", "4092 usable"]);
    assert!(matches!(error, DrcError::TooManyNeurons { scope: CapacityScope::Board, .. }));
    assert_eq!(error.source(), Some(&declared("big")));
    let inputs = network(1, vec![population("wide", 1024, filled(1, 1024, 1.0), None)]);
    let error = only(&inputs, &LowerOptions::default());
    assert_described(&error, "E0704", &["1024 neurons receive virtual input", "1023 usable"]);
}

#[test]
fn too_many_inputs() {
    let error = only(&network(1024, vec![population("p", 1, Matrix::zeros(1024, 1), None)]), &LowerOptions::default());
    assert_described(&error, "E0705", &["1024 input channels"]);
    // 1023 channels fit only if no neuron's address must be kept free for aliasing:
    // neuron 1 feeds the input core here, so one id is lost.
    let w_rec = Matrix::from_rows(&[vec![0.0, 0.0], vec![1.0, 0.0]]);
    let crowded = network(1023, vec![population("p", 2, filled(1023, 2, 0.0), Some(w_rec))]);
    let mut crowded = crowded;
    crowded.populations[0].w_in.set(0, 0, 1.0);
    crowded.populations[0].w_in.set(0, 1, 1.0);
    let error = only(&crowded, &LowerOptions { quantisation: Quantisation::Integer, ..LowerOptions::default() });
    assert_eq!(error, DrcError::TooManyInputs { requested: 1023, available: 1022 });
}

#[test]
fn explicit_placement_shapes() {
    let options = |neurons: Vec<Vec<usize>>, virtual_list: Option<Vec<usize>>| LowerOptions {
        placement: Some(Placement {
            neurons: neurons.iter().map(|list| ids(list)).collect(),
            virtual_ids: virtual_list.map(|list| virtual_ids(&list)),
        }),
        ..LowerOptions::default()
    };
    let error = only(&simple(2), &options(vec![], None));
    assert!(matches!(error, DrcError::PlacementShape { part: PlacementPart::Populations, expected: 1, found: 0, .. }));
    let error = only(&simple(2), &options(vec![vec![1]], None));
    assert_described(&error, "E0715", &["`hidden` lists 1 neurons", "has 2"]);
    let error = only(&simple(2), &options(vec![vec![1, 2]], Some(vec![3, 4])));
    assert_described(&error, "E0715", &["2 virtual ids", "1 inputs"]);
    let two_inputs = network(2, vec![population("p", 1, filled(2, 1, 1.0), None)]);
    let error = only(&two_inputs, &options(vec![vec![1]], Some(vec![9, 9])));
    assert_described(&error, "E0716", &["input channels 0 and 1 are both given virtual id 9"]);
}

#[test]
fn explicit_placement_conflicts() {
    let two_stage = network(
        1,
        vec![
            population("a", 2, Matrix::from_rows(&[vec![1.0, 0.0]]), None),
            population("b", 2, filled(2, 2, 1.0), None),
        ],
    );
    let options = LowerOptions {
        placement: Some(Placement {
            neurons: vec![ids(&[1025, 3]), ids(&[1024, 3])],
            virtual_ids: Some(virtual_ids(&[0])),
        }),
        ..LowerOptions::default()
    };
    let found = errors(&two_stage, &options);
    let problems: Vec<(&str, Option<&PlacementProblem>)> = found
        .iter()
        .map(|error| {
            let problem = if let DrcError::PlacementConflict { problem, .. } = error { Some(problem) } else { None };
            (error.code(), problem)
        })
        .collect();
    assert_eq!(problems[0].0, "E0717", "a[0] receives input but is on chip 1");
    assert_eq!(problems[1], ("E0706", Some(&PlacementProblem::ReservedAddress)));
    assert!(matches!(problems[2], ("E0716", Some(PlacementProblem::Duplicate { .. }))));
    assert_described(&found[2], "E0716", &["`b[1]` and `a[1]` are both placed on neuron 3"]);
    assert_eq!(
        found[3],
        DrcError::VirtualIdConflict { channel: 0, id: virtual_ids(&[0])[0], problem: VirtualIdProblem::Reserved }
    );
    assert_eq!(found[3].code(), "E0706");
    assert!(found[0].help().unwrap().contains("ids 1 to 1023"));
}

#[test]
fn fan_in_exceeded_with_breakdown() {
    let wide = network(65, vec![population("hidden", 1, filled(65, 1, 0.3), None)]);
    let error = only(&wide, &LowerOptions::default());
    assert_described(&error, "E0701", &["`hidden[0]` needs 65 CAM entries", "has 64"]);
    let DrcError::FanInExceeded { breakdown, id, .. } = &error else { panic!("{error:?}") };
    assert_eq!(breakdown.len(), 1);
    assert_eq!(
        (breakdown[0].from.as_str(), breakdown[0].synapse, breakdown[0].connections),
        ("input", SynapseType::FastExc, 65)
    );
    assert_eq!(id.map(|id| id.index()), Some(1));
    assert!(error.help().unwrap().contains("65 from `input` (65 weights) as FAST_EXC"));
    assert_eq!(error.source(), Some(&declared("hidden")));
    // Integer weights count their multiplicity: 40 + 30 = 70, split by source and type.
    let w_rec = Matrix::from_rows(&[vec![0.0, 0.0], vec![-30.0, 0.0]]);
    let integer = network(1, vec![population("p", 2, Matrix::from_rows(&[vec![40.0, 1.0]]), Some(w_rec))]);
    let error = only(&integer, &LowerOptions { quantisation: Quantisation::Integer, ..LowerOptions::default() });
    let DrcError::FanInExceeded { count, breakdown, neuron, .. } = error else { panic!("{error:?}") };
    assert_eq!((count, neuron), (70, 0));
    let parts: Vec<(String, SynapseType, usize)> =
        breakdown.into_iter().map(|part| (part.from, part.synapse, part.cams)).collect();
    assert_eq!(parts, vec![("input".into(), SynapseType::FastExc, 40), ("p".into(), SynapseType::FastInh, 30)]);
}

#[test]
fn fan_out_exceeded() {
    let spread = network(
        1,
        vec![population("source", 1, filled(1, 1, 1.0), None), population("targets", 4, filled(1, 4, 1.0), None)],
    );
    let options = LowerOptions {
        placement: Some(Placement { neurons: vec![ids(&[1]), ids(&[2, 1025, 2049, 3073])], virtual_ids: None }),
        ..LowerOptions::default()
    };
    let error = only(&spread, &options);
    assert_described(&error, "E0702", &["`source[0]` projects to 4 chips (0, 1, 2, 3)", "at most 3"]);
    assert_eq!(error.source(), Some(&declared("source")));
}

#[test]
fn aliasing_between_chips_and_with_virtual_inputs() {
    let pair = network(
        1,
        vec![
            population("a", 2, Matrix::from_rows(&[vec![1.0, 0.0]]), None),
            population("b", 1, filled(2, 1, 1.0), None),
        ],
    );
    let options = LowerOptions {
        placement: Some(Placement { neurons: vec![ids(&[5, 1029]), ids(&[10])], virtual_ids: None }),
        ..LowerOptions::default()
    };
    let error = only(&pair, &options);
    assert_described(&error, "E0703", &["`a[0]`", "`a[1]`", "address 5", "chip 0 core 0"]);
    let DrcError::ConnectionAliasing {
        first: AliasSource::Neuron { id: first, .. },
        second: AliasSource::Neuron { id: second, .. },
        ..
    } = &error
    else {
        panic!("{error:?}")
    };
    assert_eq!((first.index(), second.index()), (5, 1029));
    // Virtual id 7 against hardware neuron 7 projecting into the input core.
    let w_rec = Matrix::from_rows(&[vec![0.0, 0.0], vec![1.0, 0.0]]);
    let looped = network(1, vec![population("p", 2, Matrix::from_rows(&[vec![1.0, 0.0]]), Some(w_rec))]);
    let options = LowerOptions {
        placement: Some(Placement { neurons: vec![ids(&[6, 7])], virtual_ids: Some(virtual_ids(&[7])) }),
        ..LowerOptions::default()
    };
    let error = only(&looped, &options);
    assert_described(&error, "E0703", &["input channel 0 (virtual id 7)", "`p[1]`"]);
}

#[test]
fn non_integer_weight_and_missing_base_weight() {
    let half = network(1, vec![population("p", 1, filled(1, 1, 1.5), None)]);
    let error = only(&half, &LowerOptions { quantisation: Quantisation::Integer, ..LowerOptions::default() });
    assert_described(&error, "E0710", &["`p.w_in[0, 0]` = 1.5"]);
    let error =
        only(&half, &LowerOptions { quantisation: Quantisation::BaseWeights(Vec::new()), ..LowerOptions::default() });
    assert_described(&error, "E0719", &["FAST_EXC", "chip 0 core 0"]);
}

#[test]
fn bias_out_of_range_unless_clamped() {
    let mut slow = simple(1);
    slow.populations[0].tau_mem = vec![1.0];
    let error = only(&slow, &LowerOptions::default());
    assert_described(&error, "E0711", &["tau_mem (TAU1) = 1.0000e0", "IF_TAU1_N", "nearest"]);
    let DrcError::BiasOutOfRange { nearest, nearest_current, .. } = &error else { panic!("{error:?}") };
    // The longest reliable leak: coarse 0, fine 9 (the first code above the 0.5 pA dark current).
    let current = 9.0 / 255.0 * 15e-12;
    assert!((nearest_current - current).abs() < 1e-24);
    assert!((nearest - 3e-12 * 0.025 / (0.705 * current)).abs() < 1e-12);
    let clamped = lower(&slow, &LowerOptions { clamp_biases: true, ..LowerOptions::default() }).unwrap();
    let choice = clamped.cores[0].biases.iter().find(|choice| choice.quantity == "tau_mem (TAU1)").unwrap();
    assert!(!choice.in_range);
    assert!(super::super::report(&clamped).contains("clamped biases: 1"));
}
