//! Load traces: what each function is asked per second, and a small seeded random source.
//!
//! A function's load is the sum of its segments. Open-loop segments (step, ramp, spike, sine, on/off,
//! CSV) give requests per second; closed-loop `clients` segments give a population of clients that each
//! send the next request when the previous one answered (as `hey -c N` does), so their rate depends on
//! the latency the simulator computes.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::SimError;

/// One load segment as written in a scenario file. Times are simulated seconds from the start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LoadSpec {
    /// Constant `rps` from `start_secs` to `end_secs` (open-ended when absent).
    Step {
        rps: f64,
        #[serde(default)]
        start_secs: f64,
        end_secs: Option<f64>,
    },
    /// Linear from `from_rps` at `start_secs` to `to_rps` at `end_secs`, then holds `to_rps` until `hold_until_secs`.
    Ramp {
        from_rps: f64,
        to_rps: f64,
        start_secs: f64,
        end_secs: f64,
        hold_until_secs: Option<f64>,
    },
    /// `peak_rps` for `width_secs` from `at_secs`.
    Spike {
        peak_rps: f64,
        at_secs: f64,
        width_secs: f64,
    },
    /// `mean_rps + amplitude_rps * sin(2π (t + phase_secs) / period_secs)`, never below zero.
    Sine {
        mean_rps: f64,
        amplitude_rps: f64,
        period_secs: f64,
        #[serde(default)]
        phase_secs: f64,
    },
    /// `rps` for `on_secs`, nothing for `off_secs`, repeating from `start_secs` to `end_secs`.
    OnOff {
        rps: f64,
        on_secs: f64,
        off_secs: f64,
        #[serde(default)]
        start_secs: f64,
        end_secs: Option<f64>,
    },
    /// `clients` closed-loop clients (each waits for its answer, then `think_ms`) in the window.
    Clients {
        clients: f64,
        #[serde(default)]
        think_ms: f64,
        #[serde(default)]
        start_secs: f64,
        end_secs: Option<f64>,
    },
    /// Requests per second read from a CSV file: header `t,<function>,…`, one row per second (held between
    /// rows). `path` is relative to the scenario file; `column` defaults to the function's name.
    Csv {
        path: String,
        column: Option<String>,
    },
}

/// The largest closed population one segment may hold (a `hey -c` far beyond any load generator's).
pub const MAX_CLIENTS: f64 = 1_000_000.0;

/// A compiled segment: CSV files are read once at load.
#[derive(Debug, Clone)]
enum Segment {
    Spec(LoadSpec),
    Series(Vec<(f64, f64)>),
}

/// A function's whole load, ready to be asked "what at second t".
#[derive(Debug, Clone, Default)]
pub struct Trace {
    segments: Vec<Segment>,
}

/// Demand at one second: open-loop rate plus closed-loop population.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Demand {
    pub rps: f64,
    pub clients: f64,
    /// Client think time in seconds (the largest of the active client segments).
    pub think: f64,
}

fn within(t: f64, start: f64, end: Option<f64>) -> bool {
    t >= start && end.is_none_or(|e| t < e)
}

