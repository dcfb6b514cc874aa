//! The `reef` binary end to end: exit codes, messages and files.

use std::path::{Path, PathBuf};
use std::process::Command;

fn reef(args: &[&str]) -> (bool, String, String) {
    let output =
        Command::new(env!("CARGO_BIN_EXE_reef")).args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn fixture(name: &str) -> String {
    format!("tests/fixtures/rockpool/chirp_rate/{name}")
}

#[test]
fn check_accepts_every_example_and_rejects_bad_input() {
    let examples: Vec<String> = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "net"))
        .map(|p| p.display().to_string())
        .collect();
    let mut args = vec!["check"];
    args.extend(examples.iter().map(String::as_str));
    let (ok, stdout, _) = reef(&args);
    assert!(ok);
    assert_eq!(stdout.lines().count(), examples.len());
    assert!(stdout.contains("network ChirpRate: 3 modules, 1 -> 1 channels, 2750 parameters"));
    let (ok, _, stderr) = reef(&["check", "tests/diagnostics/err_size_mismatch.net"]);
    assert!(!ok);
    assert!(stderr.contains("error[E0301]") && stderr.contains("err_size_mismatch.net:1:50"), "{stderr}");
}

#[test]
fn grad_reproduces_the_fixture_loss_and_writes_rockpool_named_gradients() {
    let out = std::env::temp_dir().join(format!("reef-cli-grad-{}.npz", std::process::id()));
    let out_text = out.display().to_string();
    let (ok, stdout, stderr) = reef(&[
        "grad",
        "examples/chirp_rate.net",
        "--params",
        &fixture("params.npz"),
        "--input",
        &fixture("input.npy"),
        "--target",
        &fixture("target.npy"),
        "--out",
        &out_text,
    ]);
    assert!(ok, "{stderr}");
    let loss: f64 = stdout.lines().next().unwrap().trim_start_matches("loss = ").parse().unwrap();
    assert!((loss - 0.33221104741096497).abs() / 0.3322 < 1e-4, "{stdout}");
    let grads = reef_runtime::io::read_npz(&out).unwrap();
    let keys: Vec<&str> = grads.iter().map(|(k, _)| k.as_str()).collect();
    assert!(keys.contains(&"1_RateJax.w_rec"), "gradients keep the parameter file's (Rockpool) names: {keys:?}");
    std::fs::remove_file(out).ok();
}

#[test]
fn grad_reports_a_bad_loss_at_its_place() {
    let (ok, _, stderr) = reef(&[
        "grad",
        "examples/chirp_rate.net",
        "--input",
        &fixture("input.npy"),
        "--target",
        &fixture("target.npy"),
        "--out",
        "/nonexistent/g.npz",
        "--loss",
        "mse(output, target) + l2_norm(1_Rate.w_rec)",
    ]);
    assert!(!ok);
    assert!(stderr.contains("error[E0502]: unknown loss term `l2_norm`") && stderr.contains("--loss:1:23"), "{stderr}");
}

#[test]
fn run_and_ir_work_on_an_example() {
    let out: PathBuf = std::env::temp_dir().join(format!("reef-cli-run-{}.npy", std::process::id()));
    let out_text = out.display().to_string();
    let (ok, _, stderr) = reef(&[
        "run",
        "examples/chirp_rate.net",
        "--params",
        &fixture("params.npz"),
        "--input",
        &fixture("input.npy"),
        "--out",
        &out_text,
    ]);
    assert!(ok, "{stderr}");
    let (output, _) = reef_runtime::io::read_npy(&out).unwrap();
    assert_eq!(output.shape(), &[1, 3000, 1]);
    std::fs::remove_file(out).ok();
    let (ok, stdout, _) = reef(&["ir", "examples/wiring.net", "--dot"]);
    assert!(ok && stdout.starts_with("digraph \"Skip\"") && stdout.contains("->"));
    let (ok, stdout, _) = reef(&["adjoint", "examples/lif_chirp.net"]);
    assert!(ok && stdout.contains("λ_vmem⁻ = "), "{stdout}");
}

#[test]
fn check_reports_train_block_and_loss_errors() {
    let path = std::env::temp_dir().join(format!("reef-cli-badtrain-{}.net", std::process::id()));
    std::fs::write(
        &path,
        "network N(dt = 1 ms) = Sequential(Linear(1, 4), Rate(4), Linear(4, 1))\ntrain N {\n    loss = mse(output, target) + l2sqr_norm(1_Rate.w_rc)\n    epochz = 10\n}\n",
    )
    .unwrap();
    let (ok, _, stderr) = reef(&["check", &path.display().to_string()]);
    assert!(!ok);
    assert!(
        stderr.contains("error[E0510]: unknown train setting `epochz`") && stderr.contains("did you mean `epochs`?"),
        "{stderr}"
    );
    assert!(
        stderr.contains("error[E0503]: network `N` has no parameter `1_Rate.w_rc`") && stderr.contains(":3:45"),
        "{stderr}"
    );
    std::fs::remove_file(path).ok();
}

/// The number after `"key": ` in a JSON text.
fn json_number(text: &str, key: &str) -> f64 {
    let start = text.find(&format!("\"{key}\": ")).unwrap_or_else(|| panic!("no {key} in {text}")) + key.len() + 4;
    let end = text[start..].find([',', '}']).map_or(text.len(), |e| start + e);
    text[start..end].trim().parse().unwrap_or_else(|_| panic!("{key} is not a number in {text}"))
}

#[test]
fn bench_reports_json_and_the_hand_written_baseline_agrees_with_reef() {
    let (ok, stdout, stderr) =
        reef(&["bench", "benches/workloads/a.net", "--steps", "40", "--repeats", "1", "--baseline", "--json"]);
    assert!(ok, "{stderr}");
    assert!(json_number(&stdout, "median_ms") > 0.0);
    assert!(json_number(&stdout, "peak_bytes") > 0.0);
    // The baseline's gradients equal reef's (f32 against f64, relative to each gradient's largest).
    let difference = json_number(&stdout, "max_relative_difference");
    assert!(difference < 1e-4, "baseline gradients differ from reef's by {difference:e}");
    // The baseline is workload A only.
    let (ok, _, stderr) = reef(&["bench", "benches/workloads/b.net", "--steps", "10", "--repeats", "1", "--baseline"]);
    assert!(!ok);
    assert!(stderr.contains("--baseline needs workload A"), "{stderr}");
}
