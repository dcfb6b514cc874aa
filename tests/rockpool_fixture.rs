//! Rockpool's own numbers for the chirp rate network (seed 0, float32), reproduced by reef's
//! interpreter: `reef run` semantics on `tests/fixtures/rockpool/chirp_rate`.

use std::path::PathBuf;

use reef_lang::Sources;
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
    for precision in [Precision::F32, Precision::F64] {
        let result = reef_runtime::run::evolve(&network, &params, &input, precision, false, 0).unwrap();
        assert_eq!(result.output.shape(), expected.shape());
        let scale = expected.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let (worst, index) = result
            .output
            .iter()
            .zip(expected.iter())
            .map(|(a, b)| (a - b).abs() / scale)
            .enumerate()
            .fold((0.0, 0), |(m, i), (j, e)| if e > m { (e, j) } else { (m, i) });
        assert!(worst < 1e-4, "{precision:?}: worst relative error {worst:e} at step {index}");
    }
}
