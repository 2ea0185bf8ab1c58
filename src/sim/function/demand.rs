//! Second `t`'s demand on a function: open-loop arrivals (Poisson around the trace's rate) and what
//! a closed population of clients sends, from the exact finite-population queue where it applies,
//! else from Little's law on the open M/M/c queue (see the [module docs](super)). Apart from
//! `mod.rs`, which steps the second (offer, drop, serve, count), so that it reads in one piece.

use super::{FINITE_MAX_CLIENTS, FunctionModel, RHO_MAX};
use crate::sim::finite::FinitePopulation;
use crate::sim::load::Demand;
use crate::sim::queue::{Distribution, Response};

/// A finite population whose requests time out more often than this is left to the backlog model, which
/// drops them (the exact queue has no timeout).
const TIMEOUT_NEGLIGIBLE: f64 = 1e-4;

impl FunctionModel {
    /// The demand of second `t` on the ready servers, and the requests that arrive (counted as started).
    pub(super) fn offer(&mut self, t: u64) -> Offer {
        let servers = self.ready * self.concurrency;
        let capacity = f64::from(servers) / self.service;
        let demand = self.trace.at((t - 1) as f64);
        let queued: f64 = self.backlog.iter().map(|c| c.1).sum();
        let finite = self.finite_population(demand, servers);
        let closed = finite.as_ref().map_or_else(
            || self.closed_loop(demand, servers, queued),
            |f| f.throughput(),
        );
        let offered = demand.rps + closed;
        // Open-loop arrivals are Poisson; a closed population sends at its solved rate (it cannot burst
        // beyond itself).
        let arrivals = self.rng.poisson(demand.rps) + closed;
        self.started_total += arrivals;
        Offer {
            servers,
            capacity,
            finite,
            offered,
            arrivals,
        }
    }

    /// The exact finite-population queue where it applies (see the module docs): clients alone, a whole
    /// number of them up to [`FINITE_MAX_CLIENTS`], exponential service, a ready server, no backlog, and
    /// waits that do not reach the timeout (this model has no drops; the backlog model has). `None` elsewhere.
    pub(super) fn finite_population(
        &self,
        demand: Demand,
        servers: u32,
    ) -> Option<FinitePopulation> {
        let whole = demand.clients >= 1.0
            && demand.clients.fract() == 0.0
            && demand.clients <= f64::from(FINITE_MAX_CLIENTS);
        let alone = demand.rps <= 0.0 && self.backlog.is_empty();
        if !(whole && alone && self.distribution == Distribution::Exponential) {
            return None;
        }
        FinitePopulation::new(demand.clients as u32, demand.think, servers, self.service)
            .filter(|f| f.survival(self.timeout) < TIMEOUT_NEGLIGIBLE)
    }

    /// Arrival rate of a closed population whose `queued` members wait in the backlog. Below saturation the
    /// free clients satisfy `X (R(open + X) + think) = free` (Little's law), solved by bisection; when even
    /// 95 % utilisation does not absorb them, arrivals match capacity and the backlog moves towards the
    /// clients that are neither thinking nor in service (so the response time obeys Little's law).
    pub(super) fn closed_loop(&self, demand: Demand, servers: u32, queued: f64) -> f64 {
        let free = (demand.clients - queued).max(0.0);
        if free <= 0.0 {
            return 0.0;
        }
        if servers == 0 {
            // No replica ready (asleep, or all starting): each free client's request waits, and
            // wakes a function at zero; it sends no more until that one is answered or times out.
            return free;
        }
        let capacity = f64::from(servers) / self.service;
        let room = RHO_MAX * capacity - demand.rps;
        let mean_r = |x: f64| {
            Response::new(demand.rps + x, servers, self.service, self.distribution)
                .map_or(f64::INFINITY, |r| r.mean())
        };
        let g = |x: f64| x * (mean_r(x) + demand.think) - free;
        let no_wait = free / (self.service + demand.think);
        let top = no_wait.min(room);
        if top <= 0.0 || (no_wait > room && g(room) <= 0.0) {
            // Saturated: every server busy; the clients neither thinking nor in service queue. Relax the
            // backlog half-way to that equilibrium each second (a one-second step would overshoot).
            let share = (capacity - demand.rps).max(0.0);
            let equilibrium = (demand.clients - share * (self.service + demand.think)).max(0.0);
            return (share + 0.5 * (equilibrium - queued)).max(0.0);
        }
        if g(top) <= 0.0 {
            return top;
        }
        let (mut lo, mut hi) = (0.0, top);
        for _ in 0..50 {
            let mid = 0.5 * (lo + hi);
            if g(mid) > 0.0 {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        lo
    }
}

/// Second `t`'s demand on the ready servers (see [`FunctionModel::step`]).
pub(super) struct Offer {
    pub(super) servers: u32,
    /// Requests per second the ready servers answer.
    pub(super) capacity: f64,
    /// The exact finite-population queue, where it applies.
    pub(super) finite: Option<FinitePopulation>,
    pub(super) offered: f64,
    pub(super) arrivals: f64,
}
