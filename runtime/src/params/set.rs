//! `ParamSet`: a network's parameter values, by reef name, in a fixed order.

use std::path::Path;

use ndarray::ArrayD;

use crate::io::{Compression, IoError, Precision, write_npz};
use crate::params::NameStyle;

/// A network's parameters: reef name → `f64` array, in insertion order (the order of the network's
/// specs, which is the order files are written in and optimisers walk). Backed by a `Vec`; lookups
/// scan it, which is fast for the tens of tensors a network has.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParamSet {
    entries: Vec<(String, ArrayD<f64>)>,
}

impl ParamSet {
    /// An empty set.
    pub fn new() -> Self {
        ParamSet::default()
    }

    /// Sets `name` to `value`. A new name goes last; an existing one keeps its place and its old
    /// value is returned.
    pub fn insert(&mut self, name: impl Into<String>, value: ArrayD<f64>) -> Option<ArrayD<f64>> {
        let name = name.into();
        match self.get_mut(&name) {
            Some(slot) => Some(std::mem::replace(slot, value)),
            None => {
                self.entries.push((name, value));
                None
            }
        }
    }

    /// The values of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&ArrayD<f64>> {
        self.entries.iter().find(|(entry, _)| entry == name).map(|(_, value)| value)
    }

    /// The values of `name` for updating in place (e.g. by an optimiser step), if present.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut ArrayD<f64>> {
        self.entries.iter_mut().find(|(entry, _)| entry == name).map(|(_, value)| value)
    }

    /// Whether `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Removes `name`, keeping the order of the rest, and returns its values.
    pub fn remove(&mut self, name: &str) -> Option<ArrayD<f64>> {
        let position = self.entries.iter().position(|(entry, _)| entry == name)?;
        Some(self.entries.remove(position).1)
    }

    /// The number of parameters (tensors, not scalars).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The total number of scalars over all parameters.
    pub fn element_count(&self) -> usize {
        self.entries.iter().map(|(_, value)| value.len()).sum()
    }

    /// The names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(name, _)| name.as_str())
    }

    /// (name, values) pairs, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ArrayD<f64>)> {
        self.entries.iter().map(|(name, value)| (name.as_str(), value))
    }

    /// (name, mutable values) pairs, in order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut ArrayD<f64>)> {
        self.entries.iter_mut().map(|(name, value)| (name.as_str(), value))
    }

    /// Copies every parameter rounded to `f32`, in order, for an `f32` network.
    pub fn to_f32(&self) -> Vec<(String, ArrayD<f32>)> {
        self.entries.iter().map(|(name, value)| (name.clone(), value.mapv(|element| element as f32))).collect()
    }

    /// Writes the set to an `.npz` file (uncompressed, like `numpy.savez` and Rockpool), atomically,
    /// with reef or Rockpool names.
    pub fn write_npz(&self, path: impl AsRef<Path>, precision: Precision, names: NameStyle) -> Result<(), IoError> {
        let renamed = self.entries.iter().map(|(name, value)| (names.from_reef(name), value));
        write_npz(path, renamed, precision, Compression::Stored)
    }
}

impl FromIterator<(String, ArrayD<f64>)> for ParamSet {
    /// Collects pairs in order; a repeated name keeps its first place and its last value.
    fn from_iter<I: IntoIterator<Item = (String, ArrayD<f64>)>>(pairs: I) -> Self {
        let mut set = ParamSet::new();
        for (name, value) in pairs {
            set.insert(name, value);
        }
        set
    }
}

impl IntoIterator for ParamSet {
    type Item = (String, ArrayD<f64>);
    type IntoIter = std::vec::IntoIter<(String, ArrayD<f64>)>;

    /// The (name, values) pairs, in order.
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::read_npz;
    use ndarray::{ArrayD, IxDyn};

    fn filled(shape: &[usize], value: f64) -> ArrayD<f64> {
        ArrayD::from_elem(IxDyn(shape), value)
    }

    #[test]
    fn keeps_insertion_order_and_replaces_in_place() {
        let mut set = ParamSet::new();
        assert!(set.insert("2_Linear.weight", filled(&[2, 1], 1.0)).is_none());
        assert!(set.insert("1_Rate.tau", filled(&[2], 0.02)).is_none());
        assert!(set.insert("0_Linear.weight", filled(&[1, 2], 3.0)).is_none());
        let replaced = set.insert("1_Rate.tau", filled(&[2], 0.05));
        assert_eq!(replaced, Some(filled(&[2], 0.02)));
        assert_eq!(set.names().collect::<Vec<_>>(), ["2_Linear.weight", "1_Rate.tau", "0_Linear.weight"]);
        assert_eq!((set.len(), set.element_count()), (3, 6));

        if let Some(tau) = set.get_mut("1_Rate.tau") {
            tau[[0]] = 0.1;
        }
        assert_eq!(set.get("1_Rate.tau").map(|tau| tau[[0]]), Some(0.1));
        assert_eq!(set.remove("2_Linear.weight"), Some(filled(&[2, 1], 1.0)));
        assert_eq!(set.names().collect::<Vec<_>>(), ["1_Rate.tau", "0_Linear.weight"]);
        assert!(!set.contains("2_Linear.weight") && set.get("missing").is_none());
        assert_eq!(set.to_f32()[0].1[[0]], 0.1_f32);
    }

    #[test]
    fn writes_reef_or_rockpool_names_in_order() -> Result<(), Box<dyn std::error::Error>> {
        let folder = tempfile::tempdir()?;
        let set: ParamSet =
            [("1_Rate.w_rec".to_owned(), filled(&[2, 2], 0.5)), ("0_Linear.weight".to_owned(), filled(&[1, 2], 2.0))]
                .into_iter()
                .collect();
        let path = folder.path().join("params.npz");
        for (style, keys) in [
            (NameStyle::Reef, ["1_Rate.w_rec", "0_Linear.weight"]),
            (NameStyle::Rockpool, ["1_RateJax.w_rec", "0_LinearJax.weight"]),
        ] {
            set.write_npz(&path, Precision::F32, style)?;
            let read_back = read_npz(&path)?;
            let read_keys: Vec<&str> = read_back.iter().map(|(key, _)| key.as_str()).collect();
            assert_eq!(read_keys, keys);
            assert_eq!(read_back[0].1, filled(&[2, 2], 0.5));
        }
        Ok(())
    }
}
