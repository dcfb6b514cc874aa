//! The lowering's input: a chain of LIF populations, extracted from reef's graph IR.
//!
//! Invariants are *not* assumed here: shapes, lengths and finiteness are checked by
//! [`check_network`](super::check::check_network), which turns each violation into a [`DrcError`](super::DrcError).

/// A chain of LIF populations, the only kind of network Dynap-SE1 can run, extracted from reef's graph IR.
#[derive(Clone, Debug, PartialEq)]
pub struct SpikingNetwork {
    /// Network input channels; each becomes one virtual neuron.
    pub n_inputs: usize,
    /// Simulation time step, in seconds.
    pub dt: f64,
    /// Populations in chain order: input → `populations[0]` → `populations[1]` → …
    pub populations: Vec<Population>,
    /// Modules of the source network the chip cannot run; each becomes a design-rule error.
    pub unsupported: Vec<Unsupported>,
}

/// One LIF population with the weights into it.
#[derive(Clone, Debug, PartialEq)]
pub struct Population {
    /// Module path in the source network, e.g. "1_LIF" or "hidden".
    pub name: String,
    /// Where it was declared, for located errors.
    pub source: SourceRef,
    /// Number of neurons.
    pub size: usize,
    /// Weights into this population from the previous stage (`n_inputs` or the previous
    /// population's size) × `size`: the Linear before it, already folded in.
    pub w_in: Matrix,
    /// Recurrent weights, `size` × `size`, row = pre-synaptic neuron.
    pub w_rec: Option<Matrix>,
    /// Membrane time constant per neuron, in seconds.
    pub tau_mem: Vec<f64>,
    /// Synaptic time constant per neuron, in seconds.
    pub tau_syn: Vec<f64>,
    /// Spike threshold per neuron, in membrane units.
    pub threshold: Vec<f64>,
    /// Constant input current per neuron, in membrane units.
    pub bias: Vec<f64>,
}

/// Where something was declared in the `.net` source.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceRef {
    /// Module path.
    pub module: String,
    /// Byte range in the `.net` text.
    pub span: (usize, usize),
}

/// A dense row-major matrix of f64.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Matrix {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// `rows * cols` values, row after row.
    pub data: Vec<f64>,
}

impl Matrix {
    /// A `rows` × `cols` matrix of zeros.
    pub fn zeros(rows: usize, cols: usize) -> Matrix {
        Matrix { rows, cols, data: vec![0.0; rows * cols] }
    }

    /// A matrix from its rows. Rows of unequal length give a matrix whose `data` length does not
    /// match its shape, which the network check reports.
    pub fn from_rows(rows: &[Vec<f64>]) -> Matrix {
        let cols = rows.first().map_or(0, Vec::len);
        Matrix { rows: rows.len(), cols, data: rows.iter().flatten().copied().collect() }
    }

    /// The value at (`row`, `col`); 0 outside the matrix or its data.
    pub fn get(&self, row: usize, col: usize) -> f64 {
        if row >= self.rows || col >= self.cols {
            return 0.0;
        }
        self.data.get(row * self.cols + col).copied().unwrap_or(0.0)
    }

    /// Sets the value at (`row`, `col`); returns false (and changes nothing) outside the matrix.
    pub fn set(&mut self, row: usize, col: usize, value: f64) -> bool {
        if row >= self.rows || col >= self.cols {
            return false;
        }
        match self.data.get_mut(row * self.cols + col) {
            Some(slot) => {
                *slot = value;
                true
            }
            None => false,
        }
    }

    /// Whether `data` has exactly `rows * cols` values.
    pub fn is_consistent(&self) -> bool {
        self.rows.checked_mul(self.cols) == Some(self.data.len())
    }

    /// The nonzero entries as (row, col, value), row by row.
    pub fn nonzero(&self) -> impl Iterator<Item = (usize, usize, f64)> + '_ {
        let cols = self.cols.max(1);
        self.data
            .iter()
            .enumerate()
            .filter(|(_, value)| **value != 0.0)
            .map(move |(flat, value)| (flat / cols, flat % cols, *value))
    }
}

/// A module of the source network that Dynap-SE1 cannot run.
#[derive(Clone, Debug, PartialEq)]
pub enum Unsupported {
    /// A module without spikes: "Rate", "Instant" or "ExpSyn".
    NonSpiking {
        /// Module path.
        module: String,
        /// The module's kind, e.g. "Rate".
        kind: String,
        /// Where it was declared.
        source: SourceRef,
    },
    /// A Linear layer with a bias: the chip's connections carry no bias.
    LinearBias {
        /// Module path.
        module: String,
        /// Where it was declared.
        source: SourceRef,
    },
}
