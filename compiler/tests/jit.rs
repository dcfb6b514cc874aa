//! The JIT against the interpreter on every example and on random user models: forward
//! outputs, losses and gradients, f64 (1e-12) and f32 (1e-5), batch 1 and 3, 1 and 2 threads.

use reef_compiler::codegen::{JitNetwork, JitReal};
use reef_compiler::interp;
use reef_compiler::loss::{Bound, Loss, Term, TermKind};
use reef_lang::Sources;

fn compile(text: &str) -> reef_compiler::Compiled {
    let mut sources = Sources::with_prelude();
    let id = sources.add("test.net", text);
    match reef_compiler::compile_source(&sources, id) {
        Ok(mut networks) => networks.remove(0),
        Err(d) => panic!("{}", sources.render(&d, false)),
    }
}

fn numbers(count: usize, seed: u64, scale: f64) -> Vec<f64> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// Parameters: initial values with jitter (positive time constants stay positive).
fn params(network: &reef_compiler::Compiled) -> Vec<Vec<f64>> {
    network
        .graph
        .params
        .iter()
        .enumerate()
        .map(|(index, p)| {
            let jitter = numbers(p.shape.len(), 40 + index as u64, 0.3);
            let base = match p.init {
                reef_compiler::graph::Init::Constant(c) => vec![c; p.shape.len()],
                reef_compiler::graph::Init::Uniform { low, high } => numbers(p.shape.len(), 7 + index as u64, 1.0)
                    .iter()
                    .map(|u| low + (high - low) * (u + 1.0) / 2.0)
                    .collect(),
                reef_compiler::graph::Init::Normal { std, .. } => numbers(p.shape.len(), 9 + index as u64, std),
            };
            base.iter().zip(jitter).map(|(b, j)| if *b == 0.0 { j } else { b * (1.0 + j) }).collect()
        })
        .collect()
}

fn worst(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-30);
    a.iter().zip(b).fold(0.0f64, |m, (x, y)| m.max((x - y).abs() / scale))
}

/// With the AVX2 kernels, products are summed in another order with fused multiply-adds. In
/// f32 that can move a spiking neuron across its threshold, which changes spike counts (a
/// discontinuity, not an error), so spiking networks are compared with the kernels in f64 only;
/// the portable path sums like the interpreter and is compared in both precisions.
fn compare<T: JitReal>(network: &reef_compiler::Compiled, tolerance: f64, name: &str) {
    let spiking = !network.program.custom_calls.is_empty();
    let single = std::mem::size_of::<T>() == 4;
    for kernels in [true, false] {
        if kernels && spiking && single {
            continue;
        }
        compare_with::<T>(network, tolerance, name, kernels);
    }
}

fn compare_with<T: JitReal>(network: &reef_compiler::Compiled, tolerance: f64, name: &str, kernels: bool) {
    let adjoint = reef_compiler::adjoint::derive(&network.program);
    let jit = JitNetwork::<T>::compile_with(&network.program, Some(&adjoint), kernels).unwrap();
    let params64 = params(network);
    let params_t: Vec<Vec<T>> = params64.iter().map(|p| p.iter().map(|v| T::from_f64(*v)).collect()).collect();
    let loss = Loss {
        terms: vec![
            Term { weight: 1.0, kind: TermKind::Mse, span: Default::default() },
            Term { weight: 0.1, kind: TermKind::L2SqrNorm(vec![]), span: Default::default() },
        ],
    };
    let bounds = vec![(None, None); network.graph.params.len()];
    for (batch, steps) in [(1, 17), (3, 9)] {
        let channels = network.graph.input_size();
        let input: Vec<T> = numbers(batch * steps * channels, 3, 1.5).iter().map(|v| T::from_f64(v.abs())).collect();
        let target = numbers(batch * steps * network.graph.output_size(), 5, 0.5);
        let reference = interp::evolve(&network.program, &params_t, &input, batch, steps, false, 1).unwrap();
        let reference_grad = interp::value_and_grad(
            &network.program,
            &adjoint,
            &loss,
            &bounds,
            &params_t,
            &input,
            &target,
            batch,
            steps,
            1,
        )
        .unwrap();
        for threads in [1, 2] {
            let output = jit.evolve(&params_t, &input, batch, steps, threads, 1).unwrap();
            let to64 = |v: &[T]| v.iter().map(|x| x.to_f64()).collect::<Vec<_>>();
            let error = worst(&to64(&output), &to64(&reference.output));
            assert!(error <= tolerance, "{name}: forward differs by {error:e} (batch {batch}, {threads} threads)");
            let grad =
                jit.value_and_grad(&loss, &bounds, &params_t, &input, &target, batch, steps, threads, 1).unwrap();
            let loss_error = (grad.loss - reference_grad.loss).abs() / reference_grad.loss.abs().max(1e-30);
            assert!(loss_error <= tolerance, "{name}: loss differs by {loss_error:e}");
            for ((ours, theirs), slot) in grad.grads.iter().zip(&reference_grad.grads).zip(&network.graph.params) {
                let error = worst(&to64(ours), &to64(theirs));
                assert!(
                    error <= tolerance * 10.0,
                    "{name}: gradient of {} differs by {error:e} (batch {batch}, {threads} threads)",
                    slot.name
                );
            }
        }
    }
}

