//! AlertManager webhook payload (version 4) and its translation into per-function intents.
//!
//! Payload types accept unknown fields: AlertManager adds fields over time (`notification_reason`,
//! `routeLabels`), and a receiver that rejected them would break on upgrade.

use std::collections::BTreeMap;

use std::hash::Hasher;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::PolicyKind;
use crate::error::PayloadError;
use crate::id::FunctionId;

mod borrowed;
mod timestamp;
pub use crate::skipped::Skipped;
pub use borrowed::{AlertRef, Notification, Pairs};

/// Label and annotation maps, sorted so that output and hashing are stable.
pub type Labels = BTreeMap<String, String>;

/// Alert or notification status as AlertManager sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Firing,
    Resolved,
}

/// The whole webhook body AlertManager posts (`version: "4"`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub version: String,
    #[serde(default)]
    pub group_key: String,
    #[serde(default)]
    pub truncated_alerts: u64,
    pub status: Status,
    #[serde(default)]
    pub receiver: String,
    #[serde(default)]
    pub group_labels: Labels,
    #[serde(default)]
    pub common_labels: Labels,
    #[serde(default)]
    pub common_annotations: Labels,
    #[serde(default, rename = "externalURL")]
    pub external_url: String,
    pub alerts: Vec<Alert>,
}

/// One alert of a notification.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub status: Status,
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub annotations: Labels,
    pub starts_at: DateTime<Utc>,
    /// `0001-01-01T00:00:00Z` while the alert fires; `None` when missing or unreadable.
    #[serde(default, deserialize_with = "borrowed::ends_at")]
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
    #[serde(default)]
    pub fingerprint: Option<String>,
}

/// The only payload version this receiver understands.
pub const SUPPORTED_VERSION: &str = "4";

/// Parse a webhook body into the owned payload (what tests and the simulator build and send);
/// errors name the JSON path and position of the problem.
pub fn parse(body: &[u8]) -> Result<Webhook, PayloadError> {
    // Fast path without path tracking; only a bad body is parsed again to name where it failed.
    let webhook: Webhook = match serde_json::from_slice(body) {
        Ok(webhook) => webhook,
        Err(_) => return Err(explain(body)),
    };
    if webhook.version != SUPPORTED_VERSION {
        return Err(PayloadError::Version(webhook.version));
    }
    Ok(webhook)
}

/// Parse a webhook body into what decisions use, borrowing from the body: the hot path. Errors
/// are those of [`parse`] (the body is parsed again with path tracking only when it is bad).
pub fn parse_notification(body: &[u8]) -> Result<Notification<'_>, PayloadError> {
    // Checked as UTF-8 once, so that the parser does not check each string again. A body that is
    // not (invalid bytes in a field it skips) is parsed as bytes, as before.
    let parsed = match std::str::from_utf8(body) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(body),
    };
    let notification: Notification<'_> = match parsed {
        Ok(notification) => notification,
        Err(_) => return Err(explain(body)),
    };
    if notification.version != SUPPORTED_VERSION {
        return Err(PayloadError::Version(notification.version.into_owned()));
    }
    Ok(notification)
}

/// Parse a body known to be bad again, tracking the JSON path, to say where and why it failed.
/// A payload of another version (the legacy version 3 has a numeric `groupKey`) is named as
/// such rather than by the first field that differs.
fn explain(body: &[u8]) -> PayloadError {
    #[derive(Deserialize)]
    struct Versioned {
        version: serde_json::Value,
    }
    if let Ok(Versioned { version }) = serde_json::from_slice(body) {
        let version = match version {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        if version != SUPPORTED_VERSION {
            return PayloadError::Version(version);
        }
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, Webhook>(&mut *de) {
        Err(e) => {
            // At end of input the innermost segment is unknown ("?"): name the enclosing one.
            let path = e.path().to_string();
            let path = path.trim_end_matches(".?").to_owned();
            PayloadError::Json {
                path,
                message: e.into_inner().to_string(),
            }
        }
        // The payload parsed: what failed is what follows it (`{…} trailing`, `{…}{}`).
        Ok(_) => PayloadError::Json {
            path: ".".into(),
            message: match de.end() {
                Err(e) => e.to_string(),
                // Cannot happen (the same input failed a moment ago); say so rather than panic.
                Ok(()) => "payload rejected by the parser".into(),
            },
        },
    }
}

/// Which way a firing alert asks to move a function (label `scale_direction`, default `up`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Up,
    Down,
}

/// Identity of one alert episode: the same series (fingerprint) firing from the same `startsAt`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EpisodeKey {
    pub fingerprint: String,
    pub starts_at: DateTime<Utc>,
}

