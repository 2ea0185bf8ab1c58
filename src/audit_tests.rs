//! Tests of the audit ring: the newest records kept in order, names and reasons kept short, a
//! forgotten record's strings reused for the new decision only, and holds forgotten before acts.
//! A file of their own beside `audit.rs`, as `listener_tests.rs` is, to keep each under ~400 lines.

use super::*;

fn report(i: u32) -> FunctionReport {
    FunctionReport {
        function: format!("f{i}.openfaas-fn"),
        outcome: crate::report::Outcome::Scaled,
        from: Some(i),
        to: Some(i + 1),
        why: None,
        reason: "step".into(),
    }
}

fn time(i: u32) -> DateTime<Utc> {
    DateTime::from_timestamp(i64::from(i), 0).unwrap()
}

fn record(audit: &Audit, i: u32) {
    audit.record(time(i), "notification", ["High"], &report(i));
}

#[test]
fn long_names_and_reasons_are_kept_short() {
    let audit = Audit::new(2);
    let long = "A".repeat(500_000);
    let report = FunctionReport::new(
        &crate::id::FunctionId {
            name: "f".into(),
            namespace: "openfaas-fn".into(),
        },
        crate::report::Outcome::Refused,
        format!("alert {long} refused"),
    );
    audit.record(time(1), "notification", [long.as_str()], &report);
    let kept = &audit.recent(None)[0];
    assert!(
        kept.alerts[0].chars().count() < 250,
        "{}",
        kept.alerts[0].len()
    );
    assert!(kept.alerts[0].ends_with("bytes)"));
    assert!(kept.report.reason.chars().count() < 850);
}

#[test]
fn ring_keeps_the_newest_capacity_records_in_order() {
    let audit = Audit::new(3);
    for i in 0..5 {
        record(&audit, i);
    }
    let all: Vec<u32> = audit
        .recent(None)
        .iter()
        .filter_map(|r| r.report.from)
        .collect();
    assert_eq!(all, vec![2, 3, 4]);
    let last: Vec<u32> = audit
        .recent(Some(2))
        .iter()
        .filter_map(|r| r.report.from)
        .collect();
    assert_eq!(last, vec![3, 4]);
    assert_eq!(audit.recent(Some(100)).len(), 3);
}

#[test]
fn zero_capacity_keeps_nothing() {
    let audit = Audit::new(0);
    record(&audit, 1);
    assert!(audit.recent(None).is_empty());
}

#[test]
fn a_record_written_over_a_forgotten_one_is_the_new_decision_only() {
    let audit = Audit::new(2);
    let mut long = report(1);
    long.reason = "a much longer reason than the next one".into();
    audit.record(time(1), "notification", ["B", "A", "B", "C"], &long);
    record(&audit, 2);
    let mut held = report(3);
    (held.outcome, held.from, held.to) = (crate::report::Outcome::Unchanged, None, None);
    held.why = Some(crate::policy::Why::Duplicate);
    held.reason = "dup".into();
    audit.record(time(3), "settle", ["Z", "Y"], &held);
    let kept = audit.recent(None);
    let written = serde_json::to_value(&kept[1]).unwrap();
    let fresh = DecisionRecord {
        time: time(3),
        trigger: "settle",
        alerts: vec!["Y".into(), "Z".into()],
        report: held,
    };
    assert_eq!(written, serde_json::to_value(&fresh).unwrap());
    let first = serde_json::to_value(&kept[0]).unwrap();
    assert_eq!(first["alerts"], serde_json::json!(["High"]));
    assert_eq!(first["function"], "f2.openfaas-fn");
    // The first record's names, sorted and without repeats, before it was forgotten.
    let audit = Audit::new(1);
    audit.record(time(1), "notification", ["B", "A", "B", "C"], &report(1));
    assert_eq!(audit.recent(None)[0].alerts, ["A", "B", "C"]);
}

fn hold(i: u32) -> FunctionReport {
    let mut held = report(i);
    (held.outcome, held.from, held.to) = (crate::report::Outcome::Unchanged, None, None);
    held.why = Some(crate::policy::Why::Duplicate);
    held
}

fn kept(audit: &Audit, limit: Option<usize>) -> Vec<(u32, &'static str)> {
    audit
        .recent(limit)
        .iter()
        .map(|r| {
            let n = r.time.timestamp() as u32;
            (n, r.report.outcome_label())
        })
        .collect()
}

#[test]
fn a_flood_of_holds_forgets_holds_before_any_decision_that_acted() {
    let audit = Audit::new(4);
    record(&audit, 1);
    audit.record(time(2), "notification", ["High"], &hold(2));
    let mut refused = report(3);
    (refused.outcome, refused.from, refused.to) = (crate::report::Outcome::Refused, None, None);
    audit.record(time(3), "notification", ["High"], &refused);
    // AlertManager's repeats, retries and HA copies: a thousand duplicates.
    for i in 4..1004 {
        audit.record(time(i), "notification", ["High"], &hold(i));
    }
    // The move and the refusal stay; the holds share what is left, newest kept, oldest first.
    assert_eq!(
        kept(&audit, None),
        [
            (1, "scaled"),
            (3, "refused"),
            (1002, "duplicate"),
            (1003, "duplicate")
        ]
    );
    assert_eq!(
        kept(&audit, Some(3)),
        [(3, "refused"), (1002, "duplicate"), (1003, "duplicate")]
    );
    // Decisions that acted fill the ring: the newest hold still shows, the oldest act goes.
    for i in 1004..1007 {
        record(&audit, i);
    }
    assert_eq!(
        kept(&audit, None),
        [
            (3, "refused"),
            (1004, "scaled"),
            (1005, "scaled"),
            (1006, "scaled")
        ]
    );
    audit.record(time(1007), "notification", ["High"], &hold(1007));
    assert_eq!(
        kept(&audit, None),
        [
            (1004, "scaled"),
            (1005, "scaled"),
            (1006, "scaled"),
            (1007, "duplicate")
        ]
    );
    audit.record(time(1008), "notification", ["High"], &hold(1008));
    assert_eq!(
        kept(&audit, None),
        [
            (1004, "scaled"),
            (1005, "scaled"),
            (1006, "scaled"),
            (1008, "duplicate")
        ]
    );
}

#[test]
fn a_dry_run_would_be_move_is_kept_as_an_act_not_forgotten_as_a_hold() {
    let audit = Audit::new(2);
    let mut would = hold(1);
    would.why = Some(crate::policy::Why::DryRun);
    would.reason = "dry run: would scale 1 → 5 (step)".into();
    audit.record(time(1), "notification", ["High"], &would);
    for i in 2..10 {
        audit.record(time(i), "notification", ["High"], &hold(i));
    }
    assert_eq!(kept(&audit, None), [(1, "dry_run"), (9, "duplicate")]);
}
