//! `startsAt` as AlertManager writes it, read without chrono's general parser.
//!
//! AlertManager (Go's `time.RFC3339Nano` in UTC) always sends `2026-11-24T06:55:10.479Z`: a fixed
//! layout, a fraction of up to nine digits, and `Z`. That layout is read directly here; anything
//! else (an offset, a leap second, a lower-case `t`, …) goes to chrono, so what is accepted and
//! what it means are exactly chrono's.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, Utc};

/// Parse an RFC 3339 timestamp as chrono's `DateTime<Utc>` deserializer does.
pub(super) fn parse(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    match parse_utc_z(text) {
        Some(time) => Ok(time),
        None => text
            .parse::<DateTime<FixedOffset>>()
            .map(|time| time.with_timezone(&Utc)),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, or `None` for anything else (left to chrono).
fn parse_utc_z(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if b.len() < 20 || b.last() != Some(&b'Z') || separators.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let nanos = match &b[19..b.len() - 1] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            number(digits)? * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let year = i32::try_from(number(&b[0..4])?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, number(&b[5..7])?, number(&b[8..10])?)?;
    // Seconds 0–59 only: a leap second (60) is chrono's to read.
    let time = NaiveTime::from_hms_nano_opt(
        number(&b[11..13])?,
        number(&b[14..16])?,
        number(&b[17..19])?,
        nanos,
    )?;
    Some(date.and_time(time).and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chrono(text: &str) -> Option<DateTime<Utc>> {
        text.parse::<DateTime<FixedOffset>>()
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    #[test]
    fn reads_what_chrono_reads_and_refuses_what_it_refuses() {
        let cases = [
            "2026-11-24T06:55:10.479Z",
            "2026-11-24T06:55:10Z",
            "0001-01-01T00:00:00Z",
            "2026-11-24T06:55:10.1Z",
            "2026-11-24T06:55:10.123456789Z",
            "2026-11-24T06:55:10.1234567891Z",
            "2026-11-24T06:55:10.Z",
            "2024-02-29T23:59:59.999Z",
            "2026-02-29T00:00:00Z",
            "2026-11-24T24:00:00Z",
            "2026-11-24T06:60:00Z",
            "2016-12-31T23:59:60Z",
            "2016-12-31T23:59:60.5Z",
            "2026-11-24T06:55:10.479+02:00",
            "2026-11-24t06:55:10.479z",
            "2026-11-24 06:55:10Z",
            "2026-13-24T06:55:10Z",
            "2026-1a-24T06:55:10Z",
            "+026-11-24T06:55:10Z",
            "2026-11-24T06:55:1Z",
            "2026-11-24T06:55:10.-1Z",
            "yesterday",
            "",
        ];
        for text in cases {
            assert_eq!(parse(text).ok(), chrono(text), "{text}");
        }
        // The fast path itself answers the layout AlertManager sends.
        assert_eq!(
            parse_utc_z("2026-11-24T06:55:10.479Z"),
            chrono("2026-11-24T06:55:10.479Z")
        );
        assert_eq!(parse_utc_z("2016-12-31T23:59:60Z"), None);
        assert_eq!(parse_utc_z("2026-11-24T06:55:10+00:00"), None);
    }

    #[test]
    fn every_second_of_a_span_and_every_fraction_length_matches_chrono() {
        let start = chrono("1999-12-31T22:00:00Z").unwrap();
        for step in 0..5_000 {
            let time = start + chrono::TimeDelta::seconds(step * 7_919);
            for digits in 0..=9 {
                let text = match digits {
                    0 => time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                    d => format!("{}.{:0>d$}Z", time.format("%Y-%m-%dT%H:%M:%S"), step % 1000),
                };
                assert_eq!(parse_utc_z(&text), chrono(&text), "{text}");
            }
        }
    }
}
