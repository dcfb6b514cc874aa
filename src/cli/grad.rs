//! `reef grad FILE --input X.npy --target Y.npy --out G.npz [--params P.npz] [--loss EXPR]
//! [--bound 'NAME >= VALUE']... [--precision f32|f64]`: loss and gradients through the derived
//! adjoint, with the reference interpreter.

use std::path::PathBuf;
use std::process::ExitCode;

use reef_lang::{Diagnostics, Sources};
use reef_runtime::io::{self, Precision};
use reef_runtime::params::NameStyle;

use super::run::{BackendArg, PrecisionArg};

/// Arguments of `reef grad`.
#[derive(clap::Args)]
pub struct GradArgs {
    /// The `.net` file.
    pub file: PathBuf,
    /// Parameters (`.npz`, reef or Rockpool names); without it, initialised from `--seed`.
    #[arg(long)]
    pub params: Option<PathBuf>,
    /// Input signal, `.npy` [time, channels] or [batch, time, channels].
    #[arg(long)]
    pub input: PathBuf,
    /// Target, `.npy` with the output's shape ([time, outputs] for a batch of 1).
    #[arg(long)]
    pub target: PathBuf,
    /// The loss, e.g. `mse(output, target) + 0.1 * l2sqr_norm(1_Rate.w_rec)`; default: the
    /// file's `train` block, else `mse(output, target)`.
    #[arg(long)]
    pub loss: Option<String>,
    /// A bound for `bounds_cost`, e.g. `'1_Rate.tau >= 11 ms'` (repeatable).
    #[arg(long = "bound")]
    pub bounds: Vec<String>,
    /// Where to write the gradients (`.npz`, keyed like the parameters).
    #[arg(long)]
    pub out: PathBuf,
    /// Arithmetic precision.
    #[arg(long, value_enum, default_value = "f32")]
    pub precision: PrecisionArg,
    /// Seed for initialisation and noise.
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

/// Computes and writes the gradients.
pub fn run(args: &GradArgs) -> Result<ExitCode, String> {
    let mut sources = Sources::with_prelude();
    let id = super::load(&mut sources, &args.file)?;
    let text = sources.get(id).map(|f| f.text.clone()).unwrap_or_default();
    let compiled = reef_compiler::compile_source(&sources, id).and_then(|networks| {
        let file = reef_lang::parse(id, &text)?;
        Ok((networks, file))
    });
    let (networks, file) = match compiled {
        Ok(found) => found,
        Err(diagnostics) => {
            super::report(&sources, &diagnostics);
            return Ok(ExitCode::FAILURE);
        }
    };
    let network = super::pick_network(&networks, args.network.as_deref())?;
    // --loss and --bound are reef expressions with their own source names for errors.
    let mut diagnostics = Diagnostics::new();
    let loss_expr = args.loss.as_ref().and_then(|text| {
        let id = sources.add("--loss", text.as_str());
        reef_lang::parse_expr(id, text).map_err(|d| diagnostics.extend(d)).ok()
    });
    let mut bounds = Vec::new();
    for text in &args.bounds {
        let id = sources.add("--bound", text.as_str());
        match reef_lang::parse_expr(id, text) {
            Ok(expr) => match reef_compiler::loss::parse_bound(&expr) {
                Ok(bound) => bounds.push(bound),
                Err(error) => diagnostics.push(error),
            },
            Err(errors) => diagnostics.extend(errors),
        }
    }
    let setup = if diagnostics.has_errors() {
        Err(diagnostics)
    } else {
        reef_compiler::loss::loss_setup(&file, &network.graph, loss_expr.as_ref(), &bounds)
    };
    let (loss, bounds) = match setup {
        Ok(setup) => setup,
        Err(diagnostics) => {
            super::report(&sources, &diagnostics);
            return Ok(ExitCode::FAILURE);
        }
    };
    let params =
        reef_runtime::run::load_params(&network.graph, args.params.as_deref(), args.seed).map_err(|e| e.to_string())?;
    let rockpool_named = match &args.params {
        Some(path) => io::read_npz(path).map_err(|e| e.to_string())?.iter().any(|(key, _)| key.contains("Jax")),
        None => false,
    };
    let (input, _) = io::read_npy(&args.input).map_err(|e| e.to_string())?;
    let (target, _) = io::read_npy(&args.target).map_err(|e| e.to_string())?;
    let precision = Precision::from(args.precision);
    let mut executable = reef_runtime::executable::Executable::new(network.clone(), args.backend.into());
    executable.threads = args.threads;
    let result = executable
        .value_and_grad(&loss, &bounds, &params, &input, &target, precision, args.seed)
        .map_err(|e| e.to_string())?;
    if !result.loss.is_finite() {
        return Err(format!("the loss is {} (check the parameters and data)", result.loss));
    }
    if let Some((name, _)) = result.grads.iter().find(|(_, g)| g.iter().any(|v| !v.is_finite())) {
        return Err(format!("the gradient of `{name}` is not finite"));
    }
    println!("loss = {}", result.loss);
    for (term, value) in loss.terms.iter().zip(&result.terms) {
        let text = sources.snippet(term.span);
        println!("  {} x {} = {value}", term.weight, if text.is_empty() { "mse(output, target)" } else { text });
    }
    let style = if rockpool_named { NameStyle::Rockpool } else { NameStyle::Reef };
    result.grads.write_npz(&args.out, precision, style).map_err(|e| e.to_string())?;
    eprintln!("wrote {} ({} gradients)", args.out.display(), result.grads.len());
    Ok(ExitCode::SUCCESS)
}
