//! One simulated function: replicas (with cold start), a FIFO backlog for overload, the M/M/c response time,
//! and the gateway counters Prometheus scrapes.
//!
//! Per second: open-loop arrivals are Poisson around the trace's rate; closed-loop clients send at the rate
//! Little's law gives them. The queueing model is driven by the offered *rate* (the Poisson count is only what
//! the counters see: M/M/c already accounts for Poisson burstiness). While the backlog is empty and the offered
//! rate stays below 95 % of capacity (`ready × concurrency / service time`), the stationary M/M/c response-time
//! distribution applies. Beyond that, the excess waits in a FIFO backlog served at full capacity; served
//! requests wait the longer of their time in the backlog and the M/M/c wait at 95 % utilisation, then their
//! service (a request far into a backlog waits its backlog time; one as it forms, as the stationary queue
//! does: adding both counted the queue twice). Requests older than
//! `timeout_secs` in the backlog are dropped and recorded as failed requests of that duration.
//!
//! A closed population alone (no open-loop rate, a whole number of clients up to [`FINITE_MAX_CLIENTS`]) on
//! exponential service, with a ready replica and no backlog, is answered by the exact finite-population queue
//! instead ([`super::finite`], M/M/c//N) at every utilisation: its queue never holds more than its clients, so
//! it needs neither the 95 % cut nor the backlog — unless its waits reach the timeout, which only the backlog
//! model drops. Open or mixed traffic, deterministic service, and clients
//! whose requests already wait in the backlog (no replica was ready) keep the model above: the open M/M/c
//! at the rate Little's law gives the clients, which overstates the queueing of a few clients.

mod answers;
mod demand;

use std::collections::VecDeque;

use self::answers::Answered;
use self::demand::Offer;
use super::load::{Rng, Trace};
use super::monitor::{NB, Sample};
use super::queue::{Distribution, Response, ResponseTime, quantile_of};
use super::scenario::FunctionSpec;
use super::stats::{Latencies, Reversals};

/// The most clients the exact finite-population queue is solved for (its cost and memory grow with them);
/// a larger population queues as the open model says, which it approaches as the clients grow.
pub const FINITE_MAX_CLIENTS: u32 = 10_000;

/// Utilisation above which the backlog model takes over from the stationary M/M/c model.
pub const RHO_MAX: f64 = 0.95;

/// What one simulated second produced for one function.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Second {
    pub offered_rps: f64,
    pub arrivals: f64,
    pub served: f64,
    pub dropped: f64,
    pub backlog: f64,
    /// True p95 of the requests answered this second (NaN when none, or when not computed).
    pub p95: f64,
    /// p95 above target, or requests dropped or stuck.
    pub violation: bool,
    /// Mean requests in flight during the second (in service or queued), as a queue-proxy observes them.
    pub in_flight: f64,
}

/// A function's simulated state.
#[derive(Debug, Clone)]
pub struct FunctionModel {
    pub trace: Trace,
    service: f64,
    distribution: Distribution,
    concurrency: u32,
    cold_start: u64,
    timeout: f64,
    pub target_secs: f64,
    /// Replicas the backend says (ready or starting).
    pub desired: u32,
    pub ready: u32,
    starting: VecDeque<u64>,
    backlog: VecDeque<(u64, f64)>,
    ok_total: f64,
    sum_total: f64,
    started_total: f64,
    buckets: [f64; NB],
    pub cold_starts: u64,
    /// Latencies of every request served so far (detailed runs only).
    pub latencies: Latencies,
    /// When the replica count reversed direction.
    pub reversals: Reversals,
    pub rng: Rng,
}

impl FunctionModel {
    pub fn new(spec: &FunctionSpec, trace: Trace, rng: Rng) -> Self {
        Self {
            trace,
            service: spec.service_time_ms / 1000.0,
            distribution: spec.service_distribution,
            concurrency: spec.concurrency,
            cold_start: spec.cold_start_secs,
            timeout: spec.timeout_secs,
            target_secs: spec.latency_target_ms / 1000.0,
            desired: spec.replicas,
            ready: spec.replicas,
            starting: VecDeque::new(),
            backlog: VecDeque::new(),
            ok_total: 0.0,
            sum_total: 0.0,
            started_total: 0.0,
            buckets: [0.0; NB],
            cold_starts: 0,
            latencies: Latencies::default(),
            reversals: Reversals::default(),
            rng,
        }
    }

    /// The backend moved the function to `replicas` at `now`: start or stop replicas.
    pub fn set_desired(&mut self, replicas: u32, now: u64) {
        self.reversals.record(now, self.desired, replicas);
        if replicas > self.desired {
            for _ in self.desired..replicas {
                self.starting.push_back(now + self.cold_start);
            }
            self.cold_starts += u64::from(replicas - self.desired);
        } else {
            for _ in replicas..self.desired {
                if self.starting.pop_back().is_none() {
                    self.ready = self.ready.saturating_sub(1);
                }
            }
        }
        self.desired = replicas;
    }

