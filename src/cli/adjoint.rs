//! `reef adjoint FILE`: the derived adjoint (BPTT) equations of each model instance.

use std::path::PathBuf;
use std::process::ExitCode;

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
    let Some(loaded) = super::compile_network(&args.file, args.network.as_deref())? else {
        return Ok(ExitCode::FAILURE);
    };
    let network = &loaded.network;
    println!("network {}", network.graph.name);
    println!("{}", reef_compiler::adjoint::NOTATION);
    print!("{}", reef_compiler::adjoint::print_adjoint(network));
    Ok(ExitCode::SUCCESS)
}
