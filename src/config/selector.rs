//! Equality-based label selectors (`key`, `!key`, `key=value`, `key!=value`, comma-separated).
//!
//! The backend checks the selector itself on every read, so eligibility never depends on how a
//! Deployment was found, and sends the same string to the apiserver when listing.

use std::collections::BTreeMap;
use std::fmt;

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Exists(String),
    NotExists(String),
    Equals(String, String),
    NotEquals(String, String),
}

/// A parsed label selector. Only the equality-based subset: set-based selectors (`in (…)`) are
/// refused at configuration load rather than half-understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

impl Selector {
    /// Parse `faas_function`, `app=web,tier!=db`, `!legacy` …; errors say which part is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for part in text.split(',').map(str::trim) {
            if part.is_empty() {
                return Err(format!("label selector {text:?} has an empty requirement"));
            }
            let requirement = if let Some((k, v)) = part.split_once("!=") {
                Requirement::NotEquals(key(k)?, value(v)?)
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                Requirement::Equals(key(k)?, value(v)?)
            } else if let Some(k) = part.strip_prefix('!') {
                Requirement::NotExists(key(k)?)
            } else {
                Requirement::Exists(key(part)?)
            };
            requirements.push(requirement);
        }
        Ok(Self { requirements })
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| match r {
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::NotExists(k) => !labels.contains_key(k),
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
        })
    }
}

impl fmt::Display for Selector {
    /// The canonical form, as sent to the apiserver's `labelSelector` parameter.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match r {
                Requirement::Exists(k) => write!(f, "{k}")?,
                Requirement::NotExists(k) => write!(f, "!{k}")?,
                Requirement::Equals(k, v) => write!(f, "{k}={v}")?,
                Requirement::NotEquals(k, v) => write!(f, "{k}!={v}")?,
            }
        }
        Ok(())
    }
}

/// Check a label or annotation key (optional DNS prefix and `/`, then a name), for configuration.
pub fn valid_key(k: &str) -> Result<(), String> {
    key(k).map(|_| ())
}

/// A label key: optional DNS prefix and `/`, then a name of [A-Za-z0-9._-], at most 63 characters.
fn key(k: &str) -> Result<String, String> {
    let k = k.trim();
    let name = k.rsplit_once('/').map_or(k, |(_, n)| n);
    let prefix_ok = k.rsplit_once('/').is_none_or(|(p, _)| {
        !p.is_empty()
            && p.len() <= 253
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
    });
    if name.is_empty() || name.len() > 63 || !prefix_ok || !valid_chars(name) {
        return Err(format!("{k:?} is not a valid label key"));
    }
    Ok(k.to_owned())
}

/// A label value: empty, or at most 63 characters of [A-Za-z0-9._-].
fn value(v: &str) -> Result<String, String> {
    let v = v.trim();
    if v.len() > 63 || !valid_chars(v) {
        return Err(format!("{v:?} is not a valid label value"));
    }
    Ok(v.to_owned())
}

fn valid_chars(s: &str) -> bool {
    let alnum = |c: Option<char>| c.is_none_or(|c| c.is_ascii_alphanumeric());
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && alnum(s.chars().next())
        && alnum(s.chars().last())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn forms_match_as_kubernetes_does() {
        let fn_labels = labels(&[("faas_function", "echo"), ("tier", "web")]);
        let plain = labels(&[("k8s-app", "kube-dns")]);
        for (text, on_fn, on_plain) in [
            ("faas_function", true, false),
            ("faas_function=echo", true, false),
            ("faas_function==other", false, false),
            ("!faas_function", false, true),
            ("tier!=db", true, true),
            ("faas_function, tier=web", true, false),
            ("example.com/team", false, false),
        ] {
            let s = Selector::parse(text).unwrap();
            assert_eq!(s.matches(&fn_labels), on_fn, "{text} on function");
            assert_eq!(s.matches(&plain), on_plain, "{text} on plain");
        }
    }

    #[test]
    fn canonical_form_round_trips() {
        let s = Selector::parse(" a , b==c,!d, e!=f ").unwrap();
        assert_eq!(s.to_string(), "a,b=c,!d,e!=f");
        assert_eq!(Selector::parse(&s.to_string()).unwrap(), s);
    }

    #[test]
    fn bad_selectors_are_refused() {
        for text in [
            "",
            "a,,b",
            "env in (prod)",
            "a=b c",
            "-a",
            "a=-",
            "/x",
            "A/x",
        ] {
            assert!(Selector::parse(text).is_err(), "{text:?} accepted");
        }
    }
}
