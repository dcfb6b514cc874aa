//! Tests of `.npy` reading and writing: round trips, numpy-written layouts and dtypes, bad files.

use std::fs;
use std::path::Path;

use ndarray::{ArrayD, IxDyn};

use super::*;
use crate::io::test_files::{numpy_file, rockpool_fixture};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// `n` distinct values, not all representable in `f32`, so `f32` rounding shows.
fn sample_values(count: usize) -> Vec<f64> {
    (0..count).map(|index| 0.1 * index as f64 - 1.7).collect()
}

#[test]
fn round_trips_f64_and_f32_at_every_rank() -> TestResult {
    let folder = tempfile::tempdir()?;
    for shape in [vec![], vec![5], vec![3, 4], vec![2, 3, 4], vec![2, 1, 3, 2], vec![0, 3]] {
        let count = shape.iter().product();
        let array = ArrayD::from_shape_vec(IxDyn(&shape), sample_values(count))?;
        let path = folder.path().join("array.npy");

        write_npy(&path, &array, Precision::F64)?;
        let (read_back, dtype) = read_npy(&path)?;
        assert_eq!((&read_back, dtype), (&array, Dtype::F64), "float64, shape {shape:?}");

        write_npy(&path, &array, Precision::F32)?;
        let (read_back, dtype) = read_npy(&path)?;
        let rounded = array.mapv(|value| f64::from(value as f32));
        assert_eq!((&read_back, dtype), (&rounded, Dtype::F32), "float32, shape {shape:?}");
        // 4 bytes an element after a 128-byte header: the file really is float32.
        assert_eq!(fs::metadata(&path)?.len(), 128 + 4 * count as u64);
    }
    Ok(())
}

#[test]
fn writes_fixed_size_arrays_of_any_dimension() -> TestResult {
    let folder = tempfile::tempdir()?;
    let path = folder.path().join("matrix.npy");
    let matrix = ndarray::array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]];
    write_npy(&path, &matrix, Precision::F64)?;
    let (read_back, _) = read_npy(&path)?;
    assert_eq!(read_back, matrix.into_dyn());
    Ok(())
}

#[test]
fn reads_fortran_order_into_row_major_values() -> TestResult {
    // np.arange(6, dtype='<i4').reshape(2, 3, order='F') stores the columns one after the other.
    let data: Vec<u8> = [0_i32, 1, 2, 3, 4, 5].iter().flat_map(|value| value.to_le_bytes()).collect();
    let (array, dtype) = decode_npy(&numpy_file("<i4", true, &[2, 3], &data))?;
    assert_eq!(dtype, Dtype::I32);
    assert_eq!(array, ndarray::array![[0.0, 2.0, 4.0], [1.0, 3.0, 5.0]].into_dyn());
    assert!(array.is_standard_layout());
    assert_eq!(array.as_slice(), Some(&[0.0, 2.0, 4.0, 1.0, 3.0, 5.0][..]));
    Ok(())
}

#[test]
fn converts_integer_bool_and_big_endian_arrays_to_f64() -> TestResult {
    let int64: Vec<u8> = [-3_i64, 1 << 40].iter().flat_map(|value| value.to_le_bytes()).collect();
    let big_endian: Vec<u8> = [1.5_f64, -2.25].iter().flat_map(|value| value.to_be_bytes()).collect();
    let cases: [(&str, Vec<u8>, Dtype, Vec<f64>); 4] = [
        ("<i8", int64, Dtype::I64, vec![-3.0, 1_099_511_627_776.0]),
        ("|u1", vec![0, 255], Dtype::U8, vec![0.0, 255.0]),
        ("|b1", vec![1, 0], Dtype::Bool, vec![1.0, 0.0]),
        (">f8", big_endian, Dtype::F64, vec![1.5, -2.25]),
    ];
    for (descriptor, data, expected_dtype, expected_values) in cases {
        let (array, dtype) = decode_npy(&numpy_file(descriptor, false, &[2], &data))?;
        assert_eq!(dtype, expected_dtype, "{descriptor}");
        assert_eq!(array.into_raw_vec_and_offset().0, expected_values, "{descriptor}");
    }
    Ok(())
}

#[test]
fn reads_the_rockpool_input_signal() -> TestResult {
    let (input, dtype) = read_npy(rockpool_fixture("input.npy"))?;
    assert_eq!((input.shape(), dtype), (&[3000, 1][..], Dtype::F32));
    // The chirp task's input is one 50-step pulse of ones at the start of the middle third.
    let pulse: Vec<usize> = input.iter().enumerate().filter(|(_, value)| **value != 0.0).map(|(t, _)| t).collect();
    assert_eq!(pulse, (1000..1050).collect::<Vec<_>>());
    assert!(input.iter().all(|value| *value == 0.0 || *value == 1.0));
    Ok(())
}

/// Writes `bytes` to `case.npy` in a temporary folder and returns the error reading it gives, with
/// the path made relative to the folder so messages can be compared.
fn read_error(bytes: &[u8]) -> Result<IoError, Box<dyn std::error::Error>> {
    let folder = tempfile::tempdir()?;
    let path = folder.path().join("case.npy");
    fs::write(&path, bytes)?;
    let error = read_npy(&path).err().ok_or("the bytes were read as an array")?;
    let relative = |path: &Path| path.strip_prefix(folder.path()).unwrap_or(path).to_path_buf();
    Ok(match error {
        IoError::BadArray { path, entry, problem } => IoError::BadArray { path: relative(&path), entry, problem },
        IoError::WrongKind { path, expected, found } => IoError::WrongKind { path: relative(&path), expected, found },
        other => other,
    })
}