#[test]
fn jit_equals_interpreter_on_every_example() {
    insta::glob!("../../examples", "*.net", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let network = compile(&text);
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        compare::<f64>(&network, 1e-12, &name);
        compare::<f32>(&network, 1e-5, &name);
    });
}

#[test]
fn jit_equals_interpreter_on_every_prelude_model_and_op() {
    let texts = [
        "network N(dt = 1 ms) = Sequential(Linear(3, 7, has_bias = true), Instant(7, tanh), Linear(7, 2))",
        "network N(dt = 1 ms) = Sequential(Linear(2, 9), LIFODE(9, rec = true), ExpSyn(9), Linear(9, 1))",
        "network N(dt = 1 ms) = Sequential(Linear(2, 5), Rate(5, rec = true, activation = sigmoid), Linear(5, 3))",
        "model Ops(n: size) {
            param a[n] = 0.5
            state s[n] = 0.1
            input x[n]
            let y = abs(x - a) + sqrt(abs(s) + 1) + floor(x * 3) / 3 + log(1 + x * x) + sin(x) * cos(s)
            s <- min(max(y ^ 2 / 10, -1), 1) + select(x > a, exp(-x), (abs(x) + 0.1) ^ a) - mean(x) + sum(s) / 10
            output s * (x != a) + (x == a) + (x <= s)
        }
        network N(dt = 1 ms) = Sequential(Linear(2, 6), Ops(6), Linear(6, 2))",
    ];
    for text in texts {
        let network = compile(text);
        compare::<f64>(&network, 1e-12, text);
        compare::<f32>(&network, 1e-5, text);
    }
}

/// A gradient term linear in a recurrent product is deferred (`ScaledProduct`, summed after
/// the loop); one that is not linear keeps the product per step. Both equal the interpreter.
#[test]
fn gradient_terms_linear_in_a_product_are_deferred_only_when_linear() {
    let model = |update: &str| {
        format!(
            "model M(n: size) {{
                param w[n, n] = kaiming(n)
                param tau[n] = 20 ms
                state s[n] = 0.1
                input x[n]
                s <- {update}
                output s
            }}
            network N(dt = 1 ms) = Sequential(Linear(2, 6), M(6), Linear(6, 1))"
        )
    };
    let scaled = |text: &str| {
        let network = compile(text);
        let adjoint = reef_compiler::adjoint::derive(&network.program);
        compare::<f64>(&network, 1e-12, text);
        compare::<f32>(&network, 1e-5, text);
        adjoint.program.insts.iter().any(|inst| matches!(inst.op, reef_compiler::step::Op::ScaledProduct(..)))
    };
    assert!(scaled(&model("s + (x - s + s @ w) * dt / tau")));
    assert!(!scaled(&model("s + tanh(x - s + s @ w) * dt / tau")));
}

