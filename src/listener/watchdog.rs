//! A connection's watchdog, in its own task: it waits for the phase's deadline, an eviction or
//! the server's shutdown and tells the connection, which then polls only a channel beside hyper.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use super::Tracker;
use crate::connections::{ConnectionLimits, Expiry};

/// What a connection's watchdog tells it.
pub(super) enum Signal {
    /// The phase's deadline passed.
    Expired(Expiry),
    /// Evicted to make room, or the server stops.
    Leave,
}

/// Watches one connection's phase deadline, its eviction and the server's shutdown, and tells
/// the connection; ends after an expiry or when the connection is gone.
pub(super) async fn watchdog(
    tracker: Arc<Tracker>,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
    tell: mpsc::Sender<Signal>,
) {
    let mut stopping = false;
    loop {
        let signal = tokio::select! {
            why = tracker.expired(&limits) => Signal::Expired(why),
            () = tracker.evict.notified() => Signal::Leave,
            _ = stop.wait_for(|s| *s), if !stopping => {
                stopping = true;
                Signal::Leave
            }
        };
        let expired = matches!(signal, Signal::Expired(_));
        if tell.send(signal).await.is_err() || expired {
            return;
        }
    }
}

/// Aborts a task when dropped: a connection's watchdog ends with its connection.
pub(super) struct AbortOnDrop(pub(super) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
