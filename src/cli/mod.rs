//! Subcommands of the `reef` binary. Each takes its clap arguments and returns an exit code;
//! diagnostics are rendered to stderr (in colour on a terminal).

pub mod adjoint;
pub mod bench;
pub mod check;
pub mod data;
pub mod fmt;
pub mod grad;
pub mod ir;
pub mod lift;
pub mod lower;
pub mod plot;
pub mod run;
pub mod train;

use std::io::IsTerminal;

use reef_lang::{Diagnostics, SourceId, Sources};

/// Reads a source file into `sources`, or says why it cannot.
pub fn load(sources: &mut Sources, path: &std::path::Path) -> Result<SourceId, String> {
    let bytes = std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Ok(sources.add(path.display().to_string(), text))
}

/// Prints diagnostics to stderr.
pub fn report(sources: &Sources, diagnostics: &Diagnostics) {
    eprint!("{}", sources.render(diagnostics, std::io::stderr().is_terminal()));
}

/// The network named `name`, or the first one.
pub fn pick_network<'a>(
    networks: &'a [reef_compiler::Compiled],
    name: Option<&str>,
) -> Result<&'a reef_compiler::Compiled, String> {
    match name {
        Some(name) => networks.iter().find(|n| n.graph.name == name).ok_or_else(|| {
            let names: Vec<&str> = networks.iter().map(|n| n.graph.name.as_str()).collect();
            format!("no network named `{name}` (the file has: {})", names.join(", "))
        }),
        None => networks.first().ok_or_else(|| "the file defines no network".to_string()),
    }
}

/// A source file compiled down to one of its networks.
pub struct Loaded {
    /// Every source text, for rendering later diagnostics.
    pub sources: Sources,
    /// The network asked for (or the first).
    pub network: reef_compiler::Compiled,
}

/// Loads and compiles `path` and picks network `name`; compile errors are rendered to stderr
/// and give `Ok(None)`.
pub fn compile_network(path: &std::path::Path, name: Option<&str>) -> Result<Option<Loaded>, String> {
    let mut sources = Sources::with_prelude();
    let id = load(&mut sources, path)?;
    match reef_compiler::compile_source(&sources, id) {
        Ok(networks) => {
            let network = pick_network(&networks, name)?.clone();
            Ok(Some(Loaded { sources, network }))
        }
        Err(diagnostics) => {
            report(&sources, &diagnostics);
            Ok(None)
        }
    }
}
