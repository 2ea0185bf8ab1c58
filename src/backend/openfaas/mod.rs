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
//! ## Exactly once: intent, call, confirm
//! The ledger is written FIRST, with a write-ahead intent ([`Pending`]: from, to and the previous
//! ledger), then the scale call is made. A 2xx is confirmed by reading the function back (the count
//! the gateway really set is reported: a CE gateway clamps to 1–5 and answers 200). A call whose
//! outcome is unknown (a timeout, a 5xx, a crash of alertscaler) is never decided again from
//! scratch: a read showing `to` counts as applied; otherwise the intent stays, and the next read of
//! the function COMPLETES it by re-sending the same absolute count `to` (fitted into the function's
//! labels as they are then; nothing is sent on labels that no longer parse) and keeping the new ledger.
//! A scale that lands late therefore lands on the count that was meant, and the re-sent
//! notification is held as a duplicate. Only a call that certainly did not act (a 4xx, no
//! connection) rolls the ledger back, as does a read that shows the function gone.

pub mod gateway;
mod intent;
mod locks;
pub mod state_file;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Mutex;

use async_trait::async_trait;
use thiserror::Error;
use tracing::{instrument, warn};

use super::{Applied, Backend, FunctionState, FunctionSummary, Unreported, Update};
use crate::config::{Config, ConfigError};
use crate::error::BackendError;
use crate::id::FunctionId;
use crate::labels::LabelRules;
use gateway::{CallFailure, Gateway};
use locks::Locks;
use state_file::{Pending, Slot, StateError, Store};

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
    /// What functions' labels allow, for completing an intent after they changed.
    labels: LabelRules,
    store: Store,
    /// One async lock per function: applies (and completing an intent) of one function never overlap.
    locks: Locks,
    /// Functions whose landed move was reported but whose intent stayed on disk (its clear failed):
    /// the read that completes it does not report the move again.
    uncleared: Mutex<HashSet<FunctionId>>,
    /// Moves a read settled but could not report (it failed after settling).
    unreported: Unreported,
}

/// The certificates of `openfaas.ca_file` (none when unset), read and checked as at start.
pub(crate) fn read_ca(
    config: &crate::config::OpenFaasConfig,
) -> Result<Vec<reqwest::Certificate>, ConfigError> {
    crate::config::ca::roots("openfaas.ca_file", config.ca_file.as_deref())
}

/// Read the gateway's password file and trim surrounding whitespace, as the gateway does with its
/// own secret files (a password file ending in a space or a CRLF still matches).
pub(crate) fn read_password(path: &Path) -> Result<String, ConfigError> {
    crate::auth::read_secret("openfaas.password_file", path)
}

impl OpenFaasBackend {
    /// Read the password and CA files, build the client and load the state file. With
    /// `fresh_state`, a corrupt or unreadable state file is moved aside (`<file>.corrupt`) and the
    /// ledger starts empty; a good state file is still loaded.
    pub fn new(all: &Config, fresh_state: bool) -> Result<Self, SetupError> {
        let config = &all.openfaas;
        let password = match &config.password_file {
            Some(path) => Some(read_password(path)?),
            None => None,
        };
        let gateway =
            Gateway::new(config, password, read_ca(config)?).map_err(SetupError::Client)?;
        Ok(Self {
            gateway,
            namespaces: all.allowed_namespaces.clone(),
            labels: LabelRules::from_config(all),
            store: Store::open(&config.state_file, fresh_state)?,
            locks: Locks::default(),
            uncleared: Mutex::default(),
            unreported: Unreported::default(),
        })
    }

    /// The ledger as it is in memory (for tests and diagnostics).
    pub fn slot(&self, function: &FunctionId) -> Option<Slot> {
        self.store.get(function)
    }

