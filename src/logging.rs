//! Log output. JSON logs escape every value by construction; text logs would write a payload
//! value's newline as a real line break, so an alert named `x\nINFO forged` could write a forged
//! line. Text fields here go through [`escape_control`] first. Lines are written by a writer
//! thread ([`writer`]), so a decision never waits on stdout.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::io::Write as _;

use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;

pub mod json;
mod time;
pub mod writer;
pub use json::JsonList;
pub use writer::{DEFAULT_CAPACITY, FlushGuard, NonBlocking};

/// `text` with control characters (newline, carriage return, ESC, …) written as escapes, so that
/// one log record stays one line and cannot carry terminal escape sequences.
pub fn escape_control(text: &str) -> Cow<'_, str> {
    if !has_control(text) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    let _ = write_escaped(&mut out, text);
    Cow::Owned(out)
}

/// Whether `text` holds a control character (`char::is_control`: U+0000–U+001F, U+007F,
/// U+0080–U+009F), scanned byte by byte; a 0xC2 byte (which also starts U+00A0–U+00BF) is
/// looked at as a character.
fn has_control(text: &str) -> bool {
    // In blocks without an early exit inside, which the compiler turns into vector compares.
    let suspect = |block: &[u8]| {
        block.iter().fold(false, |any, &b| {
            any | (b < 0x20) | (b == 0x7f) | (b == 0xc2)
        })
    };
    text.as_bytes().chunks(16).any(suspect) && text.chars().any(char::is_control)
}

/// Write `text` to `out` with its control characters escaped as [`escape_control`] says.
fn write_escaped<W: std::fmt::Write + ?Sized>(out: &mut W, text: &str) -> std::fmt::Result {
    if !has_control(text) {
        return out.write_str(text);
    }
    let mut plain = 0; // where the text not yet written starts
    for (at, c) in text.char_indices() {
        if !c.is_control() {
            continue;
        }
        out.write_str(&text[plain..at])?;
        plain = at + c.len_utf8();
        match c {
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            c => write!(out, "\\u{{{:x}}}", u32::from(c))?,
        }
    }
    out.write_str(&text[plain..])
}

/// A writer that escapes control characters as [`escape_control`] does while text passes
/// through: a text log field is written without first being formatted into a string of its own
/// (the `decided` line's fields cost ~5 000 instructions and an allocation each that way).
/// Escaping is per character, so however the text is cut into writes, the result is the same.
struct Escaping<'a, W: ?Sized>(&'a mut W);

impl<W: std::fmt::Write + ?Sized> std::fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        write_escaped(self.0, text)
    }
}

/// The level filter when `RUST_LOG` is unset or cannot be used.
pub const DEFAULT_FILTER: &str = "info";

/// The level filter for `RUST_LOG`'s value (`None`: unset): its own, or [`DEFAULT_FILTER`] with a
/// one-line warning naming the variable and the problem when the value cannot be used. A typo in a
/// log filter falls back rather than stopping an autoscaler; the warning keeps it from going unseen.
pub fn filter_for(
    rust_log: Option<&std::ffi::OsStr>,
) -> (tracing_subscriber::EnvFilter, Option<String>) {
    let default = || tracing_subscriber::EnvFilter::new(DEFAULT_FILTER);
    let Some(value) = rust_log else {
        return (default(), None);
    };
    let problem = match value.to_str() {
        None => "not valid UTF-8".to_owned(),
        Some(text) => match tracing_subscriber::EnvFilter::builder().parse(text) {
            Ok(filter) => return (filter, None),
            Err(e) => e.to_string(),
        },
    };
    let warning = format!(
        "warning: RUST_LOG={:?} is not a valid log filter ({}): logging at the default level, \
         {DEFAULT_FILTER}",
        value.to_string_lossy(),
        escape_control(&problem)
    );
    (default(), Some(warning))
}

