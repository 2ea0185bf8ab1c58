//! The policy's verdict on one read, the steps every trigger shares: what the trigger asks
//! ([`Ask`]), or a refusal that lets go of what it follows; each trigger's own verdict lives with
//! the trigger.

use std::borrow::Cow;

use super::{Cause, Read, Service};
use crate::alert::Signal;
use crate::labels::ScaleLabels;
use crate::ledger::{self, FollowUp, Trigger};
use crate::policy::{self, Decision, Load, Verdict};

/// What a trigger asks to decide on a read, once it found something to do.
pub(super) enum Ask<'a> {
    /// The notification's alerts for the function.
    Notification(&'a [Signal]),
    /// A resolution that never came (its signal, and the ledger that lets its episode go), else
    /// `None`: resume a held scale-down.
    Settle(Option<(Signal, ledger::Entry)>),
    /// The capacity alert still firing.
    FollowUp(Signal),
}

impl Service {
    /// What the read's trigger asks to decide; `None` when a background trigger has nothing to do.
    pub(super) fn ask<'a>(&self, read: &Read<'a>) -> Option<Ask<'a>> {
        let (timing, ledger) = (&self.settings.timing, &read.stored.ledger);
        match read.cause {
            Cause::Notification(signals) => Some(Ask::Notification(signals)),
            // The settle pass decides on a resolution that never came, else resumes a held
            // scale-down.
            Cause::Settle => {
                let lapsed = ledger::lapsed(ledger, read.now, timing);
                if read.stored.window.pending.is_none() && lapsed.is_none() {
                    return None;
                }
                Some(Ask::Settle(lapsed))
            }
            // A follow-up decides for the capacity alert still firing, holds, or stops following.
            Cause::FollowUp => match self.track_follow_up(read.function, ledger, read.now) {
                FollowUp::Decide(signal) => Some(Ask::FollowUp(signal)),
                FollowUp::Hold | FollowUp::Stop => None,
            },
        }
    }

    /// A refused decision, once the trigger has let go of what it follows. A refused notification
    /// stores nothing, but an alert it resolved is no longer followed up (AlertManager sends a
    /// resolution once). A refused follow-up is recorded once and lets go: AlertManager's next
    /// repeat of the firing alert follows it again (every pass until then would be refused the
    /// same way).
    pub(super) fn refused(&self, read: &Read<'_>, decision: Decision) -> Decision {
        match read.cause {
            Cause::Notification(signals) => {
                let timing = &self.settings.timing;
                let (_, next) =
                    ledger::plan_borrowed(&read.stored.ledger, signals, read.now, timing);
                self.stop_follow_up_unless_firing(read.function, &next, read.now);
            }
            Cause::FollowUp => self.set_followed(read.function, false),
            Cause::Settle => {}
        }
        decision
    }

    /// The policy's verdict on what the trigger asks, with the ledger to store after it; `None`
    /// when a background trigger finds nothing to do after all.
    pub(super) async fn verdict<'r>(
        &self,
        read: &'r Read<'_>,
        labels: &ScaleLabels,
        ask: Ask<'_>,
    ) -> Option<(Verdict, Cow<'r, ledger::Entry>)> {
        // The background triggers' verdicts are boxed (with their queries to Prometheus), so that
        // their state does not sit in every webhook's future.
        match ask {
            Ask::Notification(signals) => Some(self.notified(read, labels, signals).await),
            Ask::Settle(lapsed) => Box::pin(self.settle_verdict(read, labels, lapsed)).await,
            Ask::FollowUp(signal) => Box::pin(self.follow_up_verdict(read, labels, signal)).await,
        }
    }

    /// What the policy decides on this read, for a trigger and what was measured for it.
    pub(super) fn judge(
        &self,
        read: &Read<'_>,
        labels: &ScaleLabels,
        trigger: &Trigger,
        load: Option<&Load>,
    ) -> Verdict {
        let input = policy::Input {
            labels,
            current: read.replicas,
            trigger,
            ledger: &read.stored.ledger,
            window: &read.stored.window,
            load,
            now: read.now,
        };
        policy::decide(&input, &self.settings.policy)
    }
}
