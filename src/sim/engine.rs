//! The per-second loop of one policy run: functions → scrapes → rule evaluations → AlertManager → the
//! decision code → replicas.
//!
//! Order within second `t`: every function serves `(t-1, t]`; Prometheus scrapes at multiples of the scrape
//! interval and evaluates at multiples of the evaluation interval, sending alerts to AlertManager at once;
//! AlertManager runs its due timers and posts; the decider handles each post with `now = t`; replicas the
//! backend reports start (cold start) or stop.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};

use super::SimError;
use super::alertmanager::{Alertmanager, Notification, PromAlert, timestamp};
use super::function::{FunctionModel, Second};
use super::load::{Rng, Trace};
use super::monitor::{Active, Send, Series, step_alert};
use super::presets::{Decider, Preset, Rule};
use super::scenario::{FunctionSpec, Scenario};
use crate::alert::{Labels, Status};
use crate::backend::memory::MemoryBackend;
use crate::config::Config;
use crate::id::FunctionId;
use crate::labels::{self, ScaleLabels};
use crate::policy::step::ce_calculate_replicas;
use crate::service::{Outcome, Service, Settings};

/// One function's second, as written to the CSV (in fleet mode, `function` is `None`: the fleet's sums).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    pub t: u64,
    pub function: Option<usize>,
    pub second: Second,
    pub replicas: u32,
    pub ready: u32,
    pub firing: u32,
}

/// A notification as the receiver got it (kept in detailed runs, for timing checks).
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationRecord {
    pub at: u64,
    pub status: Status,
    /// (alertname, function_name, status) of each alert.
    pub alerts: Vec<(String, String, Status)>,
}

/// What a policy cost and achieved over the whole run (sums over functions).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    pub slo_violation_secs: u64,
    pub replica_seconds: u64,
    pub scale_events: u64,
    pub cold_starts: u64,
    pub peak_replicas: u32,
    pub served: f64,
    pub dropped: f64,
    pub notifications: u64,
    pub refused: u64,
}

/// The result of one policy on one scenario.
#[derive(Debug, Clone)]
pub struct PolicyRun {
    pub policy: &'static Preset,
    pub totals: Totals,
    pub rows: Vec<Row>,
    pub notifications: Vec<NotificationRecord>,
    pub wall: Duration,
}

/// All policies on one scenario.
#[derive(Debug, Clone)]
pub struct Simulation {
    pub scenario: Scenario,
    /// `name.namespace` of each simulated function.
    pub functions: Vec<String>,
    pub runs: Vec<PolicyRun>,
}

impl Simulation {
    /// Fleet runs record fleet-wide sums instead of per-function series.
    pub fn is_fleet(&self) -> bool {
        self.scenario.fleet.is_some()
    }
}

/// The simulated clock's origin (any fixed instant: only differences matter).
pub fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

enum Deciding {
    Ce(Vec<Option<ScaleLabels>>),
    Service {
        service: Service,
        backend: Arc<MemoryBackend>,
        runtime: tokio::runtime::Runtime,
    },
}

/// Drive the service's settle loop (held scale-downs) every `policy.settle_interval_secs`
/// simulated seconds, as the server's background task does.
fn settle(
    deciding: &mut Deciding,
    t: u64,
    ids: &[FunctionId],
    models: &mut [FunctionModel],
    totals: &mut Totals,
) {
    let Deciding::Service {
        service,
        backend,
        runtime,
    } = deciding
    else {
        return;
    };
    let every = service.settings().policy.settle_interval_secs;
    if every == 0 || !t.is_multiple_of(every) {
        return;
    }
    let Ok(reports) = runtime.block_on(service.settle(timestamp(epoch(), t))) else {
        return;
    };
    totals.scale_events += reports
        .iter()
        .filter(|r| r.outcome == Outcome::Scaled)
        .count() as u64;
    if reports.is_empty() {
        return;
    }
    for (i, m) in models.iter_mut().enumerate() {
        if let Some(r) = backend.replicas(&ids[i])
            && r != m.desired
        {
            m.set_desired(r, t);
        }
    }
}

