//! `reef plot RUN_DIR [--dt SECONDS]`: redraw a run folder's plots from the data it holds.

use std::path::PathBuf;
use std::process::ExitCode;

use reef_runtime::train::RunFolder;

/// Arguments of `reef plot`.
#[derive(clap::Args)]
pub struct PlotArgs {
    /// The run folder (written by `reef train`): `loss.csv` gives `loss.png`, `output.npy` with
    /// `target.npy` give `output.png`, `raster.npy` gives `raster.png`.
    pub run_dir: PathBuf,
    /// The time step of the signals, in seconds, for the time axes.
    #[arg(long, default_value_t = 1e-3)]
    pub dt: f64,
}

/// Redraws the plots and lists them.
pub fn run(args: &PlotArgs) -> Result<ExitCode, String> {
    let written = RunFolder::open(&args.run_dir).replot(args.dt).map_err(|error| error.to_string())?;
    for path in written {
        eprintln!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
