//! Queueing model of one function: M/M/c with Erlang C, plus a stated approximation for
//! deterministic service times.
//!
//! `c` servers are the ready replicas times the concurrency each one accepts; service rate per server is
//! `mu = 1 / mean service time`. For utilisation below 1 the waiting time `W` has an atom `1 - P(wait)` at
//! zero and is otherwise exponential with rate `theta = c*mu - lambda` (exact for M/M/c). The response time is
//! `T = W + S`:
//! - exponential service: `S ~ Exp(mu)`, so `P(T > t)` is the exact M/M/c response-time tail
//!   `(1-Pw) e^{-mu t} + Pw (theta e^{-mu t} - mu e^{-theta t}) / (theta - mu)`;
//! - deterministic service (Allen–Cunneen approximation with `cs² = 0`): the wait is the M/M/c wait scaled
//!   by `(1 + cs²)/2 = 1/2`, i.e. exponential with rate `2 theta`, and `S = s` exactly.
//!
//! A pure closed population on exponential service is answered by the exact finite-population queue instead
//! ([`super::finite`]); [`ResponseTime`] is either.

use serde::{Deserialize, Serialize};

use super::finite::FinitePopulation;

/// Shape of a function's service-time distribution.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distribution {
    /// Exponential (M/M/c, exact).
    #[default]
    Exponential,
    /// Constant service time (M/D/c by the Allen–Cunneen approximation).
    Deterministic,
}

/// Erlang C: the probability that an arriving request waits, for `c` servers at offered load `a = lambda/mu`
/// (in Erlangs). 1 when `a >= c` (unstable queue), 0 when `c == 0` has no meaning (returns 1).
pub fn erlang_c(c: u32, a: f64) -> f64 {
    if c == 0 || a >= f64::from(c) {
        return 1.0;
    }
    if a <= 0.0 {
        return 0.0;
    }
    // Erlang B by the stable recursion B(k) = a B(k-1) / (k + a B(k-1)), then C from B. Past k = a, B
    // shrinks at least geometrically; once it underflows to 0 it stays there, so the loop stops (many
    // servers at a small load: about 2a + 1100 steps instead of c).
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (f64::from(k) + a * b);
        if b == 0.0 {
            return 0.0;
        }
    }
    let rho = a / f64::from(c);
    b / (1.0 - rho * (1.0 - b))
}

/// The stationary response-time distribution of one function at one arrival rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Response {
    /// Probability of waiting (Erlang C).
    pub p_wait: f64,
    /// Rate of the exponential part of the wait (already scaled for deterministic service).
    pub theta: f64,
    /// Mean service time in seconds.
    pub service: f64,
    pub distribution: Distribution,
}

impl Response {
    /// Response time for arrival rate `lambda` (req/s) on `c` servers of mean service time `service` seconds.
    /// Returns `None` when the queue is unstable (`lambda >= c / service`) or has no server.
    pub fn new(lambda: f64, c: u32, service: f64, distribution: Distribution) -> Option<Self> {
        let mu = 1.0 / service;
        let capacity = f64::from(c) * mu;
        if c == 0 || lambda >= capacity {
            return None;
        }
        let p_wait = erlang_c(c, lambda / mu);
        let theta = match distribution {
            Distribution::Exponential => capacity - lambda,
            Distribution::Deterministic => 2.0 * (capacity - lambda),
        };
        Some(Self {
            p_wait,
            theta,
            service,
            distribution,
        })
    }

    /// Mean waiting time in the queue (seconds).
    pub fn mean_wait(&self) -> f64 {
        self.p_wait / self.theta
    }

    /// Mean response time (seconds).
    pub fn mean(&self) -> f64 {
        self.mean_wait() + self.service
    }

    /// `P(T > t)`.
    pub fn survival(&self, t: f64) -> f64 {
        if t <= 0.0 {
            return 1.0;
        }
        match self.distribution {
            Distribution::Exponential => {
                let mu = 1.0 / self.service;
                let theta = self.theta;
                let no_wait = (-mu * t).exp();
                let waited = if ((theta - mu) / mu).abs() < 1e-9 {
                    (1.0 + mu * t) * no_wait
                } else {
                    (theta * no_wait - mu * (-theta * t).exp()) / (theta - mu)
                };
                ((1.0 - self.p_wait) * no_wait + self.p_wait * waited).clamp(0.0, 1.0)
            }
            Distribution::Deterministic => {
                if t < self.service {
                    1.0
                } else {
                    self.p_wait * (-self.theta * (t - self.service)).exp()
                }
            }
        }
    }

