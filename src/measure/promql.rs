//! The PromQL alertscaler sends: its built-in queries, with every name it puts in them written as a
//! PromQL string (a name from an alert or a listing is data, never query text).

use crate::id::FunctionId;

/// The series the capacity rule pack publishes per function: the replica count it needs.
pub(crate) const DESIRED_SERIES: &str = "alertscaler:function_desired_replicas";

/// The label that tells the two samples of a [`desired_query`] answer apart.
pub(super) const PART: &str = "part";

/// The instant query for one function's desired count (`max` so extra labels, e.g. from
/// federation, still give one sample), and in the same answer the time of its oldest sample
/// (`part="sampled_at"`): an instant vector's own time is the evaluation's, which says nothing of
/// how old the sample is, while `timestamp()` of a selector gives the sample's. One query, so the
/// count and its time come from the same evaluation.
pub(crate) fn desired_query(function: &FunctionId) -> String {
    let name = string(&function.to_string());
    let selector = format!("{DESIRED_SERIES}{{function_name=\"{name}\"}}");
    format!(
        "label_replace(max({selector}), \"{PART}\", \"desired\", \"\", \"\") or \
         label_replace(min(timestamp({selector})), \"{PART}\", \"sampled_at\", \"\", \"\")"
    )
}

/// The instant query for the `ALERTS` series of `alertnames` firing for one function. The alert
/// names the function as `name.namespace`, or as `name` alone in the default namespace.
pub fn firing_query(
    function: &FunctionId,
    function_label: &str,
    default_namespace: &str,
    alertnames: &[String],
) -> String {
    let full = regex_escape(&function.to_string());
    let names = if function.namespace == default_namespace {
        format!("{}|{full}", regex_escape(&function.name))
    } else {
        full
    };
    let alerts: Vec<String> = alertnames.iter().map(|a| regex_escape(a)).collect();
    format!(
        "ALERTS{{alertstate=\"firing\",alertname=~\"{}\",{function_label}=~\"{}\"}}",
        string(&alerts.join("|")),
        string(&names)
    )
}

/// `text` matched literally by a PromQL (RE2) regular expression.
fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The body of a double-quoted PromQL string that reads as `text`. Prometheus's lexer (Go escapes)
/// ends a string at an unescaped `"`, starts an escape at a backslash, and refuses a raw newline
/// ("unterminated quoted string") and a raw U+FFFD ("invalid UTF-8 rune"): those four are escaped;
/// everything else stands for itself.
pub(crate) fn string(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\u{FFFD}' => out.push_str("\\uFFFD"),
            c => out.push(c),
        }
    }
    out
}
