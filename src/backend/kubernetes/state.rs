//! The per-function state object and the pure rules of its intent/confirm protocol.
//!
//! faas-netes replaces a Deployment's annotations wholesale on every redeploy, so the ledger lives
//! in a ConfigMap alertscaler owns (`<state_prefix><function>` in the function's namespace, owned
//! by the Deployment so that deleting the function deletes it; see [`object_name`] and
//! [`label_value`] for names longer than the apiserver allows there). A replica write is two steps:
//! 1. **intent**: the ConfigMap is written under its own resourceVersion with the new ledger and a
//!    [`Pending`] record (from, to, the previous ledger, the Deployment version the write is
//!    conditioned on). Of two receivers racing on one episode only one intent is accepted;
//! 2. the Deployment's `spec.replicas` is patched to the absolute target under the Deployment's
//!    resourceVersion; then the pending record is cleared (**confirm**), or the previous ledger
//!    restored when the patch certainly did not land (**rollback**).
//!
//! A pending record found by a later read (the writer died, or its patch's answer was lost) is
//! settled by [`resolve`]. The patch is absolute and conditioned on the Deployment version, so
//! sending it again is safe: at most one copy can land. A reader therefore COMPLETES an unfinished
//! write (after claiming the record, so the original writer cannot roll it back underneath).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::stored::Stored;

/// Data key of the ledger (JSON of [`Stored`]).
pub(crate) const LEDGER_KEY: &str = "ledger";
/// Data key of the pending write (JSON of [`Pending`]); absent when none.
pub(crate) const PENDING_KEY: &str = "pending";
/// Label on every state ConfigMap (listing and the admission policy select on it).
pub(crate) const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "alertscaler");
/// Label naming the function a state ConfigMap belongs to (see [`label_value`]), and annotation
/// holding its full name (written since function names over 63 characters were supported; an
/// object without it is from an earlier version, whose label is the full name).
pub(crate) const FUNCTION_LABEL: &str = "alertscaler.openfaas.com/function";

/// A replica write that was announced but not yet confirmed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pending {
    pub from: u32,
    pub to: u32,
    /// The ledger before this write, restored if the write did not land.
    pub previous: Stored,
    /// resourceVersion of the Deployment the patch is conditioned on.
    pub deployment_version: String,
    /// When the intent was written, by the writer's clock: logged, and compared with the writer's
    /// deadline to decide whether a reader that finds the move landed reports it.
    pub at: DateTime<Utc>,
    /// Bumped by a reader that takes the write over, so the record's version moves.
    #[serde(default)]
    pub claims: u32,
}

/// How a pending write is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// The Deployment is still at the conditioned version: the patch has not landed, and sending it
    /// (again) lands it at most once.
    Unfinished,
    /// The patch landed: keep the new ledger, clear the record.
    Landed,
    /// The patch did not land: restore the previous ledger.
    NotLanded,
    /// Someone else set the replicas since: keep the new ledger (the episode is not stepped twice).
    Foreign,
}

/// Settle `p` given the Deployment's version and replicas now. A Deployment that moved can no
/// longer take the patch (it is conditioned on the old version), so its replicas tell what happened.
pub fn resolve(p: &Pending, deployment_version: &str, replicas: u32) -> Resolution {
    if deployment_version == p.deployment_version {
        Resolution::Unfinished
    } else if replicas == p.to {
        Resolution::Landed
    } else if replicas == p.from {
        Resolution::NotLanded
    } else {
        Resolution::Foreign
    }
}

/// What alertscaler keeps in the version token of a read: both resourceVersions and the replicas
/// read. Encoded as one opaque string for the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Version {
    pub deployment: String,
    /// The state ConfigMap's resourceVersion; `None` when it does not exist yet.
    pub state: Option<String>,
    pub replicas: u32,
}

impl Version {
    /// `deployment/state-or-dash/replicas`.
    pub fn encode(&self) -> String {
        format!(
            "{}/{}/{}",
            self.deployment,
            self.state.as_deref().unwrap_or("-"),
            self.replicas
        )
    }

    /// The inverse of [`Version::encode`]; `None` for a token this backend did not make.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split('/');
        let deployment = parts.next().filter(|s| !s.is_empty())?.to_owned();
        let state = match parts.next()? {
            "-" => None,
            s if !s.is_empty() => Some(s.to_owned()),
            _ => return None,
        };
        let replicas = parts.next()?.parse().ok()?;
        parts.next().is_none().then_some(Self {
            deployment,
            state,
            replicas,
        })
    }
}

/// Longest label value.
const LABEL_VALUE_MAX: usize = 63;
/// Longest object name (a DNS-1123 subdomain).
const OBJECT_NAME_MAX: usize = 253;

