//! `reef train` and `reef::train::Trainer` end to end: a short chirp run lowers the loss; from
//! Rockpool's fixture parameters, the first Adam steps match an f64 recomputation written out
//! here; a resumed run equals an uninterrupted one; NaN and infinity are caught naming the
//! parameter; bad train blocks are located errors (snapshotted, one file per case in
//! `tests/train_blocks/`).

use std::path::{Path, PathBuf};
use std::process::Command;

use ndarray::ArrayD;
use reef::train::{TrainFailure, Trainer};
use reef_runtime::io::{Precision, read_npy, read_npz};
use reef_runtime::params::ParamSet;
use reef_runtime::tasks::task_by_name;
use reef_runtime::train::{History, ProgressMode};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/rockpool/chirp_rate").join(name)
}

/// Runs the `reef` binary from the crate root: (success, stdout, stderr).
fn reef(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_reef")).args(args).current_dir(root()).output().unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.success(), text(&output.stdout), text(&output.stderr))
}

/// The value printed after `label = ` on stdout.
fn reported(stdout: &str, label: &str) -> f64 {
    let prefix = format!("{label} = ");
    let line = stdout.lines().find_map(|line| line.strip_prefix(&prefix));
    line.and_then(|value| value.trim().parse().ok()).unwrap_or_else(|| panic!("no `{label}` in {stdout}"))
}

fn params(path: &Path) -> ParamSet {
    read_npz(path).unwrap().into_iter().collect()
}

fn relative(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(f64::MIN_POSITIVE)
}

#[test]
fn a_short_chirp_run_lowers_the_loss_and_fills_the_run_folder() {
    let folder = tempfile::tempdir().unwrap();
    // The chirp task shortened to 0.6 s (100 ms of silence on each side), for a debug build.
    let args = [("padding".to_owned(), 0.1), ("duration".to_owned(), 0.4)];
    let data = task_by_name("pulse_chirp", &args, 0).unwrap();
    let outcome = Trainer::from_file(root().join("examples/chirp_rate.net"))
        .unwrap()
        .data(data)
        .epochs(8)
        .learning_rate(1e-3)
        .progress(ProgressMode::Hidden)
        .out(folder.path())
        .run()
        .unwrap();
    let losses = outcome.result.history.losses();
    assert_eq!(losses.len(), 8);
    assert!(outcome.final_loss < 0.9 * outcome.initial_loss(), "{losses:?} then {}", outcome.final_loss);
    assert!(losses.windows(2).all(|pair| pair[1] < pair[0]), "{losses:?}");
    assert_eq!(outcome.output.shape(), [1, 600, 1]);
    for file in
        ["params.npz", "best.npz", "loss.csv", "checkpoint.npz", "loss.png", "output.npy", "target.npy", "output.png"]
    {
        assert!(folder.path().join(file).is_file(), "{file} is missing");
        assert!(outcome.files.contains(&folder.path().join(file)), "{file} is not listed");
    }
    assert!(!folder.path().join("raster.png").exists(), "a rate network has no raster");
    // A loss still falling at the end: the final parameters are the best (the start of a ninth
    // epoch), in best.npz too.
    let best = outcome.result.best.as_ref().expect("a best epoch");
    assert!(outcome.final_loss < losses[7]);
    assert_eq!((best.epoch, best.loss), (9, outcome.final_loss));
    assert_eq!(params(&folder.path().join("best.npz")), params(&folder.path().join("params.npz")));
}

