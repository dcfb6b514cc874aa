//! The `reef` command: a thin shell over the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod cli;

/// Counts heap bytes so `reef bench` can report peak memory.
#[global_allocator]
static ALLOCATOR: bench::alloc::Counting = bench::alloc::Counting;

/// reef compiles dynamical and spiking neural networks written in the reef language.
#[derive(Parser)]
#[command(name = "reef", version, about, long_about = None, propagate_version = true)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the derived adjoint (BPTT) equations of each module instance.
    Adjoint(cli::adjoint::AdjointArgs),
    /// Time compilation, the forward pass and value_and_grad; report peak memory.
    Bench(cli::bench::BenchArgs),
    /// Parse and check `.net` files; print one line per network.
    Check(cli::check::CheckArgs),
    /// Write a built-in task's dataset (input and target) to an `.npz` file.
    Data(cli::data::DataArgs),
    /// Print a `.net` file in canonical form (or check that it is).
    Fmt(cli::fmt::FmtArgs),
    /// Loss and gradients of every parameter, through the derived adjoint.
    Grad(cli::grad::GradArgs),
    /// Print the graph IR, parameter table and step program of each network.
    Ir(cli::ir::IrArgs),
    /// Read a Dynap-SE1 config back into a network and write its parameters.
    Lift(cli::lift::LiftArgs),
    /// Lower a trained spiking network to a Dynap-SE1 configuration.
    Lower(cli::lower::LowerArgs),
    /// Redraw a run folder's plots (loss curve, output vs target, raster).
    Plot(cli::plot::PlotArgs),
    /// Run a network on an input signal with the reference interpreter.
    Run(cli::run::RunArgs),
    /// Train a network (settings from its `train` block, overridden by flags); write a run folder.
    Train(cli::train::TrainArgs),
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.command {
        Command::Adjoint(args) => cli::adjoint::run(&args),
        Command::Bench(args) => cli::bench::run(&args),
        Command::Check(args) => cli::check::run(&args),
        Command::Data(args) => cli::data::run(&args),
        Command::Fmt(args) => cli::fmt::run(&args),
        Command::Grad(args) => cli::grad::run(&args),
        Command::Ir(args) => cli::ir::run(&args),
        Command::Lift(args) => cli::lift::run(&args),
        Command::Lower(args) => cli::lower::run(&args),
        Command::Plot(args) => cli::plot::run(&args),
        Command::Run(args) => cli::run::run(&args),
        Command::Train(args) => cli::train::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
