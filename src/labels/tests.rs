//! Tests of label parsing: defaults, refusals naming label and value, durations and the
//! platform's limits.

use super::capacity::SCALE_TYPE;
use super::*;

fn parse_pairs(pairs: &[(&str, &str)]) -> Result<ScaleLabels, LabelError> {
    let labels = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    parse(&labels, &LabelDefaults::default(), 50)
}

#[test]
fn defaults_are_ce() {
    let l = parse_pairs(&[]).unwrap();
    assert_eq!((l.min, l.max, l.factor, l.zero), (1, 20, 20, false));
    assert!(!l.autoscaling_disabled());
}

#[test]
fn labels_override_defaults() {
    let l = parse_pairs(&[(MIN, "2"), (MAX, "2"), (FACTOR, "0"), (ZERO, "true")]).unwrap();
    assert_eq!((l.min, l.max, l.factor, l.zero), (2, 2, 0, true));
    assert!(l.autoscaling_disabled());
}

#[test]
fn policy_labels_parse_with_defaults() {
    let l = parse_pairs(&[]).unwrap().policy;
    assert_eq!(l, PolicyLabels::default());
    let l = parse_pairs(&[
        (TARGET, "50"),
        (TARGET_PROPORTION, "0.8"),
        (MAX_UP_FACTOR, "3"),
        (LATENCY_UP_PERCENT, "100"),
        (LATENCY_DOWN_PERCENT, "10"),
        (LATENCY_HOLD_SECS, "60"),
        (DOWN_STABILIZATION, "2m"),
        (ZERO_DURATION, "1h30m"),
    ])
    .unwrap()
    .policy;
    assert_eq!(l.target, Some(50.0));
    assert_eq!(l.target_proportion, 0.8);
    assert_eq!(l.max_up_factor, Some(3.0));
    assert_eq!((l.latency_up_percent, l.latency_down_percent), (100, 10));
    assert_eq!(l.latency_hold, Some(TimeDelta::seconds(60)));
    assert_eq!(l.down_stabilization, Some(TimeDelta::seconds(120)));
    assert_eq!(l.zero_duration, TimeDelta::minutes(90));
}

#[test]
fn durations() {
    let cases = [
        ("300", Some(300_000)),
        ("0", Some(0)),
        ("90s", Some(90_000)),
        ("15m", Some(900_000)),
        ("1h30m", Some(5_400_000)),
        ("1d", Some(86_400_000)),
        ("500ms", Some(500)),
        ("1m30s", Some(90_000)),
        ("", None),
        ("m", None),
        ("5", Some(5_000)),
        ("5 m", None),
        ("1.5m", None),
        ("10y", None),
        ("-5s", None),
        ("15m3", None),
        ("1000000w", Some(604_800_000_000_000)),
        ("1000000w1ms", None),
        ("2000000d", None),
    ];
    for (text, ms) in cases {
        assert_eq!(
            parse_duration(text).map(|d| d.num_milliseconds()),
            ms,
            "{text:?}"
        );
    }
    // Many parts, each within a million units, that add up to nearly i64::MAX milliseconds.
    let huge = format!("{}284000w3000d", "1000000w".repeat(15_250));
    assert_eq!(parse_duration(&huge), None);
}

