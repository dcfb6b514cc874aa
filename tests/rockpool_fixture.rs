//! Rockpool's own numbers for the chirp rate network (seed 0, float32), reproduced by reef's
//! interpreter: `reef run` semantics on `tests/fixtures/rockpool/chirp_rate`.

use std::path::PathBuf;

use reef_lang::Sources;
use reef_runtime::executable::{Backend, Executable};
use reef_runtime::io::{Precision, read_npy};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rockpool/chirp_rate").join(name)
}

fn chirp_network() -> reef_compiler::Compiled {
    let mut sources = Sources::with_prelude();
    let text =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/chirp_rate.net")).unwrap();
    let id = sources.add("chirp_rate.net", text);
    reef_compiler::compile_source(&sources, id).unwrap().remove(0)
}

#[test]
fn chirp_rate_output_matches_rockpool() {
    let network = chirp_network();
    let params = reef_runtime::run::load_params(&network.graph, Some(&fixture("params.npz")), 0).unwrap();
    let (input, _) = read_npy(fixture("input.npy")).unwrap();
    let (expected, _) = read_npy(fixture("output.npy")).unwrap();
    for (backend, precision) in [
        (Backend::Jit, Precision::F32),
        (Backend::Jit, Precision::F64),
        (Backend::Interp, Precision::F32),
        (Backend::Interp, Precision::F64),
    ] {
        let result = Executable::new(network.clone(), backend).evolve(&params, &input, precision, false, 0).unwrap();
        assert_eq!(result.output.shape(), expected.shape());
        let scale = expected.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let (worst, index) = result
            .output
            .iter()
            .zip(expected.iter())
            .map(|(a, b)| (a - b).abs() / scale)
            .enumerate()
            .fold((0.0, 0), |(m, i), (j, e)| if e > m { (e, j) } else { (m, i) });
        assert!(worst < 1e-4, "{backend:?} {precision:?}: worst relative error {worst:e} at step {index}");
    }
}

#[test]
fn chirp_rate_loss_and_gradients_match_rockpool() {
    let text =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/chirp_rate.net")).unwrap();
    let file = reef_lang::parse(reef_lang::SourceId(1), &text).unwrap();
    let network = chirp_network();
    // The example's train block declares the fixture's loss:
    // mse + l2sqr_norm(1_Rate.w_rec) + 10 * bounds_cost with 1_Rate.tau >= 11 ms.
    let (loss, bounds) = reef_compiler::loss::loss_setup(&file, &network.graph, None, &[]).unwrap();
    let params = reef_runtime::run::load_params(&network.graph, Some(&fixture("params.npz")), 0).unwrap();
    let (input, _) = read_npy(fixture("input.npy")).unwrap();
    let (target, _) = read_npy(fixture("target.npy")).unwrap();
    let expected_loss: f64 = std::fs::read_to_string(fixture("loss.txt")).unwrap().trim().parse().unwrap();
    let expected_grads = reef_runtime::io::read_npz(fixture("grads.npz")).unwrap();
    for (backend, precision) in [
        (Backend::Jit, Precision::F32),
        (Backend::Jit, Precision::F64),
        (Backend::Interp, Precision::F32),
        (Backend::Interp, Precision::F64),
    ] {
        let executable = Executable::new(network.clone(), backend);
        let result = executable.value_and_grad(&loss, &bounds, &params, &input, &target, precision, 0).unwrap();
        let loss_error = (result.loss - expected_loss).abs() / expected_loss;
        assert!(
            loss_error < 1e-4,
            "{backend:?} {precision:?}: loss {} vs Rockpool {expected_loss} ({loss_error:e})",
            result.loss
        );
        for (rockpool_name, reference) in &expected_grads {
            let name = reef_runtime::params::rockpool_to_reef(rockpool_name);
            let ours = result.grads.get(&name).unwrap_or_else(|| panic!("no gradient for {name}"));
            let reference = reference.clone().into_shape_with_order(ours.shape()).unwrap();
            let norm = reference.iter().map(|v| v * v).sum::<f64>().sqrt();
            let difference = ours.iter().zip(reference.iter()).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt();
            assert!(
                difference / norm < 1e-3,
                "{backend:?} {precision:?}: gradient of {name} differs by {:e} of its norm {norm:e}",
                difference / norm
            );
        }
    }
}
