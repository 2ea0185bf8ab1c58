//! What the service answers about all functions at once: the `GET /system/functions` listing and
//! the per-function label series exported for Prometheus, both from one backend listing.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::Service;
use crate::backend::{Backend, JsonListing};
use crate::error::BackendError;
use crate::id::FunctionId;

/// About how many bytes of the listing are written (and sent) at a time. Small, because hyper
/// queues up to 16 pages (at most about 400 KB) of a response while the socket is full: with
/// 64 KiB pages a listing of 10 000 functions still added about 540 KiB of RSS, with 8 KiB pages
/// about 150 KiB (the queue holds at most 128 KiB); the lock is held for about 70 functions.
pub const PAGE_BYTES: usize = 8 * 1024;

impl Service {
    /// `GET /system/functions` at `now`: the backend's listing, an alert silent for the episode
    /// TTL (it holds nothing; the settle pass decides on its lost resolution) not listed as firing.
    pub fn listing(&self, now: DateTime<Utc>) -> Listing {
        Listing::new(
            self.backend.clone(),
            now - self.settings.timing.episode_ttl,
            PAGE_BYTES,
        )
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

/// A listing being written, one page of the backend's at a time, so that it is sent in pages of
/// about `page_bytes` rather than built whole (the memory backend's listing of 10 000 functions
/// is about 1 MB). Each page is written under the backend's lock, which is never held between
/// pages; the next page starts after the last function listed.
pub struct Listing {
    backend: Arc<dyn Backend>,
    silent_before: DateTime<Utc>,
    after: Option<FunctionId>,
    /// `None` once the array is ended (or an error ended the listing).
    json: Option<JsonListing>,
}

impl Listing {
    /// The listing of `backend`'s functions in pages of about `page_bytes`, alerts last seen at or
    /// before `silent_before` not listed as firing.
    pub fn new(backend: Arc<dyn Backend>, silent_before: DateTime<Utc>, page_bytes: usize) -> Self {
        Self {
            backend,
            silent_before,
            after: None,
            json: Some(JsonListing::new(page_bytes)),
        }
    }

    /// The next page of the JSON array, `None` once it is ended. An error ends the listing: the
    /// pages sent before it are an unfinished array.
    pub async fn next_page(&mut self) -> Option<Result<Vec<u8>, BackendError>> {
        let json = self.json.as_mut()?;
        let page = self
            .backend
            .list_page(self.after.as_ref(), self.silent_before, json);
        match page.await {
            Ok(Some(last)) => {
                self.after = Some(last);
                Some(Ok(json.take_page()))
            }
            Ok(None) => self.json.take().map(|json| Ok(json.finish())),
            Err(e) => {
                self.json = None;
                Some(Err(e))
            }
        }
    }

    /// Whether the array is ended: no page follows.
    pub fn is_done(&self) -> bool {
        self.json.is_none()
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;

    use super::*;
    use crate::backend::memory::MemoryBackend;
    use crate::backend::{Applied, FunctionState, Update};
    use crate::config::MemoryFunction;

    /// The memory backend whose listing fails from its `fails_from`th page on.
    struct Failing {
        inner: MemoryBackend,
        fails_from: usize,
        pages: std::sync::atomic::AtomicUsize,
    }

    #[async_trait]
    impl Backend for Failing {
        fn name(&self) -> &'static str {
            "failing"
        }

        async fn read(&self, function: &FunctionId) -> Result<FunctionState, BackendError> {
            self.inner.read(function).await
        }

        async fn apply(
            &self,
            function: &FunctionId,
            update: Update<'_>,
        ) -> Result<Applied, BackendError> {
            self.inner.apply(function, update).await
        }

        async fn list_page(
            &self,
            after: Option<&FunctionId>,
            silent_before: DateTime<Utc>,
            out: &mut JsonListing,
        ) -> Result<Option<FunctionId>, BackendError> {
            let page = self.pages.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if page >= self.fails_from {
                return Err(BackendError::Unavailable("down (test)".into()));
            }
            self.inner.list_page(after, silent_before, out).await
        }
    }

    fn listing(functions: usize, fails_from: usize) -> Listing {
        let specs = (0..functions).map(|i| MemoryFunction {
            name: format!("fn-{i}"),
            namespace: "openfaas-fn".into(),
            replicas: 1,
            labels: Default::default(),
        });
        let backend = Failing {
            inner: MemoryBackend::from_specs(specs.collect()),
            fails_from,
            pages: Default::default(),
        };
        Listing::new(Arc::new(backend), Utc::now(), 1)
    }

    #[tokio::test]
    async fn an_error_ends_the_listing_before_or_after_its_first_page() {
        let mut before = listing(3, 0);
        assert!(matches!(before.next_page().await, Some(Err(_))));
        assert!(before.is_done() && before.next_page().await.is_none());

        let mut after = listing(3, 1);
        let first = after.next_page().await.unwrap().unwrap();
        assert!(
            first.starts_with(b"[{") && !first.ends_with(b"]"),
            "{first:?}"
        );
        assert!(!after.is_done());
        assert!(matches!(after.next_page().await, Some(Err(_))));
        assert!(after.is_done() && after.next_page().await.is_none());
    }

    #[tokio::test]
    async fn the_pages_make_one_array_and_then_end() {
        let mut listing = listing(3, usize::MAX);
        let mut body = Vec::new();
        while let Some(page) = listing.next_page().await {
            body.extend(page.unwrap());
        }
        let listed: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
        let names: Vec<_> = listed.iter().map(|f| f["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["fn-0", "fn-1", "fn-2"]);
    }
}
