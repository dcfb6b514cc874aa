//! A large network lowers in reasonable time (run with `--ignored`).

use super::super::{LowerOptions, Matrix, lower};
use super::{network, population};

#[test]
#[ignore = "timing check"]
fn large_network_timing() {
    let dense = |rows: usize, cols: usize, seed: u64| {
        let mut state = seed;
        let data = (0..rows * cols)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let u = (state >> 11) as f64 / (1u64 << 53) as f64;
                if u < 0.05 { u * 20.0 - 0.5 } else { 0.0 }
            })
            .collect();
        Matrix { rows, cols, data }
    };
    let started = std::time::Instant::now();
    let big = network(
        200,
        vec![
            population("a", 600, dense(200, 600, 1), Some(dense(600, 600, 2))),
            population("b", 600, dense(600, 600, 3), None),
        ],
    );
    let lowered = lower(&big, &LowerOptions { prune: true, ..LowerOptions::default() });
    let elapsed = started.elapsed();
    match lowered {
        Ok(lowered) => eprintln!(
            "ok in {elapsed:?}: {} neurons, pruned {}",
            lowered.config.neurons.len(),
            lowered.quantisation.pruned.len()
        ),
        Err(errors) => eprintln!("{} errors in {elapsed:?}: {}", errors.len(), errors[0]),
    }
}