#[test]
fn readouts_merge_into_the_recurrent_products_call_only_where_their_columns_fit_its_padding() {
    let merged = |n: usize, outputs: usize| {
        let text =
            format!("network N(dt = 1 ms) = Sequential(Linear(1, {n}), Rate({n}, rec = true), Linear({n}, {outputs}))");
        let network = compile(&text);
        let adjoint = reef_compiler::adjoint::derive(&network.program);
        let jit = JitNetwork::<f32>::compile(&network.program, Some(&adjoint)).unwrap();
        // Merged or not, the outputs and gradients equal the interpreter's, batches and threads
        // included.
        compare::<f64>(&network, 1e-12, &text);
        compare::<f32>(&network, 1e-5, &text);
        jit.summary().contains("computed by the kernel call of x @ 1_Rate.w_rec")
    };
    if !reef_compiler::codegen::kernels_available() {
        return;
    }
    // 50 columns are padded to 56: one or six more fit, eight do not; 48 are padded to 48.
    assert!(merged(50, 1));
    assert!(merged(50, 6));
    assert!(!merged(50, 8));
    assert!(!merged(48, 1));
    // 20 columns: the product's slot (20) lacks room for a 21st and moves.
    assert!(merged(20, 1));
}

#[test]
fn a_sum_read_off_another_gradient_excludes_what_derived_terms_add_to_it() {
    // g's gradient is the sum of the rows λ·dt/τ plus a term read off w's product (g ⊙ (s @ w));
    // τ's per-step term has a `+ g` summand whose sum must not be read off g's gradient then.
    let text = "model M(n: size) {
            param w[n, n] = kaiming(n)
            param tau[n] = 20 ms
            param g[n] = 0.5
            state s[n] = 0.1
            input x[n]
            s <- s + (x - s + g) * dt / tau + g * (s @ w)
            output s
        }
        network N(dt = 1 ms) = Sequential(Linear(2, 6), M(6), Linear(6, 1))";
    let network = compile(text);
    compare::<f64>(&network, 1e-12, text);
    compare::<f32>(&network, 1e-5, text);
}

#[test]
fn wrong_buffers_are_refused_before_generated_code_runs() {
    let network = compile("network N(dt = 1 ms) = Sequential(Linear(2, 3), Rate(3), Linear(3, 1))");
    let adjoint = reef_compiler::adjoint::derive(&network.program);
    let jit = JitNetwork::<f32>::compile(&network.program, Some(&adjoint)).unwrap();
    let good: Vec<Vec<f32>> = network.graph.params.iter().map(|p| vec![0.1; p.shape.len()]).collect();
    let input = vec![0.5f32; 2 * 10];
    assert!(jit.evolve(&good, &input, 1, 10, 1, 0).is_ok());
    // Too short an input, a missing parameter, a parameter of the wrong length, a wrong target.
    assert!(matches!(jit.evolve(&good, &input[..19], 1, 10, 1, 0), Err(interp::InterpError::InputLength { .. })));
    assert!(matches!(jit.evolve(&good, &input, 2, 10, 1, 0), Err(interp::InterpError::InputLength { .. })));
    assert!(matches!(jit.evolve(&good[..2], &input, 1, 10, 1, 0), Err(interp::InterpError::ParamCount { .. })));
    let mut short = good.clone();
    short[1].pop();
    assert!(matches!(jit.evolve(&short, &input, 1, 10, 1, 0), Err(interp::InterpError::ParamLength { .. })));
    let loss = Loss { terms: vec![Term { weight: 1.0, kind: TermKind::Mse, span: Default::default() }] };
    let bounds = vec![(None, None); good.len()];
    assert!(matches!(
        jit.value_and_grad(&loss, &bounds, &good, &input, &[0.0; 9], 1, 10, 1, 0),
        Err(interp::InterpError::TargetLength { .. })
    ));
    let forward_only = JitNetwork::<f32>::compile(&network.program, None).unwrap();
    assert!(matches!(
        forward_only.value_and_grad(&loss, &bounds, &good, &input, &[0.0; 10], 1, 10, 1, 0),
        Err(interp::InterpError::NoAdjoint)
    ));
}

