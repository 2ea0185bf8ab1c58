//! The OpenFaaS backend's durable ledger: every function's [`Stored`] in one local JSON file.
//!
//! The provider API has nowhere to store our ledger beside the function (no annotations we may
//! write, no resourceVersion), so it lives here. The file is replaced atomically: the new contents are
//! written to a temporary file in the same directory, fsynced, renamed over the real path, and the
//! directory is fsynced. A crash at any point leaves either the old or the new file, never a mix; a
//! leftover temporary file is ignored (and overwritten by the next save).
//!
//! The file is local, so the OpenFaaS backend assumes ONE alertscaler replica.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::id::FunctionId;
use crate::stored::Stored;

/// Version of the file format; a different version is refused rather than guessed.
pub const FORMAT_VERSION: u32 = 1;

/// What is remembered about one function.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slot {
    /// Bumped on every write: the optimistic-concurrency version the provider API lacks.
    pub counter: u64,
    pub entry: Stored,
    /// Set while a scale call is (or may be) in flight; see [`Pending`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
}

/// A scale call recorded BEFORE it is made (write-ahead intent). `entry` above already holds the
/// ledger as it will be after the scale; `previous` is the ledger before it. If alertscaler dies or
/// the call's outcome is unknown, the next read compares the gateway's replicas with `from`/`to`:
/// at `to` the scale landed and the new ledger stands (a duplicate is then held, not applied again);
/// at `from` it did not, and `previous` is restored so the notification is decided afresh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pending {
    pub from: u32,
    pub to: u32,
    pub previous: Stored,
}

/// The whole ledger, keyed by function.
pub type Slots = BTreeMap<FunctionId, Slot>;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFormat {
    version: u32,
    /// Keyed by `name.namespace`.
    functions: BTreeMap<String, Slot>,
}

/// The state file cannot be used; the message names the file and how to start anyway.
#[derive(Debug, Error)]
pub enum StateError {
    #[error(
        "cannot read state file {path}: {source}; fix its permissions, or start with --fresh-state to begin with an empty ledger"
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "state file {path} is corrupt ({message}); move it away, or start with --fresh-state to begin with an empty ledger (duplicates of alerts already acted on may then step once more)"
    )]
    Corrupt { path: PathBuf, message: String },
    #[error("cannot write state file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Load the ledger. A missing file is an empty ledger; anything else unreadable is an error.
pub fn load(path: &Path) -> Result<Slots, StateError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Slots::new()),
        Err(source) => {
            return Err(StateError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    let corrupt = |message: String| StateError::Corrupt {
        path: path.to_owned(),
        message,
    };
    let file: FileFormat = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if file.version != FORMAT_VERSION {
        return Err(corrupt(format!(
            "format version {} is not {FORMAT_VERSION}",
            file.version
        )));
    }
    file.functions
        .into_iter()
        .map(|(key, slot)| {
            // An empty default namespace makes a key without `.namespace` invalid.
            let id = FunctionId::parse(&key, "").map_err(|e| {
                corrupt(format!("key {key:?} is not a function name.namespace: {e}"))
            })?;
            Ok((id, slot))
        })
        .collect()
}

/// Serialise the ledger (pure, so the caller can snapshot under a lock and write outside it).
pub fn encode(slots: &Slots) -> Vec<u8> {
    let file = FileFormat {
        version: FORMAT_VERSION,
        functions: slots
            .iter()
            .map(|(id, slot)| (id.to_string(), slot.clone()))
            .collect(),
    };
    // Plain data with string keys: serialisation cannot fail.
    serde_json::to_vec_pretty(&file).unwrap_or_default()
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
    let err = |source| StateError::Write {
        path: path.to_owned(),
        source,
    };
    let temp = temp_path(path);
    let mut file = std::fs::File::create(&temp).map_err(err)?;
    file.write_all(bytes).map_err(err)?;
    file.sync_all().map_err(err)?;
    drop(file);
    std::fs::rename(&temp, path).map_err(err)?;
    sync_dir(path).map_err(err)
}

#[cfg(unix)]
fn sync_dir(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> FunctionId {
        FunctionId::parse(s, "openfaas-fn").unwrap()
    }

    #[test]
    fn round_trip_and_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        assert!(load(&path).unwrap().is_empty());
        let mut slots = Slots::new();
        slots.insert(
            id("figlet.openfaas-fn"),
            Slot {
                counter: 7,
                entry: Stored::default(),
                pending: Some(Pending {
                    from: 1,
                    to: 5,
                    previous: Stored::default(),
                }),
            },
        );
        save(&path, &encode(&slots)).unwrap();
        assert_eq!(load(&path).unwrap(), slots);
        assert!(!temp_path(&path).exists(), "temp file renamed away");
    }

    #[test]
    fn bad_files_are_errors_naming_file_and_flag() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        for text in [
            "{\"version\":1,\"functions\":{",
            "{\"version\":2,\"functions\":{}}",
            "{\"version\":1,\"functions\":{\"nodot\":{\"counter\":1,\"entry\":{}}}}",
            "",
        ] {
            std::fs::write(&path, text).unwrap();
            let err = load(&path).unwrap_err().to_string();
            assert!(
                err.contains("state.json") && err.contains("--fresh-state"),
                "{text}: {err}"
            );
        }
    }
}
