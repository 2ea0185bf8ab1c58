//! JSON log lines whose list fields are JSON values. tracing hands a field that is not a scalar to
//! the formatter as its `Debug` text, and tracing-subscriber's JSON format writes that text as a
//! string (`"alerts":"[\"A\", \"B\"]"`), which a log processor cannot read as a list. A
//! [`JsonList`]'s `Debug` text is the list in JSON, and [`StructuredJson`] writes that text as the
//! field's value for the fields named in [`JSON_FIELDS`] (`"alerts":["A","B"]`).

use std::fmt;

use serde::Serialize;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Event fields logged with a [`JsonList`]: a JSON log line carries them as JSON values.
pub const JSON_FIELDS: &[&str] = &["alerts"];

/// A list logged as JSON: `alerts = ?JsonList(names)`. A text log line shows the same JSON.
pub struct JsonList<T>(pub Vec<T>);

impl<T: Serialize> fmt::Debug for JsonList<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Serialized straight into the line, not into a string of its own first.
        let mut out = Utf8Writer {
            out: f,
            pending: Vec::new(),
        };
        serde_json::to_writer(&mut out, &self.0).map_err(|_| fmt::Error)?;
        if out.pending.is_empty() {
            Ok(())
        } else {
            Err(fmt::Error)
        }
    }
}

/// The bytes serde_json writes, passed on as text. serde_json writes whole characters in each
/// write; should one ever end inside a character, its start waits in `pending` for the rest.
struct Utf8Writer<'a, W> {
    out: &'a mut W,
    pending: Vec<u8>,
}

impl<W: fmt::Write> std::io::Write for Utf8Writer<'_, W> {
    fn write(&mut self, written: &[u8]) -> std::io::Result<usize> {
        let joined;
        let bytes = if self.pending.is_empty() {
            written
        } else {
            self.pending.extend_from_slice(written);
            joined = std::mem::take(&mut self.pending);
            &joined[..]
        };
        let (text, rest) = match std::str::from_utf8(bytes) {
            Ok(text) => (text, &[][..]),
            // Cut inside a character at the end: its start waits for the next write.
            Err(e) if e.error_len().is_none() => {
                let (text, rest) = bytes.split_at(e.valid_up_to());
                (
                    std::str::from_utf8(text).map_err(std::io::Error::other)?,
                    rest,
                )
            }
            Err(e) => return Err(std::io::Error::other(e)),
        };
        self.out.write_str(text).map_err(std::io::Error::other)?;
        self.pending.extend_from_slice(rest);
        Ok(written.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An event format (tracing-subscriber's JSON format) whose [`JSON_FIELDS`] are written as the JSON
/// they hold. Events without such a field (most) are written by the inner format directly.
pub struct StructuredJson<F>(pub F);

impl<S, N, F> FormatEvent<S, N> for StructuredJson<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let fields = event.metadata().fields();
        if !JSON_FIELDS.iter().any(|name| fields.field(name).is_some()) {
            return self.0.format_event(ctx, writer, event);
        }
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        for name in JSON_FIELDS {
            if let Some(structured) = embed(&line, name) {
                line = structured;
            }
        }
        writer.write_str(&line)
    }
}

/// `line` (a JSON log line) with the string value of event field `name` replaced by the JSON text
/// it holds; `None` when the line has no such string or the string is not JSON (left as it is).
///
/// The key is searched from the event's `"fields":{` on, which the JSON format writes before the
/// spans: inside a JSON string every quote is escaped, so `"name":"` can only be a key with a
/// string value, never text that a payload value put in the line.
fn embed(line: &str, name: &str) -> Option<String> {
    let fields = line.find("\"fields\":{")?;
    let key = format!("\"{name}\":");
    let value = fields + line[fields..].find(&format!("{key}\""))? + key.len();
    let mut strings = serde_json::Deserializer::from_str(&line[value..]).into_iter::<String>();
    let text = strings.next()?.ok()?;
    let end = value + strings.byte_offset();
    serde_json::from_str::<serde::de::IgnoredAny>(&text).ok()?;
    Some(format!("{}{text}{}", &line[..value], &line[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn a_list_field_becomes_its_json_and_everything_else_is_kept() {
        let names = ["Up \"quoted\"\n", "b\\s", "\"alerts\":\"[1]\""];
        let listed = format!("{:?}", JsonList(names.to_vec()));
        let line = json!({"fields": {"message": "\"alerts\":\"[2]\"", "alerts": listed, "to": 5}})
            .to_string();
        let embedded: Value = serde_json::from_str(&embed(&line, "alerts").unwrap()).unwrap();
        assert_eq!(
            embedded,
            json!({"fields": {"message": "\"alerts\":\"[2]\"", "alerts": names, "to": 5}})
        );
    }

    #[test]
    fn a_list_is_the_json_serde_writes_even_when_a_write_ends_inside_a_character() {
        let names = vec!["Up \"q\"\n", "naïve ✓", "\u{85}"];
        assert_eq!(
            format!("{:?}", JsonList(names.clone())),
            serde_json::to_string(&names).unwrap()
        );
        let text = "naïve ✓ €";
        for cut in 0..=text.len() {
            let mut out = String::new();
            let mut writer = Utf8Writer {
                out: &mut out,
                pending: Vec::new(),
            };
            use std::io::Write as _;
            writer.write_all(&text.as_bytes()[..cut]).unwrap();
            writer.write_all(&text.as_bytes()[cut..]).unwrap();
            assert!(writer.pending.is_empty(), "cut at {cut}");
            assert_eq!(out, text, "cut at {cut}");
        }
        let mut out = String::new();
        let mut writer = Utf8Writer {
            out: &mut out,
            pending: Vec::new(),
        };
        assert!(
            std::io::Write::write(&mut writer, b"a\xff").is_err(),
            "not UTF-8"
        );
    }

    #[test]
    fn a_field_that_is_no_json_or_absent_is_left_as_it_is() {
        let text = json!({"fields": {"alerts": "[not json"}}).to_string();
        assert_eq!(embed(&text, "alerts"), None);
        let number = json!({"fields": {"alerts": 3}}).to_string();
        assert_eq!(embed(&number, "alerts"), None);
        assert_eq!(embed("{\"level\":\"INFO\"}", "alerts"), None);
    }
}
