//! Writing a decision: the move stamped in the ledger (what the cooldowns start from), dry run,
//! then the replicas and the stored state written through the backend, only when something
//! changed; a version conflict there makes [`Service::decide`] read again.

use std::borrow::Cow;

use super::{Cause, Read, Service, applied};
use crate::backend::Update;
use crate::error::BackendError;
use crate::ledger;
use crate::policy::Decision;
use crate::policy::stabilize::Window;
use crate::stored::Stored;

impl Service {
    /// Write what `decision` concluded on `read` (with the ledger and window to store after it);
    /// returns the decision as carried out.
    pub(super) async fn write(
        &self,
        read: &Read<'_>,
        decision: Decision,
        mut ledger: Cow<'_, ledger::Entry>,
        window: Window,
    ) -> Result<Decision, BackendError> {
        let (mut replicas, mut decision) = self.stamp(read, decision, &mut ledger);
        // Dry run: the move is recorded as made (the cooldown and the window go on as they
        // would), but only the ledger is written; the decision says what it would have done.
        if self.settings.dry_run && replicas.take().is_some() {
            decision = applied::dry_run(decision);
        }
        // Written when replicas move or the stored state changed; a hold that changed nothing (a
        // duplicate) copies and writes nothing.
        let stored: &Stored = &read.stored;
        let changed =
            matches!(&ledger, Cow::Owned(l) if *l != stored.ledger) || window != stored.window;
        let next = (replicas.is_some() || changed).then(|| Stored {
            ledger: ledger.into_owned(),
            window,
        });
        if let Some(next) = &next {
            let update = Update {
                replicas,
                stored: next,
                version: &read.version,
            };
            let applied = self.backend.apply(read.function, update).await?;
            decision = applied::carried_out(decision, &applied);
        }
        let next = next.as_ref().unwrap_or(stored);
        self.metrics.ledger_size(read.function, next.ledger.len());
        if matches!(read.cause, Cause::Notification(_)) {
            self.track_follow_up(read.function, &next.ledger, read.now);
        }
        Ok(decision)
    }

    /// The replicas `decision` moves to, stamped in `ledger` as when they last went up or down;
    /// `None` (and a hold) for a dry-run follow-up's move said already within the cooldown.
    fn stamp(
        &self,
        read: &Read<'_>,
        mut decision: Decision,
        ledger: &mut Cow<'_, ledger::Entry>,
    ) -> (Option<u32>, Decision) {
        let (s, now) = (&self.settings, read.now);
        let mut replicas = decision.target();
        // Dry run: the real count never reaches a would-be move, so a follow-up (every few seconds
        // while its alert fires) would say the same move at every pass: it says it once per
        // cooldown, as a notification's repeat would.
        let last_said = match replicas {
            Some(to) if to > read.replicas => ledger.scaled_up,
            Some(to) if to < read.replicas => ledger.scaled_down,
            _ => None,
        };
        if s.dry_run
            && matches!(read.cause, Cause::FollowUp)
            && last_said.is_some_and(|at| now - at < s.timing.cooldown)
        {
            replicas = None;
            decision = applied::dry_run_said(decision, s.timing.cooldown);
        }
        // When the replicas last went up or down, whatever moved them (the latency policy's hold,
        // the cooldown). Never moved back: a background pass reads its clock once and may decide
        // after waiting for this function's lock, behind a decision stamped later.
        match replicas {
            Some(to) if to > read.replicas => ledger::stamp(&mut ledger.to_mut().scaled_up, now),
            Some(to) if to < read.replicas => ledger::stamp(&mut ledger.to_mut().scaled_down, now),
            _ => {}
        }
        (replicas, decision)
    }
}
