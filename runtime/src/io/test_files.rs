//! Files the tests of `io` and `params` read: the Rockpool fixture and numpy-format bytes.

use std::path::{Path, PathBuf};

/// Path of a file of the Rockpool fixture (`tests/fixtures/rockpool/chirp_rate/` at the workspace
/// root): arrays numpy wrote for Rockpool's chirp rate network.
pub(crate) fn rockpool_fixture(file_name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/rockpool/chirp_rate").join(file_name)
}

/// The bytes numpy's `np.save` writes (format 1.0): magic, version, header length, a Python dict
/// padded with spaces to a multiple of 64 bytes, then the raw data.
pub(crate) fn numpy_file(descriptor: &str, fortran_order: bool, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let lengths: Vec<String> = shape.iter().map(usize::to_string).collect();
    let shape_text = match lengths.as_slice() {
        [single] => format!("({single},)"),
        _ => format!("({})", lengths.join(", ")),
    };
    let order = if fortran_order { "True" } else { "False" };
    let mut header = format!("{{'descr': '{descriptor}', 'fortran_order': {order}, 'shape': {shape_text}, }}");
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}