/// `text` as is when it has at most `max` characters; else its head and a hash of the whole,
/// `<head>-<16 hex>`, exactly `max` long at most. The head ends alphanumeric, so the result is a
/// valid label value or DNS-1123 subdomain whenever `text` starts as one (a `.` or `-` before the
/// `-` would not be). The hash is 64-bit FNV-1a: fixed by its definition, so the short form a
/// version writes is the one every later version finds.
fn shortened(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut hasher = fnv::FnvHasher::default();
    std::hash::Hasher::write(&mut hasher, text.as_bytes());
    let hash = format!("{:016x}", std::hash::Hasher::finish(&hasher));
    let mut cut = max.saturating_sub(hash.len() + 1);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let head = text[..cut].trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    format!("{head}-{hash}")
}

/// The state ConfigMap's name for `function`: `<prefix><function>`, or when that is longer than an
/// object name may be, `<prefix><head of function>-<hash>` (253 characters). Names that fit keep
/// the form earlier versions wrote, so their state is found after an upgrade.
pub(crate) fn object_name(prefix: &str, function: &str) -> String {
    let room = OBJECT_NAME_MAX.saturating_sub(prefix.len());
    format!("{prefix}{}", shortened(function, room))
}

/// The value of [`FUNCTION_LABEL`] for `function`: its name when it fits a label value (63
/// characters, as earlier versions wrote it), else a shortened form. Only a selector reads the
/// label; who the object belongs to is the [`FUNCTION_LABEL`] annotation, which holds the full name.
pub(crate) fn label_value(function: &str) -> String {
    shortened(function, LABEL_VALUE_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_table() {
        let p = Pending {
            from: 1,
            to: 3,
            previous: Stored::default(),
            deployment_version: "10".into(),
            at: "2026-11-24T06:55:10Z".parse().unwrap(),
            claims: 0,
        };
        for (version, replicas, want) in [
            ("10", 1, Resolution::Unfinished),
            ("10", 3, Resolution::Unfinished),
            ("11", 3, Resolution::Landed),
            ("11", 1, Resolution::NotLanded),
            ("11", 5, Resolution::Foreign),
            ("12", 3, Resolution::Landed),
        ] {
            assert_eq!(resolve(&p, version, replicas), want, "{version} {replicas}");
        }
    }

    #[test]
    fn version_round_trips_and_refuses_foreign_tokens() {
        for v in [
            Version {
                deployment: "123".into(),
                state: None,
                replicas: 0,
            },
            Version {
                deployment: "9".into(),
                state: Some("77".into()),
                replicas: 5,
            },
        ] {
            assert_eq!(Version::parse(&v.encode()), Some(v.clone()));
        }
        for bad in ["", "1", "1/2", "1/2/x", "1/2/3/9", "/2/3", "1//3"] {
            assert_eq!(Version::parse(bad), None, "{bad:?}");
        }
    }

    /// A label value or a DNS-1123 subdomain, checked independently of [`shortened`].
    fn valid(s: &str, max: usize, subdomain: bool) -> bool {
        let alnum = |c: u8| {
            c.is_ascii_digit() || c.is_ascii_lowercase() || (!subdomain && c.is_ascii_uppercase())
        };
        let inner = |c: u8| alnum(c) || c == b'-' || c == b'.' || (!subdomain && c == b'_');
        let parts: Vec<&str> = if subdomain {
            s.split('.').collect()
        } else {
            vec![s]
        };
        s.len() <= max
            && parts.iter().all(|p| {
                let b = p.as_bytes();
                !b.is_empty() && alnum(b[0]) && alnum(b[b.len() - 1]) && b.iter().all(|c| inner(*c))
            })
    }

    #[test]
    fn names_that_fit_are_kept_as_earlier_versions_wrote_them() {
        assert_eq!(object_name("alertscaler-", "echo"), "alertscaler-echo");
        assert_eq!(label_value("echo"), "echo");
        let at_limit = "a".repeat(63);
        assert_eq!(label_value(&at_limit), at_limit);
        let at_limit = "b".repeat(241);
        assert_eq!(
            object_name("alertscaler-", &at_limit),
            format!("alertscaler-{at_limit}")
        );
    }

    #[test]
    fn long_names_are_shortened_to_valid_distinct_stable_forms() {
        let mut seen = std::collections::HashSet::new();
        for len in [64, 70, 71, 200, 242, 253] {
            for shape in ["a", "a.", "a-", "a.b-"] {
                let name: String = shape.chars().cycle().take(len - 1).collect::<String>() + "z";
                let label = label_value(&name);
                assert!(valid(&label, 63, false), "{label}");
                assert_eq!(label, label_value(&name), "stable");
                assert!(seen.insert(label.clone()), "distinct: {label}");
                let object = object_name("alertscaler-", &name);
                assert!(valid(&object, 253, true), "{object}");
                assert!(object.starts_with("alertscaler-"), "{object}");
            }
        }
        // Names differing only past the kept head still get different short forms.
        let (a, b) = ("x".repeat(69) + "1", "x".repeat(69) + "2");
        assert_ne!(label_value(&a), label_value(&b));
        // A fixed value: the hash is part of what is stored, it must not change between versions.
        assert_eq!(
            label_value(&"x".repeat(70)),
            format!("{}-{}", "x".repeat(46), "513a36f59147a8dd")
        );
    }
}
