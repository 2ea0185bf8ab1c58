//! The requests a function answered in one second, and what they and the dropped ones add to the
//! gateway's counters (`_sum`, the histogram's buckets) and, in detailed runs, to the run's
//! latencies. Apart from `mod.rs`, which steps the second (offer, drop, serve, count), so that it
//! reads in one piece.

use super::FunctionModel;
use crate::sim::monitor::{BUCKETS, NB};
use crate::sim::queue::ResponseTime;

impl FunctionModel {
    /// Add the second's latencies to the `_sum` counter (dropped requests at the timeout) and, in detailed
    /// runs, to the run's latencies.
    pub(super) fn count_latencies(&mut self, answered: &Answered, dropped: f64, detailed: bool) {
        let responses = &answered.responses;
        let latency_sum: f64 = if responses.is_empty() {
            f64::NAN
        } else {
            responses.iter().map(|(d, n, r)| n * (d + r.mean())).sum()
        };
        if answered.served > 0.0 && latency_sum.is_finite() {
            self.sum_total += latency_sum;
        }
        self.sum_total += dropped * self.timeout;
        if detailed {
            for (d, n, r) in responses {
                let (d, n) = (*d, *n);
                self.latencies.add(n, d + r.mean(), |x| r.survival(x - d));
            }
        }
    }

    /// Add the second's answered and dropped requests to the histogram (only its `+Inf` bucket without
    /// `histogram`).
    pub(super) fn count_buckets(&mut self, answered: &Answered, dropped: f64, histogram: bool) {
        let served = answered.served;
        if histogram {
            for (i, le) in BUCKETS.iter().enumerate() {
                self.buckets[i] += served * (1.0 - answered.survival(*le));
                if *le >= self.timeout {
                    self.buckets[i] += dropped;
                }
            }
            self.buckets[NB - 1] += served + dropped;
        } else {
            self.buckets[NB - 1] += served + dropped;
        }
    }
}

/// The requests answered in one second.
pub(super) struct Answered {
    pub(super) served: f64,
    /// Each cohort's response past its wait `d` in the backlog (0 in the stationary regime).
    pub(super) responses: Vec<(f64, f64, ResponseTime)>,
}

impl Answered {
    /// `cohorts`: each cohort's wait and size; `response`: the response time past a wait, if any.
    pub(super) fn new(cohorts: &[(f64, f64)], response: Option<&ResponseTime>) -> Self {
        let served: f64 = cohorts.iter().map(|c| c.1).sum();
        let responses = response.map_or_else(Vec::new, |r| {
            cohorts
                .iter()
                .map(|&(d, n)| (d, n, r.after_waiting(d)))
                .collect()
        });
        Self { served, responses }
    }

    /// The share of the answered requests slower than `x` seconds (1 when none were answered).
    pub(super) fn survival(&self, x: f64) -> f64 {
        if self.served > 0.0 && !self.responses.is_empty() {
            self.responses
                .iter()
                .map(|(d, n, r)| n * r.survival(x - d))
                .sum::<f64>()
                / self.served
        } else {
            1.0
        }
    }
}
