//! Prometheus' own arithmetic over scraped samples, as its PromQL engine computes it: `rate()`'s
//! extrapolation and `histogram_quantile()`. Apart from the series the simulator keeps, because the
//! promtool replay computes with them over a test file's input series too.

/// Prometheus' `extrapolatedRate` (2.x, promql/functions.go) for a counter: the increase between the first and
/// last sample in `[range_start, range_end]`, counting across resets (a sample below the one before it, as
/// when a gateway restarts at the same address, adds the value before the reset), extrapolated towards the
/// range edges (not before the counter's zero point; half an average sample interval when an edge is further
/// than 1.1 intervals), per second. `None` with fewer than two samples, as Prometheus returns no value.
pub fn extrapolated_rate(points: &[(f64, f64)], range_start: f64, range_end: f64) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (first_t, first_v) = points[0];
    let (last_t, last_v) = points[points.len() - 1];
    let mut increase = last_v - first_v;
    let mut before = 0.0;
    for &(_, v) in points {
        if v < before {
            increase += before;
        }
        before = v;
    }
    let sampled = last_t - first_t;
    let average = sampled / (points.len() - 1) as f64;
    let mut to_start = first_t - range_start;
    let to_end = range_end - last_t;
    // Prometheus 2.42 order: first limit the start by the counter's zero point, then cap both edges.
    if increase > 0.0 && first_v >= 0.0 {
        to_start = to_start.min(sampled * (first_v / increase));
    }
    let threshold = average * 1.1;
    let edge = |d: f64| if d < threshold { d } else { average / 2.0 };
    let (to_start, to_end) = (edge(to_start), edge(to_end));
    let factor = (sampled + to_start + to_end) / sampled;
    Some(increase * factor / (range_end - range_start))
}

/// Prometheus' `histogram_quantile(q, …)` over cumulative `(le, count)` buckets sorted by `le` with `+Inf`
/// last: linear interpolation inside the bucket holding the rank; the lowest bucket starts at 0; a rank in
/// `+Inf` answers the highest finite bound. NaN when there are no observations.
pub fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> f64 {
    if buckets.len() < 2 || !buckets.last().is_some_and(|b| b.0.is_infinite()) {
        return f64::NAN;
    }
    // Prometheus fixes non-monotonic buckets (from float error) by carrying the maximum forward.
    let mut counts: Vec<f64> = buckets.iter().map(|b| b.1).collect();
    for i in 1..counts.len() {
        counts[i] = counts[i].max(counts[i - 1]);
    }
    let total = counts[counts.len() - 1];
    if total <= 0.0 || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    let rank = q * total;
    let b = counts
        .iter()
        .position(|c| *c >= rank)
        .unwrap_or(counts.len() - 1);
    if b == buckets.len() - 1 {
        return buckets[buckets.len() - 2].0;
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return buckets[0].0;
    }
    let (lower, below) = if b == 0 {
        (0.0, 0.0)
    } else {
        (buckets[b - 1].0, counts[b - 1])
    };
    let upper = buckets[b].0;
    let in_bucket = counts[b] - below;
    lower + (upper - lower) * ((rank - below) / in_bucket)
}
