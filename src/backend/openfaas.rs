//! The OpenFaaS backend: replicas and labels through the gateway's provider API (faasd, faas-netes,
//! any provider), the dedup ledger in a local state file.
//!
//! The provider API has no resourceVersion and no place for our ledger, so both come from the local
//! [`state_file`]: each function has a counter that is bumped on every write and serves as the
//! version token (`"{counter}:{replicas}"`). Applies of one function are serialised in-process by a
//! per-function tokio mutex, and before a scale the replicas are read again, so a stale decision
//! (ours or someone else's scale in between) is a [`BackendError::Conflict`] and is decided again.
//!
//! **One alertscaler replica only**: the state file is local; two replicas would each keep their own
//! ledger and could both step on one notification.
//!
//! ## Order of the ledger write and the scale call
//! The ledger is written FIRST, with a write-ahead intent ([`Pending`]: from, to and the previous
//! ledger), then the scale call is made, then the intent is cleared. If alertscaler dies between the
//! two, or the call's outcome is unknown (timeout, 5xx), the next read of the function settles the
//! intent against the gateway: replicas at `to` → the scale landed and the new ledger stands, so the
//! duplicate notification is held; at `from` → it did not, the previous ledger is restored and the
//! notification is decided again (reaching the same `to`, because scale calls set an absolute count).
//! Either way a notification steps at most once. Only a call that certainly did not act (4xx, no
//! connection) rolls the ledger back at once.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use thiserror::Error;
use tracing::{info, instrument, warn};

use super::gateway::{CallFailure, Gateway};
use super::state_file::{self, Pending, Slot, Slots, StateError};
use super::{Backend, FunctionState, FunctionSummary, Update};
use crate::config::{ConfigError, OpenFaasConfig};
use crate::error::BackendError;
use crate::id::FunctionId;

/// The OpenFaaS backend could not start; the message names what to fix.
#[derive(Debug, Error)]
pub enum SetupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("cannot build the HTTP client for openfaas.gateway_url: {0}")]
    Client(String),
}

/// Scales functions through the OpenFaaS gateway; see the module documentation.
#[derive(Debug)]
pub struct OpenFaasBackend {
    gateway: Gateway,
    namespaces: Vec<String>,
    state_path: PathBuf,
    slots: Mutex<Slots>,
    /// One async lock per function: applies (and settling an intent) of one function never overlap.
    locks: Mutex<HashMap<FunctionId, Arc<tokio::sync::Mutex<()>>>>,
    /// Serialises state-file writes, so a later snapshot is never overwritten by an earlier one.
    writer: tokio::sync::Mutex<()>,
}

impl OpenFaasBackend {
    /// Read the password file, build the client and load the state file. With `fresh_state`, a
    /// corrupt or unreadable state file is moved aside (`<file>.corrupt`) and the ledger starts
    /// empty; a good state file is still loaded.
    pub fn new(
        config: &OpenFaasConfig,
        namespaces: Vec<String>,
        fresh_state: bool,
    ) -> Result<Self, SetupError> {
        let password = match &config.password_file {
            Some(path) => Some(crate::auth::read_secret("openfaas.password_file", path)?),
            None => None,
        };
        let gateway = Gateway::new(config, password).map_err(SetupError::Client)?;
        let path = config.state_file.clone();
        let slots = match state_file::load(&path) {
            Ok(slots) => {
                if fresh_state {
                    info!(state_file = %path.display(), "--fresh-state given, but the state file is fine: keeping it");
                }
                slots
            }
            Err(e) if fresh_state => {
                let aside = state_file::temp_path(&path).with_extension("corrupt");
                let kept = match std::fs::rename(&path, &aside) {
                    Ok(()) => format!("moved it to {}", aside.display()),
                    Err(_) => "it will be overwritten on the first write".into(),
                };
                warn!(
                    "--fresh-state: {e}; {kept}; starting with an EMPTY ledger, so alerts acted on before may step once more"
                );
                Slots::new()
            }
            Err(e) => return Err(e.into()),
        };
        let pending = slots.values().filter(|s| s.pending.is_some()).count();
        info!(state_file = %path.display(), functions = slots.len(), pending, "ledger loaded");
        Ok(Self {
            gateway,
            namespaces,
            state_path: path,
            slots: Mutex::new(slots),
            locks: Mutex::default(),
            writer: tokio::sync::Mutex::new(()),
        })
    }

    /// The ledger as it is in memory (for tests and diagnostics).
    pub fn slot(&self, function: &FunctionId) -> Option<Slot> {
        self.slots().get(function).cloned()
    }

