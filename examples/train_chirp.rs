//! The chirp tutorial through the Rust API: the network written inline with `network!`, the
//! loss, bound, data and optimiser given to `reef::train::Trainer` (what `chirp_rate.net`'s train
//! block says), and a run folder with plots in `runs/train_chirp`.
//! Run: `cargo run --release --example train_chirp`.

#![allow(clippy::print_stdout)] // an example reports to its user

use reef::runtime::optim::{AdamConfig, OptimiserKind};
use reef::runtime::tasks::task_by_name;
use reef::train::{TrainFailure, Trainer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let hidden = 50usize;
    let net = reef::network! {
        /// Linear(1, N) -> recurrent tanh Rate(N) -> Linear(N, 1), as in Rockpool's tutorial.
        network ChirpRate(dt = 1 ms) = Sequential(
            Linear(1, {hidden}),
            Rate({hidden}, rec = true, activation = tanh),
            Linear({hidden}, 1),
        )
    };
    // A 50 ms pulse, then a chirp sin(2π·t·(10·t)) over one second, with one second of silence
    // on either side.
    let arguments = [("pulse".to_owned(), 0.05), ("chirp_freq".to_owned(), 10.0), ("padding".to_owned(), 1.0)];
    let data = task_by_name("pulse_chirp", &arguments, 0)?;
    let trainer = Trainer::from_inline(&net)
        .data(data)
        .loss("mse(output, target) + l2sqr_norm(1_Rate.w_rec) + 10 * bounds_cost")
        .bound("1_Rate.tau >= 11 ms")
        // Keep tau on its side of the bound: the penalty jumps from 0 to 10 when it crosses.
        .project_bounds(true)
        .optimiser(OptimiserKind::Adam(AdamConfig::default()))
        .learning_rate(1e-3)
        .epochs(300)
        .out("runs/train_chirp");
    let outcome = match trainer.run() {
        Ok(outcome) => outcome,
        // Source errors are located in the trainer's sources (the network, `--loss`, `--bound`).
        Err(TrainFailure::Source(diagnostics)) => return Err(trainer.sources().render(&diagnostics, false).into()),
        Err(other) => return Err(other.into()),
    };
    println!(
        "loss {:.4} -> {:.4} in {} epochs ({:.1} ms/epoch); plots in {}",
        outcome.initial_loss(),
        outcome.final_loss,
        outcome.result.history.len(),
        1e3 * outcome.seconds_per_epoch(),
        outcome.folder.display()
    );
    Ok(())
}