#[test]
fn gradients_are_identical_for_any_thread_count() {
    let network = compile(
        "network N(dt = 1 ms) = Sequential(Linear(2, 8), Rate(8, rec = true, activation = tanh), Linear(8, 1))",
    );
    let adjoint = reef_compiler::adjoint::derive(&network.program);
    let jit = JitNetwork::<f32>::compile(&network.program, Some(&adjoint)).unwrap();
    let p: Vec<Vec<f32>> = params(&network).iter().map(|v| v.iter().map(|x| *x as f32).collect()).collect();
    let loss = Loss { terms: vec![Term { weight: 1.0, kind: TermKind::Mse, span: Default::default() }] };
    let bounds = vec![(None, None); p.len()];
    // Blocks of 8, and of 18 (a batch of 150: blocks grow with the batch).
    for batch in [7, 150] {
        let input: Vec<f32> = numbers(batch * 20 * 2, 1, 1.0).iter().map(|v| *v as f32).collect();
        let target = numbers(batch * 20, 2, 1.0);
        let one = jit.value_and_grad(&loss, &bounds, &p, &input, &target, batch, 20, 1, 0).unwrap();
        for threads in [2, 3] {
            let many = jit.value_and_grad(&loss, &bounds, &p, &input, &target, batch, 20, threads, 0).unwrap();
            assert_eq!(one.grads, many.grads, "batch {batch}, {threads} threads");
            assert_eq!(one.loss.to_bits(), many.loss.to_bits());
        }
    }
}

/// One long sequence (several row flushes) through a small recurrent Rate network, f64.
struct LongSequence {
    network: reef_compiler::Compiled,
    adjoint: reef_compiler::adjoint::AdjointProgram,
    jit: JitNetwork<f64>,
    p: Vec<Vec<f64>>,
    steps: usize,
    input: Vec<f64>,
    target: Vec<f64>,
    loss: Loss,
    bounds: Vec<Bound>,
}

fn long_sequence() -> LongSequence {
    let network = compile(
        "network N(dt = 1 ms) = Sequential(Linear(3, 12), Rate(12, rec = true, activation = tanh), Linear(12, 2))",
    );
    let adjoint = reef_compiler::adjoint::derive(&network.program);
    let jit = JitNetwork::<f64>::compile(&network.program, Some(&adjoint)).unwrap();
    let p = params(&network);
    let steps = 700;
    let input = numbers(steps * 3, 21, 1.0);
    let target = numbers(steps * 2, 22, 0.5);
    let loss = Loss { terms: vec![Term { weight: 1.0, kind: TermKind::Mse, span: Default::default() }] };
    let bounds = vec![(None, None); p.len()];
    LongSequence { network, adjoint, jit, p, steps, input, target, loss, bounds }
}

/// One sequence on two threads: full weight-gradient rows are multiplied on the second thread
/// while the backward loop goes on (several flushes, a contracted term, and a parameter with
/// both per-step and flushed terms): equal to the interpreter, bit-identical for 1–3 threads.
#[test]
fn flushes_beside_the_backward_loop_equal_the_interpreter() {
    let LongSequence { network, adjoint, jit, p, steps, input, target, loss, bounds } = long_sequence();
    let reference =
        interp::value_and_grad(&network.program, &adjoint, &loss, &bounds, &p, &input, &target, 1, steps, 0).unwrap();
    let one = jit.value_and_grad(&loss, &bounds, &p, &input, &target, 1, steps, 1, 0).unwrap();
    for (name, (a, b)) in network.graph.params.iter().map(|q| &q.name).zip(one.grads.iter().zip(&reference.grads)) {
        assert!(worst(a, b) <= 1e-11, "{name}: {:e}", worst(a, b));
    }
    // A network tries flushing after the loop, then beside it, in its first calls with a second
    // thread (then takes the faster): two calls per thread count run both.
    for threads in [2, 2, 3, 3] {
        let many = jit.value_and_grad(&loss, &bounds, &p, &input, &target, 1, steps, threads, 0).unwrap();
        assert_eq!(one.grads, many.grads, "{threads} threads");
    }
}

