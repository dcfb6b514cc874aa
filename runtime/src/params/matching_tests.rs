//! Tests of matching parameter files to specs: the Rockpool fixture, accepted shapes, and
//! reporting every problem at once.

use ndarray::{ArrayD, IxDyn, array};

use super::*;
use crate::io::read_npz;
use crate::io::test_files::rockpool_fixture;
use crate::params::Init;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn filled(shape: &[usize], value: f64) -> ArrayD<f64> {
    ArrayD::from_elem(IxDyn(shape), value)
}

/// The specs reef's compiler gives network A (Linear(1,50) → Rate(50, rec) → Linear(50,1)), in an
/// order different from the file's.
fn network_a_specs() -> Vec<ParamSpec> {
    let weight = Init::Uniform { low: -0.1, high: 0.1 };
    vec![
        ParamSpec::new("1_Rate.tau", [50], Init::Constant(0.02)),
        ParamSpec::new("0_Linear.weight", [1, 50], weight),
        ParamSpec::new("1_Rate.bias", [50], Init::Constant(0.0)),
        ParamSpec::new("1_Rate.threshold", [50], Init::Constant(0.0)),
        ParamSpec::new("1_Rate.w_rec", [50, 50], Init::Normal { mean: 0.0, std: 0.14 }),
        ParamSpec::new("2_Linear.weight", [50, 1], weight),
    ]
}

#[test]
fn matches_the_rockpool_fixture_under_reef_names() -> TestResult {
    let file = read_npz(rockpool_fixture("params.npz"))?;
    let set = match_params(&network_a_specs(), file.clone())?;
    let names: Vec<&str> = set.names().collect();
    assert_eq!(
        names,
        ["1_Rate.tau", "0_Linear.weight", "1_Rate.bias", "1_Rate.threshold", "1_Rate.w_rec", "2_Linear.weight"]
    );
    for (key, stored) in &file {
        let name = key.replace("Jax", "");
        assert_eq!(set.get(&name), Some(stored), "{key}");
    }
    Ok(())
}

#[test]
fn a_vector_spec_accepts_a_column_and_nothing_wider() -> TestResult {
    let specs = [ParamSpec::new("1_LIF.tau_syn", [3], Init::Constant(0.02))];
    let column = array![[0.01], [0.02], [0.03]].into_dyn();
    let set = match_params(&specs, vec![("1_LIFJax.tau_syn".into(), column)])?;
    assert_eq!(set.get("1_LIF.tau_syn"), Some(&array![0.01, 0.02, 0.03].into_dyn()));

    let wide = filled(&[3, 2], 0.02);
    let error = match_params(&specs, vec![("1_LIF.tau_syn".into(), wide)]).err().ok_or("[3, 2] accepted")?;
    assert_eq!(
        error.problems,
        [ParamProblem::Shape {
            name: "1_LIF.tau_syn".into(),
            key: "1_LIF.tau_syn".into(),
            expected: vec![3],
            found: vec![3, 2]
        }]
    );
    Ok(())
}

#[test]
fn reports_every_problem_at_once() -> TestResult {
    let specs = [
        ParamSpec::new("0_Linear.weight", [1, 3], Init::Uniform { low: -1.0, high: 1.0 }),
        ParamSpec::new("1_LIF.tau_mem", [3], Init::Constant(0.02)),
        ParamSpec::new("1_LIF.tau_syn", [3], Init::Constant(0.02)),
        ParamSpec::new("1_LIF.bias", [3], Init::Constant(0.0)),
        ParamSpec::new("1_LIF.threshold", [3], Init::Constant(1.0)),
    ];
    let file = vec![
        ("0_LinearJax.weight".to_owned(), filled(&[3, 1], 0.5)),
        ("1_LIFJax.tau_mem".to_owned(), array![0.02, f64::NAN, f64::INFINITY].into_dyn()),
        ("1_LIFJax.tau_syn".to_owned(), filled(&[3, 1], 0.02)),
        ("1_LIFJax.treshold".to_owned(), filled(&[3], 1.0)),
        ("2_LinearJax.weight".to_owned(), filled(&[3, 1], 0.5)),
        ("1_LIF.tau_syn".to_owned(), filled(&[3], 0.03)),
    ];
    let error = match_params(&specs, file).err().ok_or("a bad file matched")?;
    assert_eq!(
        error.to_string(),
        "the parameters do not match the network (7 problems):
  parameter `0_Linear.weight` (stored as `0_LinearJax.weight`) has shape [3, 1], expected [1, 3]
  parameter `1_LIF.tau_mem` (stored as `1_LIFJax.tau_mem`) holds NaN at index [1] (2 non-finite values in all)
  missing parameter `1_LIF.bias` (shape [3])
  missing parameter `1_LIF.threshold` (shape [3])
  unexpected parameter `1_LIFJax.treshold`; did you mean `1_LIF.threshold`?
  unexpected parameter `2_LinearJax.weight`
  parameter `1_LIF.tau_syn` is stored twice, as `1_LIFJax.tau_syn` and as `1_LIF.tau_syn`"
    );
    assert!(matches!(
        &error.problems[1],
        ParamProblem::NonFinite { index, count: 2, value, .. } if index == &[1] && value.is_nan()
    ));
    Ok(())
}

#[test]
fn suggests_a_missing_name_one_module_index_away() -> TestResult {
    let specs = [ParamSpec::new("1_Rate.tau", [2], Init::Constant(0.02))];
    let error = match_params(&specs, vec![("2_RateJax.tau".into(), filled(&[2], 0.02))]).err().ok_or("matched")?;
    assert_eq!(
        error.problems,
        [
            ParamProblem::Missing { name: "1_Rate.tau".into(), shape: vec![2] },
            ParamProblem::Unexpected { key: "2_RateJax.tau".into(), suggestion: Some("1_Rate.tau".into()) },
        ]
    );
    // One problem reads as one.
    let error = match_params(&specs, vec![]).err().ok_or("matched")?;
    assert_eq!(
        error.to_string(),
        "the parameters do not match the network (1 problem):\n  missing parameter `1_Rate.tau` (shape [2])"
    );
    Ok(())
}

#[test]
fn missing_parameters_can_come_from_their_initialisers() -> TestResult {
    let specs = network_a_specs();
    let stored_w_rec = filled(&[50, 50], 0.25);
    let set = match_params_or_init(&specs, vec![("1_RateJax.w_rec".into(), stored_w_rec.clone())], 11)?;
    let initial = initialise(&specs, 11);
    assert_eq!(set.names().collect::<Vec<_>>(), initial.names().collect::<Vec<_>>());
    for (name, values) in set.iter() {
        let expected = if name == "1_Rate.w_rec" { Some(&stored_w_rec) } else { initial.get(name) };
        assert_eq!(Some(values), expected, "{name}");
    }
    // Filling in missing parameters does not hide the other problems.
    let file = vec![("1_Rate.w_rec".into(), filled(&[50, 49], 0.0)), ("extra".into(), filled(&[1], 0.0))];
    let error = match_params_or_init(&specs, file, 11).err().ok_or("matched")?;
    assert_eq!(error.problems.len(), 2, "{error}");
    Ok(())
}