impl Trace {
    /// Compile segments; `base` is the scenario file's directory, `function` the default CSV column.
    pub fn compile(specs: &[LoadSpec], base: &Path, function: &str) -> Result<Self, SimError> {
        let mut segments = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            validate(spec, i + 1, function)?;
            segments.push(match spec {
                LoadSpec::Csv { path, column } => {
                    let column = column.as_deref().unwrap_or(function);
                    Segment::Series(read_csv(&base.join(path), column)?)
                }
                other => Segment::Spec(other.clone()),
            });
        }
        Ok(Self { segments })
    }

    /// The demand during second `[t, t+1)`.
    pub fn at(&self, t: f64) -> Demand {
        let mut d = Demand::default();
        for segment in &self.segments {
            match segment {
                Segment::Series(rows) => d.rps += series_at(rows, t),
                Segment::Spec(spec) => match *spec {
                    LoadSpec::Step {
                        rps,
                        start_secs,
                        end_secs,
                    } if within(t, start_secs, end_secs) => d.rps += rps,
                    LoadSpec::Ramp {
                        from_rps,
                        to_rps,
                        start_secs,
                        end_secs,
                        hold_until_secs,
                    } => {
                        if within(t, start_secs, Some(end_secs)) {
                            let f = (t - start_secs) / (end_secs - start_secs);
                            d.rps += from_rps + f * (to_rps - from_rps);
                        } else if within(t, end_secs, hold_until_secs) {
                            d.rps += to_rps;
                        }
                    }
                    LoadSpec::Spike {
                        peak_rps,
                        at_secs,
                        width_secs,
                    } if within(t, at_secs, Some(at_secs + width_secs)) => d.rps += peak_rps,
                    LoadSpec::Sine {
                        mean_rps,
                        amplitude_rps,
                        period_secs,
                        phase_secs,
                    } => {
                        let x = std::f64::consts::TAU * (t + phase_secs) / period_secs;
                        d.rps += (mean_rps + amplitude_rps * x.sin()).max(0.0);
                    }
                    LoadSpec::OnOff {
                        rps,
                        on_secs,
                        off_secs,
                        start_secs,
                        end_secs,
                    } if within(t, start_secs, end_secs)
                        && (t - start_secs) % (on_secs + off_secs) < on_secs =>
                    {
                        d.rps += rps
                    }
                    LoadSpec::Clients {
                        clients,
                        think_ms,
                        start_secs,
                        end_secs,
                    } if within(t, start_secs, end_secs) => {
                        d.clients += clients;
                        d.think = d.think.max(think_ms / 1000.0);
                    }
                    _ => {}
                },
            }
        }
        d
    }
}

impl LoadSpec {
    /// The segment's `kind` as written in a scenario file.
    fn kind(&self) -> &'static str {
        match self {
            Self::Step { .. } => "step",
            Self::Ramp { .. } => "ramp",
            Self::Spike { .. } => "spike",
            Self::Sine { .. } => "sine",
            Self::OnOff { .. } => "on_off",
            Self::Clients { .. } => "clients",
            Self::Csv { .. } => "csv",
        }
    }

    /// Every number the segment holds, by its field name (TOML accepts `nan` and `inf`).
    fn numbers(&self) -> Vec<(&'static str, f64)> {
        let mut out = match *self {
            Self::Step {
                rps, start_secs, ..
            } => vec![("rps", rps), ("start_secs", start_secs)],
            Self::Ramp {
                from_rps,
                to_rps,
                start_secs,
                end_secs,
                ..
            } => vec![
                ("from_rps", from_rps),
                ("to_rps", to_rps),
                ("start_secs", start_secs),
                ("end_secs", end_secs),
            ],
            Self::Spike {
                peak_rps,
                at_secs,
                width_secs,
            } => vec![
                ("peak_rps", peak_rps),
                ("at_secs", at_secs),
                ("width_secs", width_secs),
            ],
            Self::Sine {
                mean_rps,
                amplitude_rps,
                period_secs,
                phase_secs,
            } => vec![
                ("mean_rps", mean_rps),
                ("amplitude_rps", amplitude_rps),
                ("period_secs", period_secs),
                ("phase_secs", phase_secs),
            ],
            Self::OnOff {
                rps,
                on_secs,
                off_secs,
                start_secs,
                ..
            } => vec![
                ("rps", rps),
                ("on_secs", on_secs),
                ("off_secs", off_secs),
                ("start_secs", start_secs),
            ],
            Self::Clients {
                clients,
                think_ms,
                start_secs,
                ..
            } => vec![
                ("clients", clients),
                ("think_ms", think_ms),
                ("start_secs", start_secs),
            ],
            Self::Csv { .. } => vec![],
        };
        out.extend(self.optional_number());
        out
    }

    /// The segment's optional number, when set (by its field name).
    fn optional_number(&self) -> Option<(&'static str, f64)> {
        match *self {
            Self::Step { end_secs, .. }
            | Self::OnOff { end_secs, .. }
            | Self::Clients { end_secs, .. } => end_secs.map(|e| ("end_secs", e)),
            Self::Ramp {
                hold_until_secs, ..
            } => hold_until_secs.map(|h| ("hold_until_secs", h)),
            _ => None,
        }
    }

    /// Where the segment starts and ends (`None`: open-ended), for the check that it ends after it starts.
    fn span(&self) -> Option<(f64, Option<f64>)> {
        match *self {
            Self::Step {
                start_secs,
                end_secs,
                ..
            }
            | Self::OnOff {
                start_secs,
                end_secs,
                ..
            }
            | Self::Clients {
                start_secs,
                end_secs,
                ..
            } => Some((start_secs, end_secs)),
            Self::Ramp {
                start_secs,
                end_secs,
                ..
            } => Some((start_secs, Some(end_secs))),
            Self::Spike {
                at_secs,
                width_secs,
                ..
            } => Some((at_secs, Some(at_secs + width_secs))),
            Self::Sine { .. } | Self::Csv { .. } => None,
        }
    }
}

