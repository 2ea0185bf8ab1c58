//! [`Store`]: the ledger in memory and on disk, kept equal. Apart from the file's format and I/O
//! because it holds the concurrency: a generation per change, one writer at a time, and group
//! commit (one save covers every change made while it waited).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use tracing::{info, warn};

use super::StateError;
use super::disk::{check_path, dir_of, load_within, lock, save, temp_path};
use super::format::{STATE_MAX_BYTES, Slot, Slots, encode};
use crate::config::bounded;
use crate::error::BackendError;
use crate::id::FunctionId;

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

impl Store {
    /// Load `path`. With `fresh`, a corrupt or unreadable file is moved aside (`<file>.corrupt`)
    /// and the ledger starts empty (said in a warning); a good file is loaded either way.
    pub fn open(path: &Path, fresh: bool) -> Result<Self, StateError> {
        Self::open_within(path, fresh, STATE_MAX_BYTES)
    }

    /// As [`Store::open`], reading and writing at most `limit` bytes.
    pub(super) fn open_within(path: &Path, fresh: bool, limit: usize) -> Result<Self, StateError> {
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

    pub(super) fn slots(&self) -> MutexGuard<'_, (Slots, u64)> {
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
