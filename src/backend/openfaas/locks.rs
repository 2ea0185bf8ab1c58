//! One async lock per function, whose entry goes when nobody holds or awaits it, so the map holds
//! only functions being worked on (not every name ever scaled).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

use crate::id::FunctionId;

type Entry = Arc<tokio::sync::Mutex<()>>;

/// The per-function locks. An entry is cloned only under the map's mutex, and a guard removes it
/// under the same mutex when the map's copy and the guard's are the only ones left; a waiter
/// holds a copy, so its entry stays. (A waiter cancelled while another task held the lock can
/// leave its entry behind; the next lock of that function removes it.)
#[derive(Debug, Default)]
pub(crate) struct Locks {
    map: Mutex<HashMap<FunctionId, Entry>>,
}

/// Holds one function's lock; dropping it releases the lock and, when no one else holds or
/// awaits it, the function's entry.
pub(crate) struct Guard<'a> {
    locks: &'a Locks,
    function: FunctionId,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Locks {
    /// Wait for `function`'s lock.
    pub(crate) async fn lock(&self, function: &FunctionId) -> Guard<'_> {
        let entry = Arc::clone(self.entries().entry(function.clone()).or_default());
        Guard {
            locks: self,
            function: function.clone(),
            guard: Some(entry.lock_owned().await),
        }
    }

    /// How many functions have an entry (held or awaited).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries().len()
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<FunctionId, Entry>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        let Some(guard) = self.guard.take() else {
            return;
        };
        let entry = Arc::clone(OwnedMutexGuard::mutex(&guard));
        drop(guard);
        let mut entries = self.locks.entries();
        // The map's copy and `entry`: nobody else holds or awaits this function's lock.
        if Arc::strong_count(&entry) == 2 {
            entries.remove(&self.function);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use super::*;

    fn id(name: &str) -> FunctionId {
        FunctionId {
            name: name.into(),
            namespace: "openfaas-fn".into(),
        }
    }

    #[tokio::test]
    async fn an_entry_goes_when_its_lock_is_released() {
        let locks = Locks::default();
        {
            let _a = locks.lock(&id("a")).await;
            let _b = locks.lock(&id("b")).await;
            assert_eq!(locks.len(), 2);
        }
        assert_eq!(locks.len(), 0);
        for n in 0..100 {
            drop(locks.lock(&id(&format!("f{n}"))).await);
        }
        assert_eq!(locks.len(), 0);
    }

    #[tokio::test]
    async fn a_waiter_keeps_the_entry_and_gets_the_same_lock() {
        let locks = Arc::new(Locks::default());
        let held = locks.lock(&id("a")).await;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let waiter = tokio::spawn({
            let locks = Arc::clone(&locks);
            async move {
                let guard = locks.lock(&id("a")).await;
                tx.send(()).ok();
                drop(guard);
            }
        });
        // Wait until the waiter holds its copy of the entry (map + held guard + waiter = 3).
        loop {
            let copies = locks.entries().get(&id("a")).map(Arc::strong_count);
            if copies == Some(3) {
                break;
            }
            tokio::task::yield_now().await;
        }
        drop(held);
        assert_eq!(locks.len(), 1, "the waiter's entry stays");
        rx.await.expect("the waiter got the lock");
        waiter.await.expect("the waiter ended");
        assert_eq!(locks.len(), 0);
    }

    #[tokio::test]
    async fn the_lock_excludes_while_held() {
        let locks = Locks::default();
        let a = id("a");
        let held = locks.lock(&a).await;
        let second = locks.lock(&a);
        tokio::pin!(second);
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        assert!(
            second.as_mut().poll(&mut cx).is_pending(),
            "a second holder waits"
        );
        drop(held);
        drop(second.await);
        assert_eq!(locks.len(), 0);
    }
}
