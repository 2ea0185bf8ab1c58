//! Bounding what one notification can make the receiver write. A 1 MB body can hold ~13 000
//! alerts that name no function; without bounds each costs a warn line and a line in the answer.
//! Here: skipped alerts are logged once per reason with a count (at most [`MAX_LOGGED_REASONS`]
//! lines per notification), the answer lists at most [`MAX_LISTED`] of them beside the total, and
//! payload values are shortened to [`MAX_VALUE_CHARS`] characters wherever they are echoed.

use std::borrow::Cow;

use serde::Serialize;
use tracing::warn;

/// An alert that could not be attributed to an eligible function. Defined here, beside the bounds on
/// it, and re-exported as `alert::Skipped`: the payload module uses these bounds, so this one
/// imports nothing of it (no import cycle).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    /// `refused` when the alert names a function that is not eligible, `skipped` when it names none.
    pub outcome: &'static str,
    pub alertname: String,
    pub fingerprint: String,
    /// Set when the alert named a function that is not eligible (e.g. namespace not allowed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    pub reason: String,
}

/// Skipped alerts listed in one webhook answer; `skipped_total` says how many there were.
pub(crate) const MAX_LISTED: usize = 20;
/// Distinct skip reasons logged per notification; the rest are summed up in one line.
pub(crate) const MAX_LOGGED_REASONS: usize = 10;
/// Characters of a payload value (name, label, reason) echoed in answers and logs.
pub(crate) const MAX_VALUE_CHARS: usize = 200;

/// `text` cut to `max` characters, saying how much was left out.
pub(crate) fn shorten(text: &str, max: usize) -> Cow<'_, str> {
    // At most `max` bytes is at most `max` characters: no scan (the hot path's short reasons).
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((cut, _)) => Cow::Owned(format!("{}…(+{} bytes)", &text[..cut], text.len() - cut)),
    }
}

/// Skipped alerts that share an outcome and a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group<'a> {
    pub outcome: &'static str,
    pub reason: &'a str,
    /// The first such alert's name, as an example.
    pub alertname: &'a str,
    pub count: usize,
}

/// Group skipped alerts by (outcome, reason), in the order reasons first appear.
pub fn group(skipped: &[Skipped]) -> Vec<Group<'_>> {
    let mut groups: Vec<Group<'_>> = Vec::new();
    let mut index: std::collections::HashMap<(&str, &str), usize> =
        std::collections::HashMap::new();
    for s in skipped {
        let key = (s.outcome, s.reason.as_str());
        match index.get(&key) {
            Some(&i) => groups[i].count += 1,
            None => {
                index.insert(key, groups.len());
                groups.push(Group {
                    outcome: s.outcome,
                    reason: &s.reason,
                    alertname: &s.alertname,
                    count: 1,
                });
            }
        }
    }
    groups
}

/// Log a notification's skipped alerts: one warn line per reason (with the count), at most
/// [`MAX_LOGGED_REASONS`] lines and one line summing up the rest.
pub fn log(skipped: &[Skipped]) {
    let groups = group(skipped);
    for g in groups.iter().take(MAX_LOGGED_REASONS) {
        warn!(
            outcome = g.outcome,
            alerts = g.count,
            example = %shorten(g.alertname, MAX_VALUE_CHARS),
            reason = %shorten(g.reason, MAX_VALUE_CHARS),
            "alerts skipped"
        );
    }
    if groups.len() > MAX_LOGGED_REASONS {
        let rest = &groups[MAX_LOGGED_REASONS..];
        warn!(
            alerts = rest.iter().map(|g| g.count).sum::<usize>(),
            reasons = rest.len(),
            "alerts skipped for further reasons"
        );
    }
}

/// The skipped alerts to list in the answer (at most [`MAX_LISTED`], values shortened) and
/// how many there were.
pub fn bound(mut skipped: Vec<Skipped>) -> (Vec<Skipped>, usize) {
    let total = skipped.len();
    skipped.truncate(MAX_LISTED);
    for s in &mut skipped {
        for value in [&mut s.alertname, &mut s.fingerprint, &mut s.reason] {
            if let Cow::Owned(short) = shorten(value, MAX_VALUE_CHARS) {
                *value = short;
            }
        }
        if let Some(f) = &mut s.function
            && let Cow::Owned(short) = shorten(f, MAX_VALUE_CHARS)
        {
            *f = short;
        }
    }
    (skipped, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skipped(alertname: &str, reason: &str) -> Skipped {
        Skipped {
            outcome: "skipped",
            alertname: alertname.into(),
            fingerprint: "6a65bd8dfb3af9ad".into(),
            function: None,
            reason: reason.into(),
        }
    }

    #[test]
    fn shorten_keeps_short_text_and_says_how_much_was_cut() {
        assert_eq!(shorten("echo", 10), "echo");
        assert_eq!(shorten("abcdef", 3), "abc…(+3 bytes)");
        // Cuts on a character boundary.
        assert_eq!(shorten("ééé", 1), "é…(+4 bytes)");
    }

    #[test]
    fn the_same_reason_is_one_group_with_a_count() {
        let mut all: Vec<Skipped> = (0..12_900)
            .map(|i| skipped(&format!("A{i}"), "alert has no \"function_name\" label"))
            .collect();
        all.insert(3, skipped("B", "other"));
        let groups = group(&all);
        assert_eq!(groups.len(), 2);
        assert_eq!(
            (groups[0].count, groups[0].alertname),
            (12_900, "A0"),
            "first-seen order, first alert as the example"
        );
        assert_eq!((groups[1].reason, groups[1].count), ("other", 1));
    }

    #[test]
    fn the_answer_lists_a_bounded_number_with_shortened_values() {
        let long = "x".repeat(10_000);
        let all: Vec<Skipped> = (0..100).map(|_| skipped(&long, &long)).collect();
        let (listed, total) = bound(all);
        assert_eq!((listed.len(), total), (MAX_LISTED, 100));
        assert!(listed[0].alertname.len() < MAX_VALUE_CHARS + 30);
        assert!(listed[0].reason.ends_with("…(+9800 bytes)"));
    }
}
