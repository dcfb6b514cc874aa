//! What can go wrong reading or writing array files, as values that name the file and the array.

use std::path::PathBuf;

use thiserror::Error;

use crate::io::{Dtype, FileKind};

/// An error reading or writing an `.npy` / `.npz` file; every variant names the file.
#[derive(Debug, Error)]
pub enum IoError {
    /// The file (or a folder on its path) does not exist.
    #[error("`{}` does not exist", .path.display())]
    Missing {
        /// The file asked for.
        path: PathBuf,
    },
    /// The operating system refused an operation (permissions, a full disk, a folder in the way).
    #[error("cannot {action} `{}`: {source}", .path.display())]
    Io {
        /// What was being done: "read", "create a temporary file beside", "rename onto", ...
        action: &'static str,
        /// The file acted on.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is not of the expected format; `found` says what it looks like instead.
    #[error("`{}` is not {expected}: it looks like {found}", .path.display())]
    WrongKind {
        /// The file read.
        path: PathBuf,
        /// "an .npy file" or "an .npz file".
        expected: &'static str,
        /// What the first bytes look like (HDF5, text, ...).
        found: FileKind,
    },
    /// The file (or one array inside an `.npz`) is an `.npy` array reef cannot decode.
    #[error("`{}`{}: {problem}", .path.display(), entry_label(.entry.as_deref()))]
    BadArray {
        /// The file read.
        path: PathBuf,
        /// The array's key inside an `.npz`; `None` for an `.npy` file.
        entry: Option<String>,
        /// What is wrong with it.
        problem: ArrayProblem,
    },
    /// The file starts like a zip archive but its structure is damaged or cut short.
    #[error("`{}` is a damaged or truncated .npz archive: {detail}", .path.display())]
    BadArchive {
        /// The file read.
        path: PathBuf,
        /// The zip reader's explanation.
        detail: String,
    },
    /// An `.npz` file holds no array under the requested key.
    #[error("`{}` holds no array named `{key}` (it holds {})", .path.display(), key_list(.available))]
    KeyMissing {
        /// The file read.
        path: PathBuf,
        /// The key asked for.
        key: String,
        /// The keys the file does hold, in file order.
        available: Vec<String>,
    },
    /// Encoding the arrays failed before the file was complete (e.g. two arrays with one key).
    #[error("cannot write `{}`: {detail}", .path.display())]
    Encode {
        /// The file that was being written (it was left as it was).
        path: PathBuf,
        /// The encoder's explanation.
        detail: String,
    },
}

/// What is wrong with one `.npy` array (the file or `.npz` entry is named by [`IoError::BadArray`]).
#[derive(Clone, Debug, PartialEq, Error)]
pub enum ArrayProblem {
    /// An `.npz` entry is not an `.npy` array.
    #[error("not an .npy array: it looks like {found}")]
    NotNpy {
        /// What the entry's bytes look like instead.
        found: FileKind,
    },
    /// The header dictionary is cut short or malformed.
    #[error("bad .npy header: {detail}")]
    Header {
        /// The header parser's explanation.
        detail: String,
    },
    /// The element type is one reef does not read.
    #[error("unsupported dtype `{descriptor}`{}; reef reads float32, float64, integers and bool", dtype_meaning(.descriptor))]
    UnsupportedDtype {
        /// numpy's type descriptor as stored, e.g. `<f2` or `<c16`.
        descriptor: String,
    },
    /// The data ends before the number of elements the header declares.
    #[error(
        "truncated: the header declares shape {shape:?} of {dtype} ({expected_bytes} bytes of data) but only {found_bytes} bytes follow"
    )]
    Truncated {
        /// The declared shape.
        shape: Vec<usize>,
        /// The declared element type.
        dtype: Dtype,
        /// Bytes the shape and dtype need.
        expected_bytes: usize,
        /// Bytes present after the header.
        found_bytes: usize,
    },
    /// Bytes follow the data the header declares, so the header and data disagree.
    #[error("{extra_bytes} bytes follow the data the header declares (shape {shape:?} of {dtype})")]
    TrailingBytes {
        /// The declared shape.
        shape: Vec<usize>,
        /// The declared element type.
        dtype: Dtype,
        /// Bytes beyond the declared data.
        extra_bytes: usize,
    },
    /// The shape's element count does not fit in memory sizes.
    #[error("the shape {shape:?} is too large")]
    ShapeTooLarge {
        /// The declared shape.
        shape: Vec<usize>,
    },
    /// The data bytes are not valid for the dtype (a `bool` byte other than 0 or 1).
    #[error("invalid data: {detail}")]
    InvalidData {
        /// The decoder's explanation.
        detail: String,
    },
}

fn entry_label(entry: Option<&str>) -> String {
    entry.map(|key| format!(", array `{key}`")).unwrap_or_default()
}

fn key_list(keys: &[String]) -> String {
    if keys.is_empty() {
        return "no arrays".to_owned();
    }
    let quoted: Vec<String> = keys.iter().map(|key| format!("`{key}`")).collect();
    quoted.join(", ")
}

/// A plain-words reading of descriptors numpy users meet, e.g. " (float16)".
fn dtype_meaning(descriptor: &str) -> String {
    let code = descriptor.trim_start_matches(['<', '>', '|', '=']);
    let meaning = match code.chars().next() {
        Some('f') => format!("float{}", bits(code)),
        Some('c') => format!("complex{}", bits(code)),
        Some('U') => "unicode strings".to_owned(),
        Some('S') => "byte strings".to_owned(),
        Some('O') => "Python objects".to_owned(),
        Some('M' | 'm') => "dates or times".to_owned(),
        Some('[') => "a structured dtype".to_owned(),
        _ => return String::new(),
    };
    format!(" ({meaning})")
}

fn bits(code: &str) -> String {
    code[1..].parse::<usize>().map(|bytes| (8 * bytes).to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_file_the_array_and_the_problem() {
        let error = IoError::BadArray {
            path: PathBuf::from("params.npz"),
            entry: Some("1_Rate.tau".into()),
            problem: ArrayProblem::UnsupportedDtype { descriptor: "<f2".into() },
        };
        assert_eq!(
            error.to_string(),
            "`params.npz`, array `1_Rate.tau`: unsupported dtype `<f2` (float16); \
             reef reads float32, float64, integers and bool"
        );
        let error = IoError::KeyMissing {
            path: PathBuf::from("grads.npz"),
            key: "w".into(),
            available: vec!["a".into(), "b".into()],
        };
        assert_eq!(error.to_string(), "`grads.npz` holds no array named `w` (it holds `a`, `b`)");
        assert_eq!(dtype_meaning("<c16"), " (complex128)");
        assert_eq!(dtype_meaning("[('a', '<f4')]"), " (a structured dtype)");
    }
}
