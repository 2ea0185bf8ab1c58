//! What the service answers about all functions at once: the `GET /system/functions` listing and
//! the per-function label series exported for Prometheus, both from one backend listing.

use chrono::{DateTime, Utc};

use super::Service;
use crate::error::BackendError;
use crate::id::FunctionId;

impl Service {
    /// `GET /system/functions` at `now`: the backend's listing, an alert silent for the episode
    /// TTL (it holds nothing; the settle pass decides on its lost resolution) not listed as firing.
    pub async fn list_json(&self, now: DateTime<Utc>) -> Result<Vec<u8>, BackendError> {
        let silent_before = now - self.settings.timing.episode_ttl;
        self.backend.list_json(silent_before).await
    }

    /// Re-export the per-function label series (latency targets …) from a fresh listing, so that
    /// functions whose labels changed or that were deleted are current without a read per scrape.
    pub async fn refresh_label_exports(&self) -> Result<(), BackendError> {
        let listed = self.backend.list().await?;
        self.metrics.replace_label_exports(listed.iter().map(|f| {
            let id = FunctionId {
                name: f.name.clone(),
                namespace: f.namespace.clone(),
            };
            (id, &f.labels)
        }));
        Ok(())
    }
}
