//! The flow of the module doc, and what the report says.

use super::super::{Config, LowerOptions, Matrix, lower, report};
use super::{filled, network, population};

#[test]
fn module_doc_flow() {
    let w_rec = Matrix::from_rows(&[vec![0.0, -0.5, 0.2], vec![0.3, 0.0, 0.0], vec![0.0, 0.4, 0.0]]);
    let hidden = population("hidden", 3, filled(2, 3, 0.6), Some(w_rec));
    let readout = population("readout", 2, Matrix::from_rows(&[vec![1.0, 0.0], vec![0.0, 1.0], vec![0.5, -0.5]]), None);
    let lowered = lower(&network(2, vec![hidden, readout]), &LowerOptions::default()).unwrap();
    let json = lowered.config.to_json().unwrap();
    assert_eq!(Config::from_json(&json).unwrap(), lowered.config);
    let text = report(&lowered);
    for section in [
        "Dynap-SE1 resource report",
        "dt: requested 1.000000e-4 s, realised 9000 ticks",
        "input: chip 0, core mask 0b0001 (cores 0), 2 channels",
        "virtual ids: 2 of 1023 used: ",
        "neurons per core",
        "chip 0 core 0",
        "  3/255  hidden (3)",
        "  2/256  readout (2)",
        "total: 5 neurons on 2 cores, 1 chips",
        "CAM entries per neuron (of 64)",
        "SRAM fan-out",
        "IF_TAU1_N",
        "PS_WEIGHT_EXC_F_N",
        "quantisation (relative Frobenius error",
        "base weights (membrane units per connection)",
        "sharing error",
        "pruned connections: 0 (fan-in budget 0, rounded to zero 0)",
        "clamped biases: 0",
    ] {
        assert!(text.contains(section), "report lacks `{section}`:\n{text}");
    }
    // hidden neurons: 2 inputs and up to 2 recurrent sources; the report's max CAM use matches the config.
    let max_cams = lowered
        .config
        .neurons
        .iter()
        .filter(|neuron| neuron.population == "hidden")
        .map(|neuron| neuron.cams.len())
        .max();
    let line = text.lines().find(|line| line.trim_start().starts_with("hidden") && line.contains('.')).unwrap();
    assert!(line.split_whitespace().nth(1) == max_cams.map(|max| max.to_string()).as_deref(), "{line}");
}
