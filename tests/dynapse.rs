//! Dynap-SE1 lowering from reef source: `examples/lif_dynapse.net` (seeded parameters) through
//! extraction, lowering, lifting and the float-vs-constrained comparison; rendered design-rule
//! errors for each `tests/dynapse/err_*.net`; and the `reef lower` / `reef lift` commands.

use std::path::{Path, PathBuf};
use std::process::Command;

use ndarray::{ArrayD, IxDyn};
use reef::compiler::Compiled;
use reef::compiler::hw::dynapse::{Config, LowerOptions, Lowered, extract, lift, lower, report, to_diagnostic};
use reef::fidelity::{compare, constrained_params};
use reef::lang::{Diagnostics, Sources};
use reef::runtime::params::ParamSet;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn compile(path: &Path) -> (Sources, Compiled) {
    let mut sources = Sources::with_prelude();
    let text = std::fs::read_to_string(path).unwrap();
    let id = sources.add(path.strip_prefix(root()).unwrap_or(path).display().to_string(), text);
    let compiled = reef::compiler::compile_source(&sources, id).unwrap().remove(0);
    (sources, compiled)
}

fn seeded(network: &Compiled) -> ParamSet {
    reef::runtime::run::load_params(&network.graph, None, 0).unwrap()
}

fn lower_with(network: &Compiled, params: &ParamSet, options: &LowerOptions) -> Lowered {
    let spiking = extract(&network.graph, |name| params.get(name).map(|values| values.iter().copied().collect()));
    lower(&spiking.unwrap(), options).unwrap()
}

fn example() -> (Compiled, ParamSet, Lowered) {
    let (_, network) = compile(&root().join("examples/lif_dynapse.net"));
    let params = seeded(&network);
    let lowered = lower_with(&network, &params, &LowerOptions::default());
    (network, params, lowered)
}

/// 8 channels × 400 steps of sparse, deterministic input spikes.
fn input() -> ArrayD<f64> {
    let (steps, channels) = (400, 8);
    let data = (0..steps * channels).map(|flat| f64::from(u8::from((flat * 7919) % 211 == 3))).collect();
    ArrayD::from_shape_vec(IxDyn(&[steps, channels]), data).unwrap()
}

#[test]
fn the_example_lowers_to_a_snapshotted_config_and_report() {
    let (_, _, lowered) = example();
    let config = &lowered.config;
    // Invariants before the snapshots: every trained weight is a connection, within 64 CAMs.
    let sizes: Vec<(&str, usize)> = config.populations.iter().map(|p| (p.name.as_str(), p.neurons.len())).collect();
    assert_eq!(sizes, [("hidden", 16), ("readout", 4)]);
    assert!(config.neurons.iter().all(|neuron| neuron.cams.len() <= 64));
    assert!(lowered.quantisation.pruned.is_empty());
    let connections: usize = lowered.quantisation.populations.iter().map(|error| error.connections).sum();
    assert_eq!(connections, 8 * 16 + 16 * 16 + 16 * 4, "seeded weights are all nonzero");
    assert_eq!((config.timing.isi_per_step, config.timing.isi_base_ticks), (2, 45_000), "1 ms = 2 × 500 µs");
    let json = config.to_json().unwrap();
    assert_eq!(&Config::from_json(&json).unwrap(), config);
    assert_eq!(example().2.config.to_json().unwrap(), json, "lowering is deterministic");
    insta::assert_snapshot!("lif_dynapse_config", json);
    insta::assert_snapshot!("lif_dynapse_report", report(&lowered));
}

#[test]
fn config_lift_lower_gives_the_same_config() {
    let (network, params, lowered) = example();
    let lifted = lift(&lowered.config).unwrap();
    let again = lower(&lifted.network, &lifted.lower_options()).unwrap();
    assert_eq!(again.config, lowered.config);
    // The `reef lift --net` + `reef lower --params` path: default options find the same config.
    let constrained = constrained_params(&network, &params, &lowered.config).unwrap();
    let relowered = lower_with(&network, &constrained, &LowerOptions::default());
    assert_eq!(relowered.config.to_json().unwrap(), lowered.config.to_json().unwrap());
}

