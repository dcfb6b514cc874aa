//! Tests of `.npz` reading and writing: round trips, the Rockpool fixture, damaged archives.

use std::fs;
use std::io::Write;

use ndarray::{ArrayD, IxDyn};
use zip::ZipWriter;
use zip::write::SimpleFileOptions;

use super::*;
use crate::io::ArrayProblem;
use crate::io::test_files::{numpy_file, rockpool_fixture};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Arrays of ranks 0 to 3 under keys that are not in sorted order, like reef's parameter names.
fn sample_entries() -> Result<Vec<(String, ArrayD<f64>)>, ndarray::ShapeError> {
    let shapes: [(&str, &[usize]); 4] =
        [("2_Linear.weight", &[3, 2]), ("1_Rate.tau", &[4]), ("scale", &[]), ("1_Rate.w_rec", &[2, 2, 3])];
    shapes
        .iter()
        .map(|(key, shape)| {
            let count = shape.iter().product::<usize>();
            let values = (0..count).map(|index| 0.3 * index as f64 - 0.7).collect();
            Ok((key.to_string(), ArrayD::from_shape_vec(IxDyn(shape), values)?))
        })
        .collect()
}

#[test]
fn round_trips_keys_order_values_and_dtypes() -> TestResult {
    let folder = tempfile::tempdir()?;
    let path = folder.path().join("params.npz");
    let entries = sample_entries()?;
    for compression in [Compression::Stored, Compression::Deflated] {
        for precision in [Precision::F32, Precision::F64] {
            write_npz(&path, entries.iter().map(|(key, array)| (key, array)), precision, compression)?;
            let read_back = read_npz_with_dtypes(&path)?;
            let keys: Vec<&str> = read_back.iter().map(|(key, _, _)| key.as_str()).collect();
            assert_eq!(keys, ["2_Linear.weight", "1_Rate.tau", "scale", "1_Rate.w_rec"]);
            for ((_, written), (key, read, dtype)) in entries.iter().zip(&read_back) {
                let expected = match precision {
                    Precision::F32 => written.mapv(|value| f64::from(value as f32)),
                    Precision::F64 => written.clone(),
                };
                assert_eq!((read, *dtype), (&expected, precision.dtype()), "{key} {precision:?} {compression:?}");
            }
        }
    }
    Ok(())
}

#[test]
fn reads_the_rockpool_parameters_with_their_shapes() -> TestResult {
    let expected: [(&str, &[usize]); 6] = [
        ("0_LinearJax.weight", &[1, 50]),
        ("1_RateJax.bias", &[50]),
        ("1_RateJax.tau", &[50]),
        ("1_RateJax.threshold", &[50]),
        ("1_RateJax.w_rec", &[50, 50]),
        ("2_LinearJax.weight", &[50, 1]),
    ];
    for file in ["params.npz", "grads.npz"] {
        let arrays = read_npz_with_dtypes(rockpool_fixture(file))?;
        let found: Vec<(&str, &[usize], Dtype)> =
            arrays.iter().map(|(key, array, dtype)| (key.as_str(), array.shape(), *dtype)).collect();
        let wanted: Vec<(&str, &[usize], Dtype)> =
            expected.iter().map(|(key, shape)| (*key, *shape, Dtype::F32)).collect();
        assert_eq!(found, wanted, "{file}");
        assert!(arrays.iter().all(|(_, array, _)| array.iter().all(|value| value.is_finite())));
    }
    // Rockpool's rate neurons start at tau = 20 ms.
    let (tau, _) = read_npz_entry(rockpool_fixture("params.npz"), "1_RateJax.tau")?;
    assert!(tau.iter().all(|value| (value - 0.02).abs() < 1e-6), "{tau}");
    Ok(())
}

#[test]
fn a_missing_key_lists_the_keys_there_are() -> TestResult {
    let error = read_npz_entry(rockpool_fixture("grads.npz"), "1_RateJax.w").err().ok_or("found a missing key")?;
    let IoError::KeyMissing { key, available, .. } = &error else {
        return Err(format!("{error:?}").into());
    };
    assert_eq!(key, "1_RateJax.w");
    assert_eq!(available.len(), 6);
    assert!(error.to_string().ends_with(
        "holds no array named `1_RateJax.w` (it holds `0_LinearJax.weight`, `1_RateJax.bias`, \
         `1_RateJax.tau`, `1_RateJax.threshold`, `1_RateJax.w_rec`, `2_LinearJax.weight`)"
    ));
    // The `.npy` suffix numpy adds may be given or not.
    assert_eq!(read_npz_entry(rockpool_fixture("grads.npz"), "1_RateJax.w_rec.npy")?.0.shape(), [50, 50]);
    Ok(())
}

