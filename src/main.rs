//! The `reef` command: a thin shell over the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

/// reef compiles dynamical and spiking neural networks written in the reef language.
#[derive(Parser)]
#[command(name = "reef", version, about, long_about = None, propagate_version = true)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and check `.net` files; print one line per network.
    Check(cli::check::CheckArgs),
    /// Print a `.net` file in canonical form (or check that it is).
    Fmt(cli::fmt::FmtArgs),
    /// Print the graph IR, parameter table and step program of each network.
    Ir(cli::ir::IrArgs),
    /// Run a network on an input signal with the reference interpreter.
    Run(cli::run::RunArgs),
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.command {
        Command::Check(args) => cli::check::run(&args),
        Command::Fmt(args) => cli::fmt::run(&args),
        Command::Ir(args) => cli::ir::run(&args),
        Command::Run(args) => cli::run::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