/// The flushing thread is a task `rayon::join` may run only after the backward loop returns
/// (when the pool's other thread is busy): the loop must not wait for it. Here the other
/// thread of a two-thread pool is held until the call ends; the call ends, with the same bits.
#[test]
fn flushes_do_not_wait_for_a_busy_pool() {
    let LongSequence { jit, p, steps, input, target, loss, bounds, .. } = long_sequence();
    let alone = jit.value_and_grad(&loss, &bounds, &p, &input, &target, 1, steps, 1, 0).unwrap();
    // The first call with a second thread flushes after the loop, the next beside it.
    let after = jit.value_and_grad(&loss, &bounds, &p, &input, &target, 1, steps, 2, 0).unwrap();
    assert_eq!(alone.grads, after.grads);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    let crowded = pool.install(|| {
        let (result, ()) = rayon::join(
            || {
                let result = jit.value_and_grad(&loss, &bounds, &p, &input, &target, 1, steps, 0, 0);
                done.store(true, std::sync::atomic::Ordering::Release);
                result
            },
            || {
                while !done.load(std::sync::atomic::Ordering::Acquire) {
                    std::hint::spin_loop();
                }
            },
        );
        result.unwrap()
    });
    assert_eq!(alone.grads, crowded.grads);
}

/// Input products (≥ 16 channels) computed for the whole batch before the loop and kept for the
/// backward pass, over several gradient blocks (batch 10) and several backward calls (300
/// steps), over several forward chunks (1100 steps: chunks of 512), or for the whole batch at
/// once in one block per thread (90 steps, one chunk), with weight gradients split into row
/// blocks: equal to the interpreter, and bit-identical for 1, 2 and 3 threads.
#[test]
fn batch_products_and_split_gradients_equal_the_interpreter() {
    let network = compile(
        "network N(dt = 1 ms) = Sequential(Linear(40, 150), Instant(150, tanh), Rate(150, activation = tanh), Linear(150, 3))",
    );
    let adjoint = reef_compiler::adjoint::derive(&network.program);
    let jit = JitNetwork::<f64>::compile(&network.program, Some(&adjoint)).unwrap();
    let p = params(&network);
    for (batch, steps) in [(10, 300), (2, 1100), (7, 90)] {
        let input: Vec<f64> = numbers(batch * steps * 40, 11, 1.0);
        let target = numbers(batch * steps * 3, 12, 0.5);
        let loss = Loss { terms: vec![Term { weight: 1.0, kind: TermKind::Mse, span: Default::default() }] };
        let bounds = vec![(None, None); p.len()];
        let reference =
            interp::value_and_grad(&network.program, &adjoint, &loss, &bounds, &p, &input, &target, batch, steps, 1)
                .unwrap();
        let one = jit.value_and_grad(&loss, &bounds, &p, &input, &target, batch, steps, 1, 0).unwrap();
        assert!(worst(&one.output, &reference.output) <= 1e-12);
        for (ours, theirs) in one.grads.iter().zip(&reference.grads) {
            let error = worst(ours, theirs);
            assert!(error <= 1e-11, "gradient differs by {error:e}");
        }
        let forward = jit.evolve(&p, &input, batch, steps, 1, 0).unwrap();
        assert_eq!(forward, one.output);
        for threads in [2, 3] {
            let many = jit.value_and_grad(&loss, &bounds, &p, &input, &target, batch, steps, threads, 0).unwrap();
            assert_eq!(one.grads, many.grads, "{threads} threads, {steps} steps");
            assert_eq!(one.output, many.output, "{threads} threads, {steps} steps");
            assert_eq!(jit.evolve(&p, &input, batch, steps, threads, 0).unwrap(), forward);
        }
    }
}

#[test]
fn fast_tanh_is_accurate() {
    let network = compile("network N(dt = 1 ms) = Instant(64, tanh)");
    let jit = JitNetwork::<f32>::compile(&network.program, None).unwrap();
    let steps = 1000;
    let input: Vec<f32> = (0..steps * 64).map(|i| (i as f32 / (steps * 64) as f32 - 0.5) * 24.0).collect();
    let output = jit.evolve(&[], &input, 1, steps, 1, 0).unwrap();
    let worst = input.iter().zip(&output).fold(0.0f64, |m, (x, y)| m.max((f64::from(*x).tanh() - f64::from(*y)).abs()));
    assert!(worst < 6e-7, "worst absolute error {worst:e}");
}

