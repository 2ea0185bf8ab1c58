//! Who turns the monitoring signal into replicas in a run: OpenFaaS CE's handler (emulated), alertscaler's
//! real `Service`, or the KPA-like baseline (a preset made concrete by [`super::setup`]).

use std::sync::Arc;

use super::SimError;
use super::alertmanager::{Notification, timestamp};
use super::engine::{Totals, epoch};
use super::function::FunctionModel;
use super::kpa::{Kpa, KpaFunction};
use super::presets::{Decider, Preset};
use super::prom_api::{self, Recorded};
use super::setup::Setup;
use crate::alert::Status;
use crate::backend::memory::MemoryBackend;
use crate::backend::{Backend, Update};
use crate::config::Config;
use crate::config::{MemoryFunction, PrometheusConfig};
use crate::id::FunctionId;
use crate::labels::{self, ScaleLabels};
use crate::measure::LoadSource;
use crate::policy::step::ce_calculate_replicas;
use crate::service::{Outcome, Service, Settings};

/// The decider of one run.
pub enum Deciding {
    Ce(Vec<ScaleLabels>),
    Service {
        service: Service,
        backend: Arc<MemoryBackend>,
        runtime: tokio::runtime::Runtime,
        /// What the simulated Prometheus answers to the desired-replicas query (capacity preset).
        recorded: Option<Recorded>,
    },
    Kpa {
        scalers: Vec<Kpa>,
        /// Load observed per function since the last tick, and the seconds it covers.
        observed: Vec<f64>,
        seconds: u32,
        phase: u64,
    },
}

impl Deciding {
    /// Build the decider of `preset` for `setup`; `phase` is the KPA tick's offset.
    pub fn new(preset: &Preset, setup: &Setup, phase: u64) -> Result<Self, SimError> {
        let config = &setup.config;
        // The baselines read the labels as OpenFaaS does: no alertscaler ceiling or platform. Labels
        // they cannot read are a scenario error (CE would fall back per label and Knative refuse
        // the object; pinning them to one replica, as before, skewed the comparison silently).
        let parse = |s: &MemoryFunction| {
            labels::parse(&s.labels, &config.labels, u32::MAX).map_err(|e| {
                SimError::Scenario(format!(
                    "function {}.{}: {e}; the ce and kpa baselines model only valid labels",
                    s.name, s.namespace
                ))
            })
        };
        Ok(match preset.decider {
            Decider::CeNoDedup => {
                Self::Ce(setup.specs.iter().map(parse).collect::<Result<_, _>>()?)
            }
            Decider::Service => Self::service(preset, setup)?,
            Decider::Kpa => {
                let scalers = setup
                    .specs
                    .iter()
                    .zip(&setup.capacity)
                    .map(|(s, cap)| {
                        let l = parse(s)?;
                        let function = KpaFunction {
                            target: cap.per_replica,
                            min: l.min,
                            max: l.max,
                            zero: l.zero,
                        };
                        Ok(Kpa::new(setup.kpa, function))
                    })
                    .collect::<Result<Vec<_>, SimError>>()?;
                Self::Kpa {
                    observed: vec![0.0; scalers.len()],
                    scalers,
                    seconds: 0,
                    phase,
                }
            }
        })
    }

