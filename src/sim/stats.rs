//! Run-wide statistics that a per-second series cannot give directly: the latency distribution of every
//! served request (mean and quantiles) and how often the replica count changed direction.
//!
//! Latencies are accumulated as expected counts in logarithmic bins (40 per decade from 0.1 ms to 1000 s, so a
//! quantile is within ~3 % of the exact one), filled from the response-time distribution of each second.

/// Lower edge of the first latency bin, in seconds.
const LOW: f64 = 1e-4;
/// Bins per decade.
const PER_DECADE: f64 = 40.0;
/// Seven decades: 0.1 ms … 1000 s.
const BINS: usize = 280;

/// The latency distribution of served requests over a whole run.
#[derive(Debug, Clone, PartialEq)]
pub struct Latencies {
    /// `counts[i]`: requests with latency in `[edge(i), edge(i+1))`; the last bin holds everything above.
    counts: Vec<f64>,
    /// Requests below [`LOW`].
    below: f64,
    total: f64,
    sum: f64,
}

impl Default for Latencies {
    fn default() -> Self {
        Self {
            counts: vec![0.0; BINS],
            below: 0.0,
            total: 0.0,
            sum: 0.0,
        }
    }
}

fn edge(i: usize) -> f64 {
    LOW * 10f64.powf(i as f64 / PER_DECADE)
}

impl Latencies {
    /// Add `n` requests whose latency has survival function `survival` and mean `mean` (seconds).
    pub fn add(&mut self, n: f64, mean: f64, survival: impl Fn(f64) -> f64) {
        if n <= 0.0 || !mean.is_finite() {
            return;
        }
        let mut above = survival(LOW);
        self.below += n * (1.0 - above);
        for i in 0..BINS {
            let next = if i + 1 == BINS {
                0.0
            } else {
                survival(edge(i + 1))
            };
            self.counts[i] += n * (above - next).max(0.0);
            above = next;
        }
        self.total += n;
        self.sum += n * mean;
    }

    /// Fold another run's distribution in (several functions of one run).
    pub fn merge(&mut self, other: &Latencies) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.below += other.below;
        self.total += other.total;
        self.sum += other.sum;
    }

    /// Requests counted.
    pub fn count(&self) -> f64 {
        self.total
    }

    /// Mean latency in seconds (NaN without requests).
    pub fn mean(&self) -> f64 {
        if self.total > 0.0 {
            self.sum / self.total
        } else {
            f64::NAN
        }
    }

    /// The `q`-quantile in seconds, interpolated geometrically inside its bin (NaN without requests).
    pub fn quantile(&self, q: f64) -> f64 {
        let mass: f64 = self.below + self.counts.iter().sum::<f64>();
        if mass <= 0.0 {
            return f64::NAN;
        }
        let rank = q.clamp(0.0, 1.0) * mass;
        if rank <= self.below {
            return LOW;
        }
        let mut seen = self.below;
        for (i, c) in self.counts.iter().enumerate() {
            if *c > 0.0 && seen + c >= rank {
                let f = (rank - seen) / c;
                return edge(i) * 10f64.powf(f / PER_DECADE);
            }
            seen += c;
        }
        edge(BINS)
    }
}

/// Seconds at which a replica series reverses direction (a move up after a move down, or down after up),
/// given `(t, replicas)` at each change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reversals {
    last: Option<(u32, bool)>,
    pub at: Vec<u64>,
}

impl Reversals {
    /// The replica count became `to` at `t` (from whatever it was).
    pub fn record(&mut self, t: u64, from: u32, to: u32) {
        if from == to {
            return;
        }
        let up = to > from;
        if self.last.is_some_and(|(_, l)| l != up) {
            self.at.push(t);
        }
        self.last = Some((to, up));
    }

    /// The largest number of reversals within any `window` seconds.
    pub fn max_in_window(&self, window: u64) -> u32 {
        let mut best = 0;
        let mut start = 0;
        for end in 0..self.at.len() {
            while self.at[end] - self.at[start] >= window {
                start += 1;
            }
            best = best.max(end + 1 - start);
        }
        best as u32
    }
}

/// The largest number of direction changes of `replicas` (one value per second) within any `window` seconds.
pub fn max_direction_changes(replicas: &[u32], window: u64) -> u32 {
    let mut r = Reversals::default();
    for (t, pair) in replicas.windows(2).enumerate() {
        r.record(t as u64 + 1, pair[0], pair[1]);
    }
    r.max_in_window(window)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_latencies_give_their_quantiles() {
        // Exp(mean 0.1 s): p50 = 0.1 ln 2, p99 = 0.1 ln 100.
        let mut l = Latencies::default();
        l.add(1000.0, 0.1, |t| (-t / 0.1).exp());
        assert!((l.mean() - 0.1).abs() < 1e-12);
        for (q, exact) in [(0.5, 0.1 * 2f64.ln()), (0.99, 0.1 * 100f64.ln())] {
            let got = l.quantile(q);
            assert!((got / exact - 1.0).abs() < 0.03, "q{q}: {got} vs {exact}");
        }
        // A second, slower population shifts the p99 but weighs by count.
        let mut slow = Latencies::default();
        slow.add(1000.0, 1.0, |t| if t < 1.0 { 1.0 } else { 0.0 });
        l.merge(&slow);
        assert_eq!(l.count(), 2000.0);
        assert!((l.mean() - 0.55).abs() < 1e-12);
        assert!(
            (l.quantile(0.99) / 1.0 - 1.0).abs() < 0.06,
            "{}",
            l.quantile(0.99)
        );
        assert!(Latencies::default().quantile(0.5).is_nan());
    }

    #[test]
    fn direction_changes_are_counted_per_window() {
        // up, up, down (1 change), up (2), down (3); changes at seconds 3, 5, 7.
        let r = [1, 2, 3, 2, 2, 3, 3, 2];
        assert_eq!(max_direction_changes(&r, 300), 3);
        assert_eq!(max_direction_changes(&r, 3), 2);
        assert_eq!(max_direction_changes(&r, 1), 1);
        // Monotone: none.
        assert_eq!(max_direction_changes(&[1, 2, 5, 5, 9], 300), 0);
        assert_eq!(max_direction_changes(&[9, 5, 1], 300), 0);
        assert_eq!(max_direction_changes(&[], 300), 0);
    }
}
