//! `reef bench FILE [--batch B] [--steps T] [--threads N] [--json] [--baseline]`: median, min
//! and max per call of forward and value_and_grad after warm-up, compile time (source →
//! callable) and peak memory of value_and_grad. Input is seeded random data of the network's
//! input size; the loss is `mse`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use ndarray::{ArrayD, IxDyn};
use reef_runtime::executable::Executable;
use reef_runtime::io::Precision;

use super::run::{BackendArg, PrecisionArg};
use crate::bench::{alloc, baseline};

/// Arguments of `reef bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// The `.net` file.
    pub file: PathBuf,
    /// Batch size.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Time steps.
    #[arg(long, default_value_t = 1000)]
    pub steps: usize,
    /// Threads for batch elements (0: all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Timed calls of each kind (after 3 warm-up calls).
    #[arg(long, default_value_t = 20)]
    pub repeats: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also time the hand-written Rust implementation (workload A networks only).
    #[arg(long)]
    pub baseline: bool,
    /// Arithmetic precision.
    #[arg(long, value_enum, default_value = "f32")]
    pub precision: PrecisionArg,
    /// The engine.
    #[arg(long, value_enum, default_value = "jit")]
    pub backend: BackendArg,
}

thread_local! {
    /// Peak bytes of the last measured call.
    static PEAK: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

struct Stats {
    median: f64,
    min: f64,
    max: f64,
}

fn measure(repeats: usize, mut call: impl FnMut()) -> Stats {
    for _ in 0..3 {
        call();
    }
    let mut times: Vec<f64> = (0..repeats.max(1))
        .map(|_| {
            let start = Instant::now();
            call();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    Stats { median: times[times.len() / 2], min: times[0], max: times[times.len() - 1] }
}

fn json(stats: &Stats) -> String {
    format!("{{\"median_ms\": {:.6}, \"min_ms\": {:.6}, \"max_ms\": {:.6}}}", stats.median, stats.min, stats.max)
}

/// Runs the benchmark.
pub fn run(args: &BenchArgs) -> Result<ExitCode, String> {
    let precision = Precision::from(args.precision);
    // Source → callable: parse, elaborate, lower, derive the adjoint, generate code.
    let start = Instant::now();
    let Some(loaded) = super::compile_network(&args.file, None)? else {
        return Ok(ExitCode::FAILURE);
    };
    let network = loaded.network;
    let mut executable = Executable::new(network, args.backend.into());
    executable.threads = args.threads;
    executable.prepare(precision).map_err(|e| e.to_string())?;
    let compile_ms = start.elapsed().as_secs_f64() * 1e3;

    let graph = &executable.network.graph;
    let params = reef_runtime::run::load_params(graph, None, 0).map_err(|e| e.to_string())?;
    let input = random(&[args.batch, args.steps, graph.input_size()], 1);
    let target = random(&[args.batch, args.steps, graph.output_size()], 2);
    let loss = reef_compiler::loss::Loss {
        terms: vec![reef_compiler::loss::Term {
            weight: 1.0,
            kind: reef_compiler::loss::TermKind::Mse,
            span: graph.span,
        }],
    };
    let bounds = vec![(None, None); graph.params.len()];
    // Timed: the calls on data already in the run's element type (as a training loop holds
    // it); the API's conversion from f64 arrays is timed separately.
    let (forward, grad) = match (args.backend, precision) {
        (BackendArg::Jit, Precision::F32) => {
            time_core::<f32>(&executable, args, &params, &input, &target, &loss, &bounds)?
        }
        (BackendArg::Jit, Precision::F64) => {
            time_core::<f64>(&executable, args, &params, &input, &target, &loss, &bounds)?
        }
        (BackendArg::Interp, _) => (
            measure(args.repeats, || {
                let _ = executable.evolve(&params, &input, precision, false, 0);
            }),
            measure(args.repeats, || {
                let _ = executable.value_and_grad(&loss, &bounds, &params, &input, &target, precision, 0);
            }),
        ),
    };
    let api = measure(args.repeats.min(5), || {
        let _ = executable.value_and_grad(&loss, &bounds, &params, &input, &target, precision, 0);
    });
    let result =
        executable.value_and_grad(&loss, &bounds, &params, &input, &target, precision, 0).map_err(|e| e.to_string())?;
    let peak_bytes = PEAK.with(|p| p.get());
    // What the math needs: the state tape, parameters and gradients.
    let element = match precision {
        Precision::F32 => 4,
        Precision::F64 => 8,
    };
    let states: usize = graph.states.iter().map(|s| s.shape.len()).sum();
    let param_count: usize = graph.params.iter().map(|p| p.shape.len()).sum();
    // The input, the output and its seed are data the computation must hold too.
    let signals = args.batch * args.steps * (graph.input_size() + 2 * graph.output_size());
    let needed_bytes = (args.batch * args.steps * states + 2 * param_count + signals) * element;

    let baseline_stats =
        if args.baseline { baseline_stats(args, &executable, &params, &input, &target, result.loss)? } else { None };
    if args.json {
        let mut text = format!(
            "{{\"forward\": {}, \"value_and_grad\": {}, \"value_and_grad_api\": {}, \"compile_ms\": {compile_ms:.3}, \"peak_bytes\": {peak_bytes}, \"needed_bytes\": {needed_bytes}",
            json(&forward),
            json(&grad),
            json(&api)
        );
        if let Some((forward, grad, error)) = &baseline_stats {
            text.push_str(&format!(
                ", \"baseline\": {{\"forward\": {}, \"value_and_grad\": {}, \"max_relative_difference\": {error:e}}}",
                json(forward),
                json(grad)
            ));
        }
        text.push('}');
        println!("{text}");
    } else {
        println!(
            "{} (batch {}, {} steps, {} threads, {:?}, {:?})",
            graph.name,
            args.batch,
            args.steps,
            args.threads,
            args.precision_name(),
            args.backend_name()
        );
        println!("  compile (source -> callable) {compile_ms:9.3} ms");
        println!(
            "  forward          median {:9.3} ms  min {:9.3}  max {:9.3}",
            forward.median, forward.min, forward.max
        );
        println!("  value_and_grad   median {:9.3} ms  min {:9.3}  max {:9.3}", grad.median, grad.min, grad.max);
        println!("  value_and_grad through the f64-array API (conversions included) median {:9.3} ms", api.median);
        println!(
            "  peak memory of value_and_grad {peak_bytes} bytes = {:.2} x the {needed_bytes} bytes of tape + params + grads + input/output/seed",
            peak_bytes as f64 / needed_bytes.max(1) as f64
        );
        if let Some((forward_b, grad_b, error)) = &baseline_stats {
            println!(
                "  hand-written Rust: forward {:9.3} ms, value_and_grad {:9.3} ms (max relative difference of its gradients {error:.1e})",
                forward_b.median, grad_b.median
            );
            println!(
                "  reef / hand-written: forward {:.2}x, value_and_grad {:.2}x",
                forward.median / forward_b.median,
                grad.median / grad_b.median
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

impl BenchArgs {
    fn precision_name(&self) -> &'static str {
        match self.precision {
            PrecisionArg::F32 => "f32",
            PrecisionArg::F64 => "f64",
        }
    }
    fn backend_name(&self) -> &'static str {
        match self.backend {
            BackendArg::Jit => "jit",
            BackendArg::Interp => "interp",
        }
    }
}

/// Times the generated code on buffers converted once.
#[allow(clippy::too_many_arguments)]
fn time_core<T: reef_runtime::executable::Select>(
    executable: &Executable,
    args: &BenchArgs,
    params: &reef_runtime::params::ParamSet,
    input: &ArrayD<f64>,
    target: &ArrayD<f64>,
    loss: &reef_compiler::loss::Loss,
    bounds: &[reef_compiler::loss::Bound],
) -> Result<(Stats, Stats), String> {
    let jit = executable.jit::<T>().map_err(|e| e.to_string())?;
    let buffers = reef_runtime::executable::buffers::<T>(&executable.network, params);
    let flat: Vec<T> = input.iter().map(|v| T::from_f64(*v)).collect();
    let target_flat: Vec<f64> = target.iter().copied().collect();
    let (batch, steps, threads) = (args.batch, args.steps, args.threads);
    let forward = measure(args.repeats, || {
        let _ = std::hint::black_box(jit.evolve(&buffers, &flat, batch, steps, threads, 0));
    });
    let grad = measure(args.repeats, || {
        let _ = std::hint::black_box(jit.value_and_grad(
            loss,
            bounds,
            &buffers,
            &flat,
            &target_flat,
            batch,
            steps,
            threads,
            0,
        ));
    });
    // Peak heap of one call beyond the buffers it is given, counting the tape the network
    // kept from the calls before (allocated afresh by a first call).
    let before = alloc::reset_peak();
    let _ =
        std::hint::black_box(jit.value_and_grad(loss, bounds, &buffers, &flat, &target_flat, batch, steps, threads, 0));
    PEAK.with(|p| p.set(alloc::peak().saturating_sub(before) + jit.kept_bytes()));
    Ok((forward, grad))
}

fn random(shape: &[usize], seed: u64) -> ArrayD<f64> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    ArrayD::from_shape_fn(IxDyn(shape), |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    })
}

/// Times the hand-written baseline when the network is workload A (batch 1).
fn baseline_stats(
    args: &BenchArgs,
    executable: &Executable,
    params: &reef_runtime::params::ParamSet,
    input: &ArrayD<f64>,
    target: &ArrayD<f64>,
    _reef_loss: f64,
) -> Result<Option<(Stats, Stats, f64)>, String> {
    let graph = &executable.network.graph;
    let names = ["0_Linear.weight", "1_Rate.tau", "1_Rate.bias", "1_Rate.threshold", "1_Rate.w_rec", "2_Linear.weight"];
    let is_a = graph.params.len() == 6
        && graph.params.iter().zip(names).all(|(p, n)| p.name == n)
        && graph.input_size() == 1
        && graph.output_size() == 1;
    if !is_a || args.batch != 1 {
        return Err("--baseline needs workload A (Linear(1, N) -> Rate(N, rec = true, activation = tanh) -> Linear(N, 1)) and --batch 1".into());
    }
    let get =
        |name: &str| params.get(name).map(|a| a.iter().map(|v| *v as f32).collect::<Vec<f32>>()).unwrap_or_default();
    let network = baseline::RateNetwork {
        n: graph.params[1].shape.len(),
        w_in: get(names[0]),
        tau: get(names[1]),
        bias: get(names[2]),
        threshold: get(names[3]),
        w_rec: get(names[4]),
        w_out: get(names[5]),
        dt: graph.dt as f32,
    };
    let x: Vec<f32> = input.iter().map(|v| *v as f32).collect();
    let y: Vec<f32> = target.iter().map(|v| *v as f32).collect();
    let forward = measure(args.repeats, || {
        std::hint::black_box(network.forward(std::hint::black_box(&x)));
    });
    let grad = measure(args.repeats, || {
        std::hint::black_box(network.value_and_grad(std::hint::black_box(&x), &y));
    });
    // Check the baseline computes the same gradients as reef.
    let loss = reef_compiler::loss::Loss {
        terms: vec![reef_compiler::loss::Term {
            weight: 1.0,
            kind: reef_compiler::loss::TermKind::Mse,
            span: graph.span,
        }],
    };
    let bounds = vec![(None, None); graph.params.len()];
    let reef = executable
        .value_and_grad(&loss, &bounds, params, input, target, Precision::F64, 0)
        .map_err(|e| e.to_string())?;
    let (_, grads) = network.value_and_grad(&x, &y);
    let mut worst = 0.0f64;
    for (name, ours) in names.iter().zip(grads.iter()) {
        if let Some(reference) = reef.grads.get(name) {
            let scale = reference.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-30);
            for (a, b) in ours.iter().zip(reference.iter()) {
                worst = worst.max((f64::from(*a) - b).abs() / scale);
            }
        }
    }
    Ok(Some((forward, grad, worst)))
}
