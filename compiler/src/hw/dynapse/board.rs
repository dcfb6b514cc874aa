//! The Dynap-SE1 board: every size, limit and chip constant, in one place.
//!
//! Sources (see `shared/reference/dynapse_nir.md` §1): libcaer `dynapse.h` for the memory sizes,
//! Rockpool's `devices/params.py` for timing, Rockpool's SE1 `biasgen.py` for the coarse currents,
//! and Rockpool's `DynapseControl` for the reserved addresses.

/// Chips on one board (U0..U3).
pub const CHIPS: usize = 4;
/// Cores on one chip.
pub const CORES_PER_CHIP: usize = 4;
/// Cores on the whole board.
pub const CORES_ON_BOARD: usize = CHIPS * CORES_PER_CHIP;
/// Neurons in one core (a 16 × 16 grid).
pub const NEURONS_PER_CORE: usize = 256;
/// Neurons on one chip; also the size of the 10-bit chip-local address space.
pub const NEURONS_PER_CHIP: usize = CORES_PER_CHIP * NEURONS_PER_CORE;
/// Neurons on the whole board; global ids are `0..NEURONS_ON_BOARD`.
pub const NEURONS_ON_BOARD: usize = CHIPS * NEURONS_PER_CHIP;

/// Chip-local address that no source may use: an empty CAM reads as "address 0", so a neuron
/// there could not be told apart from an unused CAM (Rockpool leaves ids 0, 1024, 2048, 3072 free).
pub const RESERVED_CHIP_LOCAL_ADDRESS: u16 = 0;
/// Neurons usable on one chip once the reserved address is taken out.
pub const USABLE_NEURONS_PER_CHIP: usize = NEURONS_PER_CHIP - 1;
/// Neurons usable on the whole board.
pub const USABLE_NEURONS_ON_BOARD: usize = CHIPS * USABLE_NEURONS_PER_CHIP;

/// Virtual (input) neurons the FPGA can inject: ids `0..VIRTUAL_NEURONS`, one chip-local space.
pub const VIRTUAL_NEURONS: usize = 1024;
/// Virtual id that is never allocated (same reason as the reserved chip-local address).
pub const RESERVED_VIRTUAL_ID: u16 = 0;
/// Virtual ids available to input channels.
pub const USABLE_VIRTUAL_IDS: usize = VIRTUAL_NEURONS - 1;

/// CAM entries per neuron: the fan-in budget, counted in connections (a weight of 3 takes 3).
pub const CAMS_PER_NEURON: usize = 64;
/// SRAM entries per neuron.
pub const SRAMS_PER_NEURON: usize = 4;
/// SRAM entry kept for monitoring (libcaer routes it to the FPGA); never used for routing.
pub const MONITOR_SRAM: usize = 0;
/// Target chips one neuron can reach: one SRAM entry per target chip, minus the monitor entry.
pub const TARGET_CHIPS_PER_NEURON: usize = SRAMS_PER_NEURON - 1;

/// The FPGA's base tick, 1/90 MHz = 11.11… ns; every time on the FPGA is a whole number of ticks.
pub const FPGA_TICK: f64 = 1.0 / 9.0 * 1e-7;
/// Fewest ticks in the FPGA's ISI base (the unit input-event gaps are counted in).
pub const MIN_ISI_BASE_TICKS: u64 = 1;
/// Most ticks in the ISI base: Rockpool's `max_dt = fpga_timestep * (FPGA_ISI_LIMIT + 1)`, ≈ 728 µs.
pub const MAX_ISI_BASE_TICKS: u64 = 65_536;
/// Longest gap between two input events, in ISI-base units (longer gaps need dummy events).
pub const MAX_ISI_STEPS: u64 = 65_535;
/// Shortest network time step, in seconds: one tick.
pub const MIN_DT: f64 = FPGA_TICK * MIN_ISI_BASE_TICKS as f64;
/// Longest network time step, in seconds (≈ 47.7 s): a step is at most [`MAX_ISI_STEPS`] units
/// of the longest ISI base, so that an event in every step is still one ISI apart.
pub const MAX_DT: f64 = FPGA_TICK * (MAX_ISI_BASE_TICKS * MAX_ISI_STEPS) as f64;
/// Relative slack when turning dt into ticks, so that `k · tick` computed in f64 gives back `k`.
pub const DT_TICK_TOLERANCE: f64 = 1e-9;
/// Most input events in one batch sent to the FPGA.
pub const MAX_EVENTS_PER_BATCH: u64 = 65_535;

/// Shared biases per core.
pub const BIASES_PER_CORE: usize = 25;
/// Largest coarse value of a bias.
pub const MAX_COARSE: u8 = 7;
/// Largest fine value of a bias.
pub const MAX_FINE: u8 = 255;
/// Full-scale current of each coarse value (Rockpool's SE1 `BiasGen.coarse_base`), in ampere:
/// `current = fine / 255 · COARSE_BASE_CURRENTS[coarse]`. Rockpool marks the SE1 factors as
/// "neither experimental nor theoretical".
pub const COARSE_BASE_CURRENTS: [f64; 8] = [15e-12, 105e-12, 820e-12, 6.5e-9, 50e-9, 400e-9, 3.2e-6, 24e-6];
/// Largest current a bias can produce, in ampere.
pub const MAX_BIAS_CURRENT: f64 = COARSE_BASE_CURRENTS[7];
/// Dark current (Rockpool's `Io`, 0.5 pA): a nonzero bias below it is not reliable, so reef treats
/// smaller nonzero currents as out of range.
pub const DARK_CURRENT: f64 = 5e-13;
/// Relative difference under which two bias currents count as equal when choosing a code
/// (ties go to the smaller coarse value, which has the finer resolution).
pub const BIAS_TIE_TOLERANCE: f64 = 1e-9;

/// Biases with no role in reef's LIF model, as (name, coarse, fine): cAER's Dynap-SE defaults
/// (`resetDefaultBiases` in its dynapse module), copied as codes. Adaptation is off (IF_AHW_P
/// fine 0). cAER's coarse numbering may run opposite to Rockpool's biasgen table (unverified),
/// which is why these are copied as codes and not converted to currents.
pub const FIXED_BIASES: [(super::bias::BiasName, u8, u8); 7] = [
    (super::bias::BiasName::IfAhtauN, 7, 35),
    (super::bias::BiasName::IfCascN, 7, 0),
    (super::bias::BiasName::IfBufP, 3, 80),
    (super::bias::BiasName::IfAhthrN, 7, 0),
    (super::bias::BiasName::IfNmdaN, 7, 0),
    (super::bias::BiasName::IfAhwP, 7, 0),
    (super::bias::BiasName::R2rP, 4, 85),
];
