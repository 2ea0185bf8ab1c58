//! Connection limits of the HTTP listener, as pure rules: when a connection is closed for being
//! slow or idle, and which connection makes room when the listener is full.
//!
//! A webhook receiver faces the open Internet (or at least a whole cluster): a client that opens a
//! connection and sends nothing, or half a request head, must not hold a socket forever, and many
//! such clients must not lock out AlertManager. Three limits, all in `[connections]`:
//! - **header read timeout**: once the first byte of a request arrives, the whole head must follow
//!   within it;
//! - **idle timeout**: a connection waiting for its next (or first) request is closed after it;
//! - **max connections**: when full, the connection idle for the longest time is closed to admit
//!   the new one; if every connection is inside a handler, the new one is refused.
//!
//! A connection inside a handler is never closed by these rules (the request timeout bounds it).
//! The I/O half lives in [`crate::listener`].

use std::time::Duration;

use tokio::time::Instant;

/// The limits, from `[connections]` (see [`crate::config::ConnectionsConfig`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From the first byte of a request to the end of its head.
    pub header_read_timeout: Duration,
    /// Between requests (and before the first one).
    pub idle_timeout: Duration,
    /// Open connections at most.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 512,
        }
    }
}

/// Where a connection is in its request cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for the next (or first) request since this instant.
    Idle(Instant),
    /// The first bytes of a request (or of a TLS handshake) arrived at this instant; the handler
    /// has not started yet.
    Head(Instant),
    /// A request is inside the handler.
    Busy,
}

/// Why a connection was closed by the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// No request within the idle timeout.
    Idle,
    /// A request head not complete within the header read timeout.
    Head,
}

impl Phase {
    /// The phase after bytes were read at `now`: a waiting connection starts reading a head.
    pub(crate) fn on_bytes(self, now: Instant) -> Self {
        match self {
            Self::Idle(_) => Self::Head(now),
            other => other,
        }
    }

    /// When this connection is closed if nothing happens, and why; `None` while busy.
    pub fn deadline(self, limits: &ConnectionLimits) -> Option<(Instant, Expiry)> {
        match self {
            Self::Idle(since) => Some((since + limits.idle_timeout, Expiry::Idle)),
            Self::Head(since) => Some((since + limits.header_read_timeout, Expiry::Head)),
            Self::Busy => None,
        }
    }

    /// Since when the connection has not been serving anything; `None` while busy.
    pub(crate) fn idle_since(self) -> Option<Instant> {
        match self {
            Self::Idle(since) | Self::Head(since) => Some(since),
            Self::Busy => None,
        }
    }
}

/// The connection to close to make room for a new one: the one idle for the longest time (a
/// half-sent request head counts as idle). `None` when every connection is busy.
pub(crate) fn pick_victim<K>(connections: impl IntoIterator<Item = (K, Phase)>) -> Option<K> {
    connections
        .into_iter()
        .filter_map(|(key, phase)| phase.idle_since().map(|since| (since, key)))
        .min_by_key(|(since, _)| *since)
        .map(|(_, key)| key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnectionLimits {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
            max_connections: 3,
        }
    }

    #[test]
    fn a_waiting_connection_expires_after_the_idle_timeout_a_started_head_after_the_header_timeout()
    {
        let t0 = Instant::now();
        let idle = Phase::Idle(t0);
        assert_eq!(
            idle.deadline(&limits()),
            Some((t0 + Duration::from_secs(60), Expiry::Idle))
        );
        let head = idle.on_bytes(t0 + Duration::from_secs(7));
        assert_eq!(head, Phase::Head(t0 + Duration::from_secs(7)));
        assert_eq!(
            head.deadline(&limits()),
            Some((t0 + Duration::from_secs(12), Expiry::Head))
        );
        // More bytes of the same head do not restart its clock.
        assert_eq!(head.on_bytes(t0 + Duration::from_secs(11)), head);
        // Inside the handler nothing expires; body bytes do not change that.
        assert_eq!(Phase::Busy.deadline(&limits()), None);
        assert_eq!(Phase::Busy.on_bytes(t0), Phase::Busy);
    }

    #[test]
    fn the_longest_idle_connection_makes_room_busy_ones_never_do() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let conns = [
            ("busy", Phase::Busy),
            ("recent", Phase::Idle(t0 + s(30))),
            ("slow-head", Phase::Head(t0 + s(10))),
            ("old", Phase::Idle(t0 + s(20))),
        ];
        assert_eq!(pick_victim(conns), Some("slow-head"));
        assert_eq!(pick_victim([("a", Phase::Busy), ("b", Phase::Busy)]), None);
        assert_eq!(pick_victim(Vec::<(u8, Phase)>::new()), None);
    }
}
