//! The notification trigger: one AlertManager notification becomes intents (one per function it
//! names), each decided through [`Service::decide`]; what could not become an intent is skipped,
//! logged once and listed in the report. Its verdict plans the function's alerts into the ledger
//! and measures the load for what they trigger.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use super::{Cause, Read, Service};
use crate::alert::{Notification, Signal, Webhook};
use crate::labels::ScaleLabels;
use crate::ledger::{self, Trigger};
use crate::policy::Verdict;
use crate::report::Report;

impl Service {
    /// Trigger: one notification received at `now`; one decision per function it names.
    pub async fn handle(&self, webhook: &Webhook, now: DateTime<Utc>) -> Report {
        self.handle_notification(&webhook.notification(), now).await
    }

    /// As [`Service::handle`], from the notification borrowed from a request body (the webhook's
    /// hot path: nothing of the body is copied that no decision keeps).
    pub async fn handle_notification(
        &self,
        notification: &Notification<'_>,
        now: DateTime<Utc>,
    ) -> Report {
        self.metrics.notification(notification.status);
        let (intents, skipped) = notification.intents(&self.settings.identity);
        crate::skipped::log(&skipped);
        let (skipped, skipped_total) = crate::skipped::bound(skipped);
        let mut functions = Vec::with_capacity(intents.len());
        for intent in &intents {
            let cause = Cause::Notification(&intent.signals);
            if let Some(report) = self.decide(&intent.function, cause, now).await {
                functions.push(report);
            }
        }
        Report {
            functions,
            skipped,
            skipped_total,
        }
    }

    /// A notification's verdict: its alerts planned into the ledger, and the load measured for
    /// what they trigger.
    pub(super) async fn notified<'r>(
        &self,
        read: &'r Read<'_>,
        labels: &ScaleLabels,
        signals: &[Signal],
    ) -> (Verdict, Cow<'r, ledger::Entry>) {
        let s = &self.settings;
        let (trigger, next) =
            ledger::plan_borrowed(&read.stored.ledger, signals, read.now, &s.timing);
        // A hold measures nothing; a measurement (an HTTP query) is boxed, so that its
        // large state does not sit in every webhook's future.
        let load = match trigger {
            Trigger::Hold(_) => None,
            _ => Box::pin(self.load.for_trigger(&trigger, &s.policy, read.function)).await,
        };
        (self.judge(read, labels, &trigger, load.as_ref()), next)
    }
}
