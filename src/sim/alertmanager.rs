//! The AlertManager side of the monitoring path: aggregation groups with group_wait, group_interval and
//! repeat_interval, the notification log that decides whether a flush notifies (AlertManager 0.25's
//! `DedupStage.needsUpdate`), send_resolved, and the webhook payload (version 4) it posts.
//!
//! Timing as in AlertManager's dispatcher: a new group flushes `group_wait` after its first alert, then every
//! `group_interval`; a flush notifies when a firing alert is new, an alert resolved (send_resolved) or
//! everything resolved, or the last notification is older than `repeat_interval` (strictly). Resolved alerts
//! leave the group after a flush; empty groups are removed by the maintenance pass every 30 s.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::alert::{self, Alert, Labels, Status, Webhook};

/// AlertManager route and receiver settings that shape timing.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertmanagerSpec {
    pub group_by: Vec<String>,
    pub group_wait_secs: u64,
    pub group_interval_secs: u64,
    pub repeat_interval_secs: u64,
    pub send_resolved: bool,
    /// Each notification reaches the receiver this many times (HA peers that did not see each other's
    /// notification log, or retries after a lost answer). 1 = exactly once.
    pub deliveries: u32,
}

impl Default for AlertmanagerSpec {
    /// The alertscaler rule pack's `prometheus/alertmanager.yml`.
    fn default() -> Self {
        Self {
            group_by: vec!["alertname".into(), "function_name".into()],
            group_wait_secs: 5,
            group_interval_secs: 10,
            repeat_interval_secs: 30,
            send_resolved: true,
            deliveries: 1,
        }
    }
}

/// An alert as Prometheus sends it, tagged with the simulated function it concerns.
#[derive(Debug, Clone, PartialEq)]
pub struct PromAlert {
    pub function: usize,
    pub labels: Labels,
    pub annotations: Labels,
    pub starts_at: u64,
    /// Set when resolved.
    pub ends_at: Option<u64>,
}

/// One webhook post, with the simulated function of each alert (same order as `webhook.alerts`).
#[derive(Debug, Clone)]
pub struct Notification {
    pub at: u64,
    pub webhook: Webhook,
    pub functions: Vec<usize>,
}

#[derive(Debug)]
struct Group {
    labels: Labels,
    alerts: BTreeMap<String, PromAlert>,
    next_flush: u64,
    has_flushed: bool,
}

#[derive(Debug)]
struct LogEntry {
    firing: BTreeSet<String>,
    resolved: BTreeSet<String>,
    at: u64,
}

/// A single AlertManager with one route and one webhook receiver.
#[derive(Debug)]
pub struct Alertmanager {
    spec: AlertmanagerSpec,
    groups: BTreeMap<String, Group>,
    log: BTreeMap<String, LogEntry>,
    epoch: DateTime<Utc>,
}

impl Alertmanager {
    pub fn new(spec: AlertmanagerSpec, epoch: DateTime<Utc>) -> Self {
        Self {
            spec,
            groups: BTreeMap::new(),
            log: BTreeMap::new(),
            epoch,
        }
    }

    /// Receive an alert from Prometheus at `now`.
    pub fn receive(&mut self, alert: PromAlert, now: u64) {
        let labels: Labels = self
            .spec
            .group_by
            .iter()
            .filter_map(|k| alert.labels.get(k).map(|v| (k.clone(), v.clone())))
            .collect();
        let key = group_key(&labels);
        let wait = self.spec.group_wait_secs;
        let group = self.groups.entry(key).or_insert_with(|| Group {
            labels,
            alerts: BTreeMap::new(),
            next_flush: now + wait,
            has_flushed: false,
        });
        if !group.has_flushed && alert.starts_at + wait < now {
            group.next_flush = now;
        }
        let fp = alert::fingerprint(&alert.labels);
        group.alerts.insert(fp, alert);
    }