    /// The gateway metrics as scraped at `t`, or `None` before the first request (no series yet).
    pub fn sample(&self, t: u64) -> Option<Sample> {
        (self.started_total > 0.0 || self.buckets[NB - 1] > 0.0).then_some(Sample {
            t,
            ok: self.ok_total,
            sum: self.sum_total,
            started: self.started_total,
            buckets: self.buckets,
            replicas: self.desired,
        })
    }

    /// Simulate the second `(t-1, t]`. `histogram`: update the latency buckets; `detailed`: compute the p95.
    pub fn step(&mut self, t: u64, histogram: bool, detailed: bool) -> Second {
        self.start_replicas(t);
        let offer = self.offer(t);
        let (offered, arrivals, servers) = (offer.offered, offer.arrivals, offer.servers);
        let dropped = self.drop_timed_out(t);
        let (stationary, answered, response) = self.serve(t, offer);
        let served = answered.served;
        let backlog = self.queued();
        let backlog = if backlog > 0.0 { backlog } else { 0.0 };
        let mean = response.as_ref().map_or(f64::NAN, ResponseTime::mean);
        self.count_latencies(&answered, dropped, detailed);
        let in_flight = if stationary {
            offered * mean
        } else {
            f64::from(servers) + backlog
        };
        self.count_buckets(&answered, dropped, histogram);
        self.ok_total += served;
        let p95 = if detailed && served > 0.0 && response.is_some() {
            let guess = response.as_ref().map_or(self.service, ResponseTime::mean);
            quantile_of(|x| answered.survival(x), 0.95, guess)
        } else {
            f64::NAN
        };
        let violation = dropped > 0.0
            || (served == 0.0 && backlog > 0.0)
            || (served > 0.0 && answered.survival(self.target_secs) > 0.05);
        Second {
            offered_rps: offered,
            arrivals,
            served,
            dropped,
            backlog,
            p95,
            violation,
            in_flight: if in_flight.is_finite() {
                in_flight
            } else {
                0.0
            },
        }
    }

    /// Replicas whose cold start ended before `t` become ready.
    fn start_replicas(&mut self, t: u64) {
        while self.starting.front().is_some_and(|r| *r < t) {
            self.starting.pop_front();
            self.ready += 1;
        }
    }

    /// Drop the backlog's requests older than the timeout at `t`; how many.
    fn drop_timed_out(&mut self, t: u64) -> f64 {
        let mut dropped = 0.0;
        while let Some(&(at, n)) = self.backlog.front() {
            if (t - at) as f64 <= self.timeout {
                break;
            }
            dropped += n;
            self.backlog.pop_front();
        }
        dropped
    }

    /// Answer second `t`'s requests: all of them in the stationary regime, else the backlog's front at full
    /// capacity. Whether the regime is stationary, what was answered, and the response time past a wait.
    fn serve(&mut self, t: u64, offer: Offer) -> (bool, Answered, Option<ResponseTime>) {
        let (servers, capacity) = (offer.servers, offer.capacity);
        let stationary = offer.finite.is_some()
            || (self.backlog.is_empty() && offer.offered < RHO_MAX * capacity);
        let (cohorts, response) = if stationary {
            let response = offer.finite.map(ResponseTime::Finite).or_else(|| {
                Response::new(offer.offered, servers, self.service, self.distribution)
                    .map(ResponseTime::Open)
            });
            (vec![(0.0, offer.arrivals)], response)
        } else {
            let cohorts = self.drain_backlog(t, capacity, offer.arrivals);
            let response =
                Response::new(RHO_MAX * capacity, servers, self.service, self.distribution)
                    .map(ResponseTime::Open);
            (cohorts, response)
        };
        (
            stationary,
            Answered::new(&cohorts, response.as_ref()),
            response,
        )
    }

    /// Queue second `t`'s `arrivals` behind the backlog and serve its front, up to `capacity`: each
    /// answered cohort's wait and size.
    fn drain_backlog(&mut self, t: u64, capacity: f64, arrivals: f64) -> Vec<(f64, f64)> {
        let mut cohorts = Vec::new();
        self.backlog.push_back((t, arrivals));
        let mut budget = capacity;
        let mut before = 0.0;
        while budget > 0.0 {
            let Some(front) = self.backlog.front_mut() else {
                break;
            };
            let n = front.1.min(budget);
            // Fluid FIFO: served at (t-1) + position/capacity, arrived mid-second of its cohort.
            let wait = (t - front.0) as f64 + (before + n / 2.0) / capacity - 0.5;
            cohorts.push((wait.max(0.0), n));
            before += n;
            budget -= n;
            front.1 -= n;
            if front.1 <= 0.0 {
                self.backlog.pop_front();
            }
        }
        cohorts
    }

    /// Requests waiting in the backlog (at the horizon: never answered within the run).
    pub fn queued(&self) -> f64 {
        self.backlog.iter().map(|c| c.1).sum()
    }
}

#[cfg(test)]
mod tests;