#[test]
fn constrained_weights_are_connection_counts_times_base_weights() {
    let (network, params, lowered) = example();
    let constrained = constrained_params(&network, &params, &lowered.config).unwrap();
    let base = lowered.config.cores.iter().find(|core| core.core.to_string() == "chip 0 core 0").unwrap().base_weights;
    let weights = constrained.get("0_Linear.weight").unwrap();
    assert_eq!(weights.shape(), [8, 16]);
    for weight in weights {
        let count = if *weight > 0.0 { weight / base.fast_exc } else { -weight / base.fast_inh };
        assert!((count - count.round()).abs() < 1e-9 && count.round() >= 1.0, "{weight} is not a count × base");
    }
    assert_ne!(weights, params.get("0_Linear.weight").unwrap(), "quantisation changed the weights");
    let threshold = constrained.get("hidden.threshold").unwrap();
    assert!(threshold.iter().all(|value| *value == threshold[[0]]), "one shared threshold per core");
}

#[test]
fn compare_input_reports_finite_differences() {
    let (network, params, lowered) = example();
    let constrained = constrained_params(&network, &params, &lowered.config).unwrap();
    let fidelity = compare(&network, &params, &constrained, &input(), 0).unwrap();
    assert_eq!(fidelity.outputs.len(), 4);
    assert_eq!(fidelity.bins, 400);
    for output in &fidelity.outputs {
        assert!(output.float.is_finite() && output.constrained.is_finite() && output.difference().is_finite());
        assert!(output.float >= 0.0 && output.constrained >= 0.0);
        assert!(output.relative_error().is_none_or(f64::is_finite));
    }
    assert!(fidelity.outputs.iter().any(|output| output.float > 0.0), "the input makes the network spike");
    assert!((0.0..=1.0).contains(&fidelity.matching_bins));
    let text = fidelity.to_string();
    assert!(text.contains("total relative error") && text.contains("identical bins"), "{text}");
}

#[test]
fn a_network_the_chip_represents_exactly_compares_with_zero_difference() {
    // Float parameters that already are integer counts × achieved base weights, with shared
    // per-core parameters: the constrained parameters of a first lowering.
    let (network, params, lowered) = example();
    let exact = constrained_params(&network, &params, &lowered.config).unwrap();
    let relowered = lower_with(&network, &exact, &LowerOptions::default());
    let constrained = constrained_params(&network, &exact, &relowered.config).unwrap();
    assert_eq!(constrained, exact, "lowering changes nothing the chip already represents");
    let fidelity = compare(&network, &exact, &constrained, &input(), 0).unwrap();
    assert!(fidelity.outputs.iter().all(|output| output.difference() == 0.0), "{fidelity}");
    assert_eq!(fidelity.matching_bins, 1.0);
    assert!(fidelity.outputs.iter().any(|output| output.float > 0.0), "a silent network proves nothing");
}

/// The rendered errors of lowering `path` with seeded parameters, or `None` if it lowers.
fn lowering_errors(path: &Path) -> Option<String> {
    let (sources, network) = compile(path);
    let params = seeded(&network);
    let errors = match extract(&network.graph, |name| params.get(name).map(|values| values.iter().copied().collect())) {
        Err(errors) => errors,
        Ok(spiking) => lower(&spiking, &LowerOptions::default()).err()?,
    };
    let diagnostics = Diagnostics(errors.iter().map(|error| to_diagnostic(error, network.graph.span)).collect());
    for diagnostic in &diagnostics.0 {
        assert!(diagnostic.code.starts_with("E07"), "{}", diagnostic.message);
        let span = diagnostic.primary_span().unwrap_or_else(|| panic!("unlocated: {}", diagnostic.message));
        assert!(span.end > span.start, "empty span: {}", diagnostic.message);
    }
    Some(sources.render(&diagnostics, false))
}

#[test]
fn design_rule_errors_are_rendered_at_their_module() {
    insta::glob!("dynapse", "err_*.net", |path| {
        let rendered = lowering_errors(path).unwrap_or_else(|| panic!("{} lowered without error", path.display()));
        insta::assert_snapshot!(rendered);
    });
}

fn reef(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_reef")).current_dir(root()).args(args).output().unwrap()
}

