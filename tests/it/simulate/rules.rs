//! The simulator's rule model against the shipped packs: promtool cases replayed, `for:` and labels compared.

use std::path::Path;

use alertscaler::sim::replay;
use alertscaler::sim::rules::RuleKind;

/// Replay a pack's promtool cases through the simulator's rule model.
fn replay_pack(test_file: &str, kinds: &[RuleKind]) -> replay::Outcome {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("alert-rules")
        .join(test_file);
    let text = std::fs::read_to_string(&path).unwrap();
    let file: replay::TestFile = serde_norway::from_str(&text).unwrap();
    let rules: Vec<_> = kinds.iter().map(|k| k.rule()).collect();
    replay::replay(&file, &rules)
}

#[test]
fn the_simulated_rules_pass_the_packs_promtool_cases() {
    let ce = replay_pack("openfaas-ce.test.yml", &[RuleKind::CeRate]);
    assert!(ce.mismatches.is_empty(), "{:#?}", ce.mismatches);
    assert!(ce.checked >= 5, "{ce:?}");
    let latency = replay_pack(
        "latency.test.yml",
        &[RuleKind::LatencyHigh, RuleKind::LatencyLow, RuleKind::Idle],
    );
    assert!(latency.mismatches.is_empty(), "{:#?}", latency.mismatches);
    assert!(latency.checked >= 10, "{latency:?}");
    let capacity = replay_pack(
        "capacity.test.yml",
        &[RuleKind::CapacityUnder, RuleKind::CapacityOver],
    );
    assert!(capacity.mismatches.is_empty(), "{:#?}", capacity.mismatches);
    assert!(capacity.checked >= 10, "{capacity:?}");
    assert!(capacity.skipped.is_empty(), "{:?}", capacity.skipped);
    // The pack's recorded desired count, its parts and the panic mode, against promtool's expression cases.
    assert!(capacity.checked_exprs >= 10, "{capacity:?}");
    assert!(latency.skipped.is_empty(), "{:?}", latency.skipped);
    // The replay does catch a rule that differs from the pack: a threshold of 5.3 req/s instead of 5, or a
    // 2m `for:` on FunctionLatencyHigh instead of 30s.
    let mut wrong = RuleKind::CeRate.rule();
    wrong.expr = alertscaler::sim::rules::Expr::RateAbove {
        window: 10,
        threshold: 5.3,
    };
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("alert-rules/openfaas-ce.test.yml"),
    )
    .unwrap();
    let file: replay::TestFile = serde_norway::from_str(&text).unwrap();
    assert!(!replay::replay(&file, &[wrong]).mismatches.is_empty());
    let mut slow = RuleKind::LatencyHigh.rule();
    slow.for_secs = 120;
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("alert-rules/latency.test.yml"),
    )
    .unwrap();
    let file: replay::TestFile = serde_norway::from_str(&text).unwrap();
    assert!(!replay::replay(&file, &[slow]).mismatches.is_empty());
}

#[test]
fn simulated_rules_have_the_packs_for_and_labels() {
    #[derive(serde::Deserialize)]
    struct Pack {
        groups: Vec<Group>,
    }
    #[derive(serde::Deserialize)]
    struct Group {
        rules: Vec<serde_norway::Value>,
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("alert-rules");
    let kinds = [
        ("openfaas-ce.rules.yml", RuleKind::CeRate),
        ("latency.rules.yml", RuleKind::LatencyHigh),
        ("latency.rules.yml", RuleKind::LatencyLow),
        ("capacity.rules.yml", RuleKind::CapacityUnder),
        ("capacity.rules.yml", RuleKind::CapacityOver),
        ("latency.rules.yml", RuleKind::Idle),
    ];
    for (file, kind) in kinds {
        let model = kind.rule();
        let pack: Pack =
            serde_norway::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap();
        let shipped = pack
            .groups
            .iter()
            .flat_map(|g| &g.rules)
            .find(|r| r["alert"].as_str() == Some(model.alertname))
            .unwrap_or_else(|| panic!("{file} has no {}", model.alertname));
        let for_secs = replay::duration(shipped["for"].as_str().unwrap_or("0s")).unwrap();
        assert_eq!(for_secs, model.for_secs, "{}: for", model.alertname);
        let keep = shipped["keep_firing_for"].as_str().unwrap_or("0s");
        let keep_secs = replay::duration(keep).unwrap();
        assert_eq!(
            keep_secs, model.keep_firing_secs,
            "{}: keep_firing_for",
            model.alertname
        );
        let labels: std::collections::BTreeMap<String, String> =
            serde_norway::from_value(shipped["labels"].clone()).unwrap();
        assert_eq!(labels, model.labels, "{}: labels", model.alertname);
        let expr = shipped["expr"].as_str().unwrap();
        let window = format!("[{}s]", model.expr.window());
        let window_m = format!("[{}m]", model.expr.window() / 60);
        // The latency and capacity packs read their windows through recording rules (the replay checks them).
        assert!(
            expr.contains(&window) || expr.contains(&window_m) || !file.starts_with("openfaas"),
            "{}: {expr} does not read {window}",
            model.alertname
        );
    }
}

#[test]
fn simulated_capacity_constants_are_the_packs() {
    use alertscaler::sim::capacity::{CapacityTarget, DOWN_FILL, DOWN_SAFETY};
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("alert-rules/capacity.rules.yml"),
    )
    .unwrap();
    let pack: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let constant = |record: &str| -> f64 {
        let rule = pack["groups"]
            .as_sequence()
            .unwrap()
            .iter()
            .flat_map(|g| g["rules"].as_sequence().unwrap())
            .find(|r| r["record"].as_str() == Some(record))
            .unwrap_or_else(|| panic!("capacity.rules.yml has no {record}"));
        let expr = rule["expr"].as_str().unwrap().trim();
        let number = expr
            .strip_prefix("vector(")
            .and_then(|e| e.strip_suffix(')'))
            .unwrap_or_else(|| panic!("{record}: {expr} is not vector(<number>)"));
        number.parse().unwrap()
    };
    assert_eq!(constant("alertscaler:capacity_down_fill"), DOWN_FILL);
    assert_eq!(constant("alertscaler:capacity_down_safety"), DOWN_SAFETY);
    assert_eq!(
        constant("alertscaler:capacity_target:default"),
        CapacityTarget::default().per_replica
    );
}
