//! The notification trigger: one AlertManager notification becomes intents (one per function it
//! names), each decided through [`Service::decide`]; what could not become an intent is skipped,
//! logged once and listed in the report.

use chrono::{DateTime, Utc};

use super::{Cause, Service};
use crate::alert::{Notification, Webhook};
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
}
