//! Parsers of one label value each (whole numbers, decimals, percents, booleans, durations): the
//! syntax a value must have and the words of its refusal, shared by every label of that kind.

use std::collections::BTreeMap;

use chrono::TimeDelta;

use super::LabelError;

/// The longest duration [`parse_duration`] accepts: a million weeks (the largest single part it
/// takes), so that adding any real time span to one cannot overflow.
const MAX_DURATION_MS: i64 = 1_000_000 * 604_800_000;

/// Parse a duration: bare seconds (`300`) or Prometheus style (`15m`, `1h30m`, `90s`, `1d`), at
/// most a million of a unit per part and [`MAX_DURATION_MS`] in all.
pub(crate) fn parse_duration(text: &str) -> Option<TimeDelta> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u32>() {
        return Some(TimeDelta::seconds(i64::from(secs)));
    }
    let mut total: i64 = 0;
    let mut digits = String::new();
    let mut chars = text.chars().peekable();
    let mut parts = 0;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().ok().filter(|n| *n <= 1_000_000)?;
        digits.clear();
        let unit_ms = match c {
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                1
            }
            's' => 1_000,
            'm' => 60_000,
            'h' => 3_600_000,
            'd' => 86_400_000,
            'w' => 604_800_000,
            _ => return None,
        };
        total = total
            .checked_add(n.checked_mul(unit_ms)?)
            .filter(|t| *t <= MAX_DURATION_MS)?;
        parts += 1;
    }
    (digits.is_empty() && parts > 0).then(|| TimeDelta::milliseconds(total))
}

/// A per-function hold or window is bounded as its `[policy]` setting is: a day at most. Longer is a
/// typo (`1000w`) that would keep a function from ever scaling down, not a setting.
pub(super) fn at_most_a_day(
    labels: &BTreeMap<String, String>,
    label: &'static str,
    d: TimeDelta,
) -> Result<TimeDelta, LabelError> {
    if d <= TimeDelta::days(1) {
        return Ok(d);
    }
    Err(LabelError {
        label,
        value: labels.get(label).cloned().unwrap_or_default(),
        problem: "is more than a day (86400 s), the most the [policy] setting allows".into(),
    })
}

pub(super) fn duration_label(
    labels: &BTreeMap<String, String>,
    label: &'static str,
    seconds_ok: bool,
) -> Result<Option<TimeDelta>, LabelError> {
    let Some(value) = labels.get(label) else {
        return Ok(None);
    };
    let bare = value.trim().parse::<u64>().is_ok();
    match parse_duration(value) {
        Some(d) if seconds_ok => Ok(Some(d)),
        // A Prometheus duration (it goes into a PromQL range): a unit is required, zero is useless.
        Some(d) if !bare && d > TimeDelta::zero() => Ok(Some(d)),
        _ => Err(LabelError {
            label,
            value: value.clone(),
            problem: if seconds_ok {
                "must be seconds or a duration such as 90s, 5m or 1h30m".into()
            } else {
                "must be a Prometheus duration above zero, such as 15m or 1h30m".into()
            },
        }),
    }
}

pub(super) fn decimal(
    labels: &BTreeMap<String, String>,
    label: &'static str,
    valid: impl Fn(f64) -> bool,
    problem: &str,
) -> Result<Option<f64>, LabelError> {
    let Some(value) = labels.get(label) else {
        return Ok(None);
    };
    match value.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && valid(x) => Ok(Some(x)),
        _ => Err(LabelError {
            label,
            value: value.clone(),
            problem: problem.into(),
        }),
    }
}

pub(super) fn percent(
    labels: &BTreeMap<String, String>,
    label: &'static str,
    max: u32,
    default: u32,
) -> Result<u32, LabelError> {
    let p = number(labels, label, default)?;
    if p == 0 || p > max {
        return Err(LabelError {
            label,
            value: labels.get(label).cloned().unwrap_or_default(),
            problem: format!("must be a whole percent between 1 and {max}"),
        });
    }
    Ok(p)
}

pub(super) fn number(
    labels: &BTreeMap<String, String>,
    label: &'static str,
    default: u32,
) -> Result<u32, LabelError> {
    match labels.get(label) {
        None => Ok(default),
        // Plain digits only (surrounding spaces aside): `+7`, `0x7` or `7.0` would be read
        // differently by other tools.
        Some(value) => {
            let problem = match plain_digits(value.trim()) {
                None => "must be a whole number ≥ 0 written in plain digits".to_owned(),
                Some(digits) => match digits.parse::<u32>() {
                    Ok(n) => return Ok(n),
                    Err(_) => format!("is too large (at most {})", u32::MAX),
                },
            };
            Err(LabelError {
                label,
                value: value.clone(),
                problem,
            })
        }
    }
}

fn plain_digits(text: &str) -> Option<&str> {
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())).then_some(text)
}

pub(super) fn boolean(
    labels: &BTreeMap<String, String>,
    label: &'static str,
) -> Result<bool, LabelError> {
    match labels.get(label).map(|v| v.trim()) {
        None => Ok(false),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(LabelError {
            label,
            value: other.to_owned(),
            problem: "must be \"true\" or \"false\"".into(),
        }),
    }
}
