//! The intent/confirm protocol's edges (see [`super::state`]): confirming or rolling back a write,
//! what the writer does when its replica patch fails, and how a reader settles a record left
//! pending by an earlier receiver.

use chrono::{TimeDelta, Utc};
use k8s_openapi::api::apps::v1::Deployment;
use tracing::{info, warn};

use super::errors::Failure;
use super::state::{self, Pending, Resolution};
use super::store::{StateDoc, StateWrite};
use super::{KubernetesBackend, replicas};
use crate::backend::{Applied, Settled};
use crate::error::BackendError;
use crate::id::FunctionId;
use crate::stored::Stored;

/// How many times a confirm is sent, and the pause before the next (times the attempt).
const CONFIRM_ATTEMPTS: u32 = 3;
const CONFIRM_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);

/// What completing an unfinished write did.
enum Completion {
    /// The write was sent again, landed and was confirmed.
    Sent,
    /// It was not (rolled back, or left for the next read to resolve).
    Open,
}

fn version_of(d: &Deployment) -> String {
    d.metadata.resource_version.clone().unwrap_or_default()
}

impl KubernetesBackend {
    /// Write `ledger` with no pending record under the state version `at`.
    async fn clear(
        &self,
        f: &FunctionId,
        at: &str,
        ledger: &Stored,
    ) -> Result<String, BackendError> {
        let write = StateWrite {
            ledger,
            pending: None,
            owner_uid: None,
        };
        Ok(self.write_state(f, Some(at), write).await?)
    }

    /// Confirm after the patch to `to` landed. The confirm is conditioned on the intent's version,
    /// so it is sent again on an outage (a copy after one that committed, or after a reader claimed
    /// the record, gets 409: done either way). One that still fails is an error, so that
    /// AlertManager retries within seconds: a record left pending resolves as landed only while
    /// the replicas still show `to`, and a redeploy back to `from` before the next read would let
    /// the episode step again.
    pub(super) async fn finish(
        &self,
        f: &FunctionId,
        intent: &str,
        next: &Stored,
        (from, to): (u32, u32),
    ) -> Result<(), BackendError> {
        let mut attempt = 1;
        loop {
            match self.clear(f, intent, next).await {
                Ok(_) | Err(BackendError::Conflict(_)) => return Ok(()),
                Err(e @ BackendError::Unavailable(_)) if attempt < CONFIRM_ATTEMPTS => {
                    warn!(function = %f, error = %e, attempt, "scaled, but the confirm failed; sending it again");
                    tokio::time::sleep(CONFIRM_BACKOFF * attempt).await;
                    attempt += 1;
                }
                Err(e) => {
                    let cause = e.cause();
                    return Err(BackendError::Unconfirmed {
                        from,
                        to,
                        why: format!(
                            "scaled {from} → {to}, but the write could not be confirmed \
                             ({cause}); the next read settles it"
                        ),
                    });
                }
            }
        }
    }

    /// How long after its intent a writer may still be at work: the replica patch and every
    /// confirm attempt at the request timeout, their pauses, and a second of margin (receivers'
    /// clocks can differ by that much before a move is reported twice or not at all).
    fn writer_deadline(&self) -> TimeDelta {
        let calls = 1 + CONFIRM_ATTEMPTS;
        let pauses: u32 = (1..CONFIRM_ATTEMPTS).sum();
        let busy =
            self.timeout * calls + CONFIRM_BACKOFF * pauses + std::time::Duration::from_secs(1);
        TimeDelta::from_std(busy).unwrap_or(TimeDelta::MAX)
    }

    /// Roll back after the patch certainly did not land. A 409 means another receiver claimed the
    /// record (it completes or settles it); the caller reads again.
    async fn roll_back(&self, f: &FunctionId, intent: &str, pending: &Pending) {
        if let Err(e) = self.clear(f, intent, &pending.previous).await {
            warn!(function = %f, error = %e, "could not roll back; the next read settles it");
        }
    }

