//! The write-ahead protocol's other half (see the parent module): completing an intent left by a
//! crash or an unknown outcome, confirming a scale the gateway answered, rolling back one that
//! certainly did not act, and dropping the ledger of a function that is gone.

use std::collections::HashSet;

use tracing::{info, warn};

use super::OpenFaasBackend;
use super::gateway::CallFailure;
use super::state_file::Slot;
use crate::backend::{Applied, Settled};
use crate::error::BackendError;
use crate::id::FunctionId;

impl OpenFaasBackend {
    /// Complete an intent left by a crash or an unknown outcome (see the `openfaas` module documentation):
    /// at `to` it counts as applied; otherwise the same absolute count is sent again, fitted into
    /// what the function's labels allow now (they may have changed since, e.g. max lowered by a
    /// redeploy). Either way the move is returned, for the decision of this read to report. Labels
    /// that no longer parse allow no write: nothing is sent, the intent is settled with its ledger,
    /// and this read's decision refuses them.
    pub(super) async fn complete(
        &self,
        function: &FunctionId,
    ) -> Result<Option<Settled>, BackendError> {
        if self.store.get(function).is_none_or(|s| s.pending.is_none()) {
            return Ok(None);
        }
        let _guard = self.locks.lock(function).await;
        let Some(slot) = self.store.get(function) else {
            return Ok(None);
        };
        let Some(pending) = slot.pending.clone() else {
            return Ok(None); // completed by the apply we waited for
        };
        let status = match self.gateway.function(function).await {
            Ok(status) => status,
            Err(gone @ BackendError::NotFound(_)) => {
                self.forget_locked(function, slot).await;
                return Err(gone);
            }
            Err(e) => return Err(e),
        };
        let replicas = status.replicas();
        let (from, to) = (pending.from, pending.to);
        // What the move is reported as, and where it ended.
        // What the labels allow NOW: a crash left "scale to 6", then `faas-cli deploy` lowered max
        // to 3 (or pinned min = max) before the restart. Sending the old count would set one the
        // labels forbid, which nothing corrects (the re-sent notification is a duplicate); labels
        // that no longer parse allow no count at all.
        let fitted = self
            .labels
            .parse(&status.scaling_labels())
            .map(|l| l.fit(to));
        let (how, set) = match fitted {
            _ if replicas == to => {
                info!(%function, replicas, "an earlier scale landed; keeping its ledger entry");
                // Reported already, unless its writer never learnt that it landed.
                let reported = self.uncleared().remove(function);
                ((!reported).then(|| "had landed".to_owned()), to)
            }
            Err(e) => {
                // No count may be sent on labels a decision would refuse. The ledger stands (the
                // call's outcome is unknown: the episode is never stepped afresh); this read's
                // decision is refused with the same error.
                warn!(%function, replicas, from, to, error = %e,
                    "an earlier scale is unconfirmed, but the function's labels no longer parse; nothing is sent and the intent is settled");
                self.uncleared().remove(function);
                (None, replicas)
            }
            Ok(target) if replicas == target => {
                info!(%function, replicas, from, to,
                    "an earlier scale is unconfirmed, but the function's labels now allow no more than it has; nothing is sent");
                (None, replicas)
            }
            Ok(target) => self.send_again(function, &slot, to, target).await?,
        };
        let done = Slot {
            counter: slot.counter.wrapping_add(1),
            pending: None,
            ..slot.clone()
        };
        self.store.put(function, done, Some(slot)).await?;
        let moved = how.and_then(|had| Settled::earlier(from, to, &had));
        Ok(moved
            .map(|m| Settled { to: set, ..m })
            .filter(|m| m.from != m.to))
    }

    /// Complete an intent by sending `to` again as `target` (fitted into the labels as they are
    /// now), and read it back: what the move is reported as, and the count the gateway set.
    async fn send_again(
        &self,
        function: &FunctionId,
        slot: &Slot,
        to: u32,
        target: u32,
    ) -> Result<(Option<String>, u32), BackendError> {
        info!(%function, to, target,
            "an earlier scale is unconfirmed; sending the same count again (within its labels)");
        if let Err(e) = self.resend(function, target).await {
            match e {
                BackendError::NotFound(_) => self.forget_locked(function, slot.clone()).await,
                BackendError::Ineligible(_) => self.roll_back(function, slot.clone()).await,
                _ => {}
            }
            return Err(e);
        }
        let mut how = if target == to {
            "was sent again".to_owned()
        } else {
            format!("was sent again as {target}: the function's labels no longer allow {to}")
        };
        // A CE gateway clamps this call as any other: report the count it set.
        let set = self.read_back(function, target).await;
        if set != target {
            how = format!("{how}; asked {target}, {}", cap_note(target, set));
        }
        Ok((Some(how), set))
    }

