//! Prometheus's answers read: one number, the desired count with its sample's time, the firing
//! alert names, an error body. Pure: no I/O, and the time is Prometheus's, read from the answer.

use super::LoadError;
use super::promql::{DESIRED_SERIES, PART};

/// A [`desired_query`](crate::measure::desired_query) answer as Prometheus gives it: the count and the time it was sampled, both
/// stamped with the evaluation time. What the simulated Prometheus and the tests' fakes answer.
pub(crate) fn desired_answer(
    desired: f64,
    sampled_at: f64,
    evaluated_at: f64,
) -> serde_json::Value {
    serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {PART: "desired"}, "value": [evaluated_at, desired.to_string()]},
        {"metric": {PART: "sampled_at"}, "value": [evaluated_at, sampled_at.to_string()]},
    ]}})
}

/// The distinct `alertname`s of an instant-vector answer (empty: none firing).
pub(crate) fn parse_alertnames(body: &serde_json::Value) -> Result<Vec<String>, LoadError> {
    if body["status"] != "success" || body["data"]["resultType"] != "vector" {
        return Err(LoadError::Answer("not a successful vector answer".into()));
    }
    let result = body["data"]["result"]
        .as_array()
        .ok_or_else(|| LoadError::Answer("no result".into()))?;
    let mut names: Vec<String> = result
        .iter()
        .filter_map(|sample| sample["metric"]["alertname"].as_str().map(str::to_owned))
        .collect();
    names.sort_unstable();
    names.dedup();
    Ok(names)
}

/// The desired count from a [`desired_query`](crate::measure::desired_query) answer: its two samples, the count a number ≥ 0,
/// sampled at most `max_age_secs` before the evaluation. An empty vector means the pack has no value
/// for the function (not loaded, or no gateway series yet).
pub(crate) fn parse_desired(body: &serde_json::Value, max_age_secs: u64) -> Result<f64, LoadError> {
    if body["status"] != "success" {
        return Err(LoadError::Answer("status is not success".into()));
    }
    if body["data"]["resultType"] != "vector" {
        return Err(LoadError::Answer(format!(
            "result type {} (want vector)",
            body["data"]["resultType"]
        )));
    }
    let result = body["data"]["result"]
        .as_array()
        .ok_or_else(|| LoadError::Answer("no result".into()))?;
    if result.is_empty() {
        return Err(LoadError::Answer(format!(
            "no {DESIRED_SERIES} for this function (is alert-rules/capacity.rules.yml loaded?)"
        )));
    }
    let part = |name: &str| {
        let mut samples = result.iter().filter(|s| s["metric"][PART] == name);
        match (samples.next(), samples.next()) {
            (Some(one), None) => Ok(&one["value"]),
            _ => Err(LoadError::Answer(format!(
                "want one sample with {PART}=\"{name}\" among {}",
                result.len()
            ))),
        }
    };
    let (desired, sampled) = (part("desired")?, part("sampled_at")?);
    let number = |v: &serde_json::Value| v.as_str().and_then(|s| s.parse::<f64>().ok());
    let (Some(sampled_at), Some(evaluated_at)) = (number(&sampled[1]), sampled[0].as_f64()) else {
        return Err(LoadError::Answer(
            "the sample's time is not a number".into(),
        ));
    };
    fresh(sampled_at, evaluated_at, max_age_secs)?;
    sample_value(desired)
}

/// Whether a sample taken at `sampled_at` is still a measurement at `now` (both Prometheus's clock,
/// in seconds): at most `max_age_secs` old. Pure: the caller passes the time.
pub(crate) fn fresh(sampled_at: f64, now: f64, max_age_secs: u64) -> Result<(), LoadError> {
    let age_secs = now - sampled_at;
    // A NaN or infinite age (a time that is not one) is not fresh either.
    if age_secs.is_finite() && age_secs <= max_age_secs as f64 {
        Ok(())
    } else {
        Err(LoadError::Stale {
            age_secs,
            max_secs: max_age_secs,
        })
    }
}

/// A non-2xx answer: Prometheus's own `errorType` and `error` when the body has them.
pub(super) fn error_answer(status: u16, body: &serde_json::Value) -> LoadError {
    match (body["errorType"].as_str(), body["error"].as_str()) {
        (Some(kind), Some(message)) => LoadError::Refused {
            status,
            kind: kind.to_owned(),
            message: message.to_owned(),
        },
        _ => LoadError::Status(status),
    }
}

/// One number from an instant-query answer: a scalar, or a vector with exactly one sample.
pub(crate) fn parse_answer(body: &serde_json::Value) -> Result<f64, LoadError> {
    let bad = |m: &str| LoadError::Answer(m.to_owned());
    if body["status"] != "success" {
        return Err(bad("status is not success"));
    }
    let data = &body["data"];
    let sample = match data["resultType"].as_str() {
        Some("scalar") => &data["result"],
        Some("vector") => {
            let result = data["result"].as_array().ok_or_else(|| bad("no result"))?;
            match result.as_slice() {
                [one] => &one["value"],
                [] => return Err(bad("empty vector (no data for this function)")),
                many => {
                    return Err(LoadError::Answer(format!(
                        "{} series; the query must return one (wrap it in sum(...))",
                        many.len()
                    )));
                }
            }
        }
        other => return Err(LoadError::Answer(format!("result type {other:?}"))),
    };
    sample_value(sample)
}

/// The number ≥ 0 of one `[time, "value"]` sample.
fn sample_value(sample: &serde_json::Value) -> Result<f64, LoadError> {
    let bad = |m: &str| LoadError::Answer(m.to_owned());
    let value: f64 = sample[1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("sample value is not a number"))?;
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(LoadError::Answer(format!(
            "sample value {value} is not ≥ 0"
        )))
    }
}
