//! Subcommands of the `reef` binary. Each takes its clap arguments and returns an exit code;
//! diagnostics are rendered to stderr (in colour on a terminal).

pub mod check;
pub mod fmt;
pub mod ir;

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