    /// The response beyond a wait of `d` seconds a request already had in a fluid backlog: it waits
    /// `max(d, W)` in all, where `W` is this response's stationary wait, so only the part of `W`
    /// past `d` remains (`W` is exponential past 0: `P(W > d + s) = P(W > d) e^{-θ s}`). A request
    /// that arrives as the backlog forms waits like the stationary queue; one far into it, `d` alone
    /// (adding `W` to `d` counted the queue twice).
    pub fn after_waiting(&self, d: f64) -> Self {
        Self {
            p_wait: self.p_wait * (-self.theta * d.max(0.0)).exp(),
            ..*self
        }
    }

    /// `P(T <= t)`.
    pub fn cdf(&self, t: f64) -> f64 {
        1.0 - self.survival(t)
    }

    /// The `q`-quantile of the response time (seconds).
    pub fn quantile(&self, q: f64) -> f64 {
        quantile_of(|t| self.survival(t), q, self.mean())
    }
}

/// The response-time distribution a second's requests follow: the open M/M/c queue's, or the exact
/// finite-population queue's for a closed population. One type, so that the function model takes its
/// histogram buckets, latency sum, in-flight count and p95 from one distribution whichever queue applies,
/// and the open [`Response`] stays a small `Copy` value for the backlog's cohorts.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseTime {
    /// Open (or mixed) traffic, deterministic service, or a backlog: M/M/c at the offered rate.
    Open(Response),
    /// A closed population alone on exponential service, with no backlog: M/M/c//N, exact.
    Finite(FinitePopulation),
}

impl ResponseTime {
    /// Mean response time (seconds).
    pub fn mean(&self) -> f64 {
        match self {
            Self::Open(r) => r.mean(),
            Self::Finite(f) => f.mean(),
        }
    }

    /// `P(T > t)`.
    pub fn survival(&self, t: f64) -> f64 {
        match self {
            Self::Open(r) => r.survival(t),
            Self::Finite(f) => f.survival(t),
        }
    }

    /// The response past a wait of `d` seconds in a fluid backlog ([`Response::after_waiting`]). The
    /// finite population applies only while there is no backlog, so its requests never waited there
    /// (`d = 0`) and it is returned as it is.
    pub fn after_waiting(&self, d: f64) -> Self {
        match self {
            Self::Open(r) => Self::Open(r.after_waiting(d)),
            Self::Finite(f) => {
                debug_assert!(d <= 0.0, "a closed population's exact queue has no backlog");
                Self::Finite(f.clone())
            }
        }
    }
}

