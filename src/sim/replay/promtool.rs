//! promtool's test-file format, as far as the replay reads it: the YAML types, durations (`2m15s`), series
//! notation (`0+50x20`, `_x3`, `stale`) and series selectors (`name{k="v"}`).

use std::collections::BTreeMap;

use serde::Deserialize;

/// A promtool test file (fields this replay does not use are ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct TestFile {
    pub evaluation_interval: Option<String>,
    #[serde(default)]
    pub tests: Vec<TestGroup>,
}

/// One `tests:` entry.
#[derive(Debug, Clone, Deserialize)]
pub struct TestGroup {
    pub name: Option<String>,
    pub interval: Option<String>,
    #[serde(default)]
    pub input_series: Vec<InputSeries>,
    #[serde(default)]
    pub alert_rule_test: Vec<AlertTest>,
    #[serde(default)]
    pub promql_expr_test: Vec<ExprTest>,
}

/// One expectation on an expression (recorded series of the capacity pack are checked).
#[derive(Debug, Clone, Deserialize)]
pub struct ExprTest {
    pub expr: String,
    pub eval_time: String,
    #[serde(default)]
    pub exp_samples: Vec<ExpSample>,
}

/// One expected sample.
#[derive(Debug, Clone, Deserialize)]
pub struct ExpSample {
    #[serde(default)]
    pub labels: String,
    pub value: f64,
}

/// One input series in promtool's notation.
#[derive(Debug, Clone, Deserialize)]
pub struct InputSeries {
    pub series: String,
    pub values: String,
}

/// One expectation.
#[derive(Debug, Clone, Deserialize)]
pub struct AlertTest {
    pub eval_time: String,
    pub alertname: String,
    #[serde(default)]
    pub exp_alerts: Vec<ExpAlert>,
}

/// One expected firing alert.
#[derive(Debug, Clone, Deserialize)]
pub struct ExpAlert {
    #[serde(default)]
    pub exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub exp_annotations: BTreeMap<String, String>,
}

/// A Prometheus duration (`15s`, `2m15s`, `1h`) in seconds.
pub fn duration(text: &str) -> Option<u64> {
    let (mut total, mut number) = (0u64, String::new());
    let mut chars = text.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number.parse().ok()?;
        number.clear();
        total += n * match c {
            's' => 1,
            'm' if chars.peek() == Some(&'s') => return None,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
    }
    number.is_empty().then_some(total)
}

/// Expand promtool's series notation (`0+50x20`, `1 2 _ 3`, `_x10 3+0x20`): one `Option` per interval
/// (`_` and `stale` are both `None`; [`stale_markers`] tells them apart).
pub fn expand(values: &str) -> Option<Vec<Option<f64>>> {
    let mut out = Vec::new();
    for token in values.split_whitespace() {
        if token == "_" || token == "stale" {
            out.push(None);
            continue;
        }
        let Some((start, times)) = token.split_once('x') else {
            out.push(Some(token.parse().ok()?));
            continue;
        };
        let n: usize = times.parse().ok()?;
        if start == "_" {
            out.extend(std::iter::repeat_n(None, n));
            continue;
        }
        let split = start[1..].find(['+', '-']).map(|i| i + 1);
        let (a, step) = match split {
            Some(i) => (
                start[..i].parse::<f64>().ok()?,
                start[i..].parse::<f64>().ok()?,
            ),
            None => (start.parse::<f64>().ok()?, 0.0),
        };
        out.extend((0..=n).map(|k| Some(a + step * k as f64)));
    }
    Some(out)
}

/// The intervals of [`expand`]'s output that are staleness markers (`stale`): Prometheus drops the series
/// there, so an instant lookup after one finds nothing until its next sample.
pub(super) fn stale_markers(values: &str) -> Vec<usize> {
    let mut at = 0;
    let mut out = Vec::new();
    for token in values.split_whitespace() {
        if token == "stale" {
            out.push(at);
        }
        at += match token.split_once('x') {
            Some(("_", n)) => n.parse().unwrap_or(0),
            Some((_, n)) => n.parse::<usize>().map_or(1, |n| n + 1),
            None => 1,
        };
    }
    out
}

/// `name{k="v",…}` → name and labels.
pub(super) fn selector(text: &str) -> Option<(String, BTreeMap<String, String>)> {
    let text = text.trim();
    let Some((name, rest)) = text.split_once('{') else {
        return Some((text.to_string(), BTreeMap::new()));
    };
    let body = rest.strip_suffix('}')?;
    let mut labels = BTreeMap::new();
    for pair in body.split(',').filter(|p| !p.trim().is_empty()) {
        let (k, v) = pair.split_once('=')?;
        labels.insert(k.trim().to_string(), v.trim().trim_matches('"').to_string());
    }
    Some((name.to_string(), labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promtool_notation_expands() {
        assert_eq!(
            expand("0+50x2 300+0x1 _ 7").unwrap(),
            vec![
                Some(0.0),
                Some(50.0),
                Some(100.0),
                Some(300.0),
                Some(300.0),
                None,
                Some(7.0)
            ]
        );
        assert_eq!(
            expand("_x2 1.5-0.5x1").unwrap(),
            vec![None, None, Some(1.5), Some(1.0)]
        );
        assert_eq!(expand("0x2").unwrap(), vec![Some(0.0); 3]);
        assert_eq!(expand("a+1x2"), None);
        assert_eq!(duration("2m15s"), Some(135));
        assert_eq!(duration("1h"), Some(3600));
        assert_eq!(duration("5"), None);
        let (name, labels) = selector(r#"m{function_name="a.b",code="200"}"#).unwrap();
        assert_eq!((name.as_str(), labels["code"].as_str()), ("m", "200"));
    }
}