/// Install the global subscriber: `RUST_LOG` filter (default `info`; a value that does not parse is
/// said once on stderr, see [`filter_for`]), text or JSON lines, written to stdout by the
/// non-blocking [`writer`]. Keep the returned guard until the program ends: it flushes what is
/// still queued.
pub fn init(json: bool) -> FlushGuard {
    let (filter, warning) = filter_for(std::env::var_os("RUST_LOG").as_deref());
    if let Some(warning) = warning {
        // On stderr, not in the log: stdout carries `check-config`'s configuration, and the log's
        // own filter is what is in question. A closed stderr is no reason to stop.
        let _ = writeln!(std::io::stderr(), "{warning}");
    }
    let (writer, guard) = NonBlocking::new(std::io::stdout(), DEFAULT_CAPACITY);
    if json {
        json_subscriber(writer, filter).init();
        return guard;
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(time::UtcMicros)
        .with_writer(writer);
    let fields = tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
        if field.name() != "message" {
            writer.write_str(field.name())?;
            writer.write_char('=')?;
        }
        write!(Escaping(writer), "{value:?}")
    })
    .delimited(" ");
    builder
        .with_ansi(std::io::stdout().is_terminal())
        .fmt_fields(fields)
        .init();
    guard
}

/// The JSON log format, one object per line, written to `writer`: what `--log-format json` installs
/// (with the level filter), and what tests capture. List fields are JSON arrays ([`json`]).
pub fn json_subscriber<W>(
    writer: W,
    filter: tracing_subscriber::EnvFilter,
) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
        .event_format(json::StructuredJson(
            tracing_subscriber::fmt::format().json(),
        ))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rust_log_that_does_not_parse_falls_back_to_the_default_with_a_warning_naming_it() {
        use std::ffi::OsStr;
        let (_, warning) = filter_for(None);
        assert_eq!(warning, None, "unset is the default, silently");
        for good in ["alertscaler=debug", "warn,alertscaler::service=trace"] {
            let (filter, warning) = filter_for(Some(OsStr::new(good)));
            assert_eq!(warning, None, "{good}");
            let own = tracing_subscriber::EnvFilter::new(good);
            assert_eq!(filter.to_string(), own.to_string());
        }
        for bad in ["alertscaler=debgu", "info,[unclosed", "x=\ninfo"] {
            let (filter, warning) = filter_for(Some(OsStr::new(bad)));
            assert_eq!(filter.to_string(), DEFAULT_FILTER, "{bad}");
            let warning = warning.unwrap_or_else(|| panic!("{bad:?} said nothing"));
            assert!(warning.contains("RUST_LOG"), "{warning}");
            assert!(warning.contains(&format!("{bad:?}")), "{warning}");
            assert_eq!(warning.lines().count(), 1, "{warning}");
        }
    }

    #[test]
    fn control_characters_are_escaped_and_plain_text_is_untouched() {
        assert!(matches!(
            escape_control("echo-fn"),
            Cow::Borrowed("echo-fn")
        ));
        assert_eq!(
            escape_control("x\nINFO forged\r\t\u{1b}[31m"),
            "x\\nINFO forged\\r\\t\\u{1b}[31m"
        );
        assert_eq!(escape_control("naïve ✓"), "naïve ✓");
    }

    #[test]
    fn every_control_character_is_escaped_and_its_neighbours_are_not() {
        // The byte scan's edges: C0, DEL and C1 (U+0080–U+009F, lead byte 0xC2) are control
        // characters; U+00A0–U+00BF share the lead byte and are not.
        assert_eq!(
            escape_control("a\u{0}\u{1f} \u{7f}~"),
            "a\\u{0}\\u{1f} \\u{7f}~"
        );
        assert_eq!(
            escape_control("\u{80}\u{85}\u{9f}"),
            "\\u{80}\\u{85}\\u{9f}"
        );
        assert!(matches!(escape_control("20 °C ± 1, ×2"), Cow::Borrowed(_)));
    }

    #[test]
    fn text_escaped_as_it_is_written_is_escaped_text_however_it_is_cut() {
        let text = "fn-0 \"q\"\nINFO forged\r\t\u{1b}[31m °\u{85} naïve ✓";
        let cuts: Vec<usize> = (0..=text.len())
            .filter(|&i| text.is_char_boundary(i))
            .collect();
        for (i, &a) in cuts.iter().enumerate() {
            for &b in &cuts[i..] {
                let mut out = String::new();
                for part in [&text[..a], &text[a..b], &text[b..]] {
                    Escaping(&mut out).write_str(part).unwrap();
                }
                assert_eq!(out, escape_control(text), "cut at {a} and {b}");
            }
        }
        let mut field = String::new();
        write!(Escaping(&mut field), "{:?}", "x\u{85}y").unwrap();
        assert_eq!(field, escape_control(&format!("{:?}", "x\u{85}y")));
    }
}
