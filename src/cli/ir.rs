//! `reef ir FILE [--dot]`: the graph IR, parameter table and step program of each network, and
//! what code generation makes of it.

use std::path::PathBuf;
use std::process::ExitCode;

use reef_lang::Sources;

/// Arguments of `reef ir`.
#[derive(clap::Args)]
pub struct IrArgs {
    /// The `.net` file.
    pub file: PathBuf,
    /// Print the graph in Graphviz DOT instead.
    #[arg(long)]
    pub dot: bool,
    /// Only this network.
    #[arg(long)]
    pub network: Option<String>,
}

/// Prints the IR.
pub fn run(args: &IrArgs) -> Result<ExitCode, String> {
    let mut sources = Sources::with_prelude();
    let id = super::load(&mut sources, &args.file)?;
    let networks = match reef_compiler::compile_source(&sources, id) {
        Ok(networks) => networks,
        Err(diagnostics) => {
            super::report(&sources, &diagnostics);
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut shown = 0;
    for network in networks.iter().filter(|n| args.network.as_ref().is_none_or(|name| *name == n.graph.name)) {
        shown += 1;
        if args.dot {
            print!("{}", network.graph.to_dot());
        } else {
            println!("{}", network.graph);
            println!("step program:\n{}", network.program);
            let adjoint = reef_compiler::adjoint::derive(&network.program);
            match reef_compiler::codegen::JitNetwork::<f32>::compile(&network.program, Some(&adjoint)) {
                Ok(jit) => println!("generated code:\n{}", jit.summary()),
                Err(error) => println!("generated code: {error}"),
            }
        }
    }
    if shown == 0 {
        return Err(format!("no network named `{}`", args.network.as_deref().unwrap_or("")));
    }
    Ok(ExitCode::SUCCESS)
}
