//! The OpenFaaS backend's durable ledger: every function's [`Stored`] in one local JSON file.
//!
//! The provider API has nowhere to store our ledger beside the function (no annotations we may
//! write, no resourceVersion), so it lives here. The file is replaced atomically: the new contents are
//! written to a temporary file in the same directory, fsynced, renamed over the real path, and the
//! directory is fsynced. A crash at any point leaves either the old or the new file, never a mix; a
//! leftover temporary file is ignored (and overwritten by the next save).
//!
//! The file is local, so the OpenFaaS backend assumes ONE alertscaler replica, and a second process
//! on the same file is refused at start: each would rewrite the whole file from its own memory and
//! drop what the other wrote (`<state_file>.lock`, an advisory lock held while the ledger is open).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use thiserror::Error;
use tracing::{info, warn};

use crate::config::bounded;
use crate::error::BackendError;
use crate::id::FunctionId;
use crate::stored::Stored;

/// Version of the file format; a different version is refused rather than guessed.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// The largest state file read (625 MiB): room for [`SUPPORTED_FUNCTIONS`] functions each at its
/// largest ([`SLOT_MAX_BYTES`]). A wrong `state_file` (a huge unrelated file) is refused at start,
/// naming it, instead of being read until memory runs out; a device is not a file at all.
pub const STATE_MAX_BYTES: usize = SLOT_MAX_BYTES * SUPPORTED_FUNCTIONS;

/// The most functions one alertscaler is built and measured for (the memory goal and the fleet
/// simulation are at 10 000).
const SUPPORTED_FUNCTIONS: usize = 10_000;

/// One function's largest slot in the file (64 KiB): its ledger is bounded (32 episodes of each
/// kind, under the longest fingerprint and alert name a payload may send, `alert::MAX_*_BYTES`),
/// and while a scale is in flight the intent holds a second copy; pretty-printed, with the longest
/// function name, the whole is about 61 KiB. Typical slots are well under 1 KiB.
const SLOT_MAX_BYTES: usize = 64 * 1024;

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
pub(crate) type Slots = BTreeMap<FunctionId, Slot>;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFormat {
    version: u32,
    /// Keyed by `name.namespace`.
    functions: BTreeMap<String, Slot>,
}

/// The state file cannot be used; the message names the file and how to start anyway (an I/O
/// error is part of the message, not a `source`: anyhow would print it twice).
#[derive(Debug, Error)]
pub enum StateError {
    #[error(
        "cannot read state file {path}: {cause}; fix its permissions, or start with --fresh-state to begin with an empty ledger"
    )]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(
        "state file {path} is corrupt ({message}); move it away, or start with --fresh-state to begin with an empty ledger (duplicates of alerts already acted on may then step once more)"
    )]
    Corrupt { path: PathBuf, message: String },
    #[error(
        "state file {path} is larger than {}: no ledger is that large (is it the right file?); move it away, or start with --fresh-state to begin with an empty ledger",
        bounded::size(*limit)
    )]
    TooLarge { path: PathBuf, limit: usize },
    #[error(
        "state file {path} is not a file (a directory?): set openfaas.state_file to a file, e.g. one inside it (a directory is never moved aside)"
    )]
    NotAFile { path: PathBuf },
    #[error(
        "state file {path} is in use by another alertscaler process ({lock} is locked): the OpenFaaS backend runs as ONE replica; stop the other one (on Kubernetes: replicas: 1 and strategy: Recreate)"
    )]
    Locked { path: PathBuf, lock: PathBuf },
    #[error("cannot write state file {path}: {cause}")]
    Write {
        path: PathBuf,
        cause: std::io::Error,
    },
}