    /// The writer's replica patch failed: settle its own intent (recorded at state version
    /// `intent`) as far as it can be known now.
    pub(super) async fn after_failed_patch(
        &self,
        f: &FunctionId,
        intent: &str,
        next: &Stored,
        pending: &Pending,
        failure: Failure,
    ) -> Result<Applied, BackendError> {
        if !failure.maybe_applied {
            // 404, 403, an admission denial, or a 409: the conditioned patch did not land (another
            // writer moved the Deployment, even to our target). If a reader claimed the record and
            // completed it, the rollback is refused (409) and the re-read finds the episode.
            self.roll_back(f, intent, pending).await;
            return Err(failure.error);
        }
        let Ok(d) = self.get_deployment(f).await else {
            return Err(failure.error); // the record stays; the next read settles it
        };
        match state::resolve(pending, &version_of(&d), replicas(&d)) {
            Resolution::Landed | Resolution::Foreign => {
                info!(function = %f, to = pending.to, error = %failure.error,
                    "the replica write's answer was lost, but the target stands");
                self.finish(f, intent, next, (pending.from, pending.to))
                    .await?;
                Ok(Applied {
                    replicas: Some(replicas(&d)),
                    note: None,
                })
            }
            Resolution::Unfinished => {
                // Not landed (yet): send it once more; being conditioned, at most one copy lands.
                match self
                    .patch_replicas(f, &pending.deployment_version, pending.to)
                    .await
                {
                    Ok(()) => {
                        self.finish(f, intent, next, (pending.from, pending.to))
                            .await?;
                        Ok(Applied {
                            replicas: Some(pending.to),
                            note: None,
                        })
                    }
                    Err(again) => Err(BackendError::Unavailable(format!(
                        "{}; sent again: {}; whether the scale to {} landed is settled by the next read",
                        failure.error, again.error, pending.to
                    ))),
                }
            }
            Resolution::NotLanded => {
                self.roll_back(f, intent, pending).await;
                Err(failure.error)
            }
        }
    }

    /// A read found a pending record: settle it, and say what it moved (landed, or completed now)
    /// for the decision of the next read to report; or the failure that stopped the settling.
    pub(super) async fn settle_pending(
        &self,
        f: &FunctionId,
        doc: &StateDoc,
        pending: &Pending,
        d: &Deployment,
    ) -> Result<Option<Settled>, BackendError> {
        let resolution = state::resolve(pending, &version_of(d), replicas(d));
        warn!(function = %f, ?resolution, from = pending.from, to = pending.to, written_at = %pending.at,
            replicas = replicas(d), "settling a replica write an earlier receiver left unconfirmed");
        let next = doc.ledger.clone().unwrap_or_default();
        let (from, to) = (pending.from, pending.to);
        let moved = |had: &str| Settled::earlier(from, to, had);
        match resolution {
            // Reported by its writer while that one may still be at work (another receiver, or
            // a confirm being retried: it reports the move when its confirm lands or is refused);
            // by this read once the writer is surely done (it died, or gave up unconfirmed).
            Resolution::Landed => {
                self.clear(f, &doc.version, &next).await?;
                let writer_done = Utc::now() - pending.at > self.writer_deadline();
                Ok(if writer_done {
                    moved("had landed")
                } else {
                    None
                })
            }
            Resolution::Foreign => self.clear(f, &doc.version, &next).await.map(|_| None),
            Resolution::NotLanded => self
                .clear(f, &doc.version, &pending.previous)
                .await
                .map(|_| None),
            Resolution::Unfinished => match self.complete(f, doc, pending, &next).await? {
                Completion::Sent => Ok(moved("was sent again")),
                Completion::Open => Ok(None),
            },
        }
    }

    /// Take an unfinished write over (claim the record, so its writer cannot roll it back), send
    /// its conditioned patch, and confirm.
    async fn complete(
        &self,
        f: &FunctionId,
        doc: &StateDoc,
        pending: &Pending,
        next: &Stored,
    ) -> Result<Completion, BackendError> {
        let claimed = Pending {
            claims: pending.claims.wrapping_add(1),
            ..pending.clone()
        };
        let write = StateWrite {
            ledger: next,
            pending: Some(&claimed),
            owner_uid: None,
        };
        let claim = self.write_state(f, Some(&doc.version), write).await?;
        match self
            .patch_replicas(f, &pending.deployment_version, pending.to)
            .await
        {
            Ok(()) => self.clear(f, &claim, next).await.map(|_| Completion::Sent),
            // The Deployment moved: the next read resolves the record by its replicas.
            Err(failure) if matches!(failure.error, BackendError::Conflict(_)) => {
                Ok(Completion::Open)
            }
            Err(failure) if !failure.maybe_applied => self
                .clear(f, &claim, &pending.previous)
                .await
                .map(|_| Completion::Open),
            Err(failure) => Err(failure.error),
        }
    }
}
