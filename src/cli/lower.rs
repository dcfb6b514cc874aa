//! `reef lower FILE --target dynapse-se1 --out config.json [--params P.npz | --seed S] [--report]
//! [--input-chip C] [--place PLACEMENT.json] [--prune] [--compare-input X.npy] [--network N]`:
//! lower a trained spiking network to a Dynap-SE1 configuration.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use reef::fidelity::{compare, constrained_params};
use reef_compiler::hw::dynapse::{self, LowerOptions, Placement, extract, to_diagnostic};
use reef_lang::Diagnostics;
use reef_runtime::io::{self, IoError};

/// Arguments of `reef lower`.
#[derive(clap::Args)]
pub struct LowerArgs {
    /// The `.net` file.
    pub file: PathBuf,
    /// Parameters (`.npz`, reef or Rockpool names); without it, parameters are initialised from `--seed`.
    #[arg(long)]
    pub params: Option<PathBuf>,
    /// The chip to lower to.
    #[arg(long, value_enum)]
    pub target: Target,
    /// Where to write the configuration (JSON).
    #[arg(long)]
    pub out: PathBuf,
    /// Print the resource report (neurons per core, CAM and SRAM use, biases, quantisation and sharing errors).
    #[arg(long)]
    pub report: bool,
    /// The chip input events are sent to.
    #[arg(long, default_value_t = 0)]
    pub input_chip: usize,
    /// An explicit placement: `{"populations": {"NAME": [global ids]}, "virtual_ids": [ids]}`.
    #[arg(long)]
    pub place: Option<PathBuf>,
    /// Allow dropping nonzero weights that do not fit the fan-in budget or round to zero (all listed in the report).
    #[arg(long)]
    pub prune: bool,
    /// Run the float and the hardware-constrained network on this input (`.npy`) and compare their output spikes.
    #[arg(long)]
    pub compare_input: Option<PathBuf>,
    /// Seed for parameter initialisation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Which network of the file (default: the first).
    #[arg(long)]
    pub network: Option<String>,
}

/// `--target`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Target {
    /// SynSense/iniVation Dynap-SE1: 4 chips × 4 cores × 256 LIF neurons.
    #[value(name = "dynapse-se1")]
    DynapseSe1,
}

/// Lowers the network and writes its configuration.
#[allow(clippy::print_stdout, reason = "the report and the comparison are the command's output")]
pub fn run(args: &LowerArgs) -> Result<ExitCode, String> {
    let Target::DynapseSe1 = args.target;
    let Some(loaded) = super::compile_network(&args.file, args.network.as_deref())? else {
        return Ok(ExitCode::FAILURE);
    };
    let (sources, network) = (&loaded.sources, &loaded.network);
    let graph = &network.graph;
    let params = reef_runtime::run::load_params(graph, args.params.as_deref(), args.seed).map_err(|e| e.to_string())?;
    let located = |errors: &[dynapse::DrcError]| {
        Diagnostics(errors.iter().map(|error| to_diagnostic(error, graph.span)).collect())
    };
    let spiking = match extract(graph, |name| params.get(name).map(|values| values.iter().copied().collect())) {
        Ok(spiking) => spiking,
        Err(errors) => {
            super::report(sources, &located(&errors));
            eprintln!(
                "{}: {} error(s) extracting the spiking network; no config written",
                args.file.display(),
                errors.len()
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    let placement = match &args.place {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            Some(Placement::from_json(&text, &spiking).map_err(|e| format!("{}: {e}", path.display()))?)
        }
        None => None,
    };
    let options = LowerOptions { input_chip: args.input_chip, prune: args.prune, placement, ..LowerOptions::default() };
    let lowered = match dynapse::lower(&spiking, &options) {
        Ok(lowered) => lowered,
        Err(errors) => {
            super::report(sources, &located(&errors));
            eprintln!("{}: {} design-rule error(s); no config written", args.file.display(), errors.len());
            return Ok(ExitCode::FAILURE);
        }
    };
    let json = lowered.config.to_json().map_err(|e| format!("cannot encode the config: {e}"))?;
    io::write_atomically(&args.out, |writer| {
        writer.write_all(json.as_bytes()).and_then(|()| writer.write_all(b"\n")).map_err(|source| IoError::Io {
            action: "write",
            path: args.out.clone(),
            source,
        })
    })
    .map_err(|e| e.to_string())?;
    if args.report {
        print!("{}", dynapse::report(&lowered));
    }
    let config = &lowered.config;
    eprintln!(
        "wrote {}: {} neurons on {} cores, {} CAM entries, {} input channels",
        args.out.display(),
        config.neurons.len(),
        config.cores.len(),
        config.neurons.iter().map(|neuron| neuron.cams.len()).sum::<usize>(),
        config.input.channels.len()
    );
    if let Some(path) = &args.compare_input {
        let (input, _) = io::read_npy(path).map_err(|e| e.to_string())?;
        let constrained = constrained_params(network, &params, config).map_err(|e| e.to_string())?;
        let fidelity = compare(network, &params, &constrained, &input, args.seed)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        print!("{fidelity}");
    }
    Ok(ExitCode::SUCCESS)
}
