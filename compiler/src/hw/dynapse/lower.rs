//! The pipeline: `SpikingNetwork` → `Lowered` (a [`Config`] plus what the report needs).
//!
//! check → place → connections → quantise → route + share/tune → assemble. Errors of one stage
//! stop the stages that need its result; independent checks (routing, biases) are all reported.

use std::collections::BTreeMap;

use super::address::{ChipId, CoreId};
use super::board::FPGA_TICK;
use super::check::{check_network, step_timing};
use super::cluster::Parameters;
use super::config::{
    BaseWeights, CONFIG_FORMAT, Config, CoreConfig, InputChannel, InputConfig, NeuronConfig, PopulationConfig,
    metadata_float,
};
use super::connections::{NeuronRef, build_connections, input_neurons};
use super::drc::DrcError;
use super::effective::CoreEffective;
use super::network::SpikingNetwork;
use super::options::LowerOptions;
use super::place::{check_explicit, check_virtual_ids, parameters, place_automatically};
use super::quantize::{PrunedConnection, quantize};
use super::route::route;
use super::share::{ParameterSharing, share, sharing_error};
use super::synapse::SynapseType;
use super::tune::{BiasChoice, TuneRequest, tune};

/// A lowered network: the config and the facts the resource report shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Lowered {
    /// The configuration.
    pub config: Config,
    /// Requested and realised time step.
    pub dt: DtSummary,
    /// Weight quantisation errors and pruned connections.
    pub quantisation: QuantisationSummary,
    /// Per used core: occupants, sharing errors, bias choices.
    pub cores: Vec<CoreSummary>,
}

/// The time step, as asked and as the FPGA runs it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DtSummary {
    /// Requested dt, seconds.
    pub requested: f64,
    /// FPGA ticks per step (`isi_per_step · isi_base_ticks`).
    pub ticks: u64,
    /// The ISI base, in ticks.
    pub isi_base_ticks: u64,
    /// ISI-base units per step.
    pub isi_per_step: u64,
    /// `ticks` × 11.11 ns, seconds.
    pub realised: f64,
}

/// How far the chip's weights are from the trained ones.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantisationSummary {
    /// Per population (weights into it).
    pub populations: Vec<WeightError>,
    /// Per core (weights into its neurons).
    pub cores: Vec<WeightError>,
    /// Nonzero trained weights with no connection on the chip.
    pub pruned: Vec<PrunedConnection>,
}

/// Quantisation error of a set of weights: `‖W_chip − W‖_F / ‖W‖_F`, with the chip's weights
/// `sign · count · achieved base weight`.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightError {
    /// Population name, or the core ("chip 0 core 1").
    pub name: String,
    /// Nonzero trained weights.
    pub connections: usize,
    /// CAM entries they use.
    pub cams: usize,
    /// Relative Frobenius error.
    pub relative_error: f64,
}

/// One used core in the report.
#[derive(Clone, Debug, PartialEq)]
pub struct CoreSummary {
    /// The core.
    pub core: CoreId,
    /// Neurons per population on it.
    pub populations: Vec<(String, usize)>,
    /// Sharing error per parameter: each neuron's trained value vs the core's shared value.
    pub sharing: Vec<ParameterSharing>,
    /// Every derived bias, target vs achieved.
    pub biases: Vec<BiasChoice>,
}