/// Long vectors call the native AVX2 `tanh` (with the kernels), short ones and runs without
/// kernels inline it in Cranelift's 128-bit code: the same operations per lane, so the same bits,
/// also in the masked last vector (50 = 6 × 8 + 2) and the clamped range.
#[test]
fn native_and_inline_tanh_give_the_same_bits() {
    for n in [50, 64, 7] {
        let network = compile(&format!("network N(dt = 1 ms) = Instant({n}, tanh)"));
        let steps = 400;
        let input: Vec<f32> = (0..steps * n).map(|i| (i as f32 / (steps * n) as f32 - 0.5) * 24.0).collect();
        let run = |kernels| {
            let jit = JitNetwork::<f32>::compile_with(&network.program, None, kernels).unwrap();
            jit.evolve(&[], &input, 1, steps, 1, 0).unwrap()
        };
        let (native, inline) = (run(true), run(false));
        let differing = native.iter().zip(&inline).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
        assert_eq!(differing, 0, "{n} neurons: {differing} outputs differ");
        assert!(native.iter().any(|y| *y > 0.9999) && native.iter().any(|y| y.abs() < 0.01));
    }
}

/// Long sequences run in chunks of generated-code calls; noise must continue across them.
#[test]
fn chunked_long_runs_with_noise_equal_the_interpreter() {
    let network = compile(
        "network N(dt = 1 ms) = Sequential(Linear(20, 6), Rate(6, rec = true, activation = tanh, noise_std = 0.3), LIF(6, rec = true), Linear(6, 2))",
    );
    compare_steps::<f64>(&network, 1e-12, 600);
}

/// λ passes from one backward call to the next, and a state that starts from a parameter gets
/// the final λ: runs of several calls, the first of them (the sequence's last steps) one step
/// long, so that λ does not end in the buffer it started in.
#[test]
fn initial_state_gradients_over_many_calls_equal_the_interpreter() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/integrator.net")).unwrap();
    let network = compile(&text);
    for steps in [65, 129, 193] {
        compare_steps::<f64>(&network, 1e-12, steps);
    }
}

fn compare_steps<T: JitReal>(network: &reef_compiler::Compiled, tolerance: f64, steps: usize) {
    let adjoint = reef_compiler::adjoint::derive(&network.program);
    let jit = JitNetwork::<T>::compile(&network.program, Some(&adjoint)).unwrap();
    let params_t: Vec<Vec<T>> = params(network).iter().map(|p| p.iter().map(|v| T::from_f64(*v)).collect()).collect();
    let loss = Loss { terms: vec![Term { weight: 1.0, kind: TermKind::Mse, span: Default::default() }] };
    let bounds = vec![(None, None); network.graph.params.len()];
    let batch = 2;
    let input: Vec<T> =
        numbers(batch * steps * network.graph.input_size(), 3, 1.0).iter().map(|v| T::from_f64(*v)).collect();
    let target = numbers(batch * steps * network.graph.output_size(), 5, 0.5);
    let reference =
        interp::value_and_grad(&network.program, &adjoint, &loss, &bounds, &params_t, &input, &target, batch, steps, 9)
            .unwrap();
    let ours = jit.value_and_grad(&loss, &bounds, &params_t, &input, &target, batch, steps, 2, 9).unwrap();
    let to64 = |v: &[T]| v.iter().map(|x| x.to_f64()).collect::<Vec<_>>();
    assert!(worst(&to64(&ours.output), &to64(&reference.output)) <= tolerance);
    for (a, b) in ours.grads.iter().zip(&reference.grads) {
        assert!(worst(&to64(a), &to64(b)) <= tolerance * 10.0);
    }
}

/// Large products split across two threads inside the matrix–vector kernels.
#[test]
fn large_products_equal_the_interpreter() {
    let network = compile(
        "network N(dt = 1 ms) = Sequential(Linear(4, 600), Rate(600, rec = true, activation = tanh), Linear(600, 2))",
    );
    compare::<f32>(&network, 1e-5, "large");
}