#[test]
fn the_first_adam_steps_from_rockpools_parameters_match_an_f64_recomputation() {
    let folder = tempfile::tempdir().unwrap();
    let train = |precision: &str| {
        let out = folder.path().join(precision);
        let (params, input, target) = (fixture("params.npz"), fixture("input.npy"), fixture("target.npy"));
        #[rustfmt::skip]
        let (ok, stdout, stderr) = reef(&[
            "train", "examples/chirp_rate.net", "--init", params.to_str().unwrap(),
            "--input", input.to_str().unwrap(), "--target", target.to_str().unwrap(),
            "--epochs", "3", "--optimizer", "adam", "--lr", "1e-4", "--precision", precision,
            "--out", out.to_str().unwrap(),
        ]);
        assert!(ok, "{stderr}");
        let history = History::read_csv(out.join("loss.csv")).unwrap();
        (history.losses(), reported(&stdout, "loss after"), self::params(&out.join("params.npz")))
    };
    let (losses_f64, after_f64, params_f64) = train("f64");
    let (losses_f32, after_f32, _) = train("f32");

    // Rockpool's update, written out: the example's loss (mse + l2sqr_norm(w_rec) + 10·bounds_cost
    // with tau ≥ 11 ms) and its gradient in f64, then jax.example_libraries.optimizers.adam(1e-4).
    let text = std::fs::read_to_string(root().join("examples/chirp_rate.net")).unwrap();
    let mut sources = reef_lang::Sources::with_prelude();
    let id = sources.add("chirp_rate.net", text.as_str());
    let network = reef_compiler::compile_source(&sources, id).unwrap().remove(0);
    let file = reef_lang::parse(id, &text).unwrap();
    let (loss, bounds) = reef_compiler::loss::loss_setup(&file, &network.graph, None, &[]).unwrap();
    let adjoint = reef_compiler::adjoint::derive(&network.program);
    let (input, _) = read_npy(fixture("input.npy")).unwrap();
    let (target, _) = read_npy(fixture("target.npy")).unwrap();
    let mut params = reef_runtime::run::load_params(&network.graph, Some(&fixture("params.npz")), 0).unwrap();
    let value_and_grad = |params: &ParamSet| {
        reef_runtime::grad::value_and_grad(
            &network,
            &adjoint,
            &loss,
            &bounds,
            params,
            &input,
            &target,
            Precision::F64,
            0,
        )
        .unwrap()
    };
    let (step_size, b1, b2, eps) = (1e-4, 0.9, 0.999, 1e-8);
    let zeros = |params: &ParamSet| -> ParamSet {
        params.iter().map(|(name, value)| (name.to_owned(), ArrayD::zeros(value.raw_dim()))).collect()
    };
    let (mut m, mut v) = (zeros(&params), zeros(&params));
    let mut expected = Vec::new();
    for i in 0..3 {
        let result = value_and_grad(&params);
        expected.push(result.loss);
        for (name, x) in params.iter_mut() {
            let g = &result.grads.get(name).unwrap();
            let (m, v) = (m.get_mut(name).unwrap(), v.get_mut(name).unwrap());
            ndarray::Zip::from(x).and(m).and(v).and(*g).for_each(|x, m, v, &g| {
                *m = (1.0 - b1) * g + b1 * *m;
                *v = (1.0 - b2) * g * g + b2 * *v;
                let m_hat = *m / (1.0 - f64::powi(b1, i + 1));
                let v_hat = *v / (1.0 - f64::powi(b2, i + 1));
                *x -= step_size * m_hat / (v_hat.sqrt() + eps);
            });
        }
    }
    let expected_after = value_and_grad(&params).loss;

    let rockpool: f64 = std::fs::read_to_string(fixture("loss.txt")).unwrap().trim().parse().unwrap();
    assert!(relative(expected[0], rockpool) < 1e-4, "step 1: {} vs Rockpool's {rockpool}", expected[0]);
    for (step, ((f64_loss, f32_loss), expected)) in losses_f64.iter().zip(&losses_f32).zip(&expected).enumerate() {
        assert!(relative(*f64_loss, *expected) < 1e-10, "step {}: f64 {f64_loss} vs {expected}", step + 1);
        assert!(relative(*f32_loss, *expected) < 1e-4, "step {}: f32 {f32_loss} vs {expected}", step + 1);
    }
    assert!(relative(after_f64, expected_after) < 1e-10, "after 3 steps: {after_f64} vs {expected_after}");
    assert!(relative(after_f32, expected_after) < 1e-4, "after 3 steps: f32 {after_f32} vs {expected_after}");
    for (name, ours) in params_f64.iter() {
        let theirs = params.get(name).unwrap();
        let worst = ours.iter().zip(theirs).map(|(a, b)| (a - b).abs() / b.abs().max(1e-3)).fold(0.0, f64::max);
        assert!(worst < 1e-10, "{name}: worst relative difference {worst:e}");
    }
}

const TINY: &str = "network Tiny(dt = 1 ms) = Sequential(
    Linear(20, 6),
    Rate(6, rec = true, activation = tanh),
    Linear(6, 2),
)

train Tiny {
    data = random_sin_mapping(classes = 4, channels = 20, duration = 40 ms)
    optimizer = adam(lr = 1e-2)
    batch = 2
    epochs = 4
    seed = 3
}
";

#[test]
fn a_resumed_run_ends_exactly_where_an_uninterrupted_one_does() {
    let folder = tempfile::tempdir().unwrap();
    let net = folder.path().join("tiny.net");
    std::fs::write(&net, TINY).unwrap();
    let (net, whole, halves) = (net.to_str().unwrap(), folder.path().join("whole"), folder.path().join("halves"));
    let run = |extra: &[&str], out: &Path| {
        let mut args = vec!["train", net, "--out", out.to_str().unwrap()];
        args.extend(extra);
        let (ok, _, stderr) = reef(&args);
        assert!(ok, "{stderr}");
    };
    run(&[], &whole);
    run(&["--epochs", "2", "--checkpoint-every", "1"], &halves);
    assert_eq!(History::read_csv(halves.join("loss.csv")).unwrap().len(), 2);
    run(&["--resume"], &halves);
    assert_eq!(params(&whole.join("params.npz")), params(&halves.join("params.npz")));
    let losses = |out: &Path| History::read_csv(out.join("loss.csv")).unwrap().losses();
    assert_eq!(losses(&whole), losses(&halves));
    assert_eq!(losses(&whole).len(), 4);
}

