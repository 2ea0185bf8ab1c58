//! The loop's state and its steps, one method per phase of the second (in the order [`super`] gives).

use std::collections::BTreeMap;

use super::{COMMON_DIRECTION_WINDOW_SECS, NotificationRecord, Phases, Row, Totals, epoch, stream};
use crate::alert::Labels;
use crate::id::FunctionId;
use crate::sim::SimError;
use crate::sim::alertmanager::{Alertmanager, Notification, PromAlert};
use crate::sim::capacity::{CapacityTarget, Windows};
use crate::sim::decider::Deciding;
use crate::sim::function::{FunctionModel, Second};
use crate::sim::load::Trace;
use crate::sim::monitor::{Active, NEWBORN_SECS, Send, Series, step_alert};
use crate::sim::presets::Preset;
use crate::sim::prom_api::Recorded;
use crate::sim::rules::{Expr, Rule, Targets};
use crate::sim::scenario::{FunctionSpec, Scenario};
use crate::sim::setup::Setup;

/// The state of one policy run from second to second: the functions, Prometheus' series and alerts,
/// AlertManager, the decider, and what the run records.
pub(super) struct Run<'a> {
    scenario: &'a Scenario,
    setup: &'a Setup,
    /// Per-function rows and notification records (not in fleet runs).
    detailed: bool,
    histogram: bool,
    phases: Phases,
    /// How many seconds of scraped samples each series keeps.
    keep: u64,
    ids: Vec<FunctionId>,
    names: Vec<String>,
    deciding: Deciding,
    models: Vec<FunctionModel>,
    series: Vec<Series>,
    /// Each rule's alert state for each function.
    alerts: Vec<Vec<Option<Active>>>,
    am: Alertmanager,
    totals: Totals,
    rows: Vec<Row>,
    records: Vec<NotificationRecord>,
}

/// What the functions did in one second, for the decider and the rows.
struct Served {
    /// The fleet's sums (fleet runs only).
    fleet: Second,
    /// Each function's second (detailed runs only).
    seconds: Vec<Second>,
    /// Each function's load as its capacity target measures it (requests per second, or in flight).
    loads: Vec<f64>,
    /// Functions at zero replicas that received requests.
    asleep_with_requests: Vec<usize>,
}

impl<'a> Run<'a> {
    pub(super) fn new(
        scenario: &'a Scenario,
        setup: &'a Setup,
        functions: &[(FunctionSpec, Trace)],
        preset: &'static Preset,
        seed: u64,
    ) -> Result<Self, SimError> {
        let rules: &[Rule] = &setup.rules;
        let phases = Phases::draw(scenario, seed);
        // At least the newborn range, so a trimmed history never makes an old series look newborn.
        let keep = rules
            .iter()
            .map(|r| r.expr.window())
            .fold(NEWBORN_SECS, u64::max)
            + scenario.prometheus.scrape_interval_secs;
        let ids: Vec<FunctionId> = setup
            .specs
            .iter()
            .map(|s| FunctionId {
                name: s.name.clone(),
                namespace: s.namespace.clone(),
            })
            .collect();
        let names: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let deciding = Deciding::new(preset, setup, phases.kpa)?;
        let models: Vec<FunctionModel> = functions
            .iter()
            .enumerate()
            .map(|(i, (f, trace))| FunctionModel::new(f, trace.clone(), stream(seed, i)))
            .collect();
        Ok(Self {
            scenario,
            setup,
            detailed: scenario.fleet.is_none(),
            histogram: rules.iter().any(|r| r.expr.needs_histogram()),
            phases,
            keep,
            ids,
            names,
            deciding,
            series: vec![Series::default(); models.len()],
            alerts: vec![vec![None; models.len()]; rules.len()],
            models,
            am: Alertmanager::new(scenario.alertmanager.clone(), epoch()),
            totals: Totals::default(),
            rows: Vec::new(),
            records: Vec::new(),
        })
    }