    /// `GET /system/functions` for every namespace (a namespace the gateway refuses is skipped).
    async fn list_gateway(&self) -> Result<Vec<FunctionSummary>, BackendError> {
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
                out.push(self.summary(&id, &f));
            }
        }
        Ok(out)
    }

    /// The functions the state file knows, each read on its own (`GET /system/function/{name}`
    /// does not need the gateway's Prometheus); a function that is gone is left out.
    async fn list_known(&self) -> Result<Vec<FunctionSummary>, BackendError> {
        let mut out = Vec::new();
        for id in self.store.known(&self.namespaces) {
            match self.gateway.function(&id).await {
                Ok(status) => out.push(self.summary(&id, &status)),
                Err(BackendError::NotFound(_)) => self.forget(&id).await,
                Err(BackendError::Ineligible(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Functions the state file knows but the gateway's listing lacks: deleted (their ledgers are
    /// dropped once a read answers 404, as any read does), or created after the listing (kept).
    /// Without this a deleted function would never be read again, and its ledger never dropped.
    async fn drop_unlisted(&self, listed: &[FunctionSummary]) {
        let listed: std::collections::HashSet<(&str, &str)> = listed
            .iter()
            .map(|f| (f.name.as_str(), f.namespace.as_str()))
            .collect();
        for id in self.store.known(&self.namespaces) {
            let present = listed.contains(&(id.name.as_str(), id.namespace.as_str()));
            if !present && let Err(BackendError::NotFound(_)) = self.gateway.function(&id).await {
                self.forget(&id).await;
            }
        }
    }

    fn summary(&self, id: &FunctionId, status: &gateway::FunctionStatus) -> FunctionSummary {
        let slot = self.store.get(id);
        FunctionSummary::new(
            id.name.clone(),
            id.namespace.clone(),
            status.replicas(),
            status.scaling_labels(),
            slot.as_ref().map(|s| &s.entry),
        )
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
        let settled = self.complete(function).await?;
        let status = match self.gateway.function(function).await {
            Ok(status) => status,
            Err(gone @ BackendError::NotFound(_)) => {
                self.forget(function).await;
                return Err(gone);
            }
            Err(e) => {
                // A move settled on the way goes to the next read's decision.
                if let Some(settled) = settled {
                    self.unreported.keep(function, settled);
                }
                return Err(e);
            }
        };
        let replicas = status.replicas();
        let slot = self.store.get(function);
        let counter = slot.as_ref().map_or(0, |s| s.counter);
        Ok(FunctionState {
            replicas,
            labels: status.scaling_labels(),
            stored: slot.map(|s| s.entry),
            version: format!("{counter}:{replicas}").into(),
            settled: self.unreported.take(function, settled),
        })
    }

    #[instrument(skip_all, fields(function = %function, replicas = update.replicas))]
    async fn apply(
        &self,
        function: &FunctionId,
        update: Update<'_>,
    ) -> Result<Applied, BackendError> {
        let (counter, read_replicas) = parse_version(update.version).ok_or_else(|| {
            BackendError::Conflict(format!("version {:?} is not ours", update.version))
        })?;
        let _guard = self.locks.lock(function).await;
        let before = self.store.get(function);
        let now = before.as_ref().map_or(0, |s| s.counter);
        if now != counter || before.as_ref().is_some_and(|s| s.pending.is_some()) {
            return Err(BackendError::Conflict(format!(
                "{function}: ledger version {now} is not {counter}"
            )));
        }
        let previous = before.as_ref().map(|s| s.entry.clone()).unwrap_or_default();
        let Some(to) = update.replicas else {
            let slot = Slot {
                counter: now.wrapping_add(1),
                entry: update.stored.clone(),
                pending: None,
            };
            self.store.put(function, slot, before).await?;
            return Ok(Applied::default());
        };
        let from = self.gateway.function(function).await?.replicas();
        if from != read_replicas {
            return Err(BackendError::Conflict(format!(
                "{function}: replicas moved from {read_replicas} to {from} since they were read"
            )));
        }
        let intent = Slot {
            counter: now.wrapping_add(1),
            entry: update.stored.clone(),
            pending: Some(Pending { from, to, previous }),
        };
        self.store.put(function, intent.clone(), before).await?;
        match self.gateway.scale(function, to).await {
            Ok(()) => Ok(self.confirm(function, intent, to).await),
            Err(CallFailure {
                error,
                maybe_applied: true,
            }) => self.unknown_outcome(function, intent, to, &error).await,
            Err(CallFailure {
                error: gone @ BackendError::NotFound(_),
                ..
            }) => {
                self.forget_locked(function, intent).await;
                Err(gone)
            }
            Err(CallFailure { error, .. }) => {
                self.roll_back(function, intent).await;
                Err(error)
            }
        }
    }

    /// The gateway's listing; when it fails (a CE gateway fails it while its Prometheus is
    /// unreachable), the functions the state file knows, read one by one, so the settle loop
    /// still reaches every function with a held scale-down.
    async fn list(&self) -> Result<Vec<FunctionSummary>, BackendError> {
        match self.list_gateway().await {
            Ok(list) => {
                self.drop_unlisted(&list).await;
                Ok(list)
            }
            Err(e @ BackendError::Unavailable(_)) => {
                if self.store.known(&self.namespaces).is_empty() {
                    return Err(e);
                }
                warn!(error = %e, "listing from the state file instead: only functions alertscaler has acted on");
                self.list_known().await
            }
            Err(e) => Err(e),
        }
    }

    /// The state file's directory is writable and the gateway answers `/healthz`, checked at once
    /// (a slow disk and a slow gateway do not add up).
    async fn ready(&self) -> Result<(), BackendError> {
        let (writable, healthy) = tokio::join!(self.store.writable(), self.gateway.healthz());
        writable?;
        healthy
    }
}
