//! Load traces: what each function is asked per second, and a small seeded random source.
//!
//! A function's load is the sum of its segments. Open-loop segments (step, ramp, spike, sine, on/off,
//! CSV) give requests per second; closed-loop `clients` segments give a population of clients that each
//! send the next request when the previous one answered (as `hey -c N` does), so their rate depends on
//! the latency the simulator computes.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::SimError;

mod csv;
mod rng;
mod validate;

use csv::{read_csv, series_at};
pub use rng::Rng;
use validate::validate;

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

#[cfg(test)]
mod tests;
