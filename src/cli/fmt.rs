//! `reef fmt FILE [--check]`: print the canonical form, or check that the file is in it.

use std::path::PathBuf;
use std::process::ExitCode;

use reef_lang::Sources;

/// Arguments of `reef fmt`.
#[derive(clap::Args)]
pub struct FmtArgs {
    /// The `.net` file to format.
    pub file: PathBuf,
    /// Exit with failure if the file is not in canonical form, printing nothing else.
    #[arg(long)]
    pub check: bool,
    /// Rewrite the file in place (atomically) instead of printing.
    #[arg(long, conflicts_with = "check")]
    pub write: bool,
}

/// Formats one file.
pub fn run(args: &FmtArgs) -> Result<ExitCode, String> {
    let mut sources = Sources::with_prelude();
    let id = super::load(&mut sources, &args.file)?;
    let text = sources.get(id).map(|f| f.text.clone()).unwrap_or_default();
    let file = match reef_lang::parse(id, &text) {
        Ok(file) => file,
        Err(diagnostics) => {
            super::report(&sources, &diagnostics);
            return Ok(ExitCode::FAILURE);
        }
    };
    let formatted = reef_lang::print_file(&file);
    if args.check {
        if formatted == text {
            return Ok(ExitCode::SUCCESS);
        }
        eprintln!("{} is not formatted (run `reef fmt --write {}`)", args.file.display(), args.file.display());
        return Ok(ExitCode::FAILURE);
    }
    // Ordinary `//` comments are not part of the syntax tree; refuse to lose them.
    let comments = reef_lang::print::count_plain_comments(&text);
    if comments > 0 && args.write {
        return Err(format!(
            "{} has {comments} `//` or `/* */` comment(s) that `reef fmt` does not keep yet; use `///` doc comments, or format by hand",
            args.file.display()
        ));
    }
    if args.write {
        let temporary = args.file.with_extension("net.fmt-tmp");
        std::fs::write(&temporary, &formatted).map_err(|e| format!("cannot write {}: {e}", temporary.display()))?;
        std::fs::rename(&temporary, &args.file).map_err(|e| format!("cannot replace {}: {e}", args.file.display()))?;
    } else {
        print!("{formatted}");
    }
    Ok(ExitCode::SUCCESS)
}