#[test]
fn an_infinite_starting_parameter_is_named() {
    let folder = tempfile::tempdir().unwrap();
    let mut entries = read_npz(fixture("params.npz")).unwrap();
    let (_, tau) = entries.iter_mut().find(|(name, _)| name == "1_RateJax.tau").unwrap();
    tau[[7]] = f64::INFINITY;
    let init = folder.path().join("init.npz");
    let entries = entries.iter().map(|(name, value)| (name.as_str(), value));
    reef_runtime::io::write_npz(&init, entries, Precision::F32, reef_runtime::io::Compression::Stored).unwrap();
    let (out, init) = (folder.path().join("run"), init.to_str().unwrap().to_owned());
    #[rustfmt::skip]
    let (ok, _, stderr) = reef(&[
        "train", "examples/chirp_rate.net", "--init", &init, "--epochs", "2", "--out", out.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(stderr.contains("parameter `1_Rate.tau` (stored as `1_RateJax.tau`) holds inf at index [7]"), "{stderr}");
}

#[test]
fn a_diverging_run_stops_naming_the_parameter() {
    let folder = tempfile::tempdir().unwrap();
    let net = folder.path().join("tiny.net");
    std::fs::write(&net, TINY).unwrap();
    // Plain gradient descent with a step of 1e300 throws parameters far beyond f32's range.
    let out = folder.path().join("run");
    #[rustfmt::skip]
    let (ok, _, stderr) = reef(&[
        "train", net.to_str().unwrap(), "--optimizer", "sgd", "--lr", "1e300", "--out", out.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(stderr.contains("error: the objective failed in epoch 1: parameter `"), "{stderr}");
    assert!(stderr.contains("beyond the range of f32"), "{stderr}");
    // In f64 the network overflows instead, and the first bad gradient names its parameter.
    #[rustfmt::skip]
    let (ok, _, stderr) = reef(&[
        "train", net.to_str().unwrap(), "--optimizer", "sgd", "--lr", "1e300", "--precision", "f64",
        "--out", out.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(stderr.contains("training stopped in epoch 1 (batch 2): the gradient of `"), "{stderr}");
}

#[test]
fn a_spiking_network_gets_a_raster_of_its_first_spiking_module() {
    let folder = tempfile::tempdir().unwrap();
    let source = "network Spiking(dt = 1 ms) = Sequential(Linear(20, 10), lif: LIF(10), ExpSyn(10), Linear(10, 1))
        train Spiking { data = frozen_noise_chirp(channels = 20, rate = 50 Hz, duration = 200 ms) epochs = 2 }";
    let trainer = Trainer::from_source("spiking.net", source).progress(ProgressMode::Hidden).out(folder.path());
    let outcome = trainer.run().unwrap();
    assert!(outcome.files.contains(&folder.path().join("raster.png")));
    let (raster, _) = read_npy(folder.path().join("raster.npy")).unwrap();
    assert_eq!(raster.shape(), [200, 10]);
}

#[test]
fn bad_train_blocks_are_reported_with_their_place() {
    insta::glob!("train_blocks", "err_*.net", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let name = format!("tests/train_blocks/{}", path.file_name().unwrap().to_string_lossy());
        let trainer = Trainer::from_source(&name, &text);
        let diagnostics = match trainer.prepare() {
            Err(TrainFailure::Source(diagnostics)) => diagnostics,
            Err(other) => panic!("{name}: expected located errors, got {other}"),
            Ok(_) => panic!("{name}: prepared without error"),
        };
        assert!(diagnostics.has_errors(), "{name}");
        for diagnostic in &diagnostics.0 {
            assert!(diagnostic.primary_span().is_some(), "{name}: error without a place: {}", diagnostic.message);
        }
        insta::assert_snapshot!(trainer.sources().render(&diagnostics, false));
    });
}

#[test]
fn the_command_renders_train_block_errors_like_the_other_commands() {
    let (ok, stdout, stderr) = reef(&["train", "tests/train_blocks/err_unknown_setting.net"]);
    assert!(!ok && stdout.is_empty());
    assert!(stderr.contains("error[E0510]: unknown train setting `epoch`"), "{stderr}");
    assert!(stderr.contains("tests/train_blocks/err_unknown_setting.net:5:5"), "{stderr}");
    assert!(stderr.contains("did you mean `epochs`?"), "{stderr}");
}
