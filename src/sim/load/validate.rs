//! What a scenario's load segment may say: its kind, its numbers and its span, and the check that
//! refuses a segment that cannot describe a load. Apart from the traces, which assume it passed.

use super::{LoadSpec, MAX_CLIENTS};
use crate::sim::SimError;

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
pub(super) fn validate(spec: &LoadSpec, n: usize, function: &str) -> Result<(), SimError> {
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