#[test]
fn bad_values_are_refused_naming_label_and_value() {
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: &[Case] = &[
        (&[(MIN, "two")], MIN, "two"),
        (&[(MIN, "-1")], MIN, "-1"),
        (&[(MIN, "1.5")], MIN, "1.5"),
        (&[(MIN, "+1")], MIN, "+1"),
        (&[(MAX, "+7")], MAX, "+7"),
        (&[(FACTOR, "0x10")], FACTOR, "0x10"),
        (&[(MIN, "5"), (MAX, "3")], MAX, "3"),
        (&[(MIN, "30")], MAX, "20 (default)"),
        (&[(MAX, "51")], MAX, "51"),
        (&[(FACTOR, "101")], FACTOR, "101"),
        (&[(FACTOR, "")], FACTOR, ""),
        (&[(ZERO, "yes")], ZERO, "yes"),
        (&[(TARGET, "0")], TARGET, "0"),
        (&[(TARGET, "-3")], TARGET, "-3"),
        (&[(TARGET, "NaN")], TARGET, "NaN"),
        (&[(TARGET, "inf")], TARGET, "inf"),
        (&[(TARGET, "ten")], TARGET, "ten"),
        (&[(TARGET_PROPORTION, "0")], TARGET_PROPORTION, "0"),
        (&[(TARGET_PROPORTION, "1.5")], TARGET_PROPORTION, "1.5"),
        (&[(MAX_UP_FACTOR, "0.5")], MAX_UP_FACTOR, "0.5"),
        (&[(LATENCY_UP_PERCENT, "0")], LATENCY_UP_PERCENT, "0"),
        (&[(LATENCY_UP_PERCENT, "1001")], LATENCY_UP_PERCENT, "1001"),
        (
            &[(LATENCY_DOWN_PERCENT, "101")],
            LATENCY_DOWN_PERCENT,
            "101",
        ),
        (&[(LATENCY_DOWN_PERCENT, "x")], LATENCY_DOWN_PERCENT, "x"),
        (&[(LATENCY_HOLD_SECS, "5m")], LATENCY_HOLD_SECS, "5m"),
        (
            &[(DOWN_STABILIZATION, "5 min")],
            DOWN_STABILIZATION,
            "5 min",
        ),
        (&[(DOWN_STABILIZATION, "-1")], DOWN_STABILIZATION, "-1"),
        (
            &[(DOWN_STABILIZATION, "1000w")],
            DOWN_STABILIZATION,
            "1000w",
        ),
        (
            &[(DOWN_STABILIZATION, "86401")],
            DOWN_STABILIZATION,
            "86401",
        ),
        (&[(LATENCY_HOLD_SECS, "86401")], LATENCY_HOLD_SECS, "86401"),
        (&[(ZERO_DURATION, "15")], ZERO_DURATION, "15"),
        (&[(ZERO_DURATION, "0s")], ZERO_DURATION, "0s"),
        (&[(ZERO_DURATION, "15x")], ZERO_DURATION, "15x"),
        (&[(ZERO_DURATION, "m")], ZERO_DURATION, "m"),
        (&[(LATENCY_TARGET_MS, "0")], LATENCY_TARGET_MS, "0"),
        (&[(LATENCY_TARGET_MS, "fast")], LATENCY_TARGET_MS, "fast"),
        (&[(LATENCY_TARGET_MS, "10000")], LATENCY_TARGET_MS, "10000"),
        (&[(LATENCY_TARGET_MS, "15000")], LATENCY_TARGET_MS, "15000"),
        (&[(LATENCY_TOLERANCE, "1")], LATENCY_TOLERANCE, "1"),
        (&[(LATENCY_TOLERANCE, "-0.1")], LATENCY_TOLERANCE, "-0.1"),
    ];
    for (pairs, label, value) in cases {
        let err = parse_pairs(pairs).expect_err(&format!("{pairs:?} must be refused"));
        assert_eq!(
            (err.label, err.value.as_str()),
            (*label, *value),
            "{pairs:?}"
        );
        assert!(err.to_string().contains(label));
    }
}

#[test]
fn latency_overrides_parse_to_seconds_and_ratio() {
    let labels = [(LATENCY_TARGET_MS, "250"), (LATENCY_TOLERANCE, "0.3")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let p = parse_policy(&labels).unwrap();
    assert_eq!(
        (p.latency_target_secs, p.latency_tolerance),
        (Some(0.25), Some(0.3))
    );
    let none = parse_policy(&Default::default()).unwrap();
    assert_eq!(
        (none.latency_target_secs, none.latency_tolerance),
        (None, None)
    );
}

#[test]
fn capacity_labels_parse_with_defaults() {
    // (labels, want type, want effective target per replica)
    type Case<'a> = (&'a [(&'a str, &'a str)], ScaleType, f64);
    let cases: [Case; 6] = [
        // No label: capacity, 10 × 0.9.
        (&[], ScaleType::Capacity, 9.0),
        (&[(SCALE_TYPE, "capacity")], ScaleType::Capacity, 9.0),
        (
            &[(SCALE_TYPE, " rps "), (TARGET, "50")],
            ScaleType::Rps,
            45.0,
        ),
        (&[(TARGET, "4")], ScaleType::Capacity, 3.6),
        (&[(TARGET_PROPORTION, "0.5")], ScaleType::Capacity, 5.0),
        (
            &[
                (SCALE_TYPE, "capacity"),
                (TARGET, "2"),
                (TARGET_PROPORTION, "1"),
            ],
            ScaleType::Capacity,
            2.0,
        ),
    ];
    for (pairs, kind, target) in cases {
        let p = parse_pairs(pairs).unwrap().policy;
        assert_eq!(p.scale_type, kind, "{pairs:?}");
        assert!(
            (p.capacity_target() - target).abs() < 1e-9,
            "{pairs:?}: {}",
            p.capacity_target()
        );
    }
}

