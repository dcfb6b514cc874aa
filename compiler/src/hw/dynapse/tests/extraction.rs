//! Extraction from reef source, embedding back into the graph's parameters, and located diagnostics.

use std::collections::BTreeMap;

use reef_lang::{Diagnostics, Sources};

use super::super::{
    ChainProblem, DrcError, LowerOptions, Matrix, SpikingNetwork, Unsupported, embed, extract, lower, to_diagnostic,
};
use crate::graph::NetworkGraph;

/// The graph of the first network in `text`, with the file's source text.
fn compile(text: &str) -> (Sources, NetworkGraph) {
    let mut sources = Sources::with_prelude();
    let id = sources.add("test.net", text);
    let compiled = crate::compile_source(&sources, id).unwrap();
    (sources, compiled.into_iter().next().unwrap().graph)
}

/// Deterministic values for every parameter: LIF-like defaults, distinct nonzero weights.
fn values(graph: &NetworkGraph) -> BTreeMap<String, Vec<f64>> {
    graph
        .params
        .iter()
        .map(|param| {
            let count: usize = param.shape.dims().iter().product();
            let local = param.name.rsplit('.').next().unwrap_or("");
            let vector: Vec<f64> = (0..count)
                .map(|index| match local {
                    "tau_mem" => 0.02 + 0.001 * index as f64,
                    "tau_syn" => 0.005,
                    "threshold" => 1.0,
                    "bias" => 0.0,
                    _ => ((index + 1) as f64 * 0.37).sin(),
                })
                .collect();
            (param.name.clone(), vector)
        })
        .collect()
}

fn extract_from(text: &str) -> (Sources, NetworkGraph, Result<SpikingNetwork, Vec<DrcError>>) {
    let (sources, graph) = compile(text);
    let table = values(&graph);
    let result = extract(&graph, |name| table.get(name).cloned());
    (sources, graph, result)
}

/// The text a source reference points at.
fn pointed(text: &str, span: (usize, usize)) -> &str {
    &text[span.0..span.1]
}

const CHAIN: &str =
    "network N(dt = 100 us) = Sequential(Linear(3, 4), hidden: LIF(4, rec = true), Linear(4, 2), out: LIF(2))";

#[test]
fn a_chain_folds_each_linear_into_the_next_population() {
    let (_, graph, result) = extract_from(CHAIN);
    let network = result.unwrap();
    let table = values(&graph);
    assert_eq!(network.n_inputs, 3);
    assert!((network.dt - 1e-4).abs() < 1e-18, "{}", network.dt);
    let names: Vec<&str> = network.populations.iter().map(|population| population.name.as_str()).collect();
    assert_eq!(names, ["hidden", "out"]);
    let hidden = &network.populations[0];
    assert_eq!(hidden.w_in, Matrix { rows: 3, cols: 4, data: table["0_Linear.weight"].clone() });
    assert_eq!(hidden.w_rec.as_ref().map(|w_rec| &w_rec.data), Some(&table["hidden.w_rec"]));
    assert_eq!(hidden.tau_mem, table["hidden.tau_mem"]);
    assert_eq!(pointed(CHAIN, hidden.source.span), "LIF(4, rec = true)");
    let out = &network.populations[1];
    assert_eq!((out.w_in.rows, out.w_in.cols, out.w_rec.is_none()), (4, 2, true));
    assert_eq!(out.w_in.data, table["2_Linear.weight"]);
    assert!(network.unsupported.is_empty());
    assert!(lower(&network, &LowerOptions::default()).is_ok());
}

#[test]
fn a_population_without_a_linear_before_it_is_fed_one_to_one() {
    let (_, _, result) = extract_from("network N(dt = 100 us) = Sequential(LIF(3), Linear(3, 2), LIF(2), LIF(2))");
    let network = result.unwrap();
    let identity = |n: usize| {
        Matrix::from_rows(&(0..n).map(|i| (0..n).map(|j| f64::from(u8::from(i == j))).collect()).collect::<Vec<_>>())
    };
    assert_eq!(network.populations[0].w_in, identity(3));
    assert_eq!(network.populations[2].w_in, identity(2));
    assert_eq!(network.populations.len(), 3);
}

#[test]
fn non_spiking_modules_and_biased_linears_are_recorded_where_declared() {
    let text = "network N(dt = 100 us) = Sequential(Linear(3, 4, has_bias = true), LIF(4), Linear(4, 2), Rate(2))";
    let (_, _, result) = extract_from(text);
    let network = result.unwrap();
    assert_eq!(network.populations.len(), 1, "the LIF before the Rate is still lowered");
    match network.unsupported.as_slice() {
        [Unsupported::LinearBias { module, source }, Unsupported::NonSpiking { kind, source: rate, .. }] => {
            assert_eq!((module.as_str(), kind.as_str()), ("0_Linear", "Rate"));
            assert_eq!(pointed(text, source.span), "Linear(3, 4, has_bias = true)");
            assert_eq!(pointed(text, rate.span), "Rate(2)");
        }
        other => panic!("{other:?}"),
    }
    let codes: Vec<&str> = lower(&network, &LowerOptions::default()).unwrap_err().iter().map(DrcError::code).collect();
    assert_eq!(codes, ["E0709", "E0708"]);
}

#[test]
fn user_models_and_other_prelude_models_are_not_spiking_for_the_chip() {
    let text = "model Twice(n: size) {\n    input x[n]\n    output 2 * x\n}\n\
                network N(dt = 100 us) = Sequential(Linear(2, 3), LIF(3), Twice(3), ExpSyn(3), LIFODE(3))";
    let (_, _, result) = extract_from(text);
    let kinds: Vec<String> = result
        .unwrap()
        .unsupported
        .iter()
        .map(|unsupported| match unsupported {
            Unsupported::NonSpiking { kind, .. } => kind.clone(),
            Unsupported::LinearBias { module, .. } => module.clone(),
        })
        .collect();
    assert_eq!(kinds, ["Twice", "ExpSyn", "LIFODE"]);
}

