//! Leader check for background passes: a `coordination.k8s.io/v1` Lease that one replica holds
//! and renews on every pass. The others skip their passes while the holder's renewal is fresh, so
//! two replicas no longer both LIST every function and race each other into 409s.
//!
//! Correctness never depends on the Lease: every write is still conditioned on resourceVersions.
//! Two replicas that both believe they lead (clock skew, a slow renewal) only repeat work.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use super::FIELD_MANAGER;
use super::errors::{Call, LEASES};
use super::request;
use crate::error::BackendError;

/// What this replica does with the Lease on a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// No Lease yet: create it, holding it.
    Create,
    /// We hold it: renew.
    Renew,
    /// Nobody holds it, or the holder stopped renewing: take it over.
    TakeOver,
    /// Someone else holds a fresh Lease: skip the pass.
    Follow,
}

fn chrono_of(
    t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime,
) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(t.0.as_millisecond())
}

/// Pure: what `me` does with `lease` at `now`; `duration` is used when the Lease names none.
pub(crate) fn decide(
    lease: Option<&LeaseSpec>,
    me: &str,
    now: DateTime<Utc>,
    duration: Duration,
) -> Step {
    let Some(spec) = lease else {
        return Step::Create;
    };
    match spec.holder_identity.as_deref() {
        Some(holder) if holder == me => return Step::Renew,
        None | Some("") => return Step::TakeOver,
        Some(_) => {}
    }
    let secs = spec
        .lease_duration_seconds
        .map_or(duration.as_secs() as i64, i64::from);
    match spec.renew_time.as_ref().and_then(chrono_of) {
        Some(renewed) if renewed + TimeDelta::seconds(secs) > now => Step::Follow,
        _ => Step::TakeOver,
    }
}

/// The Lease and who we are in it.
#[derive(Debug, Clone)]
pub struct Election {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub duration: Duration,
}

impl Election {
    /// A unique identity for this process: the pod's hostname and a random suffix.
    pub fn identity() -> String {
        use std::hash::BuildHasher;
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "alertscaler".into());
        let random = std::collections::hash_map::RandomState::new().hash_one(std::process::id());
        format!("{host}-{:08x}", random as u32)
    }

    /// Whether this replica holds (or just took) the Lease at `now`. A lost race is `Ok(false)`.
    pub(crate) async fn leads(
        &self,
        client: &Client,
        timeout: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool, BackendError> {
        let (ns, name) = (self.namespace.as_str(), self.name.as_str());
        let api: Api<Lease> = Api::namespaced(client.clone(), ns);
        let get = Call::on("get", LEASES, ns, name);
        let current = request::run(get, timeout, || api.get_opt(name)).await?;
        let spec = current.as_ref().and_then(|l| l.spec.as_ref());
        let step = decide(spec, &self.identity, now, self.duration);
        let stamp = now.to_rfc3339_opts(SecondsFormat::Micros, true);
        let duration = i32::try_from(self.duration.as_secs()).unwrap_or(i32::MAX);
        let result = match step {
            Step::Follow => return Ok(false),
            Step::Create => {
                let lease: Lease = serde_json::from_value(json!({
                    "metadata": { "name": name, "namespace": ns },
                    "spec": {
                        "holderIdentity": self.identity, "leaseDurationSeconds": duration,
                        "acquireTime": stamp, "renewTime": stamp, "leaseTransitions": 0,
                    },
                }))
                .map_err(|e| BackendError::Unavailable(format!("cannot build the Lease: {e}")))?;
                let pp = PostParams {
                    field_manager: Some(FIELD_MANAGER.into()),
                    ..PostParams::default()
                };
                let call = Call::on("create", LEASES, ns, name);
                request::run(call, timeout, || api.create(&pp, &lease))
                    .await
                    .map(|_| ())
            }
            Step::Renew | Step::TakeOver => {
                let version = current
                    .as_ref()
                    .and_then(|l| l.metadata.resource_version.clone());
                let mut spec = json!({ "holderIdentity": self.identity, "renewTime": stamp,
                    "leaseDurationSeconds": duration });
                if step == Step::TakeOver {
                    spec["acquireTime"] = json!(stamp);
                    let transitions = current
                        .as_ref()
                        .and_then(|l| l.spec.as_ref())
                        .and_then(|s| s.lease_transitions)
                        .unwrap_or(0);
                    spec["leaseTransitions"] = json!(transitions.saturating_add(1));
                }
                let patch = json!({ "metadata": { "resourceVersion": version }, "spec": spec });
                let pp = PatchParams {
                    field_manager: Some(FIELD_MANAGER.into()),
                    ..PatchParams::default()
                };
                let call = Call::on("patch", LEASES, ns, name);
                let patch = Patch::Merge(&patch);
                request::run(call, timeout, || api.patch(name, &pp, &patch))
                    .await
                    .map(|_| ())
            }
        };
        match result {
            Ok(()) => Ok(true),
            // Another replica created or renewed it first.
            Err(f) if matches!(f.error, BackendError::Conflict(_)) => Ok(false),
            Err(f) => Err(f.error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: Option<&str>, renewed: Option<&str>, secs: Option<i32>) -> LeaseSpec {
        serde_json::from_value(json!({
            "holderIdentity": holder, "renewTime": renewed, "leaseDurationSeconds": secs,
        }))
        .unwrap()
    }

    #[test]
    fn who_leads() {
        let now: DateTime<Utc> = "2026-11-24T07:00:00Z".parse().unwrap();
        let d = Duration::from_secs(45);
        let fresh = Some("2026-11-24T06:59:50.000000Z");
        let stale = Some("2026-11-24T06:59:00.000000Z");
        for (lease, want) in [
            (None, Step::Create),
            (Some(spec(Some("me"), stale, Some(45))), Step::Renew),
            (Some(spec(Some("other"), fresh, Some(45))), Step::Follow),
            (Some(spec(Some("other"), stale, Some(45))), Step::TakeOver),
            (Some(spec(Some("other"), stale, Some(120))), Step::Follow),
            (Some(spec(Some("other"), fresh, None)), Step::Follow),
            (Some(spec(Some("other"), None, Some(45))), Step::TakeOver),
            (Some(spec(None, fresh, Some(45))), Step::TakeOver),
        ] {
            assert_eq!(decide(lease.as_ref(), "me", now, d), want, "{lease:?}");
        }
    }
}