/// Batch elements run in lock-step groups (several elements per kernel call of the recurrent
/// product): each element's output has exactly the bits it has when run alone, whatever the
/// group sizes the thread count gives; gradients over a batch of 11 (forward groups of up to 8,
/// backward groups of 4, 4 and 3) equal the interpreter's.
#[test]
fn lock_step_groups_equal_elements_run_alone_and_the_interpreter() {
    let network = compile(
        "network N(dt = 1 ms) = Sequential(Linear(2, 20), Rate(20, rec = true, activation = tanh), Linear(20, 3))",
    );
    let adjoint = reef_compiler::adjoint::derive(&network.program);
    let jit = JitNetwork::<f64>::compile(&network.program, Some(&adjoint)).unwrap();
    let p = params(&network);
    let (batch, steps, channels, outputs) = (11, 30, 2, 3);
    let input = numbers(batch * steps * channels, 8, 1.0);
    for threads in [1, 2] {
        let together = jit.evolve(&p, &input, batch, steps, threads, 0).unwrap();
        for b in 0..batch {
            let rows = &input[b * steps * channels..(b + 1) * steps * channels];
            let alone = jit.evolve(&p, rows, 1, steps, 1, 0).unwrap();
            let part = &together[b * steps * outputs..(b + 1) * steps * outputs];
            let same = alone.iter().zip(part).all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same, "element {b} differs from its run alone ({threads} threads)");
        }
    }
    let target = numbers(batch * steps * outputs, 9, 0.5);
    let loss = Loss { terms: vec![Term { weight: 1.0, kind: TermKind::Mse, span: Default::default() }] };
    let bounds = vec![(None, None); p.len()];
    let reference =
        interp::value_and_grad(&network.program, &adjoint, &loss, &bounds, &p, &input, &target, batch, steps, 1)
            .unwrap();
    let grad = jit.value_and_grad(&loss, &bounds, &p, &input, &target, batch, steps, 2, 0).unwrap();
    for ((ours, theirs), slot) in grad.grads.iter().zip(&reference.grads).zip(&network.graph.params) {
        let error = worst(ours, theirs);
        assert!(error <= 1e-11, "gradient of {} differs by {error:e}", slot.name);
    }
}

/// A Rate readout's outputs are computed one step late (`codegen::skew`): the last one after
/// the loop of each call, none before the first step. Runs of one step, of a whole forward
/// chunk (512 steps), of one step past it and of several chunks, for batches run in lock-step
/// groups, equal the interpreter.
#[test]
fn outputs_computed_one_step_late_equal_the_interpreter() {
    let network = compile(
        "network N(dt = 1 ms) = Sequential(Linear(2, 20), Rate(20, rec = true, activation = tanh), Linear(20, 3))",
    );
    let summary = JitNetwork::<f64>::compile(&network.program, None).unwrap().summary().to_string();
    assert!(summary.contains("computed one step late"), "{summary}");
    // With the kernels, the readout is computed by the recurrent product's call, the last
    // output of each call by the epilogue's (`merge`).
    let merged = summary.contains("computed by the kernel call");
    assert_eq!(merged, reef_compiler::codegen::kernels_available(), "{summary}");
    let params64 = params(&network);
    let params32: Vec<Vec<f32>> = params64.iter().map(|p| p.iter().map(|v| *v as f32).collect()).collect();
    let f64_jit = JitNetwork::<f64>::compile(&network.program, None).unwrap();
    let f32_jit = JitNetwork::<f32>::compile(&network.program, None).unwrap();
    for steps in [1, 2, 512, 513, 1100] {
        for batch in [1, 3] {
            let input = numbers(batch * steps * 2, 7, 1.0);
            let reference = interp::evolve(&network.program, &params64, &input, batch, steps, false, 1).unwrap();
            let input32: Vec<f32> = input.iter().map(|v| *v as f32).collect();
            for threads in [1, 2] {
                let ours = f64_jit.evolve(&params64, &input, batch, steps, threads, 1).unwrap();
                assert!(worst(&ours, &reference.output) <= 1e-12, "f64, {steps} steps, batch {batch}");
                let ours = f32_jit.evolve(&params32, &input32, batch, steps, threads, 1).unwrap();
                let ours: Vec<f64> = ours.iter().map(|v| f64::from(*v)).collect();
                assert!(worst(&ours, &reference.output) <= 1e-5, "f32, {steps} steps, batch {batch}");
            }
        }
    }
}