fn decider(preset: &Preset, specs: &[crate::config::MemoryFunction]) -> Result<Deciding, SimError> {
    let mut config = Config::default();
    if let Some(c) = preset.cooldown_secs {
        config.scale_up_cooldown_secs = c;
    }
    if let Some(mode) = preset.scale_down {
        config.policy.scale_down = mode;
    }
    config.memory.functions = specs.to_vec();
    config
        .validate()
        .map_err(|e| SimError::Config(e.to_string()))?;
    Ok(match preset.decider {
        Decider::CeNoDedup => Deciding::Ce(
            specs
                .iter()
                .map(|s| labels::parse(&s.labels, &config.labels, config.max_replicas_ceiling).ok())
                .collect(),
        ),
        Decider::Service => {
            let backend = Arc::new(MemoryBackend::new(specs));
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .map_err(|e| SimError::Runtime(e.to_string()))?;
            Deciding::Service {
                service: Service::new(backend.clone(), Settings::from_config(&config)),
                backend,
                runtime,
            }
        }
    })
}

/// Run one policy preset on the expanded functions of a scenario.
pub fn run_policy(
    scenario: &Scenario,
    functions: &[(FunctionSpec, Trace)],
    preset: &'static Preset,
    seed: u64,
) -> Result<PolicyRun, SimError> {
    let started = Instant::now();
    let detailed = scenario.fleet.is_none();
    let rules: Vec<Rule> = preset.rules.iter().map(|k| k.rule()).collect();
    let histogram = rules.iter().any(|r| r.expr.needs_histogram());
    let prom = scenario.prometheus;
    let keep = rules.iter().map(|r| r.expr.window()).max().unwrap_or(0) + prom.scrape_interval_secs;
    let specs: Vec<crate::config::MemoryFunction> = functions
        .iter()
        .map(|(f, _)| {
            let mut labels = f.labels.clone();
            labels.extend(
                preset
                    .labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string())),
            );
            crate::config::MemoryFunction {
                name: f.name.clone(),
                namespace: f.namespace.clone(),
                replicas: f.replicas,
                labels,
            }
        })
        .collect();
    let ids: Vec<FunctionId> = specs
        .iter()
        .map(|s| FunctionId {
            name: s.name.clone(),
            namespace: s.namespace.clone(),
        })
        .collect();
    let names: Vec<String> = ids.iter().map(ToString::to_string).collect();
    let mut deciding = decider(preset, &specs)?;
    let mut models: Vec<FunctionModel> = functions
        .iter()
        .enumerate()
        .map(|(i, (f, trace))| {
            let stream = Rng::new(seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)).next_u64();
            FunctionModel::new(f, trace.clone(), Rng::new(stream))
        })
        .collect();
    let mut series = vec![Series::default(); models.len()];
    let mut alerts: Vec<Vec<Option<Active>>> = vec![vec![None; models.len()]; rules.len()];
    let mut am = Alertmanager::new(scenario.alertmanager.clone(), epoch());
    let mut totals = Totals::default();
    let mut rows = Vec::new();
    let mut records = Vec::new();

    for t in 1..=scenario.duration_secs {
        let mut fleet = Second::default();
        let mut seconds = Vec::with_capacity(if detailed { models.len() } else { 0 });
        for m in &mut models {
            let s = m.step(t, histogram, detailed);
            totals.served += s.served;
            totals.dropped += s.dropped;
            totals.slo_violation_secs += u64::from(s.violation);
            if detailed {
                seconds.push(s);
            } else {
                fleet.offered_rps += s.offered_rps;
                fleet.arrivals += s.arrivals;
                fleet.served += s.served;
                fleet.dropped += s.dropped;
                fleet.backlog += s.backlog;
            }
        }
        if t % prom.scrape_interval_secs == 0 {
            for (m, s) in models.iter().zip(&mut series) {
                if let Some(sample) = m.sample(t) {
                    s.push(sample, keep);
                }
            }
        }
        if t % prom.evaluation_interval_secs == 0 {
            for (rule, states) in rules.iter().zip(&mut alerts) {
                for (i, state) in states.iter_mut().enumerate() {
                    let result = rule.expr.eval(&series[i], t, models[i].target_secs);
                    if let Some(send) = step_alert(state, result, t, rule.for_secs) {
                        am.receive(prom_alert(rule, i, &names[i], send), t);
                    }
                }
            }
        }
        for n in am.tick(t) {
            totals.notifications += 1;
            if detailed {
                records.push(record(&n));
            }
            for _ in 0..scenario.alertmanager.deliveries {
                deliver(&mut deciding, &n, &ids, &mut models, &mut totals, t);
            }
        }
        settle(&mut deciding, t, &ids, &mut models, &mut totals);
        let replicas: u32 = models.iter().map(|m| m.desired).sum();
        totals.replica_seconds += u64::from(replicas);
        totals.peak_replicas = totals.peak_replicas.max(replicas);
        if detailed {
            for (i, (m, s)) in models.iter().zip(seconds).enumerate() {
                let firing = alerts
                    .iter()
                    .filter(|r| r[i].is_some_and(|a| a.fired_at.is_some()))
                    .count() as u32;
                rows.push(Row {
                    t,
                    function: Some(i),
                    second: s,
                    replicas: m.desired,
                    ready: m.ready,
                    firing,
                });
            }
        } else {
            fleet.p95 = f64::NAN;
            rows.push(Row {
                t,
                function: None,
                second: fleet,
                replicas,
                ready: models.iter().map(|m| m.ready).sum(),
                firing: 0,
            });
        }
    }
    totals.cold_starts = models.iter().map(|m| m.cold_starts).sum();
    Ok(PolicyRun {
        policy: preset,
        totals,
        rows,
        notifications: records,
        wall: started.elapsed(),
    })
}