/// Writes a zip archive with the given (file name, bytes) entries.
fn zip_file(entries: &[(&str, Vec<u8>)]) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut zip = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        zip.start_file(*name, SimpleFileOptions::default())?;
        zip.write_all(bytes)?;
    }
    Ok(zip.finish()?.into_inner())
}

/// Writes `bytes` to `case.npz` in a temporary folder and returns the error reading it gives.
fn read_error(bytes: &[u8]) -> Result<IoError, Box<dyn std::error::Error>> {
    let folder = tempfile::tempdir()?;
    let path = folder.path().join("case.npz");
    fs::write(&path, bytes)?;
    Ok(read_npz(&path).err().ok_or("the bytes were read as an archive")?)
}

#[test]
fn damaged_archives_and_entries_are_typed_errors() -> TestResult {
    let whole = fs::read(rockpool_fixture("params.npz"))?;
    let error = read_error(&whole[..whole.len() / 2])?;
    assert!(matches!(error, IoError::BadArchive { .. }), "{error:?}");

    let good = numpy_file("<f4", false, &[2], &[0; 8]);
    let cut = numpy_file("<f4", false, &[3], &[0; 8]);
    let error = read_error(&zip_file(&[("good.npy", good.clone()), ("cut.npy", cut)])?)?;
    let IoError::BadArray { entry, problem, .. } = &error else {
        return Err(format!("{error:?}").into());
    };
    assert_eq!(entry.as_deref(), Some("cut"));
    assert!(matches!(problem, ArrayProblem::Truncated { expected_bytes: 12, found_bytes: 8, .. }));
    assert!(error.to_string().ends_with(
        "case.npz`, array `cut`: truncated: the header declares shape [3] of float32 \
         (12 bytes of data) but only 8 bytes follow"
    ));

    let error = read_error(&zip_file(&[("good.npy", good), ("notes.txt", b"trained on Monday".to_vec())])?)?;
    assert!(
        matches!(&error, IoError::BadArray { entry: Some(key), problem: ArrayProblem::NotNpy { .. }, .. } if key == "notes.txt"),
        "{error:?}"
    );

    let mut hdf5 = b"\x89HDF\r\n\x1a\n".to_vec();
    hdf5.resize(96, 0);
    assert!(matches!(read_error(&hdf5)?, IoError::WrongKind { found: FileKind::Hdf5, .. }));
    let npy = fs::read(rockpool_fixture("input.npy"))?;
    assert!(matches!(read_error(&npy)?, IoError::WrongKind { found: FileKind::Npy, .. }));
    assert!(matches!(read_npz("/nonexistent/reef/params.npz"), Err(IoError::Missing { .. })));
    Ok(())
}

#[test]
fn duplicate_keys_fail_before_touching_the_old_file() -> TestResult {
    let folder = tempfile::tempdir()?;
    let path = folder.path().join("params.npz");
    fs::write(&path, b"old")?;
    let array = ArrayD::zeros(IxDyn(&[2]));
    let result = write_npz(&path, [("w", &array), ("w", &array)], Precision::F32, Compression::Stored);
    assert!(matches!(&result, Err(IoError::Encode { detail, .. }) if detail == "two arrays have the key `w`"));
    assert_eq!(fs::read(&path)?, b"old");
    assert_eq!(fs::read_dir(folder.path())?.count(), 1);
    Ok(())
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(128))]

    /// Rockpool's archive cut anywhere, with any bytes overwritten, reads or fails; it never panics.
    #[test]
    fn damaged_archives_are_errors_not_panics(
        cut_fraction in 0.0_f64..=1.0,
        overwrites in proptest::collection::vec((0.0_f64..1.0, proptest::num::u8::ANY), 0..6),
    ) {
        let mut bytes = fs::read(rockpool_fixture("params.npz"))?;
        let length = bytes.len() as f64;
        for (position, value) in overwrites {
            bytes[(position * length) as usize] = value;
        }
        bytes.truncate((cut_fraction * length) as usize);
        let _ = decode_npz(std::path::Path::new("fuzzed.npz"), &bytes);
    }
}
