//! The low-level validator, in Rockpool's form: raw weight matrices over global ids → flags.
//!
//! Mirrors `VirtualDynapse.validate_connections` (Rockpool 1.x): `w_rec` is 4096 × 4096 over
//! global neuron ids (row = pre), `w_ext` 1024 × 4096 from virtual ids. Matrices are sparse
//! (lists of triples; repeated positions add up), so a test need not allocate 16 M entries.
//! * fan-in: per post neuron, `Σ ⌈|w|⌉` over `w_rec` and `w_ext` ≤ 64;
//! * fan-out: per pre neuron, the distinct chips of its posts ≤ 3 (virtual inputs need no SRAM);
//! * aliasing: per post core and chip-local pre address, one source chip only (virtual
//!   inputs count as a fifth chip).

use std::collections::{BTreeMap, BTreeSet};

use super::address::NeuronId;
use super::board::{CAMS_PER_NEURON, NEURONS_ON_BOARD, NEURONS_PER_CHIP, TARGET_CHIPS_PER_NEURON, VIRTUAL_NEURONS};
use super::network::Matrix;

/// A sparse matrix: shape plus (row, col, value) triples.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SparseMatrix {
    rows: usize,
    cols: usize,
    entries: Vec<(usize, usize, f64)>,
}

/// A triple outside the matrix's shape, or a dense matrix whose data does not match its shape.
#[derive(Clone, Debug, PartialEq)]
pub struct SparseMatrixError {
    /// The offending row and column (for a dense matrix, its data length and 0).
    pub position: (usize, usize),
    /// The matrix's shape.
    pub shape: (usize, usize),
}

impl SparseMatrix {
    /// A `rows` × `cols` matrix from (row, col, value) triples; zero values are dropped.
    pub fn from_triples(
        rows: usize,
        cols: usize,
        triples: impl IntoIterator<Item = (usize, usize, f64)>,
    ) -> Result<SparseMatrix, SparseMatrixError> {
        let mut entries = Vec::new();
        for (row, col, value) in triples {
            if row >= rows || col >= cols {
                return Err(SparseMatrixError { position: (row, col), shape: (rows, cols) });
            }
            if value != 0.0 {
                entries.push((row, col, value));
            }
        }
        Ok(SparseMatrix { rows, cols, entries })
    }

    /// The nonzero entries of a dense matrix.
    pub fn from_dense(matrix: &Matrix) -> Result<SparseMatrix, SparseMatrixError> {
        if !matrix.is_consistent() {
            return Err(SparseMatrixError { position: (matrix.data.len(), 0), shape: (matrix.rows, matrix.cols) });
        }
        SparseMatrix::from_triples(matrix.rows, matrix.cols, matrix.nonzero())
    }

    /// (rows, cols).
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// The stored triples.
    pub fn entries(&self) -> &[(usize, usize, f64)] {
        &self.entries
    }

    /// Entries summed per position, zero sums dropped, in (row, col) order.
    fn summed(&self) -> BTreeMap<(usize, usize), f64> {
        let mut sums: BTreeMap<(usize, usize), f64> = BTreeMap::new();
        for (row, col, value) in &self.entries {
            *sums.entry((*row, *col)).or_default() += value;
        }
        sums.retain(|_, value| *value != 0.0);
        sums
    }
}

/// Rockpool's validation bit mask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ValidationFlags(u8);

impl ValidationFlags {
    /// Every rule holds.
    pub const VALID: ValidationFlags = ValidationFlags(0);
    /// Some neuron needs more than 64 CAM entries.
    pub const FANIN_EXCEEDED: ValidationFlags = ValidationFlags(1);
    /// Some neuron projects to more than 3 chips.
    pub const FANOUT_EXCEEDED: ValidationFlags = ValidationFlags(2);
    /// Two sources with one chip-local address project to one core.
    pub const CONNECTION_ALIASING: ValidationFlags = ValidationFlags(4);
    /// reef's addition: a matrix larger than the board (Rockpool asserts instead).
    pub const SHAPE_INVALID: ValidationFlags = ValidationFlags(8);

