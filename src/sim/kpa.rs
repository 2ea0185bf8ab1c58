//! A Knative-KPA-like autoscaler, the baseline alertscaler is compared with. It reads in-flight requests
//! directly from the replicas (as Knative's queue-proxies report them), not through Prometheus and
//! AlertManager, and decides every `tick_secs`.
//!
//! As Knative documents it (see ../shared/NOTES.md): desired = ceil(observed concurrency / target per
//! replica), where the observed concurrency is averaged over a 60 s stable window and a 6 s panic window of
//! per-tick samples; panic mode starts when the panic window's desired ≥ 2 × ready replicas, lasts until a
//! whole stable window has passed without that condition, and never scales down; one decision moves at most
//! ×1000 up and ÷2 down (of the ready replicas); scale to zero only after the decisions (within the ÷2
//! limit, so from one replica) have wanted zero for a grace period, only where the function allows it
//! (`com.openfaas.scale.zero=true`, whatever its min), otherwise never below max(min, 1).

use std::collections::VecDeque;

use serde::Deserialize;

use super::capacity::ceil_div;

/// KPA parameters (Knative's defaults); a scenario may override any of them under `[presets.kpa.kpa]`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KpaSpec {
    pub tick_secs: u64,
    pub stable_window_secs: u64,
    pub panic_window_secs: u64,
    /// Panic when panic-window desired ≥ this × ready replicas (2.0 = Knative's 200 %).
    pub panic_threshold: f64,
    pub max_scale_up_rate: f64,
    pub max_scale_down_rate: f64,
    pub scale_to_zero_grace_secs: u64,
}

impl Default for KpaSpec {
    fn default() -> Self {
        Self {
            tick_secs: 2,
            stable_window_secs: 60,
            panic_window_secs: 6,
            panic_threshold: 2.0,
            max_scale_up_rate: 1000.0,
            max_scale_down_rate: 2.0,
            scale_to_zero_grace_secs: 30,
        }
    }
}

/// What KPA knows about one function that does not change during a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KpaFunction {
    /// Effective target per replica (in-flight requests, or req/s for `rps` functions).
    pub target: f64,
    pub min: u32,
    pub max: u32,
    /// The function allows scale to zero (`com.openfaas.scale.zero=true`).
    pub zero: bool,
}

/// One function's autoscaler state (Knative keeps one per revision).
#[derive(Debug, Clone, PartialEq)]
pub struct Kpa {
    spec: KpaSpec,
    function: KpaFunction,
    /// (time, observed load) per tick, newest last, trimmed to the stable window.
    samples: VecDeque<(u64, f64)>,
    /// When the current panic started (None: not panicking).
    panic_since: Option<u64>,
    /// Last time the panic condition held.
    panic_last: u64,
    /// Since when the stable window has wanted zero replicas (for the scale-to-zero grace period).
    zero_since: Option<u64>,
}

/// One decision, with the numbers behind it (kept for tests and explanations).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KpaDecision {
    pub stable_avg: f64,
    pub panic_avg: f64,
    pub desired_stable: u32,
    pub desired_panic: u32,
    pub panicking: bool,
    pub replicas: u32,
}

fn mean(samples: impl Iterator<Item = f64>) -> f64 {
    let (n, s) = samples.fold((0u32, 0.0), |(n, s), x| (n + 1, s + x));
    if n == 0 { 0.0 } else { s / f64::from(n) }
}

impl Kpa {
    pub fn new(spec: KpaSpec, function: KpaFunction) -> Self {
        Self {
            spec,
            function,
            samples: VecDeque::new(),
            panic_since: None,
            panic_last: 0,
            zero_since: None,
        }
    }

    /// Whether `t` is a decision tick.
    pub fn due(&self, t: u64, phase: u64) -> bool {
        self.spec.tick_secs > 0 && t % self.spec.tick_secs == phase % self.spec.tick_secs
    }