/// The chain errors of `text`, as (module, problem).
fn chain_errors(text: &str) -> Vec<(String, ChainProblem, String)> {
    let (_, _, result) = extract_from(text);
    result
        .unwrap_err()
        .into_iter()
        .filter_map(|error| match error {
            DrcError::NotAChain { module, source, problem } => {
                Some((module, problem, pointed(text, source.span).to_string()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn graphs_that_are_not_chains_are_located_errors() {
    let residual =
        "network R(dt = 100 us) = Sequential(Linear(2, 3), Residual(Linear(3, 3), LIF(3)), Linear(3, 1), LIF(1))";
    let found = chain_errors(residual);
    let targets = vec!["1_Residual.0_Linear".to_string(), "2_Linear".to_string()];
    assert_eq!(found, [("0_Linear".to_string(), ChainProblem::Branch { targets }, "Linear(2, 3)".to_string())]);

    let trailing = "network T(dt = 100 us) = Sequential(Linear(2, 3), LIF(3), Linear(3, 1))";
    assert_eq!(chain_errors(trailing), [("2_Linear".into(), ChainProblem::TrailingLinear, "Linear(3, 1)".into())]);

    let doubled = "network D(dt = 100 us) = Sequential(Linear(2, 3), Linear(3, 3), LIF(3))";
    let previous = ChainProblem::LinearAfterLinear { previous: "0_Linear".into() };
    assert_eq!(chain_errors(doubled), [("1_Linear".into(), previous, "Linear(3, 3)".into())]);

    let wiring = "network W(dt = 1 ms) {\n    input u[2]\n    node a = Linear(2, 4)\n    node h = LIF(4)\n    \
                  node b = Linear(2, 4)\n    u -> a -> h\n    u -> b -> h\n    output h\n}";
    let found = chain_errors(wiring);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(matches!(&found[0].1, ChainProblem::Branch { targets } if targets.len() == 2), "{found:?}");
    assert_eq!(found[0].0, "u");
    assert_eq!(found[0].2, "W", "the input's error points at the network's name");
}

#[test]
fn embedding_extracted_values_gives_them_back() {
    let (_, graph, result) = extract_from(CHAIN);
    let table = values(&graph);
    for (name, vector) in embed(&graph, &result.unwrap()).unwrap() {
        assert_eq!(Some(&vector), table.get(&name), "{name}");
    }
}

#[test]
fn a_one_to_one_input_weight_is_embedded_by_rescaling_the_neuron() {
    let (_, graph, result) = extract_from("network N(dt = 100 us) = Sequential(LIF(2, rec = true))");
    let mut network = result.unwrap();
    let population = &mut network.populations[0];
    population.w_in = Matrix::from_rows(&[vec![2.0, 0.0], vec![0.0, 0.5]]);
    population.w_rec = Some(Matrix::from_rows(&[vec![0.0, 1.0], vec![4.0, 0.0]]));
    population.threshold = vec![1.0, 1.0];
    population.bias = vec![0.2, 0.1];
    let embedded: BTreeMap<String, Vec<f64>> = embed(&graph, &network).unwrap().into_iter().collect();
    assert_eq!(embedded["0_LIF.threshold"], [0.5, 2.0]);
    assert_eq!(embedded["0_LIF.bias"], [0.1, 0.2]);
    assert_eq!(embedded["0_LIF.w_rec"], [0.0, 2.0, 2.0, 0.0], "column j divided by neuron j's input weight");
    network.populations[0].w_in.set(0, 1, 0.3);
    assert!(embed(&graph, &network).is_err(), "an off-diagonal input weight cannot be embedded");
}

#[test]
fn design_rule_errors_render_at_their_module() {
    let text = "network N(dt = 100 us) = Sequential(\n    Linear(100, 2),\n    LIF(2),\n)";
    let (mut sources, graph, result) = extract_from(text);
    let errors = lower(&result.unwrap(), &LowerOptions::default()).unwrap_err();
    let diagnostics = Diagnostics(errors.iter().map(|error| to_diagnostic(error, graph.span)).collect());
    let rendered = sources.render(&diagnostics, false);
    assert!(
        rendered.starts_with("error[E0701]: `1_LIF[0]` needs 100 CAM entries (fan-in), the chip has 64"),
        "{rendered}"
    );
    assert!(rendered.contains("--> test.net:3:5"), "{rendered}");
    assert!(rendered.contains("^^^^^^ neuron 0 of this population needs 100 of 64 CAM entries"), "{rendered}");
    assert!(rendered.contains("= help: CAM entries: 54 from `input` (54 weights) as FAST_EXC, 46 from"), "{rendered}");
    // An error about the network as a whole points at its definition.
    let id = sources.add("slow.net", "network S(dt = 0.005 us) = Sequential(Linear(1, 1), LIF(1))");
    let graph = crate::compile_source(&sources, id).unwrap().remove(0).graph;
    let table = values(&graph);
    let network = extract(&graph, |name| table.get(name).cloned()).unwrap();
    let error = lower(&network, &LowerOptions::default()).unwrap_err().remove(0);
    let diagnostic = to_diagnostic(&error, graph.span);
    assert_eq!(diagnostic.code, "E0707");
    let span = diagnostic.primary_span().unwrap();
    assert_eq!((span.source, sources.snippet(span)), (id, "S"), "at the network's name");
}
