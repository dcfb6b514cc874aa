//! `.npy` bytes ↔ `ArrayD<f64>`: numpy's single-array format, any rank, C or Fortran order.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use ndarray::{ArrayD, ArrayRef, Dimension, IxDyn, ShapeBuilder};
use ndarray_npy::npy::header::{Header, ReadHeaderError};
use ndarray_npy::{ReadableElement, WriteNpyError, WriteNpyExt};

use crate::io::{ArrayProblem, Dtype, FileKind, IoError, Precision, sniff, write_atomically};

/// Reads an `.npy` file into `f64` values (row-major) and the element type it stored.
pub fn read_npy(path: impl AsRef<Path>) -> Result<(ArrayD<f64>, Dtype), IoError> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    decode_npy(&bytes).map_err(|problem| match problem {
        ArrayProblem::NotNpy { found } => {
            IoError::WrongKind { path: path.to_path_buf(), expected: "an .npy file", found }
        }
        problem => IoError::BadArray { path: path.to_path_buf(), entry: None, problem },
    })
}

/// Writes `array` to an `.npy` file as `float32` or `float64`, atomically (see [`write_atomically`]).
pub fn write_npy<D: Dimension>(
    path: impl AsRef<Path>,
    array: &ArrayRef<f64, D>,
    precision: Precision,
) -> Result<(), IoError> {
    let path = path.as_ref();
    write_atomically(path, |writer| {
        let written = match precision {
            Precision::F32 => array.mapv(|value| value as f32).write_npy(writer),
            Precision::F64 => array.write_npy(writer),
        };
        written.map_err(|error| write_error(path, error))
    })
}

/// Decodes the bytes of one `.npy` array (a file's or an `.npz` entry's) into `f64` values in
/// row-major order and the stored element type.
pub fn decode_npy(bytes: &[u8]) -> Result<(ArrayD<f64>, Dtype), ArrayProblem> {
    let found = sniff(bytes);
    if found != FileKind::Npy {
        return Err(ArrayProblem::NotNpy { found });
    }
    let mut data = bytes;
    let header = Header::from_reader(&mut data).map_err(header_problem)?;
    let descriptor = header.type_descriptor.as_string().map(String::as_str);
    let Some(dtype) = descriptor.and_then(Dtype::from_descriptor) else {
        let descriptor = descriptor.map_or_else(|| header.type_descriptor.to_string(), str::to_owned);
        return Err(ArrayProblem::UnsupportedDtype { descriptor });
    };

    let shape = header.shape.clone();
    let element_count = shape.iter().try_fold(1_usize, |count, &length| count.checked_mul(length));
    let Some((element_count, expected_bytes)) =
        element_count.and_then(|count| Some((count, count.checked_mul(dtype.size_in_bytes())?)))
    else {
        return Err(ArrayProblem::ShapeTooLarge { shape });
    };
    if data.len() < expected_bytes {
        return Err(ArrayProblem::Truncated { shape, dtype, expected_bytes, found_bytes: data.len() });
    }
    if data.len() > expected_bytes {
        return Err(ArrayProblem::TrailingBytes { shape, dtype, extra_bytes: data.len() - expected_bytes });
    }

    let values = match dtype {
        Dtype::F32 => convert::<f32>(data, &header, element_count, f64::from),
        Dtype::F64 => convert(data, &header, element_count, |value: f64| value),
        Dtype::I8 => convert::<i8>(data, &header, element_count, f64::from),
        Dtype::I16 => convert::<i16>(data, &header, element_count, f64::from),
        Dtype::I32 => convert::<i32>(data, &header, element_count, f64::from),
        Dtype::I64 => convert(data, &header, element_count, |value: i64| value as f64),
        Dtype::U8 => convert::<u8>(data, &header, element_count, f64::from),
        Dtype::U16 => convert::<u16>(data, &header, element_count, f64::from),
        Dtype::U32 => convert::<u32>(data, &header, element_count, f64::from),
        Dtype::U64 => convert(data, &header, element_count, |value: u64| value as f64),
        Dtype::Bool => convert(data, &header, element_count, |value: bool| f64::from(u8::from(value))),
    }?;

    let array = if header.layout.is_fortran() {
        ArrayD::from_shape_vec(IxDyn(&shape).f(), values).map(|array| array.as_standard_layout().into_owned())
    } else {
        ArrayD::from_shape_vec(IxDyn(&shape), values)
    };
    let array = array.map_err(|error| ArrayProblem::InvalidData { detail: error.to_string() })?;
    Ok((array, dtype))
}

/// Reads the elements as `T` (the byte order comes from the header) and widens them to `f64`.
fn convert<T: ReadableElement>(
    data: &[u8],
    header: &Header,
    element_count: usize,
    to_f64: impl Fn(T) -> f64,
) -> Result<Vec<f64>, ArrayProblem> {
    let elements = T::read_to_end_exact_vec(data, &header.type_descriptor, element_count)
        .map_err(|error| ArrayProblem::InvalidData { detail: error.to_string() })?;
    Ok(elements.into_iter().map(to_f64).collect())
}

fn header_problem(error: ReadHeaderError) -> ArrayProblem {
    let detail = match error {
        ReadHeaderError::Io(error) if error.kind() == ErrorKind::UnexpectedEof => "the header is cut short".to_owned(),
        ReadHeaderError::Io(error) => error.to_string(),
        ReadHeaderError::Parse(error) => error.to_string(),
    };
    ArrayProblem::Header { detail }
}

/// Reads a whole file, reporting a missing one as [`IoError::Missing`].
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, IoError> {
    fs::read(path).map_err(|source| match source.kind() {
        ErrorKind::NotFound => IoError::Missing { path: path.to_path_buf() },
        _ => IoError::Io { action: "read", path: path.to_path_buf(), source },
    })
}

fn write_error(path: &Path, error: WriteNpyError) -> IoError {
    match error {
        WriteNpyError::Io(source) => IoError::Io { action: "write", path: path.to_path_buf(), source },
        other => IoError::Encode { path: path.to_path_buf(), detail: other.to_string() },
    }
}

#[cfg(test)]
#[path = "npy_tests.rs"]
mod tests;
