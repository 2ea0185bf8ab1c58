//! Log capture for unit tests: what a test's own thread logs, as text or as the JSON lines
//! `--log-format json` writes.

use std::sync::Arc;

/// Log lines written while [`Logs::capture`]'s guard lives (on this thread: a current-thread test).
#[derive(Clone, Default)]
pub(crate) struct Logs(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// tracing caches per callsite whether any subscriber wants its events. Tests run in parallel,
/// each with its own thread's subscriber at its own level; a debug callsite first hit while no
/// subscriber wanting debug was registered could stay cached as wanted by nobody, and a test
/// capturing debug lines then missed one (1 run in about 15). A global subscriber that wants every
/// level and records nothing keeps every callsite open; each test's own subscriber still filters.
fn every_callsite_stays_wanted() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry());
    });
}

impl Logs {
    pub(crate) fn capture(&self) -> tracing::subscriber::DefaultGuard {
        every_callsite_stays_wanted();
        let logs = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || logs.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }
    /// As [`Logs::capture`], in the JSON format `--log-format json` installs, from `level` up.
    pub(crate) fn capture_json(&self, level: &str) -> tracing::subscriber::DefaultGuard {
        every_callsite_stays_wanted();
        let logs = self.clone();
        let subscriber =
            crate::logging::json_subscriber(move || logs.clone(), level.parse().unwrap());
        tracing::subscriber::set_default(subscriber)
    }
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}
