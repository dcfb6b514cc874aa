//! Every example elaborates and lowers; snapshots of the graph IR and the step program, with the
//! step-program verifier run on each.

use reef_lang::Sources;

/// The networks of the example at `path` (compile errors rendered in the panic).
fn compile_example(path: &std::path::Path) -> Vec<reef_compiler::Compiled> {
    let text = std::fs::read_to_string(path).expect("example is readable");
    let mut sources = Sources::with_prelude();
    let id = sources.add(path.file_name().unwrap().to_string_lossy(), text);
    match reef_compiler::compile_source(&sources, id) {
        Ok(compiled) => compiled,
        Err(diagnostics) => panic!("{}", sources.render(&diagnostics, false)),
    }
}

#[test]
fn examples_compile() {
    insta::glob!("../../examples", "*.net", |path| {
        let compiled = compile_example(path);
        assert!(!compiled.is_empty());
        let mut text = String::new();
        for network in &compiled {
            reef_compiler::step::verify(&network.program).unwrap_or_else(|e| panic!("{}: {e}", network.graph.name));
            text.push_str(&format!("{}\nstep program:\n{}\n", network.graph, network.program));
        }
        insta::assert_snapshot!(text);
    });
}

#[test]
fn adjoint_of_every_example() {
    insta::glob!("../../examples", "*.net", |path| {
        let compiled = compile_example(path);
        let mut text = String::new();
        for network in &compiled {
            let adjoint = reef_compiler::adjoint::derive(&network.program);
            reef_compiler::step::verify(&adjoint.program).unwrap_or_else(|e| panic!("{}: {e}", network.graph.name));
            text.push_str(&reef_compiler::adjoint::print_adjoint(network));
        }
        insta::assert_snapshot!(text);
    });
}

/// What code generation makes of every example: work per step, carried values, products moved
/// out of the loops, how gradients are accumulated.
#[test]
fn generated_code_of_every_example() {
    insta::glob!("../../examples", "*.net", |path| {
        let compiled = compile_example(path);
        let mut text = String::new();
        for network in &compiled {
            let adjoint = reef_compiler::adjoint::derive(&network.program);
            let jit = reef_compiler::codegen::JitNetwork::<f32>::compile(&network.program, Some(&adjoint)).unwrap();
            text.push_str(&format!("network {}\n{}", network.graph.name, jit.summary()));
        }
        insta::assert_snapshot!(text);
    });
}

#[test]
fn adjoint_of_every_prelude_model() {
    let models = [
        "Linear(3, 2, has_bias = true)",
        "Instant(3, tanh)",
        "Rate(3)",
        "Rate(3, rec = true, activation = tanh)",
        "LIF(3)",
        "LIF(3, rec = true)",
        "LIFODE(3, rec = true)",
        "ExpSyn(3)",
    ];
    let mut text = String::new();
    for model in models {
        let mut sources = Sources::with_prelude();
        let id = sources.add("model.net", format!("network N(dt = 1 ms) = {model}"));
        let compiled = reef_compiler::compile_source(&sources, id).unwrap();
        text.push_str(&format!("== {model}\n"));
        text.push_str(&reef_compiler::adjoint::print_adjoint(&compiled[0]));
    }
    insta::assert_snapshot!(text);
}