/// Refuse a segment whose numbers cannot describe a load: every number finite, rates and populations
/// ≥ 0, periods and widths > 0, and an end after its start. `n` is the segment's place in the list (from 1).
fn validate(spec: &LoadSpec, n: usize, function: &str) -> Result<(), SimError> {
    let bad = |what: String| {
        Err(SimError::Scenario(format!(
            "function {function}: load segment {n} (kind = \"{}\"): {what}",
            spec.kind()
        )))
    };
    let numbers = spec.numbers();
    if let Some((name, x)) = numbers.iter().find(|(_, x)| !x.is_finite()) {
        return bad(format!("{name} = {x} is not a finite number"));
    }
    let at_least_zero = [
        "rps", "from_rps", "to_rps", "peak_rps", "mean_rps", "clients", "think_ms", "off_secs",
    ];
    if let Some((name, x)) = numbers
        .iter()
        .find(|(name, x)| at_least_zero.contains(name) && *x < 0.0)
    {
        return bad(format!("{name} = {x} must be ≥ 0"));
    }
    let above_zero = ["period_secs", "width_secs", "on_secs"];
    if let Some((name, x)) = numbers
        .iter()
        .find(|(name, x)| above_zero.contains(name) && *x <= 0.0)
    {
        return bad(format!("{name} = {x} must be > 0"));
    }
    if let LoadSpec::Clients { clients, .. } = *spec
        && clients > MAX_CLIENTS
    {
        return bad(format!("clients = {clients} must be at most {MAX_CLIENTS}"));
    }
    if let Some((start, Some(end))) = spec.span()
        && end <= start
    {
        return bad(format!("it ends ({end} s) before it starts ({start} s)"));
    }
    if let LoadSpec::Ramp {
        end_secs,
        hold_until_secs: Some(hold),
        ..
    } = *spec
        && hold < end_secs
    {
        return bad(format!(
            "hold_until_secs = {hold} is before end_secs = {end_secs}"
        ));
    }
    Ok(())
}

fn series_at(rows: &[(f64, f64)], t: f64) -> f64 {
    match rows.partition_point(|(rt, _)| *rt <= t) {
        0 => 0.0,
        i => rows[i - 1].1,
    }
}

fn read_csv(path: &Path, column: &str) -> Result<Vec<(f64, f64)>, SimError> {
    let text = super::read_text(path, "load trace", super::TRACE_MAX_BYTES)?;
    let err = |line: usize, what: String| {
        SimError::Scenario(format!("{}: line {line}: {what}", path.display()))
    };
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or_else(|| err(1, "empty file".into()))?;
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    let col = names
        .iter()
        .position(|n| *n == column)
        .filter(|&i| i > 0)
        .ok_or_else(|| err(1, format!("no column {column:?} in header {names:?}")))?;
    let mut rows = Vec::new();
    for (i, line) in lines {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        let num = |j: usize| -> Result<f64, SimError> {
            let cell = cells.get(j).copied().unwrap_or("");
            cell.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| err(i + 1, format!("{cell:?} is not a number ≥ 0")))
        };
        let t = num(0)?;
        if rows.last().is_some_and(|(prev, _)| *prev >= t) {
            return Err(err(i + 1, "times must increase".into()));
        }
        rows.push((t, num(col)?));
    }
    Ok(rows)
}

/// SplitMix64: a tiny, fast, seedable generator, so that a run depends only on its seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Poisson-distributed count with mean `lambda` (Knuth below 30, normal approximation above).
    pub fn poisson(&mut self, lambda: f64) -> f64 {
        if lambda <= 0.0 {
            return 0.0;
        }
        if lambda < 30.0 {
            let limit = (-lambda).exp();
            let (mut k, mut p) = (0.0, self.uniform());
            while p > limit {
                k += 1.0;
                p *= self.uniform();
            }
            return k;
        }
        let (u1, u2) = (self.uniform(), self.uniform());
        let normal = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        (lambda + lambda.sqrt() * normal).round().max(0.0)
    }
}

#[cfg(test)]
mod tests;