/// Models found by the random models of `tests/gradients.rs` when per-step gradient terms
/// were first added by their fused runs: a term two parameters share (`tanh(a + b)`: `a`'s and
/// `b`'s), and a term that is also the new λ (`∂L/∂a` of `tanh(tanh(a + x) + b)`).
#[test]
fn shared_gradient_terms_and_terms_that_are_the_new_adjoint_equal_the_interpreter() {
    for (update, output) in [("tanh((tanh((a + b)) + x))", "x + x"), ("tanh((tanh((a + x)) + b))", "b + x")] {
        let network = compile(&format!(
            "model Random(n: size) {{
                param a[n] = 0.3
                param b[n] = -0.2
                param w[n, n] = kaiming(n)
                state x[n] = 0.1
                input i[n]
                let w2 = x @ w
                x <- {update}
                output {output}
            }}
            network N(dt = 1 ms) = Sequential(Linear(2, 3), Random(3), Linear(3, 1))"
        ));
        compare::<f64>(&network, 1e-12, update);
    }
}

/// `tanh(a - b)` of a state and a parameter is one native call that reads both (f32, 16
/// elements or more): with the difference read elsewhere too, with the parameter first, and
/// with the new state in the backward step (`Fusion::difference`).
#[test]
fn tanh_of_a_difference_read_in_place_equals_the_interpreter() {
    for (update, output) in [
        ("x + 0.1 * (tanh(x - b) @ w - x + i)", "tanh(x - b) + (x - b)"),
        ("x + 0.1 * (tanh(b - x) @ w - x + i)", "tanh(b - x)"),
    ] {
        let network = compile(&format!(
            "model Random(n: size) {{
                param b[n] = 0.2
                param w[n, n] = kaiming(n)
                state x[n] = 0.1
                input i[n]
                x <- {update}
                output {output}
            }}
            network N(dt = 1 ms) = Sequential(Linear(2, 20), Random(20), Linear(20, 1))"
        ));
        compare::<f32>(&network, 1e-5, update);
        let adjoint = reef_compiler::adjoint::derive(&network.program);
        let jit = JitNetwork::<f32>::compile(&network.program, Some(&adjoint)).unwrap();
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            assert!(jit.summary().contains("of a difference: one call"), "{update}: {}", jit.summary());
        }
    }
}

/// A network keeps its state tape from one `value_and_grad` to the next: calls of other batch
/// sizes and lengths (longer, shorter, none) on other data give exactly what a freshly compiled
/// network gives, so nothing a call reads is left over from the one before.
#[test]
fn a_network_called_again_gives_what_a_fresh_one_gives() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/chirp_rate.net")).unwrap();
    let network = compile(&text);
    let adjoint = reef_compiler::adjoint::derive(&network.program);
    let reused = JitNetwork::<f32>::compile(&network.program, Some(&adjoint)).unwrap();
    let params: Vec<Vec<f32>> = params(&network).iter().map(|p| p.iter().map(|v| *v as f32).collect()).collect();
    let loss = Loss { terms: vec![Term { weight: 1.0, kind: TermKind::Mse, span: Default::default() }] };
    let bounds = vec![(None, None); network.graph.params.len()];
    let (channels, outputs) = (network.graph.input_size(), network.graph.output_size());
    for (call, (batch, steps)) in [(3, 150), (1, 40), (2, 300), (1, 0), (2, 7)].into_iter().enumerate() {
        let seed = 100 + call as u64;
        let input: Vec<f32> = numbers(batch * steps * channels, seed, 1.0).iter().map(|v| *v as f32).collect();
        let target = numbers(batch * steps * outputs, seed + 50, 0.5);
        let fresh = JitNetwork::<f32>::compile(&network.program, Some(&adjoint)).unwrap();
        let expected = fresh.value_and_grad(&loss, &bounds, &params, &input, &target, batch, steps, 1, 3).unwrap();
        let ours = reused.value_and_grad(&loss, &bounds, &params, &input, &target, batch, steps, 1, 3).unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(ours.loss.to_bits(), expected.loss.to_bits(), "call {call}: loss");
        assert_eq!(bits(&ours.output), bits(&expected.output), "call {call}: output");
        for (param, (a, b)) in ours.grads.iter().zip(&expected.grads).enumerate() {
            assert_eq!(bits(a), bits(b), "call {call}: gradient of parameter {param}");
        }
    }
}