    /// The raw bits.
    pub fn bits(self) -> u8 {
        self.0
    }
    /// Whether every bit of `other` is set.
    pub fn contains(self, other: ValidationFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// Whether no bit is set.
    pub fn is_valid(self) -> bool {
        self.0 == 0
    }
}

impl std::ops::BitOr for ValidationFlags {
    type Output = ValidationFlags;
    fn bitor(self, other: ValidationFlags) -> ValidationFlags {
        ValidationFlags(self.0 | other.0)
    }
}

impl std::ops::BitOrAssign for ValidationFlags {
    fn bitor_assign(&mut self, other: ValidationFlags) {
        self.0 |= other.0;
    }
}

/// Checks raw connections against the fan-in, fan-out and aliasing rules (see the module doc).
pub fn validate_connections(w_rec: &SparseMatrix, w_ext: Option<&SparseMatrix>) -> ValidationFlags {
    let mut flags = ValidationFlags::VALID;
    let (rows, cols) = w_rec.shape();
    let external_fits = w_ext.is_none_or(|w_ext| w_ext.rows <= VIRTUAL_NEURONS && w_ext.cols <= NEURONS_ON_BOARD);
    if rows > NEURONS_ON_BOARD || cols > NEURONS_ON_BOARD || !external_fits {
        return ValidationFlags::SHAPE_INVALID;
    }
    /// Source chip of a pre-synaptic row: 0..4 for hardware, 4 for external input.
    const EXTERNAL_CHIP: usize = 4;
    let recurrent = w_rec.summed().into_iter().map(|((pre, post), w)| (pre / NEURONS_PER_CHIP, pre, post, w));
    let external = w_ext.map(SparseMatrix::summed).unwrap_or_default();
    let all = recurrent.chain(external.into_iter().map(|((pre, post), w)| (EXTERNAL_CHIP, pre, post, w)));
    let mut fan_in: BTreeMap<usize, f64> = BTreeMap::new();
    let mut fan_out: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    let mut heard: BTreeMap<(usize, usize), BTreeSet<usize>> = BTreeMap::new();
    for (chip, pre, post, weight) in all {
        *fan_in.entry(post).or_default() += weight.abs().ceil();
        if chip != EXTERNAL_CHIP {
            fan_out.entry(pre).or_default().insert(post / NEURONS_PER_CHIP);
        }
        let Ok(post_id) = NeuronId::new(post) else { continue };
        heard.entry((post_id.core().board_index(), pre % NEURONS_PER_CHIP)).or_default().insert(chip);
    }
    if fan_in.values().any(|total| *total > CAMS_PER_NEURON as f64) {
        flags |= ValidationFlags::FANIN_EXCEEDED;
    }
    if fan_out.values().any(|chips| chips.len() > TARGET_CHIPS_PER_NEURON) {
        flags |= ValidationFlags::FANOUT_EXCEEDED;
    }
    if heard.values().any(|chips| chips.len() > 1) {
        flags |= ValidationFlags::CONNECTION_ALIASING;
    }
    flags
}

/// [`validate_connections`] on dense matrices (`SHAPE_INVALID` if a matrix's data does not match its shape).
pub fn validate_dense_connections(w_rec: &Matrix, w_ext: Option<&Matrix>) -> ValidationFlags {
    let Ok(recurrent) = SparseMatrix::from_dense(w_rec) else { return ValidationFlags::SHAPE_INVALID };
    let external = match w_ext.map(SparseMatrix::from_dense) {
        None => None,
        Some(Ok(external)) => Some(external),
        Some(Err(_)) => return ValidationFlags::SHAPE_INVALID,
    };
    validate_connections(&recurrent, external.as_ref())
}