#[test]
fn a_truncated_file_says_how_much_data_is_missing() -> TestResult {
    let whole = fs::read(rockpool_fixture("input.npy"))?;
    let error = read_error(&whole[..128 + 5000])?;
    assert_eq!(
        error.to_string(),
        "`case.npy`: truncated: the header declares shape [3000, 1] of float32 \
         (12000 bytes of data) but only 5000 bytes follow"
    );
    let error = read_error(&whole[..40])?;
    assert_eq!(error.to_string(), "`case.npy`: bad .npy header: the header is cut short");
    Ok(())
}

#[test]
fn wrong_files_are_named_not_parsed() -> TestResult {
    let mut hdf5 = b"\x89HDF\r\n\x1a\n".to_vec();
    hdf5.extend_from_slice(&[0; 64]);
    let error = read_error(&hdf5)?;
    assert!(matches!(&error, IoError::WrongKind { found: FileKind::Hdf5, .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "`case.npy` is not an .npy file: it looks like an HDF5 file (the format of NIR graphs \
         and Lava-DL networks), which reef does not read"
    );

    let error = read_error(b"time,value\n0,1\n")?;
    assert_eq!(error.to_string(), "`case.npy` is not an .npy file: it looks like text starting with \"time,value\"");
    let error = read_error(b"")?;
    assert!(matches!(error, IoError::WrongKind { found: FileKind::Empty, .. }));
    let npz = fs::read(rockpool_fixture("params.npz"))?;
    let error = read_error(&npz)?;
    assert!(matches!(error, IoError::WrongKind { found: FileKind::Zip, .. }));

    let missing = read_npy("/nonexistent/reef/input.npy").err().ok_or("missing file read")?;
    assert_eq!(missing.to_string(), "`/nonexistent/reef/input.npy` does not exist");
    Ok(())
}

#[test]
fn undecodable_arrays_get_a_typed_problem() -> TestResult {
    let problem = |bytes: Vec<u8>| decode_npy(&bytes).err();
    assert_eq!(
        problem(numpy_file("<f2", false, &[2], &[0; 4])),
        Some(ArrayProblem::UnsupportedDtype { descriptor: "<f2".into() })
    );
    assert_eq!(
        problem(numpy_file("<f4", false, &[1], &[0; 6])),
        Some(ArrayProblem::TrailingBytes { shape: vec![1], dtype: Dtype::F32, extra_bytes: 2 })
    );
    assert!(matches!(problem(numpy_file("|b1", false, &[1], &[2])), Some(ArrayProblem::InvalidData { .. })));
    assert!(matches!(
        problem(numpy_file("<f8", false, &[usize::MAX, 2], &[])),
        Some(ArrayProblem::ShapeTooLarge { .. })
    ));
    let mut garbled = numpy_file("<f8", false, &[1], &[0; 8]);
    garbled[12] = b'[';
    assert!(matches!(problem(garbled), Some(ArrayProblem::Header { .. })));
    Ok(())
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(64))]

    /// Any `f64` (NaN payloads and infinities too) at any shape comes back bit for bit.
    #[test]
    fn f64_values_round_trip_bit_for_bit(
        shape in proptest::collection::vec(0_usize..4, 0..4),
        pool in proptest::collection::vec(proptest::num::f64::ANY, 27),
    ) {
        let count: usize = shape.iter().product();
        let array = ArrayD::from_shape_vec(IxDyn(&shape), pool[..count].to_vec())?;
        let folder = tempfile::tempdir()?;
        let path = folder.path().join("any.npy");
        write_npy(&path, &array, Precision::F64)?;
        let (read_back, dtype) = read_npy(&path)?;
        proptest::prop_assert_eq!(dtype, Dtype::F64);
        proptest::prop_assert_eq!(read_back.shape(), array.shape());
        let bits = |values: &ArrayD<f64>| values.iter().map(|value| value.to_bits()).collect::<Vec<_>>();
        proptest::prop_assert_eq!(bits(&read_back), bits(&array));
    }

    /// A valid file cut anywhere, with any bytes overwritten, decodes or fails; it never panics.
    #[test]
    fn damaged_npy_bytes_are_errors_not_panics(
        cut in 0_usize..200,
        overwrites in proptest::collection::vec((0_usize..200, proptest::num::u8::ANY), 0..4),
    ) {
        let mut bytes = numpy_file("<f8", true, &[3, 2], &[0x3f; 48]);
        for (position, value) in overwrites {
            if let Some(byte) = bytes.get_mut(position) {
                *byte = value;
            }
        }
        bytes.truncate(cut);
        let _ = decode_npy(&bytes);
    }

    /// Arbitrary bytes after the magic string never panic the header parser.
    #[test]
    fn arbitrary_headers_are_errors_not_panics(rest in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
        let mut bytes = b"\x93NUMPY".to_vec();
        bytes.extend_from_slice(&rest);
        let _ = decode_npy(&bytes);
    }
}