    /// Send an unconfirmed count again; a failure that may have acted says so.
    async fn resend(&self, function: &FunctionId, to: u32) -> Result<(), BackendError> {
        match self.gateway.scale(function, to).await {
            Ok(()) => Ok(()),
            Err(CallFailure {
                error: e @ BackendError::Unavailable(_),
                ..
            }) => Err(unconfirmed(&e, to)),
            Err(CallFailure { error, .. }) => Err(error),
        }
    }

    /// The scale call answered 2xx: read back what the gateway set, and clear the intent.
    pub(super) async fn confirm(&self, function: &FunctionId, intent: Slot, to: u32) -> Applied {
        let set = self.read_back(function, to).await;
        self.clear(function, intent).await;
        Applied {
            replicas: Some(set),
            note: (set != to).then(|| cap_note(to, set)),
        }
    }

    /// The count the gateway set after a scale to `to` answered 2xx (`to` if the read fails).
    async fn read_back(&self, function: &FunctionId, to: u32) -> u32 {
        match self.gateway.function(function).await {
            Ok(status) => status.replicas(),
            Err(e) => {
                warn!(%function, error = %e, "scaled, but reading it back failed; reporting the count asked");
                to
            }
        }
    }

    /// The call's outcome is unknown: a read showing `to` counts as applied, a read showing the
    /// function gone refuses it; otherwise the intent stays for the next read to complete.
    pub(super) async fn unknown_outcome(
        &self,
        function: &FunctionId,
        intent: Slot,
        to: u32,
        error: &BackendError,
    ) -> Result<Applied, BackendError> {
        match self.gateway.function(function).await {
            Ok(status) if status.replicas() == to => {
                info!(%function, to, %error, "the scale call failed, but a read shows it landed");
                self.clear(function, intent).await;
                Ok(Applied {
                    replicas: Some(to),
                    note: None,
                })
            }
            Err(gone @ BackendError::NotFound(_)) => {
                warn!(%function, %error, "the scale call failed and the function is gone");
                self.forget_locked(function, intent).await;
                Err(gone)
            }
            _ => Err(unconfirmed(error, to)),
        }
    }

    /// Clear a confirmed intent (the new ledger stands; the move is reported by this write). A
    /// failed write leaves the intent on disk, which the next read completes (it then finds `to`,
    /// only clears it, and does not report the move again).
    async fn clear(&self, function: &FunctionId, intent: Slot) {
        let done = Slot {
            counter: intent.counter.wrapping_add(1),
            pending: None,
            ..intent.clone()
        };
        if let Err(e) = self.store.put(function, done, Some(intent)).await {
            warn!(%function, error = %e, "scaled, but could not clear the intent in the state file");
            self.uncleared().insert(function.clone());
        }
    }

    /// Functions whose move was reported but whose intent could not be cleared (this process).
    fn uncleared(&self) -> std::sync::MutexGuard<'_, HashSet<FunctionId>> {
        self.uncleared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The gateway knows no such function: drop its slot, so the state file holds only functions
    /// that exist (a function created again later starts with an empty ledger). Callers hold the
    /// function's lock.
    pub(super) async fn forget_locked(&self, function: &FunctionId, slot: Slot) {
        match self.store.remove(function, slot).await {
            Ok(()) => {
                info!(%function, "the function is gone: its ledger is dropped from the state file")
            }
            Err(e) => {
                warn!(%function, error = %e, "the function is gone, but its ledger could not be dropped; the next read tries again")
            }
        }
    }

    /// As [`Self::forget_locked`], taking the function's lock; nothing to do without a slot.
    pub(super) async fn forget(&self, function: &FunctionId) {
        if self.store.get(function).is_none() {
            return;
        }
        let _guard = self.locks.lock(function).await;
        if let Some(slot) = self.store.get(function) {
            self.forget_locked(function, slot).await;
        }
    }

    /// Undo an intent whose call certainly did not act: the previous ledger comes back.
    pub(super) async fn roll_back(&self, function: &FunctionId, intent: Slot) {
        let previous = intent.pending.as_ref().map(|p| p.previous.clone());
        let back = Slot {
            counter: intent.counter.wrapping_add(1),
            entry: previous.unwrap_or_default(),
            pending: None,
        };
        if let Err(e) = self.store.put(function, back, Some(intent)).await {
            warn!(%function, error = %e, "could not roll back the intent; the next read completes it");
        }
    }
}

/// The reason's words when the gateway set another count than asked.
fn cap_note(asked: u32, set: u32) -> String {
    let ce = (asked > 5 && set == 5) || (asked == 0 && set == 1);
    if ce {
        format!(
            "the gateway set {set}: OpenFaaS CE allows 1 to 5 replicas (set [platform] max_replicas = 5 and scale_to_zero = false to plan within it)"
        )
    } else {
        format!("the gateway set {set}")
    }
}

fn unconfirmed(error: &BackendError, to: u32) -> BackendError {
    let cause = error.cause();
    BackendError::Unavailable(format!(
        "{cause}; whether the scale to {to} landed is unknown: the next notification for this function sends {to} again (never a new step)"
    ))
}
