//! Every example elaborates and lowers; snapshots of the graph IR and the step program, with the
//! step-program verifier run on each.

use reef_lang::Sources;

#[test]
fn examples_compile() {
    insta::glob!("../../examples", "*.net", |path| {
        let text = std::fs::read_to_string(path).expect("example is readable");
        let mut sources = Sources::with_prelude();
        let id = sources.add(path.file_name().unwrap().to_string_lossy(), text);
        let compiled = match reef_compiler::compile_source(&sources, id) {
            Ok(compiled) => compiled,
            Err(diagnostics) => panic!("{}", sources.render(&diagnostics, false)),
        };
        assert!(!compiled.is_empty());
        let mut text = String::new();
        for network in &compiled {
            reef_compiler::step::verify(&network.program).unwrap_or_else(|e| panic!("{}: {e}", network.graph.name));
            text.push_str(&format!("{}\nstep program:\n{}\n", network.graph, network.program));
        }
        insta::assert_snapshot!(text);
    });
}