    /// Run the timers due at `now` and return the notifications sent.
    pub fn tick(&mut self, now: u64) -> Vec<Notification> {
        if now > 0 && now.is_multiple_of(30) {
            self.groups.retain(|_, g| !g.alerts.is_empty());
        }
        let mut out = Vec::new();
        let spec = &self.spec;
        for (key, group) in &mut self.groups {
            if group.next_flush > now {
                continue;
            }
            group.has_flushed = true;
            group.next_flush = now + spec.group_interval_secs;
            if group.alerts.is_empty() {
                continue;
            }
            let firing: BTreeSet<String> = group
                .alerts
                .iter()
                .filter(|(_, a)| a.ends_at.is_none())
                .map(|(fp, _)| fp.clone())
                .collect();
            let resolved: BTreeSet<String> = group
                .alerts
                .keys()
                .filter(|fp| !firing.contains(*fp))
                .cloned()
                .collect();
            if needs_update(self.log.get(key), &firing, &resolved, spec, now) {
                let sent: Vec<&PromAlert> = group
                    .alerts
                    .values()
                    .filter(|a| spec.send_resolved || a.ends_at.is_none())
                    .collect();
                if !sent.is_empty() {
                    out.push(notification(key, &group.labels, &sent, now, self.epoch));
                }
                self.log.insert(
                    key.clone(),
                    LogEntry {
                        firing,
                        resolved,
                        at: now,
                    },
                );
            }
            group.alerts.retain(|_, a| a.ends_at.is_none());
        }
        out
    }
}

fn needs_update(
    entry: Option<&LogEntry>,
    firing: &BTreeSet<String>,
    resolved: &BTreeSet<String>,
    spec: &AlertmanagerSpec,
    now: u64,
) -> bool {
    let Some(entry) = entry else {
        return !firing.is_empty();
    };
    if !firing.is_subset(&entry.firing) {
        return true;
    }
    if firing.is_empty() {
        return !entry.firing.is_empty();
    }
    if spec.send_resolved && !resolved.is_subset(&entry.resolved) {
        return true;
    }
    entry.at + spec.repeat_interval_secs < now
}

fn group_key(labels: &Labels) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{}}:{{{}}}", inner.join(", "))
}

/// Simulated second → wall-clock timestamp in the payload.
pub fn timestamp(epoch: DateTime<Utc>, t: u64) -> DateTime<Utc> {
    epoch + chrono::TimeDelta::seconds(i64::try_from(t).unwrap_or(i64::MAX / 1000))
}

/// AlertManager's zero time, sent as `endsAt` of firing alerts.
fn zero_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("0001-01-01T00:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn common(maps: &[&Labels]) -> Labels {
    let mut out = maps.first().map(|m| (*m).clone()).unwrap_or_default();
    for m in &maps[1..] {
        out.retain(|k, v| m.get(k) == Some(v));
    }
    out
}

