//! `reef run FILE --input X.npy --out Y.npy [--params P.npz | --seed S] [--precision f32|f64]
//! [--record R.npz]`: evolve a network on data with the reference interpreter.

use std::path::PathBuf;
use std::process::ExitCode;

use reef_runtime::io::{self, Compression, Precision};

/// Arguments of `reef run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The `.net` file.
    pub file: PathBuf,
    /// Parameters (`.npz`, reef or Rockpool names); without it, parameters are initialised from `--seed`.
    #[arg(long)]
    pub params: Option<PathBuf>,
    /// Input signal, `.npy` of shape [time, channels] or [batch, time, channels].
    #[arg(long)]
    pub input: PathBuf,
    /// Where to write the output, `.npy` of shape [batch, time, channels].
    #[arg(long)]
    pub out: PathBuf,
    /// Arithmetic precision.
    #[arg(long, value_enum, default_value = "f32")]
    pub precision: PrecisionArg,
    /// Also write every module's output and every state, `.npz` of [batch, time, size] arrays.
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Seed for parameter initialisation (and noise).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Which network of the file (default: the first).
    #[arg(long)]
    pub network: Option<String>,
    /// The engine: native code (`jit`) or the reference interpreter (`interp`).
    #[arg(long, value_enum, default_value = "jit")]
    pub backend: BackendArg,
    /// Threads for batch elements (0: all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

/// `--backend`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum BackendArg {
    /// Native code generated with Cranelift.
    Jit,
    /// The reference interpreter.
    Interp,
}

impl From<BackendArg> for reef_runtime::executable::Backend {
    fn from(value: BackendArg) -> Self {
        match value {
            BackendArg::Jit => reef_runtime::executable::Backend::Jit,
            BackendArg::Interp => reef_runtime::executable::Backend::Interp,
        }
    }
}

/// `--precision`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum PrecisionArg {
    /// 32-bit floats, as Rockpool.
    F32,
    /// 64-bit floats.
    F64,
}

impl From<PrecisionArg> for Precision {
    fn from(value: PrecisionArg) -> Self {
        match value {
            PrecisionArg::F32 => Precision::F32,
            PrecisionArg::F64 => Precision::F64,
        }
    }
}

/// Runs the network.
pub fn run(args: &RunArgs) -> Result<ExitCode, String> {
    let Some(loaded) = super::compile_network(&args.file, args.network.as_deref())? else {
        return Ok(ExitCode::FAILURE);
    };
    let network = &loaded.network;
    let params =
        reef_runtime::run::load_params(&network.graph, args.params.as_deref(), args.seed).map_err(|e| e.to_string())?;
    let (input, _) = io::read_npy(&args.input).map_err(|e| e.to_string())?;
    let precision = Precision::from(args.precision);
    let mut executable = reef_runtime::executable::Executable::new(network.clone(), args.backend.into());
    executable.threads = args.threads;
    let result = executable
        .evolve(&params, &input, precision, args.record.is_some(), args.seed)
        .map_err(|e| format!("{}: {e}", args.input.display()))?;
    io::write_npy(&args.out, &result.output, precision).map_err(|e| e.to_string())?;
    if let Some(path) = &args.record {
        let entries = result.records.iter().map(|(name, array)| (name.as_str(), array));
        io::write_npz(path, entries, precision, Compression::Deflated).map_err(|e| e.to_string())?;
    }
    let shape = result.output.shape();
    eprintln!("wrote {} [{} x {} x {}]", args.out.display(), shape[0], shape[1], shape[2]);
    Ok(ExitCode::SUCCESS)
}
