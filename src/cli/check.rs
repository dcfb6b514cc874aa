//! `reef check FILE...`: parse, elaborate and lower; one summary line per network.

use std::path::PathBuf;
use std::process::ExitCode;

use reef_lang::Sources;

/// Arguments of `reef check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// The `.net` files to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Checks each file; fails if any has an error.
pub fn run(args: &CheckArgs) -> Result<ExitCode, String> {
    let mut failed = false;
    for path in &args.files {
        let mut sources = Sources::with_prelude();
        let id = match super::load(&mut sources, path) {
            Ok(id) => id,
            Err(message) => {
                eprintln!("error: {message}");
                failed = true;
                continue;
            }
        };
        match reef_compiler::compile_source(&sources, id) {
            Ok(networks) => {
                if networks.is_empty() {
                    println!("{}: ok (no networks)", path.display());
                }
                for network in networks {
                    let params: usize = network.graph.params.iter().map(|p| p.shape.len()).sum();
                    println!(
                        "{}: network {}: {} modules, {} -> {} channels, {} parameters in {} tensors, {} states, dt = {} s",
                        path.display(),
                        network.graph.name,
                        network.graph.instances().count(),
                        network.graph.input_size(),
                        network.graph.output_size(),
                        params,
                        network.graph.params.len(),
                        network.graph.states.len(),
                        network.graph.dt,
                    );
                }
            }
            Err(diagnostics) => {
                super::report(&sources, &diagnostics);
                eprintln!("{}: {} error(s)", path.display(), diagnostics.error_count());
                failed = true;
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
