//! `Dataset`: inputs and targets `[batch, time, channels]`, and the minibatches cut from them.

use std::path::Path;

use ndarray::{ArrayD, Axis, IxDyn};
use thiserror::Error;

use crate::io::{Compression, IoError, Precision, read_npz, write_npz};

/// Paired input and target signals: `input` is `[B, T, C]`, `target` is `[B, T, N]`, with the
/// same `B ≥ 1` samples and `T ≥ 1` steps. Built-in tasks produce one; `.npz` files hold one
/// under the keys `input` and `target`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    input: ArrayD<f64>,
    target: ArrayD<f64>,
}

/// Some samples of a [`Dataset`], in the order an epoch visits them: what an objective
/// evaluates for one update.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// Inputs, `[b, T, C]`.
    pub input: ArrayD<f64>,
    /// Targets, `[b, T, N]`.
    pub target: ArrayD<f64>,
    /// Which samples of the dataset these are, in order.
    pub indices: Vec<usize>,
}

impl Dataset {
    /// Pairs `input` and `target`, each `[B, T, channels]` or `[T, channels]` (one sample; a
    /// batch axis of 1 is added), checking that they agree on `B` and `T` and are not empty.
    pub fn new(input: ArrayD<f64>, target: ArrayD<f64>) -> Result<Self, DataError> {
        let input = batched("input", input)?;
        let target = batched("target", target)?;
        if input.shape()[..2] != target.shape()[..2] {
            return Err(DataError::Mismatch { input: input.shape().to_vec(), target: target.shape().to_vec() });
        }
        if input.shape().contains(&0) || target.shape().contains(&0) {
            return Err(DataError::Empty { input: input.shape().to_vec(), target: target.shape().to_vec() });
        }
        Ok(Dataset { input, target })
    }

    /// The inputs, `[B, T, C]`.
    pub fn input(&self) -> &ArrayD<f64> {
        &self.input
    }

    /// The targets, `[B, T, N]`.
    pub fn target(&self) -> &ArrayD<f64> {
        &self.target
    }

    /// `(input, target)`, giving up the pairing.
    pub fn into_parts(self) -> (ArrayD<f64>, ArrayD<f64>) {
        (self.input, self.target)
    }

    /// The number of samples `B`.
    pub fn len(&self) -> usize {
        self.input.shape()[0]
    }

    /// Always false: a dataset holds at least one sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of time steps `T`.
    pub fn time_steps(&self) -> usize {
        self.input.shape()[1]
    }

    /// Input channels `C`.
    pub fn input_channels(&self) -> usize {
        self.input.shape()[2]
    }

    /// Target channels `N`.
    pub fn target_channels(&self) -> usize {
        self.target.shape()[2]
    }

    /// The samples at `indices`, in that order (repeats allowed).
    pub fn batch(&self, indices: &[usize]) -> Result<Batch, DataError> {
        if let Some(&index) = indices.iter().find(|&&index| index >= self.len()) {
            return Err(DataError::IndexOutOfRange { index, len: self.len() });
        }
        Ok(Batch {
            input: self.input.select(Axis(0), indices),
            target: self.target.select(Axis(0), indices),
            indices: indices.to_vec(),
        })
    }

    /// Every sample, in order.
    pub fn full_batch(&self) -> Batch {
        Batch { input: self.input.clone(), target: self.target.clone(), indices: (0..self.len()).collect() }
    }

    /// Writes `input` and `target` to an `.npz` file (compressed), atomically.
    pub fn write_npz(&self, path: impl AsRef<Path>, precision: Precision) -> Result<(), IoError> {
        write_npz(path, [("input", &self.input), ("target", &self.target)], precision, Compression::Deflated)
    }

    /// Reads an `.npz` file with arrays `input` and `target` (other keys are ignored).
    pub fn read_npz(path: impl AsRef<Path>) -> Result<Self, DataError> {
        let path = path.as_ref();
        let mut arrays = read_npz(path)?;
        let mut take = |key: &'static str| match arrays.iter().position(|(name, _)| name == key) {
            Some(position) => Ok(arrays.swap_remove(position).1),
            None => Err(DataError::MissingArray { path: path.to_path_buf(), key }),
        };
        let input = take("input")?;
        let target = take("target")?;
        Dataset::new(input, target)
    }
}

