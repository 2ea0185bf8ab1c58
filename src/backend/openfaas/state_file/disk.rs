//! The state file on disk: checking the path, reading it within its bound, replacing it
//! atomically, and the lock file that refuses a second process. The I/O, apart from the format
//! (`format`) and from the in-memory ledger that drives it (`store`).

use std::io::Write;
use std::path::{Path, PathBuf};

use tracing::warn;

use super::StateError;
use super::format::{STATE_MAX_BYTES, Slots, decode};
use crate::config::bounded;

/// Whether `path` can be the state file: absent (created at the first write) or a regular file
/// (through symlinks). A directory or a device is refused, with or without `--fresh-state`.
pub fn check_path(path: &Path) -> Result<(), StateError> {
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => Err(StateError::NotAFile {
            path: path.to_owned(),
        }),
        // Absent, or unreadable metadata: `load` says what reading it gives.
        _ => Ok(()),
    }
}

/// Load the ledger. A missing file is an empty ledger; anything else unreadable, or larger than
/// [`STATE_MAX_BYTES`], is an error.
pub fn load(path: &Path) -> Result<Slots, StateError> {
    load_within(path, STATE_MAX_BYTES)
}

/// [`load`] with the bound given (tests use a small one).
pub(super) fn load_within(path: &Path, limit: usize) -> Result<Slots, StateError> {
    check_path(path)?;
    let bytes = match bounded::read_bounded(path, limit) {
        Ok(bytes) => bytes,
        Err(bounded::BoundedError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Slots::new());
        }
        Err(bounded::BoundedError::Io(cause)) => {
            return Err(StateError::Read {
                path: path.to_owned(),
                cause,
            });
        }
        Err(bounded::BoundedError::TooLarge { limit }) => {
            return Err(StateError::TooLarge {
                path: path.to_owned(),
                limit,
            });
        }
    };
    decode(path, &bytes)
}
/// The temporary file a save writes before renaming it over `path`.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Replace the file at `path` with `bytes` atomically (temp file + fsync + rename + fsync dir).
/// The real path is never opened for writing.
pub fn save(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let err = |cause| StateError::Write {
        path: path.to_owned(),
        cause,
    };
    let temp = temp_path(path);
    let mut file = std::fs::File::create(&temp).map_err(err)?;
    file.write_all(bytes).map_err(err)?;
    file.sync_all().map_err(err)?;
    drop(file);
    std::fs::rename(&temp, path).map_err(err)?;
    sync_dir(path).map_err(err)
}

/// The directory a path is in (`.` for a bare file name).
pub(super) fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(unix)]
fn sync_dir(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir_of(path))?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Lock `<path>.lock` (a file of its own: the state file is replaced by renames). Held by another
/// process → refused; a lock that cannot be taken at all (directory missing or read-only, a file
/// system without locks) is only warned about, as before: `/readyz` reports the directory.
pub(super) fn lock(path: &Path) -> Result<Option<std::fs::File>, StateError> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    let lock = path.with_file_name(name);
    let file = match std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
    {
        Ok(file) => file,
        Err(e) => {
            warn!(lock = %lock.display(), error = %e, "cannot create the state file's lock: a second process on it would not be refused");
            return Ok(None);
        }
    };
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(StateError::Locked {
            path: path.to_owned(),
            lock,
        }),
        Err(std::fs::TryLockError::Error(e)) => {
            warn!(lock = %lock.display(), error = %e, "cannot lock the state file: a second process on it would not be refused");
            Ok(None)
        }
    }
}
