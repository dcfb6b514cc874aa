//! `network!` builds the same network as the equivalent `.net` text; broken networks fail to
//! compile with the reef error at the right span (trybuild cases in `tests/ui/`).

#[test]
fn macro_equals_net_file() {
    let net = reef::network! {
        /// Pulse to chirp.
        network ChirpRate(dt = 1 ms) = Sequential(
            Linear(1, 50),
            Rate(50, rec = true, activation = tanh),
            Linear(50, 1),
        )
    };
    let text = "/// Pulse to chirp.\nnetwork ChirpRate(dt = 1 ms) = Sequential(Linear(1, 50), Rate(50, rec = true, activation = tanh), Linear(50, 1))";
    let from_text = reef::lang::parse(reef::lang::SourceId(1), text).unwrap();
    let (_, from_macro) = net.parse().unwrap();
    assert_eq!(from_macro, from_text);
    let compiled = net.compile().unwrap();
    assert_eq!(compiled[0].graph.params.len(), 6);
}

#[test]
fn splices_carry_rust_values() {
    let hidden = 24usize;
    let tau = 0.03;
    let net = reef::network! {
        network Spliced(dt = 1 ms) = Sequential(Linear(2, {hidden}), LIF({hidden}, tau_mem = {tau} s), Linear({hidden}, 1))
    };
    let text = "network Spliced(dt = 1 ms) = Sequential(Linear(2, 24), LIF(24, tau_mem = 0.03 s), Linear(24, 1))";
    let from_text = reef::lang::parse(reef::lang::SourceId(1), text).unwrap();
    assert_eq!(net.parse().unwrap().1, from_text);
    let compiled = net.compile().unwrap();
    let tau_mem = compiled[0].graph.params.iter().find(|p| p.name == "1_LIF.tau_mem").unwrap();
    assert_eq!(tau_mem.init, reef::compiler::graph::Init::Constant(0.03));
}

#[test]
fn spliced_values_are_checked_when_built() {
    let hidden = 8usize;
    let net = reef::network! {
        network Bad(dt = 1 ms) = Sequential(Linear(2, {hidden}), Rate(4))
    };
    let error = net.compile().unwrap_err();
    assert!(error.contains("E0301"), "{error}");
}

#[test]
fn compile_fail_cases() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/*-pass.rs");
    cases.compile_fail("tests/ui/*-fail.rs");
}
