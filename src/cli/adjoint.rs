//! `reef adjoint FILE`: the derived adjoint (BPTT) equations of each model instance.

use std::path::PathBuf;
use std::process::ExitCode;

use reef_lang::Sources;

/// Arguments of `reef adjoint`.
#[derive(clap::Args)]
pub struct AdjointArgs {
    /// The `.net` file.
    pub file: PathBuf,
    /// Only this network.
    #[arg(long)]
    pub network: Option<String>,
}

/// Prints the adjoint equations.
pub fn run(args: &AdjointArgs) -> Result<ExitCode, String> {
    let mut sources = Sources::with_prelude();
    let id = super::load(&mut sources, &args.file)?;
    let networks = match reef_compiler::compile_source(&sources, id) {
        Ok(networks) => networks,
        Err(diagnostics) => {
            super::report(&sources, &diagnostics);
            return Ok(ExitCode::FAILURE);
        }
    };
    let network = super::pick_network(&networks, args.network.as_deref())?;
    println!("network {}", network.graph.name);
    println!("{}", reef_compiler::adjoint::NOTATION);
    print!("{}", reef_compiler::adjoint::print_adjoint(network));
    Ok(ExitCode::SUCCESS)
}