/// One alert, reduced to what the ledger and the policies need.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Signal {
    pub alertname: String,
    pub status: Status,
    pub direction: Direction,
    /// Label `scale_policy` set by the rule pack, parsed; `None` means the configured default.
    pub policy: Option<PolicyKind>,
    pub episode: EpisodeKey,
    /// When a resolved episode ended (its `endsAt`, when later than its start): a copy of the
    /// fingerprint that starts before it is of this episode, whatever its start (an HA peer's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<DateTime<Utc>>,
    pub annotations: Labels,
}

/// All signals of one notification for one function: they produce one decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Intent {
    pub function: FunctionId,
    pub signals: Vec<Signal>,
}

/// How alerts are attributed to functions.
#[derive(Debug, Clone)]
pub struct Identity {
    pub function_label: String,
    pub default_namespace: String,
    pub allowed_namespaces: Vec<String>,
}

/// Group a notification's alerts by function, in a stable order; alerts that name no eligible
/// function are returned as skipped with the reason.
pub fn intents(webhook: &Webhook, identity: &Identity) -> (Vec<Intent>, Vec<Skipped>) {
    webhook.notification().intents(identity)
}

impl Notification<'_> {
    /// As [`intents`], from the borrowed notification: only what a signal keeps is copied.
    pub fn intents(&self, identity: &Identity) -> (Vec<Intent>, Vec<Skipped>) {
        // Consecutive alerts of one function join one intent as they come: most notifications
        // name one function, and are then grouped without a sort or a second vector.
        let mut intents: Vec<Intent> = Vec::new();
        let mut skipped = Vec::new();
        for alert in &self.alerts {
            match alert.signal(identity) {
                Ok((function, signal)) => match intents.last_mut() {
                    Some(last) if last.function == function => last.signals.push(signal),
                    _ => intents.push(Intent {
                        function,
                        signals: vec![signal],
                    }),
                },
                Err(skip) => skipped.push(skip),
            }
        }
        // Then grouped by function in a stable order, each function's signals in body order: the
        // sort is stable, so a function's intents stay in body order and join in it.
        if !intents.is_sorted_by(|a, b| a.function < b.function) {
            intents.sort_by(|a, b| a.function.cmp(&b.function));
            intents.dedup_by(|later, earlier| {
                let same = later.function == earlier.function;
                if same {
                    earlier.signals.append(&mut later.signals);
                }
                same
            });
        }
        (intents, skipped)
    }
}

/// The longest alert name an episode is stored under (the ledger keeps it for the listing and the
/// settle pass's `ALERTS{alertname=…}` check; payload values are echoed up to the same length).
/// Longer is refused: the ledger's size must not depend on what a payload sends.
pub const MAX_ALERTNAME_BYTES: usize = crate::skipped::MAX_VALUE_CHARS;
/// The longest fingerprint an episode is keyed by: AlertManager's are 16 hex digits, and so is the
/// one computed for a payload without.
pub const MAX_FINGERPRINT_BYTES: usize = 64;