    /// Second `t`, in the order the module docs give.
    pub(super) fn second(&mut self, t: u64) {
        let served = self.serve(t);
        for &i in &served.asleep_with_requests {
            self.deciding
                .wake(i, &self.ids, &mut self.models, &mut self.totals, t);
        }
        let prom = self.scenario.prometheus;
        if t % prom.scrape_interval_secs == self.phases.scrape {
            for (m, s) in self.models.iter().zip(&mut self.series) {
                s.scrape(t, m.desired, m.sample(t), self.keep);
            }
        }
        if t % prom.evaluation_interval_secs == self.phases.evaluation {
            self.evaluate(t);
        }
        self.notify(t);
        self.deciding.tick(
            t,
            &self.ids,
            &mut self.models,
            &served.loads,
            &mut self.totals,
        );
        self.record_rows(t, served);
    }

    /// Every function serves `(t-1, t]`; the totals count what they served, dropped and violated.
    fn serve(&mut self, t: u64) -> Served {
        let detailed = self.detailed;
        let mut fleet = Second::default();
        let mut seconds = Vec::with_capacity(if detailed { self.models.len() } else { 0 });
        let mut loads = Vec::with_capacity(self.models.len());
        let mut asleep_with_requests = Vec::new();
        for (i, m) in self.models.iter_mut().enumerate() {
            let s = m.step(t, self.histogram, detailed);
            if m.desired == 0 && s.arrivals > 0.0 {
                asleep_with_requests.push(i);
            }
            loads.push(if self.setup.capacity[i].rps {
                s.arrivals
            } else {
                s.in_flight
            });
            self.totals.served += s.served;
            self.totals.dropped += s.dropped;
            self.totals.slo_violation_secs += u64::from(s.violation);
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
        Served {
            fleet,
            seconds,
            loads,
            asleep_with_requests,
        }
    }

    /// A rule evaluation at `t`: the recorded desired counts, then each rule on each function's series,
    /// sending the alerts that change to AlertManager at once.
    fn evaluate(&mut self, t: u64) {
        let every = self.scenario.prometheus.evaluation_interval_secs;
        let rules: &[Rule] = &self.setup.rules;
        if let Some(recorded) = self.deciding.recorded() {
            let (names, series) = (&self.names, &self.series);
            record_desired(
                recorded,
                rules,
                names,
                series,
                &self.setup.capacity,
                t,
                every,
            );
        }
        for (rule, states) in rules.iter().zip(&mut self.alerts) {
            for (i, state) in states.iter_mut().enumerate() {
                let targets = Targets {
                    latency_secs: self.models[i].target_secs,
                    latency_tolerance: None,
                    capacity: self.setup.capacity[i],
                    evaluation_secs: every,
                };
                let result = rule.expr.eval(&self.series[i], t, &targets);
                if let Some(send) =
                    step_alert(state, result, t, rule.for_secs, rule.keep_firing_secs)
                {
                    self.am
                        .receive(prom_alert(rule, i, &self.names[i], send), t);
                }
            }
        }
    }

    /// AlertManager's due timers at `t`: each post goes to the decider (as often as it is delivered).
    fn notify(&mut self, t: u64) {
        for n in self.am.tick(t) {
            self.totals.notifications += 1;
            if self.detailed {
                self.records.push(record(&n));
            }
            for _ in 0..self.scenario.alertmanager.deliveries {
                self.deciding
                    .deliver(&n, &self.ids, &mut self.models, &mut self.totals, t);
            }
        }
    }

    /// Count second `t`'s replicas and write its rows: one per function, or the fleet's sums.
    fn record_rows(&mut self, t: u64, served: Served) {
        let replicas: u32 = self.models.iter().map(|m| m.desired).sum();
        self.totals.replica_seconds += u64::from(replicas);
        self.totals.peak_replicas = self.totals.peak_replicas.max(replicas);
        if self.detailed {
            for (i, (m, s)) in self.models.iter().zip(served.seconds).enumerate() {
                let firing = self
                    .alerts
                    .iter()
                    .filter(|r| r[i].is_some_and(|a| a.fired_at.is_some()))
                    .count() as u32;
                self.rows.push(Row {
                    t,
                    function: Some(i),
                    second: s,
                    replicas: m.desired,
                    ready: m.ready,
                    firing,
                });
            }
        } else {
            let mut fleet = served.fleet;
            fleet.p95 = f64::NAN;
            self.rows.push(Row {
                t,
                function: None,
                second: fleet,
                replicas,
                ready: self.models.iter().map(|m| m.ready).sum(),
                firing: 0,
            });
        }
    }

    /// The run's totals at the horizon, its rows and its notification records.
    pub(super) fn finish(self) -> (Totals, Vec<Row>, Vec<NotificationRecord>) {
        let mut totals = self.totals;
        let models = &self.models;
        // Requests still queued at the horizon were never answered within the run: dropped.
        totals.dropped += models.iter().map(FunctionModel::queued).sum::<f64>();
        totals.cold_starts = models.iter().map(|m| m.cold_starts).sum();
        totals.direction_window_secs = Deciding::window_secs(&self.setup.config);
        for m in models {
            totals.latencies.merge(&m.latencies);
            let changes = m.reversals.max_in_window(totals.direction_window_secs);
            totals.max_direction_changes = totals.max_direction_changes.max(changes);
            let common = m.reversals.max_in_window(COMMON_DIRECTION_WINDOW_SECS);
            totals.max_direction_changes_common = totals.max_direction_changes_common.max(common);
        }
        (totals, self.rows, self.records)
    }
}

/// The capacity pack's `alertscaler:function_desired_replicas` at `t`, for the service's decision-time reads.
fn record_desired(
    recorded: &Recorded,
    rules: &[Rule],
    names: &[String],
    series: &[Series],
    capacity: &[CapacityTarget],
    t: u64,
    every: u64,
) {
    let windows = rules.iter().find_map(|r| match r.expr {
        Expr::DesiredAbove {
            stable_window,
            panic_window,
            panic_hold,
        } => Some(Windows {
            stable: stable_window,
            panic: panic_window,
            hold: panic_hold,
            every,
        }),
        _ => None,
    });
    let (Some(w), Ok(mut table)) = (windows, recorded.lock()) else {
        return;
    };
    for ((name, s), target) in names.iter().zip(series).zip(capacity) {
        match crate::sim::capacity::desired(s, t, *target, w) {
            Some(d) => table.insert(name.clone(), f64::from(d.desired)),
            None => table.remove(name),
        };
    }
}

/// The alert Prometheus sends: rule labels, `alertname` and the series' `function_name`; the numbers as
/// annotations (Prometheus renders `{{ $value }}` with full precision).
fn prom_alert(rule: &Rule, function: usize, name: &str, send: Send) -> PromAlert {
    let mut labels: Labels = rule.labels.clone();
    labels.insert("alertname".into(), rule.alertname.into());
    labels.insert("function_name".into(), name.into());
    let (starts_at, ends_at, annotations) = match send {
        Send::Firing {
            starts_at,
            observed,
        } => {
            let mut annotations = BTreeMap::from([
                ("value".to_string(), observed.value.to_string()),
                ("target".to_string(), observed.target.to_string()),
            ]);
            if let Some(d) = observed.desired {
                annotations.insert("desired".into(), d.to_string());
            }
            if let Some(r) = observed.replicas {
                annotations.insert("replicas".into(), r.to_string());
            }
            // The idle rule's `window` annotation: its window plus its `for:`, how long the function
            // had been idle at `startsAt` (Prometheus' `FiredAt`, as here), as the shipped pack says.
            if let Some(w) = observed.window_secs.map(|w| w + rule.for_secs) {
                let window = if w % 60 == 0 {
                    format!("{}m", w / 60)
                } else {
                    format!("{w}s")
                };
                annotations.insert("window".into(), window);
            }
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