    /// Record the load observed over the last tick at `now`, and decide from `current` desired replicas
    /// and `ready` replicas. Pure: the same inputs give the same decision.
    pub fn decide(&mut self, now: u64, observed: f64, current: u32, ready: u32) -> KpaDecision {
        let s = self.spec;
        self.samples.push_back((now, observed));
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| t + s.stable_window_secs <= now)
        {
            self.samples.pop_front();
        }
        let stable_avg = mean(self.samples.iter().map(|x| x.1));
        let panic_avg = mean(
            self.samples
                .iter()
                .filter(|(t, _)| t + s.panic_window_secs > now)
                .map(|x| x.1),
        );
        let target = self.function.target;
        let desired_stable = ceil_div(stable_avg, target);
        let desired_panic = ceil_div(panic_avg, target);
        // Knative divides by ready pods, at least 1.
        let ready_f = f64::from(ready.max(1));
        if f64::from(desired_panic) >= s.panic_threshold * ready_f {
            self.panic_since.get_or_insert(now);
            self.panic_last = now;
        } else if self
            .panic_since
            .is_some_and(|_| now >= self.panic_last + s.stable_window_secs)
        {
            self.panic_since = None;
        }
        let panicking = self.panic_since.is_some();
        let mut want = if panicking {
            // Never scale down while panicking.
            desired_panic.max(current)
        } else {
            desired_stable
        };
        let up_limit = (s.max_scale_up_rate * ready_f).ceil();
        let down_limit = (ready_f / s.max_scale_down_rate).floor();
        want = (f64::from(want).clamp(down_limit, up_limit.max(down_limit))) as u32;
        let f = self.function;
        if want == 0 {
            self.zero_since.get_or_insert(now);
        } else {
            self.zero_since = None;
        }
        let idle_long = self
            .zero_since
            .is_some_and(|t| now >= t + s.scale_to_zero_grace_secs);
        let floor = if f.zero && idle_long { 0 } else { f.min.max(1) };
        let replicas = want.clamp(floor, f.max.max(floor));
        KpaDecision {
            stable_avg,
            panic_avg,
            desired_stable,
            desired_panic,
            panicking,
            replicas,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kpa(target: f64, min: u32, max: u32) -> Kpa {
        Kpa::new(
            KpaSpec::default(),
            KpaFunction {
                target,
                min,
                max,
                zero: false,
            },
        )
    }

    /// Hand-computed: target 10, samples every 2 s.
    #[test]
    fn stable_mode_follows_the_60s_average() {
        let mut k = kpa(10.0, 1, 50);
        // t=2: one sample of 25 → stable 25/10 → 3; panic avg 25 → 3 ≥ 2 × 1 ready → panic, 3.
        let d = k.decide(2, 25.0, 1, 1);
        assert_eq!(
            (d.desired_stable, d.desired_panic, d.panicking),
            (3, 3, true)
        );
        assert_eq!(d.replicas, 3);
        // A KPA that is not panicking: 10 in flight on 1 ready replica: desired 1 (< 2 × 1).
        let mut k = kpa(10.0, 1, 50);
        for t in (2..=60).step_by(2) {
            let d = k.decide(t, 10.0, 1, 1);
            assert_eq!((d.replicas, d.panicking), (1, false), "t={t}");
        }
        // Load doubles to 30 on 1 ready: panic window (t=62, 60, 58) avg (30+10+10)/3 = 16.7 → 2, not ≥ 2×1?
        // 2 ≥ 2 → panic; desired max(2, current 1) = 2.
        let d = k.decide(62, 30.0, 1, 1);
        assert!((d.panic_avg - 50.0 / 3.0).abs() < 1e-9);
        assert_eq!((d.desired_panic, d.panicking, d.replicas), (2, true, 2));
    }

    #[test]
    fn panic_never_scales_down_and_ends_after_a_stable_window() {
        // Target 1. t=2: 8 in flight on 1 ready: panic desired 8 ≥ 2 × 1 → panic, to 8 (×1000 allows it).
        let mut k = kpa(1.0, 1, 100);
        let d = k.decide(2, 8.0, 1, 1);
        assert_eq!((d.desired_panic, d.panicking, d.replicas), (8, true, 8));
        // Load gone; 8 ready. Stable and panic averages fall (t=4: (8+0)/2 = 4) but panic holds 8 …
        let d = k.decide(4, 0.0, 8, 8);
        assert_eq!((d.desired_stable, d.panicking, d.replicas), (4, true, 8));
        for t in (6..=60).step_by(2) {
            let d = k.decide(t, 0.0, 8, 8);
            assert_eq!((d.panicking, d.replicas), (true, 8), "t={t}");
        }
        // … until 60 s after the panic condition last held (t=2): out of panic, desired 0, but at most
        // ÷2 per decision: floor(8 / 2) = 4.
        let d = k.decide(62, 0.0, 8, 8);
        assert_eq!((d.desired_stable, d.panicking, d.replicas), (0, false, 4));
    }

    #[test]
    fn rate_limits_bound_one_decision() {
        // Down: 10 ready, load gone: floor(10 / 2) = 5 at most down.
        let mut k = kpa(1.0, 1, 100);
        let d = k.decide(2, 0.0, 10, 10);
        assert_eq!((d.desired_stable, d.replicas), (0, 5));
        // Up: 1 ready, 5000 in flight, target 1: min(5000, 1000 × 1) = 1000 (max 2000 allows it).
        let mut k = kpa(1.0, 1, 2000);
        let d = k.decide(2, 5000.0, 1, 1);
        assert_eq!(d.replicas, 1000);
    }

    /// The doc: scale to zero after the decisions have wanted zero for a 30 s grace period; the ÷2 limit
    /// comes first (as in Knative's decider), so from more than one replica the decisions halve down to one
    /// and only then want zero. No load from t=2; replicas follow the decisions at once.
    #[test]
    fn zero_grace_counts_from_the_first_decision_that_wants_zero() {
        let f = KpaFunction {
            target: 1.0,
            min: 1,
            max: 10,
            zero: true,
        };
        let grace = KpaSpec::default().scale_to_zero_grace_secs;
        // (starting replicas, tick at which the rate-limited decision first wants 0): 1 → at once;
        // 4 → 2 (t=2) → 1 (t=4) → wants 0 at t=6.
        for (start, wants_zero) in [(1, 2), (4, 6)] {
            let mut k = Kpa::new(KpaSpec::default(), f);
            let mut replicas = start;
            let mut zero_at = None;
            for t in (2..=80).step_by(2) {
                let d = k.decide(t, 0.0, replicas, replicas);
                assert_eq!(d.desired_stable, 0, "t={t}");
                replicas = d.replicas;
                if replicas == 0 && zero_at.is_none() {
                    zero_at = Some(t);
                }
            }
            assert_eq!(zero_at, Some(wants_zero + grace), "from {start}");
        }
    }

    /// The doc: decisions are clamped to `[max(min, 1), max]` from the function's labels (zero only
    /// through the grace period of a function that allows it).
    #[test]
    fn decisions_stay_within_max_min_1_and_max() {
        let mut k = kpa(1.0, 3, 5);
        assert_eq!(k.decide(2, 100.0, 5, 5).replicas, 5, "max");
        let mut k = kpa(1.0, 3, 5);
        for t in (2..=200).step_by(2) {
            assert_eq!(k.decide(t, 0.0, 3, 3).replicas, 3, "min, t={t}");
        }
        let mut k = kpa(1.0, 0, 5);
        for t in (2..=200).step_by(2) {
            assert_eq!(
                k.decide(t, 0.0, 1, 1).replicas,
                1,
                "min 0 without zero: 1, t={t}"
            );
        }
    }

    #[test]
    fn zero_only_after_grace_and_only_when_allowed() {
        let f = KpaFunction {
            target: 1.0,
            min: 1,
            max: 10,
            zero: true,
        };
        let mut k = Kpa::new(KpaSpec::default(), f);
        assert_eq!(k.decide(2, 1.0, 1, 1).replicas, 1);
        // The stable window holds the t=2 sample until t=62; from then it wants 0, and after the 30 s grace
        // period (t=92) the function goes to zero.
        for t in (4..=90).step_by(2) {
            assert_eq!(k.decide(t, 0.0, 1, 1).replicas, 1, "t={t}");
        }
        assert_eq!(k.decide(92, 0.0, 1, 1).replicas, 0);
        // Not allowed: stays at 1.
        let mut k = Kpa::new(KpaSpec::default(), KpaFunction { zero: false, ..f });
        k.decide(2, 1.0, 1, 1);
        assert_eq!(k.decide(100, 0.0, 1, 1).replicas, 1);
    }
}