fn notification(
    key: &str,
    group_labels: &Labels,
    alerts: &[&PromAlert],
    now: u64,
    epoch: DateTime<Utc>,
) -> Notification {
    let firing = alerts.iter().any(|a| a.ends_at.is_none());
    let payload: Vec<Alert> = alerts
        .iter()
        .map(|a| Alert {
            status: if a.ends_at.is_some() {
                Status::Resolved
            } else {
                Status::Firing
            },
            labels: a.labels.clone(),
            annotations: a.annotations.clone(),
            starts_at: timestamp(epoch, a.starts_at),
            ends_at: Some(a.ends_at.map_or_else(zero_time, |e| timestamp(epoch, e))),
            generator_url: String::new(),
            fingerprint: Some(alert::fingerprint(&a.labels)),
        })
        .collect();
    let labels: Vec<&Labels> = alerts.iter().map(|a| &a.labels).collect();
    let annotations: Vec<&Labels> = alerts.iter().map(|a| &a.annotations).collect();
    Notification {
        at: now,
        functions: alerts.iter().map(|a| a.function).collect(),
        webhook: Webhook {
            version: alert::SUPPORTED_VERSION.into(),
            group_key: key.to_owned(),
            truncated_alerts: 0,
            status: if firing {
                Status::Firing
            } else {
                Status::Resolved
            },
            receiver: "alertscaler".into(),
            group_labels: group_labels.clone(),
            common_labels: common(&labels),
            common_annotations: common(&annotations),
            external_url: "http://alertmanager.sim:9093".into(),
            alerts: payload,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(function: usize, name: &str, starts_at: u64, ends_at: Option<u64>) -> PromAlert {
        let labels: Labels = [
            ("alertname", "APIHighInvocationRate"),
            ("function_name", name),
            ("service", "gateway"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        PromAlert {
            function,
            labels,
            annotations: Labels::new(),
            starts_at,
            ends_at,
        }
    }

    fn am(spec: AlertmanagerSpec) -> Alertmanager {
        Alertmanager::new(spec, DateTime::<Utc>::UNIX_EPOCH)
    }

    fn run(am: &mut Alertmanager, from: u64, to: u64) -> Vec<(u64, Status, usize)> {
        (from..=to)
            .flat_map(|t| am.tick(t))
            .map(|n| (n.at, n.webhook.status, n.webhook.alerts.len()))
            .collect()
    }

    #[test]
    fn without_send_resolved_the_resolution_is_not_posted() {
        let spec = AlertmanagerSpec {
            send_resolved: false,
            ..AlertmanagerSpec::default()
        };
        let mut am = am(spec);
        am.receive(alert(0, "f.ns", 10, None), 10);
        assert_eq!(run(&mut am, 10, 20), vec![(15, Status::Firing, 1)]);
        am.receive(alert(0, "f.ns", 10, Some(21)), 21);
        assert_eq!(run(&mut am, 21, 100), vec![]);
    }

    #[test]
    fn ce_grouping_puts_every_function_in_one_post() {
        let spec = AlertmanagerSpec {
            group_by: vec!["alertname".into(), "service".into()],
            ..AlertmanagerSpec::default()
        };
        let mut am = am(spec);
        am.receive(alert(0, "a.ns", 10, None), 10);
        assert_eq!(run(&mut am, 10, 15), vec![(15, Status::Firing, 1)]);
        am.receive(alert(1, "b.ns", 18, None), 18);
        // A new firing alert joins at the next group_interval tick (25) and the post repeats a's alert too.
        let posts: Vec<Notification> = (16..=25).flat_map(|t| am.tick(t)).collect();
        assert_eq!(posts.len(), 1);
        assert_eq!((posts[0].at, posts[0].functions.clone()), (25, vec![0, 1]));
        let fp = posts[0].webhook.alerts[0].fingerprint.clone().unwrap();
        assert_eq!(fp, alert::fingerprint(&posts[0].webhook.alerts[0].labels));
        assert_eq!(posts[0].webhook.group_labels.len(), 2);
        assert_eq!(
            posts[0].webhook.common_labels.get("service").unwrap(),
            "gateway"
        );
    }

    /// AlertManager 0.25's dispatcher: a new group flushes at once when its alert started *more* than
    /// group_wait ago (`StartsAt + GroupWait` before now), else group_wait after the alert arrives.
    #[test]
    fn an_old_alert_in_a_new_group_flushes_at_once() {
        let mut am = am(AlertmanagerSpec::default());
        am.receive(alert(0, "old.ns", 10, None), 16);
        am.receive(alert(1, "just.ns", 11, None), 16);
        let posts: Vec<(u64, Vec<usize>)> = (16..=21)
            .flat_map(|t| am.tick(t))
            .map(|n| (n.at, n.functions))
            .collect();
        assert_eq!(posts, vec![(16, vec![0]), (21, vec![1])]);
    }

    /// `DedupStage.needsUpdate`: nothing changed → notify only when the last notification is *more* than
    /// repeat_interval old, checked at group_interval flushes: posted at 15, flushes at 25, 35, 45 (exactly
    /// 30 s: not yet), 55.
    #[test]
    fn unchanged_groups_repeat_after_more_than_repeat_interval() {
        let mut am = am(AlertmanagerSpec::default());
        am.receive(alert(0, "f.ns", 10, None), 10);
        let posts: Vec<u64> = run(&mut am, 10, 90).into_iter().map(|p| p.0).collect();
        assert_eq!(posts, vec![15, 55]);
    }

    #[test]
    fn resolved_then_refired_alert_in_a_flushed_group_waits_for_the_interval() {
        let mut am = am(AlertmanagerSpec::default());
        am.receive(alert(0, "f.ns", 10, None), 10);
        run(&mut am, 10, 15);
        am.receive(alert(0, "f.ns", 10, Some(17)), 17);
        assert_eq!(run(&mut am, 16, 25), vec![(25, Status::Resolved, 1)]);
        // The empty group lives until the 30 s maintenance; an alert at 28 joins it: no group_wait, the next
        // interval tick (35) posts it.
        am.receive(alert(0, "f.ns", 28, None), 28);
        assert_eq!(run(&mut am, 26, 35), vec![(35, Status::Firing, 1)]);
    }
}
