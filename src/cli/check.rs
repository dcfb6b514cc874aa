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
        match reef_compiler::compile_source(&sources, id)
            .and_then(|networks| check_training(&sources, id, &networks).map(|()| networks))
        {
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

/// What `reef train` would reject, checked now: every train block (settings, data, optimiser),
/// and each network's loss and bounds.
fn check_training(
    sources: &Sources,
    id: reef_lang::SourceId,
    networks: &[reef_compiler::Compiled],
) -> Result<(), reef_lang::Diagnostics> {
    let text = sources.get(id).map(|f| f.text.as_str()).unwrap_or("");
    let file = reef_lang::parse(id, text)?;
    let names: Vec<&str> = networks.iter().map(|n| n.graph.name.as_str()).collect();
    let mut diagnostics = reef_lang::Diagnostics::new();
    for (index, network) in networks.iter().enumerate() {
        // The block reader checks every block of the file; report its findings once.
        if let Err(errors) = reef_runtime::train::read_train_block(&file, &network.graph.name, &names)
            && index == 0
        {
            diagnostics.extend(errors);
        }
        if let Err(errors) = reef_compiler::loss::loss_setup(&file, &network.graph, None, &[]) {
            diagnostics.extend(errors);
        }
    }
    diagnostics.into_result(())
}