impl StateError {
    /// What is wrong, without the advice to start with `--fresh-state` (for when it was given).
    pub fn problem(&self) -> String {
        match self {
            Self::Read { path, cause } => {
                format!("cannot read state file {}: {cause}", path.display())
            }
            Self::Corrupt { path, message } => {
                format!("state file {} is corrupt ({message})", path.display())
            }
            Self::TooLarge { path, limit } => format!(
                "state file {} is larger than {}: no ledger is that large (is it the right file?)",
                path.display(),
                bounded::size(*limit)
            ),
            Self::NotAFile { .. } | Self::Locked { .. } | Self::Write { .. } => self.to_string(),
        }
    }
}

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
fn load_within(path: &Path, limit: usize) -> Result<Slots, StateError> {
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
fn dir_of(path: &Path) -> &Path {
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

/// The ledger in memory and on disk, kept equal: a change is kept in memory only once written.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    /// The largest file read at start, and so the largest written ([`STATE_MAX_BYTES`]).
    limit: usize,
    /// The ledger, and the generation of its last change (bumped under the same lock).
    slots: Mutex<(Slots, u64)>,
    /// Serialises file writes, so a later snapshot is never overwritten by an earlier one; holds
    /// the generation on disk, so that one save covers every change made while it waited
    /// (group commit: concurrent notifications share an fsync).
    writer: tokio::sync::Mutex<u64>,
    /// The lock file, locked while this store is open (`None` where it could not be made).
    _lock: Option<std::fs::File>,
}

/// Lock `<path>.lock` (a file of its own: the state file is replaced by renames). Held by another
/// process → refused; a lock that cannot be taken at all (directory missing or read-only, a file
/// system without locks) is only warned about, as before: `/readyz` reports the directory.
fn lock(path: &Path) -> Result<Option<std::fs::File>, StateError> {
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

impl Store {
    /// Load `path`. With `fresh`, a corrupt or unreadable file is moved aside (`<file>.corrupt`)
    /// and the ledger starts empty (said in a warning); a good file is loaded either way.
    pub fn open(path: &Path, fresh: bool) -> Result<Self, StateError> {
        Self::open_within(path, fresh, STATE_MAX_BYTES)
    }

    /// As [`Store::open`], reading and writing at most `limit` bytes.
    fn open_within(path: &Path, fresh: bool, limit: usize) -> Result<Self, StateError> {
        check_path(path)?;
        let lock = lock(path)?;
        let slots = match load_within(path, limit) {
            Ok(slots) => {
                if fresh {
                    info!(state_file = %path.display(), "--fresh-state given, but the state file is fine: keeping it");
                }
                slots
            }
            Err(e) if fresh && !matches!(e, StateError::NotAFile { .. }) => {
                let aside = temp_path(path).with_extension("corrupt");
                let kept = match std::fs::rename(path, &aside) {
                    Ok(()) => format!("moved it to {}", aside.display()),
                    Err(_) => "it will be overwritten on the first write".into(),
                };
                warn!(
                    "--fresh-state: {}; {kept}; starting with an EMPTY ledger, so alerts acted on before may step once more",
                    e.problem()
                );
                Slots::new()
            }
            Err(e) => return Err(e),
        };
        let pending = slots.values().filter(|s| s.pending.is_some()).count();
        info!(state_file = %path.display(), functions = slots.len(), pending, "ledger loaded");
        Ok(Self {
            path: path.to_owned(),
            limit,
            slots: Mutex::new((slots, 0)),
            writer: tokio::sync::Mutex::new(0),
            _lock: lock,
        })
    }

    fn slots(&self) -> MutexGuard<'_, (Slots, u64)> {
        // A poisoned lock only means a panic elsewhere; every update is a single insert or remove.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One function's slot as it is now.
    pub fn get(&self, function: &FunctionId) -> Option<Slot> {
        self.slots().0.get(function).cloned()
    }

    /// The functions the ledger knows in `namespaces` (the listing fallback reads these).
    pub(crate) fn known(&self, namespaces: &[String]) -> Vec<FunctionId> {
        let slots = self.slots();
        let known = slots
            .0
            .keys()
            .filter(|id| namespaces.contains(&id.namespace));
        known.cloned().collect()
    }

    /// Set a function's slot and make it durable (the whole ledger is written, unless a save that
    /// started later already covered this change). On a failed write the slot is restored to
    /// `before`, so memory never holds what the file lacks. Callers hold the function's lock.
    pub async fn put(
        &self,
        function: &FunctionId,
        slot: Slot,
        before: Option<Slot>,
    ) -> Result<(), BackendError> {
        self.write(function, Some(slot), before).await
    }

    /// Forget a function's slot (the function is gone) and make it durable, as [`Store::put`].
    pub async fn remove(&self, function: &FunctionId, before: Slot) -> Result<(), BackendError> {
        self.write(function, None, Some(before)).await
    }

    async fn write(
        &self,
        function: &FunctionId,
        slot: Option<Slot>,
        before: Option<Slot>,
    ) -> Result<(), BackendError> {
        let generation = {
            let mut slots = self.slots();
            match slot {
                Some(slot) => slots.0.insert(function.clone(), slot),
                None => slots.0.remove(function),
            };
            slots.1 += 1;
            slots.1
        };
        let mut saved = self.writer.lock().await;
        if *saved >= generation {
            return Ok(());
        }
        let (bytes, covers) = {
            let slots = self.slots();
            (encode(&slots.0), slots.1)
        };
        let path = self.path.clone();
        let written = if bytes.len() > self.limit {
            // The next start would refuse the file: refused now, while this function is the one
            // to tell.
            Err(BackendError::Unavailable(format!(
                "{function}: the state file would be {} bytes, larger than the {} it is read with \
                 at start; nothing was written",
                bytes.len(),
                bounded::size(self.limit)
            )))
        } else {
            tokio::task::spawn_blocking(move || save(&path, &bytes))
                .await
                .map_err(|e| BackendError::Unavailable(format!("state file writer failed: {e}")))
                .and_then(|r| r.map_err(|e| BackendError::Unavailable(e.to_string())))
        };
        match written {
            Ok(()) => *saved = covers,
            Err(_) => {
                let mut slots = self.slots();
                match before {
                    Some(before) => slots.0.insert(function.clone(), before),
                    None => slots.0.remove(function),
                };
            }
        }
        written
    }

    /// Whether a save could succeed now: a probe file is created, written, synced and removed in
    /// the state file's directory (for `/readyz`; a missing or read-only directory fails).
    pub async fn writable(&self) -> Result<(), BackendError> {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".probe");
        let probe = self.path.with_file_name(name);
        let dir = dir_of(&self.path).to_owned();
        let result = tokio::task::spawn_blocking(move || {
            let mut file = std::fs::File::create(&probe)?;
            file.write_all(b"probe")?;
            file.sync_all()?;
            std::fs::remove_file(&probe)
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r);
        result.map_err(|e| {
            BackendError::Unavailable(format!(
                "state file directory {} is not writable ({e}): every scale would fail; create it or fix its permissions",
                dir.display()
            ))
        })
    }
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

    /// A write that would make the file larger than the bound it is read with at start is refused
    /// (the function's decision fails, its slot stays as it was): alertscaler never writes a
    /// state file that its next start would refuse.
    #[tokio::test]
    async fn a_write_past_the_bound_the_file_is_read_with_is_refused_and_rolled_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let (_, largest) = largest_slot();
        let one = encode(&Slots::from([(id("f0"), largest.clone())])).len();
        let store = Store::open_within(&path, false, one * 2).unwrap();
        store.put(&id("f0"), largest.clone(), None).await.unwrap();
        store.put(&id("f1"), largest.clone(), None).await.unwrap();
        let err = store
            .put(&id("f2"), largest.clone(), None)
            .await
            .unwrap_err();
        assert!(matches!(err, BackendError::Unavailable(_)), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("larger than") && text.contains("nothing was written"),
            "{text}"
        );
        assert!(!store.slots().0.contains_key(&id("f2")), "rolled back");
        let on_disk = load_within(&path, one * 2).unwrap();
        assert_eq!(on_disk.len(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_puts_are_each_on_disk_when_they_return() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let store = std::sync::Arc::new(Store::open(&path, false).unwrap());
        let tasks: Vec<_> = (0..40u64)
            .map(|i| {
                let (store, path) = (store.clone(), path.clone());
                tokio::spawn(async move {
                    let f = id(&format!("f{i}.openfaas-fn"));
                    let slot = Slot {
                        counter: i,
                        ..Slot::default()
                    };
                    store.put(&f, slot, None).await.unwrap();
                    load(&path).unwrap()[&f].counter
                })
            })
            .collect();
        for (i, task) in tasks.into_iter().enumerate() {
            assert_eq!(task.await.unwrap(), i as u64, "durable when put returned");
        }
        assert_eq!(load(&path).unwrap().len(), 40);
    }

    /// README: a second process on the state file is refused while the first holds
    /// `<state_file>.lock`, and `--fresh-state` does not override it (it would otherwise move the
    /// first process's file aside and start a second ledger beside it).
    #[test]
    fn fresh_state_does_not_override_the_lock_of_another_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let _first = Store::open(&path, false).unwrap();
        // What a second process would find if the file were damaged: --fresh-state's case.
        let corrupt = "{\"version\":1,\"functions\":{";
        std::fs::write(&path, corrupt).unwrap();
        for fresh in [false, true] {
            let err = Store::open(&path, fresh).expect_err("a second store is refused");
            assert!(matches!(err, StateError::Locked { .. }), "{err}");
            let text = err.to_string();
            assert!(text.contains("state.json.lock"), "{text}");
        }
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            corrupt,
            "left in place"
        );
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

    /// A slot at its largest: 32 firing and 32 resolved episodes (the ledger's bound) with 64-character
    /// alert names, a folded summary, a full stabilization window, and an intent in flight carrying a
    /// second copy of it all, for a function whose name and namespace are at their longest.
    fn largest_slot() -> (FunctionId, Slot) {
        let t = "2026-11-24T06:55:10.123456789Z";
        let alertname = "A".repeat(crate::alert::MAX_ALERTNAME_BYTES);
        let key = |i: u64| format!("{i:0>width$x}", width = crate::alert::MAX_FINGERPRINT_BYTES);
        let firing: serde_json::Map<String, serde_json::Value> = (0..32u64)
            .map(|i| {
                let episode = serde_json::json!({"starts_at": t, "alertname": alertname,
                    "direction": "up", "last_seen": t, "policy": "proportional"});
                (key(i), episode)
            })
            .collect();
        let resolved: serde_json::Map<String, serde_json::Value> = (32..64u64)
            .map(|i| {
                let episode = serde_json::json!({"starts_at": t, "resolved_at": t, "ended_at": t,
                    "lapsed": true});
                (key(i), episode)
            })
            .collect();
        let window: Vec<_> = (0..32)
            .map(|_| serde_json::json!({"at": t, "desired": u32::MAX}))
            .collect();
        let stored = serde_json::json!({
            "firing": firing, "resolved": resolved,
            "folded": {"at": t, "from": t, "until": t, "bits": vec![u64::MAX; 8]},
            "last_up": t, "last_down": t, "scaled_up": t, "scaled_down": t,
            "recommendations": window, "settle_to": u32::MAX, "idle_since": t,
        });
        let stored: Stored = serde_json::from_value(stored).unwrap();
        let longest = format!("{}.{}", "f".repeat(253), "n".repeat(63));
        let pending = Pending {
            from: u32::MAX,
            to: u32::MAX,
            previous: stored.clone(),
        };
        let slot = Slot {
            counter: u64::MAX,
            entry: stored,
            pending: Some(pending),
        };
        (FunctionId::parse(&longest, "").unwrap(), slot)
    }

    /// The bound holds the functions alertscaler supports, each at its largest (the product is
    /// checked where the constants are).
    #[test]
    fn the_bound_holds_ten_thousand_functions_at_their_largest() {
        let (id, slot) = largest_slot();
        assert_eq!(slot.entry.ledger.firing.len(), 32);
        let one = encode(&Slots::from([(id, slot)])).len();
        assert!(one <= SLOT_MAX_BYTES, "{one}");
    }

    /// A state file over the bound (a wrong path to a huge file) is refused at start as a corrupt one
    /// is, naming the file and the bound; `--fresh-state` moves it aside (kept whole) and starts
    /// empty.
    #[test]
    fn a_state_file_over_the_bound_stops_startup_unless_fresh_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let huge = std::fs::File::create(&path).unwrap();
        huge.set_len(STATE_MAX_BYTES as u64 + 1).unwrap();
        let err = load(&path).unwrap_err();
        assert!(matches!(err, StateError::TooLarge { .. }), "{err}");
        let text = Store::open(&path, false).unwrap_err().to_string();
        for says in [
            &path.display().to_string(),
            "larger than 625 MiB",
            "--fresh-state",
        ] {
            assert!(text.contains(says), "{says}: {text}");
        }
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            STATE_MAX_BYTES as u64 + 1
        );

        let store = Store::open(&path, true).unwrap();
        assert!(store.slots().0.is_empty());
        assert!(!path.exists());
        let aside = temp_path(&path).with_extension("corrupt");
        assert_eq!(
            std::fs::metadata(aside).unwrap().len(),
            STATE_MAX_BYTES as u64 + 1,
            "kept whole"
        );
    }

    /// A state file at the bound is read, one byte over is refused; a device is refused before any
    /// read (it is not a file).
    #[test]
    fn a_state_file_at_the_bound_is_read_and_a_device_is_not_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let (id, slot) = largest_slot();
        let mut text = encode(&Slots::from([(id.clone(), slot.clone())]));
        text.resize(text.len() + 100, b' ');
        std::fs::write(&path, &text).unwrap();
        let err = load_within(&path, text.len() - 1).unwrap_err().to_string();
        let bound = format!("larger than {} bytes", text.len() - 1);
        assert!(err.contains(&bound), "{err}");
        assert_eq!(load_within(&path, text.len()).unwrap()[&id], slot);
        let err = load(Path::new("/dev/zero")).unwrap_err();
        assert!(matches!(err, StateError::NotAFile { .. }), "{err}");
    }
}
