//! The loss history: one (epoch, loss, seconds) record per epoch, as `loss.csv` and as
//! checkpoint arrays.

use std::io::Write;
use std::path::Path;

use ndarray::{ArrayD, IxDyn};

use crate::io::{IoError, write_atomically};
use crate::train::TrainError;

/// The CSV header of `loss.csv`.
const HEADER: &str = "epoch,loss,seconds";

/// One finished epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochRecord {
    /// The epoch, counting from 1.
    pub epoch: usize,
    /// Mean minibatch loss over the epoch.
    pub loss: f64,
    /// Seconds of training when the epoch ended, counted over every run of a resumed training.
    pub seconds: f64,
}

/// Every finished epoch, in order; record `i` is epoch `i + 1`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    records: Vec<EpochRecord>,
}

impl History {
    /// No epochs yet.
    pub fn new() -> Self {
        History::default()
    }

    /// Appends the next epoch's record.
    pub fn push(&mut self, loss: f64, seconds: f64) {
        self.records.push(EpochRecord { epoch: self.records.len() + 1, loss, seconds });
    }

    /// The records, epoch 1 first.
    pub fn records(&self) -> &[EpochRecord] {
        &self.records
    }

    /// The losses, epoch 1 first.
    pub fn losses(&self) -> Vec<f64> {
        self.records.iter().map(|record| record.loss).collect()
    }

    /// Epochs recorded.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no epoch is recorded.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The last epoch's record.
    pub fn last(&self) -> Option<&EpochRecord> {
        self.records.last()
    }

    /// Writes `epoch,loss,seconds` with one line per epoch, atomically. Numbers are written in
    /// Rust's shortest round-trip form, so [`read_csv`](Self::read_csv) gives them back exactly.
    pub fn write_csv(&self, path: impl AsRef<Path>) -> Result<(), IoError> {
        let path = path.as_ref();
        write_atomically(path, |writer| {
            let mut text = String::with_capacity(32 * (self.records.len() + 1));
            text.push_str(HEADER);
            text.push('\n');
            for record in &self.records {
                text.push_str(&format!("{},{:?},{:?}\n", record.epoch, record.loss, record.seconds));
            }
            writer.write_all(text.as_bytes()).map_err(|source| IoError::Io {
                action: "write",
                path: path.to_path_buf(),
                source,
            })
        })
    }

    /// Reads a `loss.csv` written by [`write_csv`](Self::write_csv) (or by hand: the header
    /// `epoch,loss,seconds`, then epochs 1, 2, … in order).
    pub fn read_csv(path: impl AsRef<Path>) -> Result<Self, TrainError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => IoError::Missing { path: path.to_path_buf() },
            _ => IoError::Io { action: "read", path: path.to_path_buf(), source },
        })?;
        let error = |line: usize, detail: String| TrainError::History { path: path.to_path_buf(), line, detail };
        let mut lines = text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty());
        match lines.next() {
            Some((_, header)) if header.trim() == HEADER => {}
            Some((index, header)) => {
                return Err(error(index + 1, format!("expected the header `{HEADER}`, found `{header}`")));
            }
            None => return Err(error(1, format!("the file is empty; expected the header `{HEADER}`"))),
        }
        let mut history = History::new();
        for (index, line) in lines {
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let [epoch, loss, seconds] = fields[..] else {
                return Err(error(index + 1, format!("expected 3 fields, found {}", fields.len())));
            };
            let number =
                |field: &str| field.parse::<f64>().map_err(|_| error(index + 1, format!("`{field}` is not a number")));
            let (loss, seconds) = (number(loss)?, number(seconds)?);
            if epoch.parse::<usize>().ok() != Some(history.len() + 1) {
                return Err(error(index + 1, format!("expected epoch {}, found `{epoch}`", history.len() + 1)));
            }
            history.push(loss, seconds);
        }
        Ok(history)
    }

    /// The history as checkpoint entries `history.loss` and `history.seconds` (`[epochs]` each).
    pub(crate) fn entries(&self) -> Vec<(String, ArrayD<f64>)> {
        let column = |value: fn(&EpochRecord) -> f64| {
            ArrayD::from_shape_vec(IxDyn(&[self.records.len()]), self.records.iter().map(value).collect())
                .unwrap_or_else(|_| ArrayD::zeros(IxDyn(&[0])))
        };
        vec![
            ("history.loss".to_owned(), column(|record| record.loss)),
            ("history.seconds".to_owned(), column(|record| record.seconds)),
        ]
    }

    /// Rebuilds the history from [`entries`](Self::entries)' arrays.
    pub(crate) fn from_columns(losses: &ArrayD<f64>, seconds: &ArrayD<f64>) -> Result<Self, String> {
        if losses.ndim() != 1 || losses.shape() != seconds.shape() {
            return Err(format!(
                "`history.loss` {:?} and `history.seconds` {:?} must be vectors of one length",
                losses.shape(),
                seconds.shape()
            ));
        }
        let mut history = History::new();
        losses.iter().zip(seconds).for_each(|(loss, seconds)| history.push(*loss, *seconds));
        Ok(history)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trips_exactly_and_rejects_malformed_files() -> Result<(), Box<dyn std::error::Error>> {
        let folder = tempfile::tempdir()?;
        let path = folder.path().join("loss.csv");
        let mut history = History::new();
        for (loss, seconds) in [(0.1, 0.25), (1.0 / 3.0, 1e-9), (1e-300, 12.5), (f64::NAN, 13.0)] {
            history.push(loss, seconds);
        }
        history.write_csv(&path)?;
        let text = std::fs::read_to_string(&path)?;
        assert!(text.starts_with("epoch,loss,seconds\n1,0.1,0.25\n2,0.3333333333333333,1e-9\n"), "{text}");
        let read = History::read_csv(&path)?;
        assert_eq!(read.losses()[..3], history.losses()[..3]);
        assert!(read.losses()[3].is_nan() && read.len() == 4 && read.records()[3].epoch == 4);

        for (contents, line) in
            [("epoch,loss\n", 1), ("epoch,loss,seconds\n1,0.5\n", 2), ("epoch,loss,seconds\n2,0.5,1\n", 2)]
        {
            std::fs::write(&path, contents)?;
            let result = History::read_csv(&path);
            assert!(
                matches!(result, Err(TrainError::History { line: found, .. }) if found == line),
                "{contents}: {result:?}"
            );
        }
        Ok(())
    }
}