    /// alertscaler's service on a memory backend, on its own runtime; for presets that read the desired
    /// count, with a Prometheus API that answers from the simulated recording rule.
    fn service(preset: &Preset, setup: &Setup) -> Result<Self, SimError> {
        let config = &setup.config;
        let backend = Arc::new(MemoryBackend::new(&setup.specs));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SimError::Runtime(e.to_string()))?;
        let mut service = Service::new(backend.clone(), Settings::from_config(config));
        let mut recorded = None;
        if preset.reads_desired {
            let table = Recorded::default();
            let url = prom_api::serve(&runtime, table.clone())?;
            // reqwest's rustls needs a process-wide provider (main installs the same one).
            let _ = rustls::crypto::ring::default_provider().install_default();
            let prometheus = PrometheusConfig {
                url: Some(url),
                ..config.prometheus.clone()
            };
            let load = LoadSource::from_config(&prometheus)
                .map_err(|e| SimError::Runtime(e.to_string()))?;
            service = service.with_load_source(load);
            recorded = Some(table);
        }
        Ok(Self::Service {
            service,
            backend,
            runtime,
            recorded,
        })
    }

    /// Where the simulated Prometheus keeps `alertscaler:function_desired_replicas`, if this run reads it.
    pub fn recorded(&self) -> Option<&Recorded> {
        match self {
            Self::Service { recorded, .. } => recorded.as_ref(),
            _ => None,
        }
    }

    /// The stabilization window direction changes are counted in (alertscaler's configured one).
    pub fn window_secs(config: &Config) -> u64 {
        config.policy.scale_down_stabilization_secs.max(1)
    }

    /// Hand one AlertManager post to the decider (the KPA ignores alerts).
    pub fn deliver(
        &mut self,
        n: &Notification,
        ids: &[FunctionId],
        models: &mut [FunctionModel],
        totals: &mut Totals,
        t: u64,
    ) {
        match self {
            Self::Kpa { .. } => {}
            Self::Ce(labels) => {
                for (alert, &i) in n.webhook.alerts.iter().zip(&n.functions) {
                    let l = labels[i];
                    let current = models[i].desired;
                    let firing = alert.status == Status::Firing;
                    let to = ce_calculate_replicas(firing, current, l.max, l.min, l.factor);
                    if to != current {
                        totals.scale_events += 1;
                        models[i].set_desired(to, t);
                    }
                }
            }
            Self::Service {
                service,
                backend,
                runtime,
                ..
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
                    sync(backend, &ids[i], &mut models[i], t);
                }
            }
        }
    }

    /// The gateway's scale from zero: a request for a function at 0 replicas makes the gateway set it to 1
    /// (OpenFaaS CE's `scale_from_zero`; for the KPA, the activator), an external write alertscaler sees on
    /// its next read.
    pub fn wake(
        &mut self,
        i: usize,
        ids: &[FunctionId],
        models: &mut [FunctionModel],
        totals: &mut Totals,
        t: u64,
    ) {
        if let Self::Service {
            backend, runtime, ..
        } = self
        {
            let written = runtime.block_on(async {
                let state = backend.read(&ids[i]).await?;
                let stored = state.stored.unwrap_or_default();
                let update = Update {
                    replicas: Some(1),
                    stored: &stored,
                    version: &state.version,
                };
                backend.apply(&ids[i], update).await
            });
            if written.is_err() {
                return;
            }
        }
        totals.scale_events += 1;
        models[i].set_desired(1, t);
    }

    /// Once per simulated second after the alerts: the service's background triggers as the server runs them
    /// — the settle pass (held scale-downs) every `policy.settle_interval_secs` and the follow-up pass (re-read
    /// the desired count while a capacity alert fires) every `policy.follow_up_interval_secs`; the KPA's tick.
    pub fn tick(
        &mut self,
        t: u64,
        ids: &[FunctionId],
        models: &mut [FunctionModel],
        loads: &[f64],
        totals: &mut Totals,
    ) {
        match self {
            Self::Ce(_) => {}
            Self::Service {
                service,
                backend,
                runtime,
                ..
            } => {
                let policy = service.settings().policy;
                let now = timestamp(epoch(), t);
                let mut reports = Vec::new();
                let due = |every: u64| every > 0 && t.is_multiple_of(every);
                if due(policy.settle_interval_secs) {
                    reports.extend(runtime.block_on(service.settle(now)).unwrap_or_default());
                }
                if due(policy.follow_up_interval_secs) {
                    reports.extend(runtime.block_on(service.follow_up(now)));
                }
                totals.scale_events += reports
                    .iter()
                    .filter(|r| r.outcome == Outcome::Scaled)
                    .count() as u64;
                if !reports.is_empty() {
                    for (i, m) in models.iter_mut().enumerate() {
                        sync(backend, &ids[i], m, t);
                    }
                }
            }
            Self::Kpa {
                scalers,
                observed,
                seconds,
                phase,
            } => {
                for (o, l) in observed.iter_mut().zip(loads) {
                    *o += l;
                }
                *seconds += 1;
                if !scalers.first().is_some_and(|k| k.due(t, *phase)) {
                    return;
                }
                for ((k, m), o) in scalers
                    .iter_mut()
                    .zip(models.iter_mut())
                    .zip(observed.iter_mut())
                {
                    let d = k.decide(t, *o / f64::from(*seconds), m.desired, m.ready);
                    *o = 0.0;
                    if d.replicas != m.desired {
                        totals.scale_events += 1;
                        m.set_desired(d.replicas, t);
                    }
                }
                *seconds = 0;
            }
        }
    }
}

fn sync(backend: &MemoryBackend, id: &FunctionId, model: &mut FunctionModel, t: u64) {
    if let Some(r) = backend.replicas(id)
        && r != model.desired
    {
        model.set_desired(r, t);
    }
}
