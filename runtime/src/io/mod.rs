//! `.npy` / `.npz` files ↔ `ArrayD<f64>`: reading numpy's array files and writing them atomically.
//!
//! Everything inside reef is `f64`; files may store `float32`, `float64`, integers or `bool`
//! (converted to `f64` on reading, with the stored [`Dtype`] reported) and are written as
//! `float32` or `float64` ([`Precision`]). Arrays come back in row-major (C) memory order whatever
//! order the file used.
//!
//! ```
//! # use ndarray::ArrayD;
//! # use reef_runtime::io::{read_npy, write_npy, Dtype, Precision};
//! # let folder = tempfile::tempdir()?;
//! let path = folder.path().join("signal.npy");
//! let signal = ArrayD::from_shape_vec(vec![2, 3], vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5])?;
//! write_npy(&path, &signal, Precision::F32)?;
//! let (read_back, dtype) = read_npy(&path)?;
//! assert_eq!((read_back, dtype), (signal, Dtype::F32));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Every write goes through [`write_atomically`]: a reader never sees a half-written file,
//! and a failed write leaves the previous file as it was. Nothing here panics on file contents:
//! every problem is an [`IoError`] naming the file (and the array inside an `.npz`).

mod atomic;
mod error;
mod kind;
mod npy;
mod npz;
#[cfg(test)]
pub(crate) mod test_files;

pub use atomic::write_atomically;
pub use error::{ArrayProblem, IoError};
pub use kind::{FileKind, sniff};
pub use npy::{decode_npy, read_npy, write_npy};
pub use npz::{Compression, read_npz, read_npz_entry, read_npz_with_dtypes, write_npz};

use std::fmt;

/// The element type stored in an `.npy` array (numpy's `dtype`), reported by the readers so a
/// caller can tell a `float32` file from a `float64` one after both became `f64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// `float32` (`<f4`).
    F32,
    /// `float64` (`<f8`).
    F64,
    /// `int8` (`|i1`).
    I8,
    /// `int16` (`<i2`).
    I16,
    /// `int32` (`<i4`).
    I32,
    /// `int64` (`<i8`); values beyond ±2⁵³ lose precision as `f64`.
    I64,
    /// `uint8` (`|u1`).
    U8,
    /// `uint16` (`<u2`).
    U16,
    /// `uint32` (`<u4`).
    U32,
    /// `uint64` (`<u8`); values beyond 2⁵³ lose precision as `f64`.
    U64,
    /// `bool` (`|b1`), read as 0.0 / 1.0.
    Bool,
}

impl Dtype {
    /// Parses a numpy type descriptor such as `<f4`, `>f8` or `|b1` (either byte order);
    /// `None` for anything reef does not read (float16, complex, strings, structured types).
    pub fn from_descriptor(descriptor: &str) -> Option<Dtype> {
        let code = descriptor.strip_prefix(['<', '>', '|']).unwrap_or(descriptor);
        let dtype = match code {
            "f4" => Dtype::F32,
            "f8" => Dtype::F64,
            "i1" => Dtype::I8,
            "i2" => Dtype::I16,
            "i4" => Dtype::I32,
            "i8" => Dtype::I64,
            "u1" => Dtype::U8,
            "u2" => Dtype::U16,
            "u4" => Dtype::U32,
            "u8" => Dtype::U64,
            "b1" => Dtype::Bool,
            _ => return None,
        };
        Some(dtype)
    }

    /// Bytes per element in the file.
    pub fn size_in_bytes(self) -> usize {
        match self {
            Dtype::I8 | Dtype::U8 | Dtype::Bool => 1,
            Dtype::I16 | Dtype::U16 => 2,
            Dtype::F32 | Dtype::I32 | Dtype::U32 => 4,
            Dtype::F64 | Dtype::I64 | Dtype::U64 => 8,
        }
    }

    /// numpy's name for the type (`float32`, `int64`, `bool`, ...), used in messages.
    pub fn numpy_name(self) -> &'static str {
        match self {
            Dtype::F32 => "float32",
            Dtype::F64 => "float64",
            Dtype::I8 => "int8",
            Dtype::I16 => "int16",
            Dtype::I32 => "int32",
            Dtype::I64 => "int64",
            Dtype::U8 => "uint8",
            Dtype::U16 => "uint16",
            Dtype::U32 => "uint32",
            Dtype::U64 => "uint64",
            Dtype::Bool => "bool",
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.numpy_name())
    }
}

/// The floating-point type an array is written as. `F32` rounds each value to the nearest
/// `f32` (values beyond `f32::MAX` become ±inf); `F64` is exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Precision {
    /// Write `float32` (`<f4`), what Rockpool and JAX use by default.
    F32,
    /// Write `float64` (`<f8`).
    F64,
}

impl Precision {
    /// The [`Dtype`] a file written with this precision reads back as.
    pub fn dtype(self) -> Dtype {
        match self {
            Precision::F32 => Dtype::F32,
            Precision::F64 => Dtype::F64,
        }
    }
}