/// Invert a survival function by bracketing then bisection (to 0.1 % relative precision).
pub fn quantile_of(survival: impl Fn(f64) -> f64, q: f64, guess: f64) -> f64 {
    let tail = 1.0 - q;
    let (mut lo, mut hi) = (0.0, guess.max(1e-6));
    while survival(hi) > tail {
        lo = hi;
        hi *= 2.0;
        if hi > 1e7 {
            return f64::INFINITY;
        }
    }
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if survival(mid) > tail {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-3 * hi {
            break;
        }
    }
    hi
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_waiting_leaves_the_stationary_wait_past_the_backlog_wait() {
        let r = Response::new(9.5, 2, 0.2, Distribution::Deterministic).unwrap();
        assert_eq!(r.after_waiting(0.0), r);
        // max(d, W) + S > d + S + s  ⇔  W > d + s: P_w e^{−θ(d+s)}.
        let (d, s) = (1.5, 0.4);
        let want = r.p_wait * (-r.theta * (d + s)).exp();
        assert!((r.after_waiting(d).survival(0.2 + s) - want).abs() < 1e-12);
        // Far into a backlog only the service is left.
        assert!((r.after_waiting(1000.0).mean() - 0.2).abs() < 1e-9);
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn erlang_c_stops_where_the_recursion_underflows_with_the_same_value() {
        let full = |c: u32, a: f64| {
            let mut b = 1.0_f64;
            for k in 1..=c {
                b = a * b / (f64::from(k) + a * b);
            }
            let rho = a / f64::from(c);
            b / (1.0 - rho * (1.0 - b))
        };
        for (c, a) in [
            (5, 4.0),
            (200, 180.0),
            (2000, 10.0),
            (5000, 4990.0),
            (100_000, 3.0),
            (1_000_000, 900.0),
        ] {
            let (early, reference) = (erlang_c(c, a), full(c, a));
            assert!(
                early == reference || (early == 0.0 && reference < 1e-300),
                "c {c}, a {a}: {early} against {reference}"
            );
        }
        // Halfin–Whitt: β = 20 / √180 ≈ 1.49 gives about 0.086.
        assert!(
            erlang_c(200, 180.0) > 0.05,
            "a busy queue never stops early"
        );
    }

    #[test]
    fn erlang_c_known_values() {
        // c = 1: P(wait) = rho.
        for rho in [0.1, 0.5, 0.9] {
            assert!(close(erlang_c(1, rho), rho, 1e-12), "rho {rho}");
        }
        // c = 2, a = 1: 1/3.
        assert!(close(erlang_c(2, 1.0), 1.0 / 3.0, 1e-12));
        // Textbook value: c = 5, a = 4 → 0.5541 (call-centre tables).
        assert!(
            close(erlang_c(5, 4.0), 0.554_113, 1e-5),
            "{}",
            erlang_c(5, 4.0)
        );
        // c = 10, a = 8 → 0.409 (Erlang C tables).
        assert!(
            close(erlang_c(10, 8.0), 0.409_18, 1e-4),
            "{}",
            erlang_c(10, 8.0)
        );
        assert_eq!(erlang_c(3, 3.0), 1.0);
        assert_eq!(erlang_c(3, 0.0), 0.0);
    }

    #[test]
    fn mm1_response_is_exponential_with_rate_mu_minus_lambda() {
        // M/M/1: T ~ Exp(mu - lambda): mean 1/(mu-lambda), p95 = ln(20)/(mu-lambda).
        let r = Response::new(8.0, 1, 0.1, Distribution::Exponential).unwrap();
        assert!(close(r.mean(), 0.5, 1e-12));
        assert!(
            close(r.quantile(0.95), 20f64.ln() / 2.0, 2e-3),
            "{}",
            r.quantile(0.95)
        );
        for t in [0.1, 0.5, 2.0] {
            assert!(close(r.survival(t), (-2.0 * t).exp(), 1e-9));
        }
    }

    #[test]
    fn mmc_mean_wait_matches_formula() {
        // c = 2, mu = 1, lambda = 1: Pw = 1/3, Wq = Pw / (c mu - lambda) = 1/3.
        let r = Response::new(1.0, 2, 1.0, Distribution::Exponential).unwrap();
        assert!(close(r.mean_wait(), 1.0 / 3.0, 1e-12));
        // theta == mu branch is continuous with its neighbours.
        let a = r.survival(1.3);
        let b = Response::new(1.0 + 1e-7, 2, 1.0, Distribution::Exponential)
            .unwrap()
            .survival(1.3);
        assert!(close(a, b, 1e-5), "{a} vs {b}");
    }

    /// The doc: deterministic service is the M/M/c wait halved (exponential with rate 2θ, the same
    /// probability of waiting) plus exactly the service time.
    #[test]
    fn deterministic_service_halves_the_mmc_wait() {
        let (lambda, c, s) = (7.0, 4, 0.5);
        let e = Response::new(lambda, c, s, Distribution::Exponential).unwrap();
        let d = Response::new(lambda, c, s, Distribution::Deterministic).unwrap();
        assert_eq!(d.p_wait, e.p_wait);
        assert!(close(d.mean_wait(), e.mean_wait() / 2.0, 1e-12));
        assert!(close(d.mean(), e.mean_wait() / 2.0 + s, 1e-12));
        let theta = f64::from(c) / s - lambda;
        for w in [0.1, 0.4, 1.0] {
            assert!(close(
                d.survival(s + w),
                e.p_wait * (-2.0 * theta * w).exp(),
                1e-12
            ));
        }
    }

    #[test]
    fn deterministic_service_never_faster_than_service_time() {
        let r = Response::new(1.0, 20, 0.75, Distribution::Deterministic).unwrap();
        assert_eq!(r.survival(0.74), 1.0);
        assert!(r.quantile(0.95) >= 0.75 && r.quantile(0.95) < 0.76);
        assert!(Response::new(30.0, 20, 0.75, Distribution::Exponential).is_none());
        assert!(Response::new(1.0, 0, 0.75, Distribution::Exponential).is_none());
    }
}
