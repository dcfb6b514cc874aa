//! Rockpool's hardware oracle (`tests/test_dynap_hw.py::test_dynapse_control`): virtual ids
//! [1, 2], neurons [52, 53, 68, 69], integer weights → neuron 69's CAMs hold `[2, 2, 53, 68, 68]`
//! with types `[FAST_EXC, FAST_EXC, SLOW_EXC, FAST_INH, FAST_INH]`, the rest empty.

use super::super::{
    Cam, Config, LowerOptions, Matrix, NeuronConfig, Placement, Quantisation, SynapseRule, SynapseType, lower, report,
};
use super::{ids, network, population, virtual_ids};

use SynapseType::{FastExc, FastInh, SlowExc};

pub(super) fn oracle_network() -> super::super::SpikingNetwork {
    let w_in = Matrix::from_rows(&[vec![1.0, -1.0, 2.0, 0.0], vec![-1.0, 0.0, 0.0, 2.0]]);
    let w_rec = Matrix::from_rows(&[
        vec![0.0, 1.0, -1.0, 0.0],
        vec![0.0, 0.0, 0.0, 1.0],
        vec![1.0, 0.0, 0.0, -2.0],
        vec![0.0, 0.0, 0.0, 0.0],
    ]);
    network(2, vec![population("hw", 4, w_in, Some(w_rec))])
}

/// The options of Rockpool's test: given ids, integer weights, recurrent weights SLOW_EXC / FAST_INH.
pub(super) fn oracle_options(with_virtual_ids: bool) -> LowerOptions {
    LowerOptions {
        placement: Some(Placement {
            neurons: vec![ids(&[52, 53, 68, 69])],
            virtual_ids: with_virtual_ids.then(|| virtual_ids(&[1, 2])),
        }),
        quantisation: Quantisation::Integer,
        synapse_rule: SynapseRule::inputs_fast_recurrent_slow(),
        ..LowerOptions::default()
    }
}

fn neuron(config: &Config, id: usize) -> &NeuronConfig {
    config.neurons.iter().find(|neuron| neuron.id.index() == id).unwrap()
}

fn cams(config: &Config, id: usize) -> Vec<(usize, SynapseType)> {
    neuron(config, id).cams.iter().map(|cam: &Cam| (cam.source.index(), cam.synapse)).collect()
}

#[test]
fn neuron_69_holds_rockpools_cams() {
    let lowered = lower(&oracle_network(), &oracle_options(true)).unwrap();
    let config = &lowered.config;
    assert_eq!(cams(config, 69), vec![(2, FastExc), (2, FastExc), (53, SlowExc), (68, FastInh), (68, FastInh)]);
    // The other three, worked out by hand from the same matrices.
    assert_eq!(cams(config, 52), vec![(1, FastExc), (2, FastInh), (68, SlowExc)]);
    assert_eq!(cams(config, 53), vec![(1, FastInh), (52, SlowExc)]);
    assert_eq!(cams(config, 68), vec![(1, FastExc), (1, FastExc), (52, FastInh)]);
    // 64 CAMs: the 59 not listed stay empty.
    assert_eq!(64 - neuron(config, 69).cams.len(), 59);
}

#[test]
fn oracle_routing_and_input_mapping() {
    let config = lower(&oracle_network(), &oracle_options(true)).unwrap().config;
    let channels: Vec<(usize, usize)> =
        config.input.channels.iter().map(|channel| (channel.channel, channel.virtual_id.index())).collect();
    assert_eq!(channels, vec![(0, 1), (1, 2)]);
    assert_eq!(config.input.chip.index(), 0);
    assert_eq!(config.input.core_mask.bits(), 0b0001);
    for (id, expected) in [(52, 1), (53, 1), (68, 1), (69, 0)] {
        let srams = &neuron(&config, id).srams;
        assert_eq!(srams.len(), expected, "neuron {id}");
        for sram in srams {
            assert_eq!((sram.target_chip.index(), sram.core_mask.bits()), (0, 0b0001));
        }
    }
    let population = &config.populations[0];
    assert_eq!(population.name, "hw");
    assert_eq!(population.neurons, ids(&[52, 53, 68, 69]));
}

#[test]
fn allocated_virtual_ids_match_rockpools() {
    // Rockpool allocates [1, 2] (0 is reserved); reef does too, as 52, 53, 68 are the only
    // addresses projecting into the input core.
    let config = lower(&oracle_network(), &oracle_options(false)).unwrap().config;
    let allocated: Vec<usize> = config.input.channels.iter().map(|channel| channel.virtual_id.index()).collect();
    assert_eq!(allocated, vec![1, 2]);
    assert_eq!(cams(&config, 69)[..2], [(2, FastExc), (2, FastExc)]);
}

#[test]
fn rockpool_layer_rule_makes_input_neuron_rows_fast() {
    // RecDynapSE's rule: neuron 53 receives virtual input, so its row uses FAST_EXC.
    let options = LowerOptions { synapse_rule: SynapseRule::Rockpool, ..oracle_options(true) };
    let config = lower(&oracle_network(), &options).unwrap().config;
    assert_eq!(cams(&config, 69), vec![(2, FastExc), (2, FastExc), (53, FastExc), (68, FastInh), (68, FastInh)]);
    let types: Vec<SynapseType> =
        config.neurons.iter().flat_map(|neuron| neuron.cams.iter().map(|cam| cam.synapse)).collect();
    assert!(!types.contains(&SynapseType::SlowInh), "SLOW_INH is never used");
}

#[test]
fn oracle_snapshots() {
    let lowered = lower(&oracle_network(), &oracle_options(true)).unwrap();
    let json = lowered.config.to_json().unwrap();
    insta::with_settings!({ prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("dynapse_oracle_config", json);
        insta::assert_snapshot!("dynapse_oracle_report", report(&lowered));
    });
}
