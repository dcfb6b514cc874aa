//! `reef data TASK [--arg name=value]... [--seed S] --out D.npz`: write a built-in task's dataset.

use std::path::PathBuf;
use std::process::ExitCode;

use reef_lang::ast::Unit;
use reef_runtime::io::Precision;
use reef_runtime::tasks::{self, TASKS};

/// Arguments of `reef data`.
#[derive(clap::Args)]
#[command(after_help = task_help())]
pub struct DataArgs {
    /// The task: pulse_chirp, frozen_noise_chirp, random_sin_mapping or white_noise_integration.
    pub task: String,
    /// A task argument, `name=value`; the value may carry a unit (`pulse=50ms`, `rate=10Hz`).
    #[arg(long = "arg", value_name = "NAME=VALUE")]
    pub args: Vec<String>,
    /// Seed for the task's random draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where to write the dataset: an `.npz` with arrays `input` and `target`.
    #[arg(long)]
    pub out: PathBuf,
    /// Arithmetic precision of the written arrays.
    #[arg(long, value_enum, default_value = "f64")]
    pub precision: super::run::PrecisionArg,
}

/// Builds the dataset and writes it.
pub fn run(args: &DataArgs) -> Result<ExitCode, String> {
    let arguments = args.args.iter().map(|text| parse_argument(text)).collect::<Result<Vec<_>, _>>()?;
    let data = tasks::task_by_name(&args.task, &arguments, args.seed).map_err(|error| error.to_string())?;
    data.write_npz(&args.out, Precision::from(args.precision)).map_err(|error| error.to_string())?;
    let (input, target) = (data.input().shape(), data.target().shape());
    eprintln!(
        "wrote {}: input [{} x {} x {}], target [{} x {} x {}]",
        args.out.display(),
        input[0],
        input[1],
        input[2],
        target[0],
        target[1],
        target[2]
    );
    Ok(ExitCode::SUCCESS)
}

/// `name=value[unit]` → (name, value in SI units).
fn parse_argument(text: &str) -> Result<(String, f64), String> {
    let Some((name, value)) = text.split_once('=') else {
        return Err(format!("`--arg {text}`: expected NAME=VALUE, e.g. `--arg pulse=50ms`"));
    };
    let value = value.trim();
    let units = [Unit::Millisecond, Unit::Microsecond, Unit::Hertz, Unit::Second];
    let (number, scale) = units
        .iter()
        .find_map(|unit| Some((value.strip_suffix(unit.symbol())?.trim_end(), unit.scale())))
        .unwrap_or((value, 1.0));
    match number.parse::<f64>() {
        Ok(number) => Ok((name.trim().to_owned(), number * scale)),
        Err(_) => Err(format!("`--arg {text}`: `{value}` is not a number with an optional unit (s, ms, us, Hz)")),
    }
}

/// The tasks and their arguments, for `reef data --help`.
fn task_help() -> String {
    let mut help = String::from("Tasks (arguments with defaults, in SI units):\n");
    for info in TASKS {
        help.push_str(&format!("  {}: {}\n", info.name, info.summary));
        for argument in info.arguments {
            let unit = if argument.unit.is_empty() { String::new() } else { format!(" {}", argument.unit) };
            help.push_str(&format!("      {} = {}{unit}  ({})\n", argument.name, argument.default, argument.doc));
        }
    }
    help
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_take_units() {
        assert_eq!(parse_argument("pulse=50ms"), Ok(("pulse".to_owned(), 0.05)));
        assert_eq!(parse_argument("rate = 10 Hz"), Ok(("rate".to_owned(), 10.0)));
        assert_eq!(parse_argument("padding=1s"), Ok(("padding".to_owned(), 1.0)));
        assert_eq!(parse_argument("channels=200"), Ok(("channels".to_owned(), 200.0)));
        assert!(parse_argument("pulse").is_err());
        assert!(parse_argument("pulse=fifty").is_err());
    }
}
