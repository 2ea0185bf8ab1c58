//! What alertscaler presents to Prometheus: a bearer token (an auth proxy's, often a projected
//! service-account token) or a basic-auth password, each read from a file that is re-read when it
//! changes. The kubelet rotates a projected token on disk about hourly; the new one is used from the
//! next query, without a restart.
//!
//! Noticing a change costs one `stat` per query (no read while the file stays as it was): the file's
//! inode, length, modification and change times. The kubelet renames a new file over the old one (a
//! new inode); a file rewritten in place changes its times. A file that cannot be read again keeps
//! the last token read, and says so once until it can be read again.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use base64::Engine;
use reqwest::header::HeaderValue;
use tracing::{info, warn};

use crate::auth::read_secret;
use crate::config::{ConfigError, PrometheusConfig};

/// The `Authorization` header sent with every query, from a file that may rotate.
#[derive(Debug)]
pub(super) struct Credentials {
    scheme: Scheme,
    key: &'static str,
    path: PathBuf,
    current: Mutex<Current>,
}

#[derive(Debug)]
enum Scheme {
    Bearer,
    Basic { username: String },
}

/// The header from the file as last read, and whether a later read failed (already warned).
#[derive(Debug)]
struct Current {
    header: HeaderValue,
    stamp: Option<Stamp>,
    failing: bool,
}

/// What tells a file changed without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    inode: u64,
    len: u64,
    modified: (i64, i64),
    changed: (i64, i64),
}

impl Stamp {
    fn of(path: &Path) -> std::io::Result<Self> {
        let m = std::fs::metadata(path)?;
        Ok(Self {
            inode: m.ino(),
            len: m.len(),
            modified: (m.mtime(), m.mtime_nsec()),
            changed: (m.ctime(), m.ctime_nsec()),
        })
    }
}

impl Credentials {
    /// The credentials `[prometheus]` names, read now: `None` without a credentials file; an
    /// unreadable, empty, oversized or unsendable file is a configuration error naming the key.
    pub(super) fn from_config(config: &PrometheusConfig) -> Result<Option<Self>, ConfigError> {
        let (scheme, key, path) = match (&config.bearer_token_file, &config.password_file) {
            (Some(path), _) => (Scheme::Bearer, "prometheus.bearer_token_file", path),
            (None, Some(path)) => {
                let username = config.username.clone().unwrap_or_default();
                (Scheme::Basic { username }, "prometheus.password_file", path)
            }
            (None, None) => return Ok(None),
        };
        let stamp = Stamp::of(path).map_err(|cause| ConfigError::Secret {
            key,
            path: path.clone(),
            cause,
        })?;
        let credentials = Self {
            scheme,
            key,
            path: path.clone(),
            current: Mutex::new(Current {
                header: HeaderValue::from_static(""),
                stamp: Some(stamp),
                failing: false,
            }),
        };
        let header = credentials.read()?;
        credentials.lock().header = header;
        Ok(Some(credentials))
    }

    /// The header to send now: re-read first if the file changed since it was last read (or
    /// could not be looked at). A file that failed is not read again until it changes.
    pub(super) fn header(&self) -> HeaderValue {
        let mut current = self.lock();
        // Taken before the read: a change during the read is seen at the next query.
        let stamp = Stamp::of(&self.path);
        if stamp.is_ok() && stamp.as_ref().ok() == current.stamp.as_ref() {
            return current.header.clone();
        }
        current.stamp = stamp.as_ref().ok().copied();
        let read = stamp
            .map_err(|cause| ConfigError::Secret {
                key: self.key,
                path: self.path.clone(),
                cause,
            })
            .and_then(|_| self.read());
        match read {
            Ok(header) => {
                if current.failing {
                    info!(
                        key = self.key,
                        "Prometheus credentials file read again; using it"
                    );
                }
                current.header = header;
                current.failing = false;
            }
            Err(e) if !current.failing => {
                current.failing = true;
                warn!(error = %e, key = self.key, "cannot re-read the Prometheus credentials file; keeping the last one read");
            }
            Err(_) => {}
        }
        current.header.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Current> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The header from the file's content (the rules of [`read_secret`]).
    fn read(&self) -> Result<HeaderValue, ConfigError> {
        let secret = read_secret(self.key, &self.path)?;
        let value = match &self.scheme {
            Scheme::Bearer => format!("Bearer {secret}"),
            Scheme::Basic { username } => {
                let pair = format!("{username}:{secret}");
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                )
            }
        };
        let mut header = HeaderValue::from_str(&value).map_err(|_| ConfigError::Invalid {
            key: self.key,
            problem: format!(
                "the secret in {} holds a character an Authorization header cannot carry as text \
                 (visible ASCII, spaces and tabs only)",
                self.path.display()
            ),
        })?;
        header.set_sensitive(true);
        Ok(header)
    }
}

/// What a 401 or 403 from Prometheus (or its proxy) asks the operator to check: the credentials
/// configured, else that some are wanted.
pub(super) fn hint(credentials: Option<&Credentials>, url: &str) -> &'static str {
    // reqwest sends a URL's user:password as basic auth (validation refuses it beside a file).
    let in_url =
        reqwest::Url::parse(url).is_ok_and(|u| !u.username().is_empty() || u.password().is_some());
    match credentials.map(|c| &c.scheme) {
        Some(Scheme::Bearer) => "check prometheus.bearer_token_file",
        Some(Scheme::Basic { .. }) => "check prometheus.username and prometheus.password_file",
        None if in_url => "check the user:password in prometheus.url",
        None => {
            "it wants credentials: set prometheus.bearer_token_file, or prometheus.username and \
             prometheus.password_file"
        }
    }
}