impl AlertRef<'_> {
    /// The function this alert names and its signal, or why it is skipped.
    fn signal(&self, identity: &Identity) -> Result<(FunctionId, Signal), Skipped> {
        let function = self.function(identity)?;
        let refuse = |reason: String| self.skipped(Some(function.to_string()), reason);
        let direction = self.direction().map_err(refuse)?;
        let policy = self.policy().map_err(refuse)?;
        let (alertname, fingerprint) = (self.alertname(), self.episode_fingerprint());
        fits_an_episode(alertname, &fingerprint).map_err(refuse)?;
        let signal = Signal {
            alertname: alertname.to_owned(),
            status: self.status,
            direction,
            policy,
            episode: EpisodeKey {
                fingerprint,
                starts_at: self.starts_at,
            },
            ends_at: self
                .ends_at
                .filter(|&end| self.status == Status::Resolved && end > self.starts_at),
            annotations: self.annotations.to_labels(),
        };
        Ok((function, signal))
    }

    /// The `alertname` label, empty when absent.
    fn alertname(&self) -> &str {
        self.labels.get("alertname").unwrap_or_default()
    }

    /// The fingerprint the alert's episode is keyed by: as sent, else computed from its labels.
    fn episode_fingerprint(&self) -> String {
        match self.fingerprint.as_deref() {
            Some(f) if !f.is_empty() => f.to_owned(),
            _ => self.labels.fingerprint(),
        }
    }

    /// The alert left out for `reason`: `refused` when it names a function, else `skipped`.
    fn skipped(&self, function: Option<String>, reason: String) -> Skipped {
        Skipped {
            outcome: if function.is_some() {
                "refused"
            } else {
                "skipped"
            },
            alertname: self.alertname().to_owned(),
            fingerprint: self.episode_fingerprint(),
            function,
            reason,
        }
    }

    /// The function the alert's function label names, in one of the allowed namespaces.
    fn function(&self, identity: &Identity) -> Result<FunctionId, Skipped> {
        let Some(label) = self.labels.get(&identity.function_label) else {
            let reason = format!("alert has no {:?} label", identity.function_label);
            return Err(self.skipped(None, reason));
        };
        let function = match FunctionId::parse(label, &identity.default_namespace) {
            Ok(function) => function,
            Err(reason) => return Err(self.skipped(Some(label.to_owned()), reason)),
        };
        if !identity.allowed_namespaces.contains(&function.namespace) {
            let reason = format!(
                "namespace {:?} is not in the allowed namespaces {:?}",
                function.namespace, identity.allowed_namespaces
            );
            return Err(self.skipped(Some(function.to_string()), reason));
        }
        Ok(function)
    }

    /// The `scale_direction` label: `up` when absent.
    fn direction(&self) -> Result<Direction, String> {
        match self.labels.get("scale_direction") {
            None | Some("up") => Ok(Direction::Up),
            Some("down") => Ok(Direction::Down),
            Some(other) => Err(format!(
                "label scale_direction={other:?}: expected \"up\" or \"down\""
            )),
        }
    }

    /// The `scale_policy` label, if any.
    fn policy(&self) -> Result<Option<PolicyKind>, String> {
        self.labels
            .get("scale_policy")
            .map(PolicyKind::parse)
            .transpose()
    }
}

/// Whether `alertname` and `fingerprint` fit the bounds an episode is stored under
/// ([`MAX_ALERTNAME_BYTES`], [`MAX_FINGERPRINT_BYTES`]); the reason when not.
fn fits_an_episode(alertname: &str, fingerprint: &str) -> Result<(), String> {
    let too_long = |what: &str, value: &str, max: usize, hint: &str| {
        let size = value.len();
        let value = crate::skipped::shorten(value, crate::skipped::MAX_VALUE_CHARS);
        format!(
            "{what} is {size} bytes, above the {max} an episode is stored under{hint}: {value:?}"
        )
    };
    if alertname.len() > MAX_ALERTNAME_BYTES {
        return Err(too_long("alertname", alertname, MAX_ALERTNAME_BYTES, ""));
    }
    if fingerprint.len() > MAX_FINGERPRINT_BYTES {
        let hint = " (AlertManager's are 16 hex digits; leave it out to have one computed)";
        return Err(too_long(
            "fingerprint",
            fingerprint,
            MAX_FINGERPRINT_BYTES,
            hint,
        ));
    }
    Ok(())
}

/// AlertManager's own fingerprint of a label set (FNV-1a 64 over sorted `name 0xff value 0xff`),
/// used when a payload carries no fingerprint so that the same series always gets the same key.
pub fn fingerprint(labels: &Labels) -> String {
    fingerprint_sorted(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

fn fingerprint_sorted<'a>(labels: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut hasher = fnv::FnvHasher::default();
    for (name, value) in labels {
        hasher.write(name.as_bytes());
        hasher.write_u8(0xff);
        hasher.write(value.as_bytes());
        hasher.write_u8(0xff);
    }
    format!("{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests;