/// Lowers `network` to a Dynap-SE1 configuration, or returns every design-rule error found.
pub fn lower(network: &SpikingNetwork, options: &LowerOptions) -> Result<Lowered, Vec<DrcError>> {
    let errors = check_network(network, options.input_chip);
    let (Ok(input_chip), Some(timing), true) =
        (ChipId::new(options.input_chip), step_timing(network.dt), errors.is_empty())
    else {
        return Err(errors);
    };
    let receives_input = input_neurons(network);
    let placement = match &options.placement {
        Some(explicit) => {
            let placed = check_explicit(network, explicit, &receives_input, input_chip);
            let virtual_ids = match &explicit.virtual_ids {
                Some(ids) => check_virtual_ids(ids, network.n_inputs),
                None => Ok(()),
            };
            match (placed, virtual_ids) {
                (Ok(placed), Ok(())) => placed,
                (placed, virtual_ids) => {
                    let mut errors = placed.err().unwrap_or_default();
                    errors.extend(virtual_ids.err().unwrap_or_default());
                    return Err(errors);
                }
            }
        }
        None => place_automatically(network, &receives_input, input_chip)?,
    };
    let connections = build_connections(network, &options.synapse_rule);
    let quantised = quantize(network, &connections, &placement, options)?;
    let given_virtual_ids = options.placement.as_ref().and_then(|explicit| explicit.virtual_ids.as_deref());
    let routing = route(network, &connections, &quantised.counts, &placement, input_chip, given_virtual_ids);
    let mut errors = Vec::new();
    let mut core_configs = Vec::new();
    let mut core_summaries = Vec::new();
    let mut effective: BTreeMap<CoreId, CoreEffective> = BTreeMap::new();
    let mut uses_tau2: BTreeMap<NeuronRef, bool> = BTreeMap::new();
    for (core, members) in placement.cores() {
        let trained: Vec<Parameters> = members.iter().map(|neuron| parameters(network, *neuron)).collect();
        let targets = share(&trained);
        let thresholds: Vec<f64> = trained.iter().map(|parameters| parameters[2]).collect();
        let first = &network.populations[members[0].population];
        let request = TuneRequest {
            core,
            targets: &targets,
            thresholds: &thresholds,
            base_weights: SynapseType::ALL.map(|synapse| quantised.base_weights.get(&(core, synapse)).copied()),
            population: (&first.name, &first.source),
        };
        let tuned = match tune(&request, &options.current_model, options.clamp_biases) {
            Ok(tuned) => tuned,
            Err(found) => {
                errors.extend(found);
                continue;
            }
        };
        let achieved = CoreEffective::from_biases(&tuned.biases, &options.current_model);
        for (neuron, flag) in members.iter().zip(&tuned.uses_tau2) {
            uses_tau2.insert(*neuron, *flag);
        }
        let column = |index: usize| trained.iter().map(|parameters| parameters[index]).collect::<Vec<f64>>();
        let shared_tau_mem: Vec<f64> = tuned
            .uses_tau2
            .iter()
            .map(|tau2| if *tau2 { targets.tau2.unwrap_or(targets.tau1) } else { targets.tau1 })
            .collect();
        let shared_threshold: Vec<f64> = tuned
            .uses_tau2
            .iter()
            .map(|tau2| tuned.threshold1 * if *tau2 { achieved.tau2_ratio } else { 1.0 })
            .collect();
        let sharing = vec![
            sharing_error("tau_mem", &column(0), &shared_tau_mem, true),
            sharing_error("tau_syn", &column(1), &vec![targets.tau_syn; members.len()], true),
            sharing_error("threshold", &column(2), &shared_threshold, true),
            sharing_error("bias", &column(3), &vec![targets.bias; members.len()], false),
        ];
        let mut populations: Vec<(String, usize)> = Vec::new();
        for neuron in &members {
            let name = &network.populations[neuron.population].name;
            match populations.iter_mut().find(|(known, _)| known == name) {
                Some((_, count)) => *count += 1,
                None => populations.push((name.clone(), 1)),
            }
        }
        core_summaries.push(CoreSummary { core, populations, sharing, biases: tuned.choices });
        core_configs.push(CoreConfig {
            core,
            biases: tuned.biases,
            base_weights: BaseWeights::from_array(achieved.base_weights.map(metadata_float)),
        });
        effective.insert(core, achieved);
    }
    let routing = match routing {
        Ok(routing) if errors.is_empty() => routing,
        Ok(_) => return Err(errors),
        Err(found) => {
            errors.extend(found);
            return Err(errors);
        }
    };
    // Quantisation error with the achieved base weights.
    let mut by_population: Vec<(usize, usize, f64, f64)> = vec![(0, 0, 0.0, 0.0); network.populations.len()];
    let mut by_core: BTreeMap<CoreId, (usize, usize, f64, f64)> = BTreeMap::new();
    for (connection, count) in connections.iter().zip(&quantised.counts) {
        let core = placement.id(connection.post).core();
        let base = effective.get(&core).map_or(0.0, |core| core.base_weights[connection.synapse.index()]);
        let chip_weight = connection.synapse.sign() * f64::from(*count) * base;
        for totals in [&mut by_population[connection.post.population], by_core.entry(core).or_default()] {
            totals.0 += 1;
            totals.1 += *count as usize;
            totals.2 += (chip_weight - connection.weight).powi(2);
            totals.3 += connection.weight.powi(2);
        }
    }
    let weight_error = |name: String, (connections, cams, error, norm): (usize, usize, f64, f64)| WeightError {
        name,
        connections,
        cams,
        relative_error: if norm > 0.0 { (error / norm).sqrt() } else { 0.0 },
    };
    let quantisation = QuantisationSummary {
        populations: network
            .populations
            .iter()
            .zip(by_population)
            .map(|(population, totals)| weight_error(population.name.clone(), totals))
            .collect(),
        cores: by_core.into_iter().map(|(core, totals)| weight_error(core.to_string(), totals)).collect(),
        pruned: quantised.pruned,
    };
    let ticks = timing.isi_base_ticks * timing.isi_per_step;
    let realised = ticks as f64 * FPGA_TICK;
    let config = Config {
        format: CONFIG_FORMAT.to_string(),
        timing,
        synapse_rule: options.synapse_rule,
        current_model: options.current_model,
        input: InputConfig {
            chip: input_chip,
            core_mask: routing.input_core_mask,
            channels: routing
                .virtual_ids
                .iter()
                .enumerate()
                .map(|(channel, virtual_id)| InputChannel { channel, virtual_id: *virtual_id })
                .collect(),
        },
        cores: core_configs,
        neurons: placement
            .by_id
            .iter()
            .map(|(id, neuron)| NeuronConfig {
                id: *id,
                population: network.populations[neuron.population].name.clone(),
                index: neuron.index,
                tau2: uses_tau2.get(neuron).copied().unwrap_or(false),
                cams: routing.cams.get(id).cloned().unwrap_or_default(),
                srams: routing.srams.get(id).cloned().unwrap_or_default(),
            })
            .collect(),
        populations: network
            .populations
            .iter()
            .zip(&placement.ids)
            .map(|(population, ids)| PopulationConfig { name: population.name.clone(), neurons: ids.clone() })
            .collect(),
    };
    Ok(Lowered {
        config,
        dt: DtSummary {
            requested: network.dt,
            ticks,
            isi_base_ticks: timing.isi_base_ticks,
            isi_per_step: timing.isi_per_step,
            realised,
        },
        quantisation,
        cores: core_summaries,
    })
}