/// What is wrong with a dataset's arrays or file.
#[derive(Debug, Error)]
pub enum DataError {
    /// The file could not be read or written.
    #[error(transparent)]
    Io(#[from] IoError),
    /// A dataset file lacks `input` or `target`.
    #[error("`{}` has no array `{key}`; a dataset file holds `input` and `target`", .path.display())]
    MissingArray {
        /// The file.
        path: std::path::PathBuf,
        /// The missing key.
        key: &'static str,
    },
    /// An array is neither `[T, C]` nor `[B, T, C]`.
    #[error("the {what} has shape {shape:?}; expected [time, channels] or [batch, time, channels]")]
    Rank {
        /// `input` or `target`.
        what: &'static str,
        /// Its shape.
        shape: Vec<usize>,
    },
    /// Input and target disagree on the number of samples or steps.
    #[error("the input has shape {input:?} but the target has shape {target:?}: batch and time must agree")]
    Mismatch {
        /// The input's shape.
        input: Vec<usize>,
        /// The target's shape.
        target: Vec<usize>,
    },
    /// Some axis has length 0.
    #[error("the dataset is empty: input {input:?}, target {target:?}")]
    Empty {
        /// The input's shape.
        input: Vec<usize>,
        /// The target's shape.
        target: Vec<usize>,
    },
    /// A batch asked for a sample that does not exist.
    #[error("sample {index} asked for, but the dataset has {len}")]
    IndexOutOfRange {
        /// The index asked for.
        index: usize,
        /// The number of samples.
        len: usize,
    },
}

fn batched(what: &'static str, array: ArrayD<f64>) -> Result<ArrayD<f64>, DataError> {
    match array.ndim() {
        3 => Ok(array),
        2 => Ok(array.insert_axis(Axis(0))),
        _ => Err(DataError::Rank { what, shape: array.shape().to_vec() }),
    }
}

/// A `[B, T, C]` array of zeros, for tasks to fill.
pub(crate) fn zeros(batch: usize, steps: usize, channels: usize) -> ArrayD<f64> {
    ArrayD::zeros(IxDyn(&[batch, steps, channels]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(shape: &[usize]) -> ArrayD<f64> {
        let count = shape.iter().product::<usize>();
        ArrayD::from_shape_vec(IxDyn(shape), (0..count).map(|value| value as f64).collect()).unwrap_or_default()
    }

    #[test]
    fn pairs_checks_and_batches() -> Result<(), DataError> {
        let single = Dataset::new(ramp(&[5, 2]), ramp(&[5, 1]))?;
        assert_eq!(
            (single.len(), single.time_steps(), single.input_channels(), single.target_channels()),
            (1, 5, 2, 1)
        );
        let data = Dataset::new(ramp(&[3, 4, 2]), ramp(&[3, 4, 1]))?;
        let batch = data.batch(&[2, 0])?;
        assert_eq!(batch.input.shape(), [2, 4, 2]);
        assert_eq!(batch.input[[0, 0, 0]], 16.0);
        assert_eq!(batch.target[[1, 3, 0]], 3.0);
        assert!(matches!(data.batch(&[3]), Err(DataError::IndexOutOfRange { index: 3, len: 3 })));
        assert!(matches!(Dataset::new(ramp(&[3, 4, 2]), ramp(&[3, 5, 1])), Err(DataError::Mismatch { .. })));
        assert!(matches!(Dataset::new(ramp(&[4]), ramp(&[4])), Err(DataError::Rank { what: "input", .. })));
        assert!(matches!(Dataset::new(ramp(&[0, 4, 2]), ramp(&[0, 4, 1])), Err(DataError::Empty { .. })));
        Ok(())
    }

    #[test]
    fn round_trips_through_npz() -> Result<(), Box<dyn std::error::Error>> {
        let folder = tempfile::tempdir()?;
        let path = folder.path().join("data.npz");
        let data = Dataset::new(ramp(&[2, 3, 1]).mapv(|x| x / 3.0), ramp(&[2, 3, 2]))?;
        data.write_npz(&path, Precision::F64)?;
        assert_eq!(Dataset::read_npz(&path)?, data);
        crate::io::write_npz(&path, [("input", data.input())], Precision::F64, Compression::Stored)?;
        assert!(matches!(Dataset::read_npz(&path), Err(DataError::MissingArray { key: "target", .. })));
        Ok(())
    }
}