#[test]
fn bad_capacity_labels_are_refused_naming_label_and_value() {
    // (labels, refused label, refused value, a word the message must hold)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str, &'a str);
    let cases: [Case; 7] = [
        (&[(SCALE_TYPE, "cpu")], SCALE_TYPE, "cpu", "cpu"),
        (
            &[(SCALE_TYPE, "RPS"), (TARGET, "5")],
            SCALE_TYPE,
            "RPS",
            "rps",
        ),
        (&[(SCALE_TYPE, "")], SCALE_TYPE, "", "capacity"),
        (&[(SCALE_TYPE, "rps")], SCALE_TYPE, "rps", TARGET),
        (&[(TARGET, "0")], TARGET, "0", "> 0"),
        (&[(TARGET, "NaN")], TARGET, "NaN", "> 0"),
        (
            &[(TARGET_PROPORTION, "1.5")],
            TARGET_PROPORTION,
            "1.5",
            "(0, 1]",
        ),
    ];
    for (pairs, label, value, hint) in cases {
        let err = parse_pairs(pairs).expect_err(&format!("{pairs:?} must be refused"));
        assert_eq!((err.label, err.value.as_str()), (label, value), "{pairs:?}");
        let text = err.to_string();
        assert!(text.contains(label) && text.contains(hint), "{text}");
    }
}

#[test]
fn only_functions_with_a_capacity_label_get_their_own_target() {
    let of = |pairs: &[(&str, &str)]| {
        has_capacity_labels(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    };
    assert!(!of(&[]));
    assert!(!of(&[(MIN, "2"), (LATENCY_TARGET_MS, "100")]));
    assert!(of(&[(SCALE_TYPE, "capacity")]));
    assert!(of(&[(TARGET, "3")]));
    assert!(of(&[(TARGET_PROPORTION, "0.7")]));
}

#[test]
fn a_hold_or_window_label_is_bounded_by_a_day_as_its_setting_is() {
    for (label, value) in [(DOWN_STABILIZATION, "1d"), (LATENCY_HOLD_SECS, "86400")] {
        parse_pairs(&[(label, value)]).unwrap();
    }
    let e = parse_pairs(&[(DOWN_STABILIZATION, "25h")]).unwrap_err();
    assert!(e.problem.contains("more than a day"), "{e}");
}

#[test]
fn a_whole_number_out_of_range_says_so() {
    let e = parse_pairs(&[(LATENCY_HOLD_SECS, "9223372036854775807")]).unwrap_err();
    assert!(e.problem.contains("too large"), "{e}");
    let e = parse_pairs(&[(MAX, "+7")]).unwrap_err();
    assert!(e.problem.contains("plain digits"), "{e}");
}

/// README's Scaling labels: "Whole numbers are plain digits (surrounding spaces aside): `+7`,
/// `0x10` or `7.0` are refused".
#[test]
fn whole_numbers_are_plain_digits_with_surrounding_spaces_aside() {
    let l = parse_pairs(&[(MIN, " 2 "), (MAX, "\t7\n"), (FACTOR, " 50")]).unwrap();
    assert_eq!((l.min, l.max, l.factor), (2, 7, 50));
    for value in ["+7", "0x10", "7.0", "7 0", "7e0"] {
        let e = parse_pairs(&[(MAX, value)]).unwrap_err();
        assert_eq!((e.label, e.value.as_str()), (MAX, value));
        assert!(e.problem.contains("plain digits"), "{e}");
    }
}