#[test]
fn reef_lower_fails_with_the_rendered_error_and_writes_nothing() {
    let folder = tempfile::tempdir().unwrap();
    let out = folder.path().join("config.json");
    let output =
        reef(&["lower", "tests/dynapse/err_fan_in.net", "--target", "dynapse-se1", "--out", out.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("error[E0701]: `readout[0]` needs 100 CAM entries"), "{stderr}");
    assert!(stderr.contains("--> tests/dynapse/err_fan_in.net:5:14"), "{stderr}");
    assert!(!out.exists(), "no config on error");
    // With `--prune`, the same network lowers and the report counts the dropped weights.
    let pruned = reef(&[
        "lower",
        "tests/dynapse/err_fan_in.net",
        "--target",
        "dynapse-se1",
        "--out",
        out.to_str().unwrap(),
        "--prune",
        "--report",
    ]);
    assert!(pruned.status.success(), "{}", String::from_utf8_lossy(&pruned.stderr));
    assert!(String::from_utf8_lossy(&pruned.stdout).contains("pruned connections: "));
    assert!(Config::from_json(&std::fs::read_to_string(&out).unwrap()).is_ok());
}

#[test]
fn reef_lower_and_lift_round_trip_on_the_command_line() {
    let folder = tempfile::tempdir().unwrap();
    let path = |name: &str| folder.path().join(name).display().to_string();
    reef::runtime::io::write_npy(path("input.npy"), &input(), reef::runtime::io::Precision::F64).unwrap();
    let lower_args = |params: Option<&str>, out: &str| {
        let mut args =
            vec!["lower".to_string(), "examples/lif_dynapse.net".into(), "--target".into(), "dynapse-se1".into()];
        args.extend(["--out".into(), path(out), "--report".into(), "--compare-input".into(), path("input.npy")]);
        args.extend(params.map(|params| vec!["--params".to_string(), path(params)]).unwrap_or_default());
        args
    };
    let run = |args: Vec<String>| {
        let output = reef(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let first = run(lower_args(None, "config.json"));
    assert!(first.starts_with("Dynap-SE1 resource report\n"), "{first}");
    assert!(first.contains("output spike counts, float vs hardware-constrained (400 time bins)"), "{first}");
    run(vec![
        "lift".into(),
        path("config.json"),
        "--out".into(),
        path("lifted.npz"),
        "--net".into(),
        "examples/lif_dynapse.net".into(),
    ]);
    let second = run(lower_args(Some("lifted.npz"), "again.json"));
    assert_eq!(std::fs::read(path("config.json")).unwrap(), std::fs::read(path("again.json")).unwrap());
    assert!(second.contains("total relative error 0.00%") && second.contains("identical bins 100.00%"), "{second}");
    run(vec!["lift".into(), path("config.json"), "--out".into(), path("populations.npz")]);
    let names: Vec<String> =
        reef::runtime::io::read_npz(path("populations.npz")).unwrap().into_iter().map(|(name, _)| name).collect();
    assert!(names.contains(&"hidden.w_in_count".to_string()) && names.contains(&"readout.tau_mem".to_string()));
}

#[test]
fn reef_lower_takes_an_explicit_placement() {
    let folder = tempfile::tempdir().unwrap();
    let place = folder.path().join("place.json");
    let hidden: Vec<String> = (101..117).map(|id: usize| id.to_string()).collect();
    let text =
        format!(r#"{{"populations": {{"hidden": [{}], "readout": [1025, 1026, 1027, 1028]}}}}"#, hidden.join(", "));
    std::fs::write(&place, text).unwrap();
    let out = folder.path().join("config.json");
    let output = reef(&[
        "lower",
        "examples/lif_dynapse.net",
        "--target",
        "dynapse-se1",
        "--out",
        out.to_str().unwrap(),
        "--place",
        place.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let config = Config::from_json(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let readout: Vec<usize> = config.populations[1].neurons.iter().map(|id| id.index()).collect();
    assert_eq!(readout, [1025, 1026, 1027, 1028]);
    assert_eq!(config.populations[0].neurons[0].index(), 101);
    // The hidden neurons now reach two chips: their own (recurrent) and chip 1.
    assert!(config.neurons.iter().filter(|neuron| neuron.population == "hidden").all(|neuron| neuron.srams.len() == 2));
}
