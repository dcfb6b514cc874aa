//! `reef lift CONFIG --out params.npz [--net FILE [--network N]]`: read a Dynap-SE1 config back
//! into the network it runs (integer connection counts × base weights, shared per-core
//! parameters) and write its parameters.
//!
//! With `--net`, parameters get the source network's names (`0_Linear.weight`, `hidden.tau_mem`),
//! so `reef run FILE --params params.npz` runs the hardware-constrained network. Without it,
//! they are named by population: `<population>.w_in`, `.w_rec`, `.tau_mem`, `.tau_syn`,
//! `.threshold`, `.bias`, and the signed connection counts `.w_in_count`, `.w_rec_count`.

use std::path::PathBuf;
use std::process::ExitCode;

use ndarray::{ArrayD, IxDyn};
use reef_compiler::hw::dynapse::{Config, CountMatrix, LiftedNetwork, Matrix, embed, lift};
use reef_lang::Sources;
use reef_runtime::io::Precision;
use reef_runtime::params::{NameStyle, ParamSet};

/// Arguments of `reef lift`.
#[derive(clap::Args)]
pub struct LiftArgs {
    /// The configuration (JSON) written by `reef lower`.
    pub config: PathBuf,
    /// Where to write the parameters (`.npz`, f64).
    #[arg(long)]
    pub out: PathBuf,
    /// The `.net` file the config was lowered from: name the parameters as its network does.
    #[arg(long)]
    pub net: Option<PathBuf>,
    /// Which network of `--net` (default: the first).
    #[arg(long, requires = "net")]
    pub network: Option<String>,
}

/// Lifts the config and writes the parameters.
pub fn run(args: &LiftArgs) -> Result<ExitCode, String> {
    let text =
        std::fs::read_to_string(&args.config).map_err(|e| format!("cannot read {}: {e}", args.config.display()))?;
    let config = Config::from_json(&text).map_err(|e| format!("{}: {e}", args.config.display()))?;
    let lifted = lift(&config).map_err(|e| format!("{}: {e}", args.config.display()))?;
    let params = match &args.net {
        Some(path) => {
            let mut sources = Sources::with_prelude();
            let id = super::load(&mut sources, path)?;
            let networks = match reef_compiler::compile_source(&sources, id) {
                Ok(networks) => networks,
                Err(diagnostics) => {
                    super::report(&sources, &diagnostics);
                    return Ok(ExitCode::FAILURE);
                }
            };
            let graph = &super::pick_network(&networks, args.network.as_deref())?.graph;
            let mut params = ParamSet::new();
            for (name, values) in embed(graph, &lifted.network).map_err(|e| format!("{}: {e}", path.display()))? {
                let shape = graph.params.iter().find(|param| param.name == name).map(|param| param.shape.dims());
                params.insert(name.clone(), array(&shape.unwrap_or_default(), values)?);
            }
            params
        }
        None => by_population(&lifted)?,
    };
    params.write_npz(&args.out, Precision::F64, NameStyle::Reef).map_err(|e| e.to_string())?;
    eprint!("{}", summary(&config, &lifted));
    eprintln!("wrote {} ({} arrays)", args.out.display(), params.len());
    Ok(ExitCode::SUCCESS)
}

/// The lifted network's values named by population (see the module doc).
fn by_population(lifted: &LiftedNetwork) -> Result<ParamSet, String> {
    let mut params = ParamSet::new();
    let matrix = |matrix: &Matrix| array(&[matrix.rows, matrix.cols], matrix.data.clone());
    let counts = |counts: &CountMatrix| {
        array(&[counts.rows, counts.cols], counts.data.iter().map(|count| *count as f64).collect())
    };
    for (population, population_counts) in lifted.network.populations.iter().zip(&lifted.counts) {
        let name = &population.name;
        params.insert(format!("{name}.w_in"), matrix(&population.w_in)?);
        params.insert(format!("{name}.w_in_count"), counts(&population_counts.w_in)?);
        if let Some(w_rec) = &population.w_rec {
            params.insert(format!("{name}.w_rec"), matrix(w_rec)?);
            params.insert(format!("{name}.w_rec_count"), counts(&population_counts.w_rec)?);
        }
        for (local, values) in [
            ("tau_mem", &population.tau_mem),
            ("tau_syn", &population.tau_syn),
            ("threshold", &population.threshold),
            ("bias", &population.bias),
        ] {
            params.insert(format!("{name}.{local}"), array(&[values.len()], values.clone())?);
        }
    }
    Ok(params)
}

fn array(shape: &[usize], values: Vec<f64>) -> Result<ArrayD<f64>, String> {
    let count = values.len();
    ArrayD::from_shape_vec(IxDyn(shape), values).map_err(|_| format!("{count} values do not fill shape {shape:?}"))
}

/// One line for the timing and one per population: neurons, cores, connections and CAM entries.
fn summary(config: &Config, lifted: &LiftedNetwork) -> String {
    let timing = &config.timing;
    let mut out = format!(
        "lifted: dt {:.6e} s ({} x {} ticks), {} input channels on chip {}\n",
        lifted.network.dt,
        timing.isi_per_step,
        timing.isi_base_ticks,
        lifted.network.n_inputs,
        config.input.chip.index()
    );
    for ((population, counts), entry) in lifted.network.populations.iter().zip(&lifted.counts).zip(&config.populations)
    {
        let cores: std::collections::BTreeSet<String> = entry.neurons.iter().map(|id| id.core().to_string()).collect();
        let connections = |data: &[i64]| data.iter().filter(|count| **count != 0).count();
        let cams = |data: &[i64]| data.iter().map(|count| count.unsigned_abs()).sum::<u64>();
        out.push_str(&format!(
            "  {:<12} {:>4} neurons on {}; w_in {} connections ({} CAMs), w_rec {} connections ({} CAMs)\n",
            population.name,
            population.size,
            cores.into_iter().collect::<Vec<_>>().join(", "),
            connections(&counts.w_in.data),
            cams(&counts.w_in.data),
            connections(&counts.w_rec.data),
            cams(&counts.w_rec.data),
        ));
    }
    out
}