    fn slots(&self) -> MutexGuard<'_, Slots> {
        // A poisoned lock only means a panic elsewhere; every update below is a single insert.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_of(&self, function: &FunctionId) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(function.clone()).or_default().clone()
    }

    /// Set a function's slot in memory and write the whole ledger; on a failed write the memory is
    /// restored to `before`, so memory and file never disagree.
    async fn store(
        &self,
        function: &FunctionId,
        slot: Slot,
        before: Option<Slot>,
    ) -> Result<(), BackendError> {
        let _writer = self.writer.lock().await;
        self.slots().insert(function.clone(), slot);
        let bytes = state_file::encode(&self.slots());
        let path = self.state_path.clone();
        let written = tokio::task::spawn_blocking(move || state_file::save(&path, &bytes))
            .await
            .map_err(|e| BackendError::Unavailable(format!("state file writer failed: {e}")))
            .and_then(|r| r.map_err(|e| BackendError::Unavailable(e.to_string())));
        if written.is_err() {
            let mut slots = self.slots();
            match before {
                Some(before) => slots.insert(function.clone(), before),
                None => slots.remove(function),
            };
        }
        written
    }

    /// Settle an intent left by a crash or an unknown outcome (see the module documentation).
    async fn settle(&self, function: &FunctionId) -> Result<(), BackendError> {
        if self
            .slots()
            .get(function)
            .is_none_or(|s| s.pending.is_none())
        {
            return Ok(());
        }
        let lock = self.lock_of(function);
        let _guard = lock.lock().await;
        let Some(slot) = self.slot(function) else {
            return Ok(());
        };
        let Some(pending) = slot.pending.clone() else {
            return Ok(()); // settled by the apply we waited for
        };
        let replicas = self.gateway.function(function).await?.replicas();
        let mut next = Slot {
            counter: slot.counter + 1,
            entry: slot.entry.clone(),
            pending: None,
        };
        if replicas == pending.to {
            info!(%function, replicas, "an earlier scale landed; keeping its ledger entry");
        } else if replicas == pending.from {
            warn!(%function, replicas, to = pending.to, "an earlier scale did not land; ledger rolled back");
            next.entry = pending.previous;
        } else {
            warn!(%function, replicas, from = pending.from, to = pending.to,
                "replicas changed by someone else while a scale was unsettled; keeping the ledger entry");
        }
        self.store(function, next, Some(slot)).await
    }
}

fn parse_version(version: &str) -> Option<(u64, u32)> {
    let (counter, replicas) = version.split_once(':')?;
    Some((counter.parse().ok()?, replicas.parse().ok()?))
}

#[async_trait]
impl Backend for OpenFaasBackend {
    fn name(&self) -> &'static str {
        "openfaas"
    }

    #[instrument(skip_all, fields(function = %function))]
    async fn read(&self, function: &FunctionId) -> Result<FunctionState, BackendError> {
        self.settle(function).await?;
        let status = self.gateway.function(function).await?;
        let replicas = status.replicas();
        let slot = self.slot(function);
        let counter = slot.as_ref().map_or(0, |s| s.counter);
        Ok(FunctionState {
            replicas,
            labels: status.scaling_labels(),
            stored: slot.map(|s| s.entry),
            version: format!("{counter}:{replicas}"),
        })
    }

    #[instrument(skip_all, fields(function = %function, replicas = update.replicas))]
    async fn apply(&self, function: &FunctionId, update: Update<'_>) -> Result<(), BackendError> {
        let (counter, read_replicas) = parse_version(update.version).ok_or_else(|| {
            BackendError::Conflict(format!("version {:?} is not ours", update.version))
        })?;
        let lock = self.lock_of(function);
        let _guard = lock.lock().await;
        let before = self.slot(function);
        let now = before.as_ref().map_or(0, |s| s.counter);
        if now != counter || before.as_ref().is_some_and(|s| s.pending.is_some()) {
            return Err(BackendError::Conflict(format!(
                "{function}: ledger version {now} is not {counter}"
            )));
        }
        let previous = before.as_ref().map(|s| s.entry.clone()).unwrap_or_default();
        let Some(to) = update.replicas else {
            let slot = Slot {
                counter: now + 1,
                entry: update.stored.clone(),
                pending: None,
            };
            return self.store(function, slot, before).await;
        };
        let from = self.gateway.function(function).await?.replicas();
        if from != read_replicas {
            return Err(BackendError::Conflict(format!(
                "{function}: replicas moved from {read_replicas} to {from} since they were read"
            )));
        }
        let intent = Slot {
            counter: now + 1,
            entry: update.stored.clone(),
            pending: Some(Pending { from, to, previous }),
        };
        self.store(function, intent.clone(), before).await?;
        match self.gateway.scale(function, to).await {
            Ok(()) => {
                let done = Slot {
                    pending: None,
                    ..intent.clone()
                };
                if let Err(e) = self.store(function, done, Some(intent)).await {
                    // The scale happened and the intent on disk says so; the next read settles it.
                    warn!(error = %e, "scaled, but could not clear the intent in the state file");
                }
                Ok(())
            }
            Err(CallFailure {
                error,
                maybe_applied: true,
            }) => Err(BackendError::Unavailable(format!(
                "{error}; whether the scale to {to} landed is unknown and is checked on the next notification"
            ))),
            Err(CallFailure { error, .. }) => {
                let back = Slot {
                    counter: now + 2,
                    entry: intent
                        .pending
                        .as_ref()
                        .map(|p| p.previous.clone())
                        .unwrap_or_default(),
                    pending: None,
                };
                if let Err(e) = self.store(function, back, Some(intent)).await {
                    warn!(error = %e, "could not roll back the intent; the next read settles it");
                }
                Err(error)
            }
        }
    }

    async fn list(&self) -> Result<Vec<FunctionSummary>, BackendError> {
        let mut out = Vec::new();
        for namespace in &self.namespaces {
            let Some(functions) = self.gateway.functions(namespace).await? else {
                continue;
            };
            for f in functions {
                let name = f.name.clone().unwrap_or_default();
                let id = FunctionId {
                    name: name.clone(),
                    namespace: namespace.clone(),
                };
                let slot = self.slot(&id);
                out.push(FunctionSummary::new(
                    name,
                    namespace.clone(),
                    f.replicas(),
                    f.scaling_labels(),
                    slot.as_ref().map(|s| &s.entry),
                ));
            }
        }
        Ok(out)
    }

    async fn ready(&self) -> Result<(), BackendError> {
        self.gateway.healthz().await
    }
}
