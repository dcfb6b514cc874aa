//! First bytes → what kind of file this is, so a wrong file is named ("an HDF5 file") rather than
//! reported as a parse error at byte 0.

use std::fmt;

/// The magic bytes that open every `.npy` file.
const NPY_MAGIC: &[u8] = b"\x93NUMPY";
/// HDF5's signature; it sits at offset 0 or, after a user block, at 512, 1024, 2048, ...
const HDF5_MAGIC: &[u8] = b"\x89HDF\r\n\x1a\n";
/// A zip archive's first local header, or the end record of an empty archive.
const ZIP_MAGICS: [&[u8]; 2] = [b"PK\x03\x04", b"PK\x05\x06"];
const GZIP_MAGIC: &[u8] = b"\x1f\x8b";
/// How much of a text file an error message quotes.
const QUOTED_TEXT_CHARACTERS: usize = 40;
/// How many leading bytes of an unknown binary file an error message shows.
const SHOWN_BINARY_BYTES: usize = 8;

/// What a file looks like from its first bytes; its `Display` completes "it looks like ...".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A numpy `.npy` array.
    Npy,
    /// A zip archive, which is what an `.npz` file is.
    Zip,
    /// An HDF5 file, the container of NIR graphs and of Lava-DL networks (which end in `.net`).
    Hdf5,
    /// gzip-compressed data.
    Gzip,
    /// A file with no bytes at all.
    Empty,
    /// Readable text; holds the start of its first line.
    Text {
        /// Up to 40 characters of the first line.
        start: String,
    },
    /// Binary data of no kind reef knows; holds the first bytes.
    Binary {
        /// Up to 8 leading bytes.
        first_bytes: Vec<u8>,
    },
}

/// Tells what kind of file `bytes` (the whole file, or at least its first few kilobytes) is.
pub fn sniff(bytes: &[u8]) -> FileKind {
    if bytes.is_empty() {
        return FileKind::Empty;
    }
    if bytes.starts_with(NPY_MAGIC) {
        return FileKind::Npy;
    }
    if ZIP_MAGICS.iter().any(|magic| bytes.starts_with(magic)) {
        return FileKind::Zip;
    }
    if is_hdf5(bytes) {
        return FileKind::Hdf5;
    }
    if bytes.starts_with(GZIP_MAGIC) {
        return FileKind::Gzip;
    }
    match text_start(bytes) {
        Some(start) => FileKind::Text { start },
        None => FileKind::Binary { first_bytes: bytes.iter().copied().take(SHOWN_BINARY_BYTES).collect() },
    }
}

fn is_hdf5(bytes: &[u8]) -> bool {
    std::iter::once(0)
        .chain((0..8).map(|power| 512_usize << power))
        .any(|offset| bytes.get(offset..).is_some_and(|rest| rest.starts_with(HDF5_MAGIC)))
}

/// The start of the first line if the file's first bytes are text (UTF-8 without control
/// characters other than whitespace), else `None`.
fn text_start(bytes: &[u8]) -> Option<String> {
    let prefix = &bytes[..bytes.len().min(256)];
    let text = match std::str::from_utf8(prefix) {
        Ok(text) => text,
        // A multi-byte character cut by the prefix is still text.
        Err(error) if error.error_len().is_none() && error.valid_up_to() > 0 => {
            std::str::from_utf8(&prefix[..error.valid_up_to()]).ok()?
        }
        Err(_) => return None,
    };
    if text.chars().any(|character| character.is_control() && !character.is_whitespace()) {
        return None;
    }
    let first_line = text.lines().find(|line| !line.trim().is_empty()).unwrap_or("");
    Some(first_line.trim().chars().take(QUOTED_TEXT_CHARACTERS).collect())
}

impl fmt::Display for FileKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileKind::Npy => formatter.write_str("a numpy .npy array"),
            FileKind::Zip => formatter.write_str("a zip archive (an .npz file?)"),
            FileKind::Hdf5 => formatter
                .write_str("an HDF5 file (the format of NIR graphs and Lava-DL networks), which reef does not read"),
            FileKind::Gzip => formatter.write_str("gzip-compressed data"),
            FileKind::Empty => formatter.write_str("an empty file"),
            FileKind::Text { start } => write!(formatter, "text starting with \"{start}\""),
            FileKind::Binary { first_bytes } => {
                formatter.write_str("binary data starting with bytes")?;
                for byte in first_bytes {
                    write!(formatter, " {byte:02x}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_each_kind_from_its_first_bytes() {
        assert_eq!(sniff(b"\x93NUMPY\x01\x00"), FileKind::Npy);
        assert_eq!(sniff(b"PK\x03\x04rest"), FileKind::Zip);
        assert_eq!(sniff(b"\x89HDF\r\n\x1a\n\x00\x00"), FileKind::Hdf5);
        assert_eq!(sniff(b"\x1f\x8b\x08"), FileKind::Gzip);
        assert_eq!(sniff(b""), FileKind::Empty);
        assert_eq!(sniff(b"\n  network chirp {\n"), FileKind::Text { start: "network chirp {".into() });
        assert_eq!(
            sniff(&[0, 1, 2, 0xff, 4, 5, 6, 7, 8, 9]),
            FileKind::Binary { first_bytes: vec![0, 1, 2, 0xff, 4, 5, 6, 7] }
        );
    }

    #[test]
    fn finds_hdf5_after_a_user_block() {
        let mut bytes = vec![0_u8; 512];
        bytes.extend_from_slice(HDF5_MAGIC);
        assert_eq!(sniff(&bytes), FileKind::Hdf5);
    }

    #[test]
    fn messages_say_what_the_file_is() {
        assert_eq!(
            FileKind::Binary { first_bytes: vec![0xca, 0xfe] }.to_string(),
            "binary data starting with bytes ca fe"
        );
        assert!(FileKind::Hdf5.to_string().contains("NIR"));
        // A text file cut in the middle of a multi-byte character is still text.
        let text = format!("a{}", "é".repeat(200));
        assert!(matches!(sniff(text.as_bytes()), FileKind::Text { .. }));
    }
}