/// The alert Prometheus sends: rule labels, `alertname` and the series' `function_name`; value and target as
/// annotations (Prometheus renders `{{ $value }}` with full precision).
fn prom_alert(rule: &Rule, function: usize, name: &str, send: Send) -> PromAlert {
    let mut labels: Labels = rule
        .labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    labels.insert("alertname".into(), rule.alertname.into());
    labels.insert("function_name".into(), name.into());
    let (starts_at, ends_at, annotations) = match send {
        Send::Firing {
            starts_at,
            value,
            target,
        } => {
            let annotations = BTreeMap::from([
                ("value".to_string(), value.to_string()),
                ("target".to_string(), target.to_string()),
            ]);
            (starts_at, None, annotations)
        }
        Send::Resolved { starts_at, ends_at } => (starts_at, Some(ends_at), BTreeMap::new()),
    };
    PromAlert {
        function,
        labels,
        annotations,
        starts_at,
        ends_at,
    }
}

fn record(n: &Notification) -> NotificationRecord {
    NotificationRecord {
        at: n.at,
        status: n.webhook.status,
        alerts: n
            .webhook
            .alerts
            .iter()
            .map(|a| {
                let get = |k: &str| a.labels.get(k).cloned().unwrap_or_default();
                (get("alertname"), get("function_name"), a.status)
            })
            .collect(),
    }
}

fn deliver(
    deciding: &mut Deciding,
    n: &Notification,
    ids: &[FunctionId],
    models: &mut [FunctionModel],
    totals: &mut Totals,
    t: u64,
) {
    match deciding {
        Deciding::Ce(labels) => {
            for (alert, &i) in n.webhook.alerts.iter().zip(&n.functions) {
                let Some(l) = labels[i] else {
                    totals.refused += 1;
                    continue;
                };
                let current = models[i].desired;
                let firing = alert.status == Status::Firing;
                let to = ce_calculate_replicas(firing, current, l.max, l.min, l.factor);
                if to != current {
                    totals.scale_events += 1;
                    models[i].set_desired(to, t);
                }
            }
        }
        Deciding::Service {
            service,
            backend,
            runtime,
        } => {
            let report = runtime.block_on(service.handle(&n.webhook, timestamp(epoch(), t)));
            for f in &report.functions {
                match f.outcome {
                    Outcome::Scaled => totals.scale_events += 1,
                    Outcome::Refused | Outcome::Error => totals.refused += 1,
                    Outcome::Unchanged => {}
                }
            }
            for &i in &n.functions {
                if let Some(r) = backend.replicas(&ids[i])
                    && r != models[i].desired
                {
                    models[i].set_desired(r, t);
                }
            }
        }
    }
}
