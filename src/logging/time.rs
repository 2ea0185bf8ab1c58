//! The text log's timestamp, as tracing-subscriber's default timer writes it
//! (`2026-11-27T09:20:55.217714Z`: UTC, microseconds), written as one string: the default
//! formats each of its seven parts through the formatting machinery (~2 000 instructions a line,
//! the most of any part of a `decided` line after its fields).

use std::fmt;

use chrono::{DateTime, Datelike, Timelike, Utc};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

/// The system clock in UTC to the microsecond, in the default timer's format.
pub struct UtcMicros;

impl FormatTime for UtcMicros {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        write_time(w, Utc::now())
    }
}

/// `at` as `YYYY-MM-DDTHH:MM:SS.ffffffZ`. Years outside 0–9999 (never the system clock's) are
/// written through `write!`, as the default timer writes them.
fn write_time(w: &mut impl fmt::Write, at: DateTime<Utc>) -> fmt::Result {
    let micros = at.nanosecond() / 1_000;
    let year = match u32::try_from(at.year()) {
        // (A leap second's microseconds, past 999 999, never come from the system clock either.)
        Ok(year @ 0..=9999) if micros <= 999_999 => year,
        _ => {
            match at.year() {
                year @ 10_000.. => write!(w, "+{year}")?,
                year @ ..0 => write!(w, "{year:05}")?,
                year => write!(w, "{year:04}")?,
            }
            return write!(
                w,
                "-{:02}-{:02}T{:02}:{:02}:{:02}.{micros:06}Z",
                at.month(),
                at.day(),
                at.hour(),
                at.minute(),
                at.second()
            );
        }
    };
    let mut text = *b"0000-00-00T00:00:00.000000Z";
    let mut put = |end: usize, digits: usize, mut value: u32| {
        for i in (end - digits..end).rev() {
            text[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(4, 4, year);
    put(7, 2, at.month());
    put(10, 2, at.day());
    put(13, 2, at.hour());
    put(16, 2, at.minute());
    put(19, 2, at.second());
    put(26, 6, micros);
    w.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_time_is_written_as_rfc_3339_in_utc_to_the_microsecond() {
        for (secs, nanos) in [
            (0, 0),
            (1_795_000_000, 217_714_999),
            (951_782_400, 1_000),           // 2000-02-29
            (253_402_300_799, 999_999_999), // 9999-12-31T23:59:59
            (-62_167_219_200, 5_000),       // 0000-01-01
        ] {
            let at = Utc.timestamp_opt(secs, nanos).unwrap();
            let mut ours = String::new();
            write_time(&mut ours, at).unwrap();
            assert_eq!(
                ours,
                at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
                "{secs}"
            );
        }
        let mut far = String::new();
        write_time(&mut far, Utc.timestamp_opt(253_402_300_800, 0).unwrap()).unwrap();
        assert_eq!(far, "+10000-01-01T00:00:00.000000Z");
        let mut past = String::new();
        write_time(&mut past, Utc.timestamp_opt(-62_167_219_201, 0).unwrap()).unwrap();
        assert_eq!(past, "-0001-12-31T23:59:59.000000Z");
    }

    #[test]
    fn the_clock_reads_as_the_default_timer_writes_it() {
        use tracing_subscriber::fmt::time::SystemTime;
        let (mut ours, mut theirs) = (String::new(), String::new());
        let before = Utc::now();
        UtcMicros.format_time(&mut Writer::new(&mut ours)).unwrap();
        SystemTime
            .format_time(&mut Writer::new(&mut theirs))
            .unwrap();
        let after = Utc::now();
        assert_eq!(ours.len(), theirs.len(), "{ours} {theirs}");
        for text in [&ours, &theirs] {
            let at: DateTime<Utc> = text.parse().unwrap();
            assert!(
                before - chrono::Duration::microseconds(1) <= at && at <= after,
                "{text}"
            );
        }
    }
}
