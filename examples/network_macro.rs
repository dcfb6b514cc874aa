//! A network written inline in Rust with `network!`, checked when this program compiles, then
//! run with the reference interpreter on a pulse. Run: `cargo run --example network_macro`.

#![allow(clippy::print_stdout)] // an example reports to its user

use reef::runtime::io::Precision;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let hidden = 32usize;
    let net = reef::network! {
        /// A small recurrent rate network; `{hidden}` is spliced from Rust.
        network Echo(dt = 1 ms) = Sequential(
            Linear(1, {hidden}),
            Rate({hidden}, rec = true, activation = tanh),
            Linear({hidden}, 1),
        )
    };
    let compiled = net.compile()?;
    let network = &compiled[0];
    let params = reef::runtime::run::load_params(&network.graph, None, 7)?;
    let mut input = ndarray::ArrayD::<f64>::zeros(ndarray::IxDyn(&[200, 1]));
    for t in 10..20 {
        input[[t, 0]] = 1.0;
    }
    let result = reef::runtime::run::evolve(network, &params, &input, Precision::F32, false, 0)?;
    let peak = result.output.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    println!(
        "{}: {} parameters, output peak |y| = {peak:.4} over {} steps",
        network.graph.name,
        params.element_count(),
        result.output.shape()[1]
    );
    Ok(())
}
