//! `.npz` archives ↔ ordered `(key, ArrayD<f64>)` lists: numpy's `savez` / `savez_compressed`.
//!
//! An `.npz` file is a zip archive of `.npy` files named `<key>.npy`; keys come back without the
//! `.npy` suffix, in archive order (the order numpy wrote them).

use std::collections::HashSet;
use std::io::{Cursor, Read};
use std::path::Path;

use ndarray::ArrayD;
use ndarray_npy::{NpzWriter, WriteNpyError, WriteNpzError};
use zip::ZipArchive;
use zip::result::ZipError;

use crate::io::npy::read_file;
use crate::io::{Dtype, FileKind, IoError, Precision, decode_npy, sniff, write_atomically};

/// Whether an `.npz` file's arrays are compressed: numpy's `savez` stores them, `savez_compressed`
/// deflates them. Both read the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Arrays stored as they are (`numpy.savez`): fastest, and what Rockpool's files use.
    Stored,
    /// Arrays deflated (`numpy.savez_compressed`): smaller files.
    Deflated,
}

/// An archive read into memory, with the path for error messages.
struct Archive<'bytes> {
    path: &'bytes Path,
    zip: ZipArchive<Cursor<&'bytes [u8]>>,
}

impl<'bytes> Archive<'bytes> {
    fn open(path: &'bytes Path, bytes: &'bytes [u8]) -> Result<Self, IoError> {
        let found = sniff(bytes);
        if found != FileKind::Zip {
            return Err(IoError::WrongKind { path: path.to_path_buf(), expected: "an .npz file", found });
        }
        let zip = ZipArchive::new(Cursor::new(bytes)).map_err(|error| bad_archive(path, None, error))?;
        Ok(Archive { path, zip })
    }

    /// The entries' file names, in archive order.
    fn entry_names(&self) -> Vec<String> {
        (0..self.zip.len()).filter_map(|index| self.zip.name_for_index(index)).map(str::to_owned).collect()
    }

    /// Decompresses and decodes entry `index`; `None` for a folder entry.
    fn decode(&mut self, index: usize) -> Result<Option<(String, ArrayD<f64>, Dtype)>, IoError> {
        let path = self.path;
        let mut entry = self.zip.by_index(index).map_err(|error| bad_archive(path, None, error))?;
        if entry.is_dir() {
            return Ok(None);
        }
        let key = key_of(entry.name()).to_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(|error| bad_archive(path, Some(&key), ZipError::Io(error)))?;
        match decode_npy(&bytes) {
            Ok((array, dtype)) => Ok(Some((key, array, dtype))),
            Err(problem) => Err(IoError::BadArray { path: path.to_path_buf(), entry: Some(key), problem }),
        }
    }
}

/// Reads every array of an `.npz` file, in file order, as `f64`, with the element type it stored.
pub fn read_npz_with_dtypes(path: impl AsRef<Path>) -> Result<Vec<(String, ArrayD<f64>, Dtype)>, IoError> {
    let path = path.as_ref();
    decode_npz(path, &read_file(path)?)
}

/// Decodes every array of the `.npz` file `bytes`; `path` is for messages only.
fn decode_npz(path: &Path, bytes: &[u8]) -> Result<Vec<(String, ArrayD<f64>, Dtype)>, IoError> {
    let mut archive = Archive::open(path, bytes)?;
    let mut arrays = Vec::with_capacity(archive.zip.len());
    for index in 0..archive.zip.len() {
        arrays.extend(archive.decode(index)?);
    }
    Ok(arrays)
}

/// Reads every array of an `.npz` file, in file order, as `f64` (keys without `.npy`).
pub fn read_npz(path: impl AsRef<Path>) -> Result<Vec<(String, ArrayD<f64>)>, IoError> {
    let arrays = read_npz_with_dtypes(path)?;
    Ok(arrays.into_iter().map(|(key, array, _)| (key, array)).collect())
}

/// Reads the one array stored under `key` (with or without the `.npy` suffix), decoding no other.
pub fn read_npz_entry(path: impl AsRef<Path>, key: &str) -> Result<(ArrayD<f64>, Dtype), IoError> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    let mut archive = Archive::open(path, &bytes)?;
    let index = archive.zip.index_for_name(&format!("{key}.npy")).or_else(|| archive.zip.index_for_name(key));
    let decoded = match index {
        Some(index) => archive.decode(index)?,
        None => None,
    };
    match decoded {
        Some((_, array, dtype)) => Ok((array, dtype)),
        None => {
            let available = archive.entry_names().iter().map(|name| key_of(name).to_owned()).collect();
            Err(IoError::KeyMissing { path: path.to_path_buf(), key: key.to_owned(), available })
        }
    }
}

/// Writes `entries` (key, array) in the given order to an `.npz` file that numpy reads with
/// `numpy.load`, as `float32` or `float64`, atomically (see [`write_atomically`]). Two entries
/// with one key are an error, found before anything is written.
pub fn write_npz<'array, I, K>(
    path: impl AsRef<Path>,
    entries: I,
    precision: Precision,
    compression: Compression,
) -> Result<(), IoError>
where
    I: IntoIterator<Item = (K, &'array ArrayD<f64>)>,
    K: AsRef<str>,
{
    let path = path.as_ref();
    let entries: Vec<(K, &ArrayD<f64>)> = entries.into_iter().collect();
    let mut seen = HashSet::new();
    if let Some((key, _)) = entries.iter().find(|(key, _)| !seen.insert(key.as_ref())) {
        let detail = format!("two arrays have the key `{}`", key.as_ref());
        return Err(IoError::Encode { path: path.to_path_buf(), detail });
    }
    write_atomically(path, |writer| {
        let mut npz = match compression {
            Compression::Stored => NpzWriter::new(writer),
            Compression::Deflated => NpzWriter::new_compressed(writer),
        };
        for (key, array) in &entries {
            let added = match precision {
                Precision::F32 => npz.add_array(key.as_ref(), &array.mapv(|value| value as f32)),
                Precision::F64 => npz.add_array(key.as_ref(), *array),
            };
            added.map_err(|error| write_error(path, error))?;
        }
        npz.finish().map(drop).map_err(|error| write_error(path, error))
    })
}

/// The array key for an entry name: numpy appends `.npy` to each key.
fn key_of(entry_name: &str) -> &str {
    entry_name.strip_suffix(".npy").unwrap_or(entry_name)
}

fn bad_archive(path: &Path, key: Option<&str>, error: ZipError) -> IoError {
    let detail = match key {
        Some(key) => format!("array `{key}`: {error}"),
        None => error.to_string(),
    };
    IoError::BadArchive { path: path.to_path_buf(), detail }
}

fn write_error(path: &Path, error: WriteNpzError) -> IoError {
    match error {
        WriteNpzError::Zip(ZipError::Io(source)) | WriteNpzError::Npy(WriteNpyError::Io(source)) => {
            IoError::Io { action: "write", path: path.to_path_buf(), source }
        }
        other => IoError::Encode { path: path.to_path_buf(), detail: other.to_string() },
    }
}

#[cfg(test)]
#[path = "npz_tests.rs"]
mod tests;
