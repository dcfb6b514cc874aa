//! Bytes → a file that is either wholly the old one or wholly the new one.
//!
//! The new contents go to a temporary file in the target's folder (so the rename below stays on
//! one file system), are flushed to disk (`fsync`), and the temporary file is renamed onto the
//! target, which is atomic on POSIX systems. On any failure the temporary file is removed and the
//! target is untouched. After the rename the folder itself is synced (best effort, Unix only) so
//! the new name survives a power cut.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, ErrorKind};
use std::path::{Path, PathBuf};

use crate::io::IoError;

/// How many random temporary names to try before giving up (a clash needs another writer to pick
/// the same 64-bit number).
const TEMPORARY_NAME_ATTEMPTS: usize = 8;

/// Writes `path` atomically: `write` fills a buffered temporary file beside `path`, which is then
/// synced (`fsync`) and renamed onto `path`, and the folder synced (best effort, Unix only). If
/// `write` or any step fails, `path` keeps its old contents (or stays absent) and no temporary file
/// is left behind.
pub fn write_atomically<F>(path: &Path, write: F) -> Result<(), IoError>
where
    F: FnOnce(&mut BufWriter<File>) -> Result<(), IoError>,
{
    let (temporary, file) = create_temporary_beside(path)?;
    let cleanup = RemoveOnDrop { path: Some(temporary.clone()) };

    let mut writer = BufWriter::new(file);
    write(&mut writer)?;
    let file = writer.into_inner().map_err(|error| io_error("write", &temporary, error.into_error()))?;
    file.sync_all().map_err(|error| io_error("sync", &temporary, error))?;
    drop(file);

    fs::rename(&temporary, path).map_err(|error| io_error("rename a temporary file onto", path, error))?;
    cleanup.keep();
    sync_folder(path);
    Ok(())
}

/// Creates a new, empty temporary file named `.<file name>.<random>.tmp` in `path`'s folder.
fn create_temporary_beside(path: &Path) -> Result<(PathBuf, File), IoError> {
    let Some(file_name) = path.file_name() else {
        let error = io::Error::new(ErrorKind::InvalidInput, "the path does not end in a file name");
        return Err(io_error("write", path, error));
    };
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut last_error = None;
    for _ in 0..TEMPORARY_NAME_ATTEMPTS {
        let mut name = std::ffi::OsString::from(".");
        name.push(file_name);
        name.push(format!(".{:016x}.tmp", rand::random::<u64>()));
        let temporary = folder.join(name);
        match OpenOptions::new().write(true).create_new(true).open(&temporary) {
            Ok(file) => return Ok((temporary, file)),
            Err(error) if error.kind() == ErrorKind::AlreadyExists => last_error = Some(error),
            Err(error) if error.kind() == ErrorKind::NotFound => {
                return Err(IoError::Missing { path: folder.to_path_buf() });
            }
            Err(error) => return Err(io_error("create a temporary file beside", path, error)),
        }
    }
    let error = last_error.unwrap_or_else(|| io::Error::other("no temporary name was free"));
    Err(io_error("create a temporary file beside", path, error))
}

/// Syncs the folder holding `path` so the rename is durable; failures are ignored because the
/// new file is already in place and readable.
fn sync_folder(path: &Path) {
    #[cfg(unix)]
    if let Some(folder) = path.parent() {
        let folder = if folder.as_os_str().is_empty() { Path::new(".") } else { folder };
        if let Ok(handle) = File::open(folder) {
            let _ = handle.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> IoError {
    IoError::Io { action, path: path.to_path_buf(), source }
}

/// Removes the temporary file when a write fails part-way (including by an early `?` return).
struct RemoveOnDrop {
    path: Option<PathBuf>,
}

impl RemoveOnDrop {
    /// The file was renamed into place: there is nothing to remove.
    fn keep(mut self) {
        self.path = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            let _ = fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn folder_entries(folder: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(folder)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temporary_file() -> Result<(), Box<dyn std::error::Error>> {
        let folder = tempfile::tempdir()?;
        let path = folder.path().join("out.bin");
        fs::write(&path, b"old")?;
        write_atomically(&path, |writer| with_path(writer.write_all(b"new contents"), &path))?;
        assert_eq!(fs::read(&path)?, b"new contents");
        assert_eq!(folder_entries(folder.path()), ["out.bin"]);
        Ok(())
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() -> Result<(), Box<dyn std::error::Error>> {
        let folder = tempfile::tempdir()?;
        let path = folder.path().join("params.npz");
        fs::write(&path, b"old")?;
        let result = write_atomically(&path, |writer| {
            with_path(writer.write_all(b"half of the new"), &path)?;
            Err(IoError::Encode { path: path.clone(), detail: "encoder gave up".into() })
        });
        assert!(matches!(result, Err(IoError::Encode { .. })));
        assert_eq!(fs::read(&path)?, b"old");
        assert_eq!(folder_entries(folder.path()), ["params.npz"]);
        Ok(())
    }

    #[test]
    fn a_failed_rename_keeps_the_target_and_removes_the_temporary() -> Result<(), Box<dyn std::error::Error>> {
        let folder = tempfile::tempdir()?;
        // A non-empty folder where the file should go: the rename must fail.
        let path = folder.path().join("taken");
        fs::create_dir(&path)?;
        fs::write(path.join("inside"), b"kept")?;
        let result = write_atomically(&path, |writer| with_path(writer.write_all(b"x"), &path));
        assert!(matches!(result, Err(IoError::Io { action: "rename a temporary file onto", .. })), "{result:?}");
        assert_eq!(fs::read(path.join("inside"))?, b"kept");
        assert_eq!(folder_entries(folder.path()), ["taken"]);
        Ok(())
    }

    #[test]
    fn a_missing_folder_is_reported_as_missing() -> Result<(), Box<dyn std::error::Error>> {
        let folder = tempfile::tempdir()?;
        let path = folder.path().join("removed").join("out.npy");
        let result = write_atomically(&path, |_| Ok(()));
        let Err(IoError::Missing { path: missing }) = result else {
            return Err(format!("expected IoError::Missing, got {result:?}").into());
        };
        assert_eq!(missing, folder.path().join("removed"));
        assert!(folder_entries(folder.path()).is_empty());
        Ok(())
    }

    fn with_path(result: io::Result<()>, path: &Path) -> Result<(), IoError> {
        result.map_err(|error| io_error("write", path, error))
    }
}
