//! Property tests over the payload parser, the service with the memory backend, and the ledger.
//! Case counts are bounded so the whole suite stays fast.

use std::collections::BTreeMap;

use alertscaler::alert;
use alertscaler::backend::Backend;
use alertscaler::backend::memory::MemoryBackend;
use alertscaler::config::Config;
use alertscaler::config::MemoryFunction;
use alertscaler::id::FunctionId;
use alertscaler::labels;
use alertscaler::ledger;
use alertscaler::service::{Outcome, Service, Settings};
use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};

const FUNCTIONS: [&str; 3] = ["alpha", "beta", "gamma"];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn t0() -> DateTime<Utc> {
    "2026-11-24T07:00:00Z".parse().unwrap()
}

/// Scaling label values, good and bad.
fn label_value() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        (0u32..30).prop_map(|n| Some(n.to_string())),
        prop::sample::select(vec![
            "",
            "-1",
            "abc",
            "1e3",
            "999999999999",
            "true",
            "false",
            " 3"
        ])
        .prop_map(|s| Some(s.to_owned())),
    ]
}

fn function_labels() -> impl Strategy<Value = BTreeMap<String, String>> {
    (
        label_value(),
        label_value(),
        label_value(),
        label_value(),
        label_value(),
    )
        .prop_map(|(min, max, factor, zero, target)| {
            [
                (labels::MIN, min),
                (labels::MAX, max),
                (labels::FACTOR, factor),
                (labels::ZERO, zero),
                ("com.openfaas.scale.target", target),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
            .collect()
        })
}

fn specs() -> impl Strategy<Value = Vec<MemoryFunction>> {
    prop::collection::vec((function_labels(), 0u32..30), FUNCTIONS.len()).prop_map(|v| {
        v.into_iter()
            .zip(FUNCTIONS)
            .map(|((labels, replicas), name)| MemoryFunction {
                name: name.into(),
                namespace: "openfaas-fn".into(),
                replicas,
                labels,
            })
            .collect()
    })
}

/// One alert: random status, fingerprint, start, function (including invalid names), direction,
/// policy (any, or none: step), and sometimes a number (good, huge or bad) as its `value` and
/// `desired` annotations; idle alerts say their `window`.
fn alert_json() -> impl Strategy<Value = Value> {
    let function = prop::sample::select(vec![
        "alpha",
        "beta.openfaas-fn",
        "gamma.openfaas-fn",
        "ghost",
        "Bad_Name",
        "a.b.c",
        "alpha.other-ns",
        "",
        ".openfaas-fn",
        "alpha.",
    ]);
    (
        any::<bool>(),
        0u8..6,
        0i64..4,
        function,
        prop::sample::select(vec![None, Some("up"), Some("down"), Some("sideways")]),
        any::<bool>(),
        prop::sample::select(vec![
            None,
            Some("step"),
            Some("latency"),
            Some("zero"),
            Some("proportional"),
            Some("capacity"),
        ]),
        prop::sample::select(vec![
            None,
            Some("0"),
            Some("3"),
            Some("25"),
            Some("1e12"),
            Some("NaN"),
            Some("x"),
        ]),
    )
        .prop_map(
            |(firing, fp, start, function, direction, with_fp, policy, number)| {
                let mut labels = json!({"alertname": format!("A{fp}"), "function_name": function});
                if let Some(d) = direction {
                    labels["scale_direction"] = json!(d);
                }
                let mut annotations = json!({});
                if let Some(policy) = policy {
                    labels["scale_policy"] = json!(policy);
                }
                if policy == Some("zero") {
                    annotations["window"] = json!("15m");
                }
                if let Some(number) = number {
                    annotations["value"] = json!(number);
                    annotations["desired"] = json!(number);
                }
                let starts_at = t0() - TimeDelta::minutes(10 * (start + 1));
                let mut alert = json!({
                    "status": if firing { "firing" } else { "resolved" },
                    "labels": labels,
                    "annotations": annotations,
                    "startsAt": starts_at.to_rfc3339(),
                    "endsAt": "0001-01-01T00:00:00Z",
                });
                if with_fp {
                    alert["fingerprint"] = json!(format!("{fp:016x}"));
                }
                alert
            },
        )
}

fn webhook_json() -> impl Strategy<Value = Value> {
    (any::<bool>(), prop::collection::vec(alert_json(), 0..6)).prop_map(|(firing, alerts)| {
        json!({"version": "4", "status": if firing {"firing"} else {"resolved"}, "alerts": alerts})
    })
}

/// Any JSON value whose object keys come from the AlertManager payload (and a few others).
fn vocabulary_json() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(vec![
        "version",
        "status",
        "alerts",
        "labels",
        "annotations",
        "startsAt",
        "endsAt",
        "fingerprint",
        "groupKey",
        "receiver",
        "alertname",
        "function_name",
        "scale_direction",
        "scale_policy",
        "truncatedAlerts",
        "x",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop::sample::select(vec![
            "4",
            "3",
            "firing",
            "resolved",
            "echo-fn.openfaas-fn",
            "2026-11-24T06:55:10Z",
            "0001-01-01T00:00:00Z",
            "",
            "up",
            "down",
            "step",
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone(), inner, 0..6).prop_map(|m| Value::Object(
                m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            )),
        ]
    })
}

fn service(specs: &[MemoryFunction]) -> (Service, std::sync::Arc<MemoryBackend>) {
    let backend = std::sync::Arc::new(MemoryBackend::new(specs));
    let service = Service::new(backend.clone(), Settings::from_config(&Config::default()));
    (service, backend)
}

/// The notifications `before` (each after its pause), then `w` a minute later, then `w` again `gap`
/// seconds after: the copy moves no function and scales nothing.
fn acts_once(
    specs: &[MemoryFunction],
    before: Vec<(Value, i64)>,
    w: Value,
    gap: i64,
) -> Result<(), TestCaseError> {
    let (service, backend) = service(specs);
    let replicas = || -> Vec<_> { FUNCTIONS.iter().map(|f| backend.replicas(&id(f))).collect() };
    let mut now = t0();
    runtime().block_on(async {
        for (w, advance) in before {
            now += TimeDelta::seconds(advance);
            service
                .handle(&alert::parse(w.to_string().as_bytes()).unwrap(), now)
                .await;
        }
        let webhook = alert::parse(w.to_string().as_bytes()).unwrap();
        now += TimeDelta::seconds(60);
        service.handle(&webhook, now).await;
        let after_first = replicas();
        let second = service
            .handle(&webhook, now + TimeDelta::seconds(gap))
            .await;
        prop_assert_eq!(&after_first, &replicas(), "{:?}", second);
        prop_assert!(
            second
                .functions
                .iter()
                .all(|f| f.outcome != Outcome::Scaled),
            "{:?}",
            second
        );
        Ok(())
    })
}

/// A case `the_same_notification_over_the_episode_bound_twice_acts_once` found (shrunk): the
/// notification's own resolutions pushed out of the bounded entry the record that made one of its
/// firing copies stale, and its copy a second later scaled again.
#[test]
fn the_found_case_over_the_episode_bound_acts_once() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/props/over-the-bound-twice.json"
    );
    let case: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let before = case["before"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b[0].clone(), b[1].as_i64().unwrap()))
        .collect();
    let replicas = case["replicas"].as_u64().unwrap() as u32;
    let specs = vec![MemoryFunction {
        name: "alpha".into(),
        namespace: "openfaas-fn".into(),
        replicas,
        labels: BTreeMap::new(),
    }];
    acts_once(
        &specs,
        before,
        case["w"].clone(),
        case["gap"].as_i64().unwrap(),
    )
    .unwrap();
}

fn id(name: &str) -> FunctionId {
    FunctionId {
        name: name.into(),
        namespace: "openfaas-fn".into(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = alert::parse(&bytes);
    }

    /// Random JSON documents built from the payload's own keys: past the lexer, into the typed parse.
    #[test]
    fn parse_never_panics_on_json_in_the_payload_vocabulary(doc in vocabulary_json()) {
        let _ = alert::parse(doc.to_string().as_bytes());
    }

    #[test]
    fn parse_never_panics_on_mangled_payloads(w in webhook_json(), cut in 0usize..400, byte in any::<u8>()) {
        let mut bytes = w.to_string().into_bytes();
        let at = cut.min(bytes.len());
        bytes.insert(at, byte);
        let _ = alert::parse(&bytes);
        bytes.truncate(at);
        let _ = alert::parse(&bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever arrives, through every policy and the settle pass, every function with valid labels
    /// stays inside [min, max] of its labels (or on 0 when scale-to-zero is allowed), and functions
    /// with bad labels are never touched.
    /// No escape: every function starts inside its bounds, so one that never moved proves
    /// nothing by itself, and the backend always holds the last reported target exactly.
    #[test]
    fn replicas_stay_within_label_bounds(
        specs in specs(),
        notifications in prop::collection::vec((webhook_json(), 0i64..120), 1..8),
    ) {
        let settings = Settings::from_config(&Config::default());
        let bounds: Vec<_> = specs
            .iter()
            .map(|s| settings.labels.parse(&s.labels).ok())
            .collect();
        let specs: Vec<MemoryFunction> = specs
            .into_iter()
            .zip(&bounds)
            .map(|(mut spec, b)| {
                if let Some(l) = b {
                    spec.replicas = spec.replicas.clamp(l.min, l.max);
                }
                spec
            })
            .collect();
        let (service, backend) = service(&specs);
        let mut expected: BTreeMap<String, u32> =
            specs.iter().map(|s| (s.name.clone(), s.replicas)).collect();
        let mut now = t0();
        runtime().block_on(async {
            for (w, advance) in notifications {
                now += TimeDelta::seconds(advance);
                let webhook = alert::parse(w.to_string().as_bytes()).expect("well-formed");
                let mut report = service.handle(&webhook, now).await.functions;
                report.extend(service.settle(now).await.expect("the memory backend lists"));
                for f in &report {
                    if let (Outcome::Scaled, Some(to)) = (f.outcome, f.to) {
                        let name = f.function.split('.').next().unwrap();
                        expected.insert(name.to_owned(), to);
                    }
                }
                for (spec, b) in specs.iter().zip(&bounds) {
                    let replicas = backend.replicas(&id(&spec.name)).unwrap();
                    prop_assert_eq!(replicas, expected[&spec.name], "{} holds what was reported", &spec.name);
                    match b {
                        Some(l) => prop_assert!(
                            (l.min..=l.max).contains(&replicas) || (l.zero && replicas == 0),
                            "{} at {replicas} outside [{}, {}] ({:?})", spec.name, l.min, l.max, l
                        ),
                        None => prop_assert_eq!(replicas, spec.replicas),
                    }
                }
            }
            Ok(())
        })?;
    }

    /// The same notification twice (an AlertManager retry or its HA peer) acts once.
    #[test]
    fn the_same_notification_twice_acts_once(
        specs in specs(),
        before in prop::collection::vec((webhook_json(), 0i64..120), 0..4),
        w in webhook_json(),
        gap in 0i64..5,
    ) {
        acts_once(&specs, before, w, gap)?;
    }

    /// However many episodes arrive, the ledger entry stored with a function stays bounded.
    #[test]
    fn ledger_entries_stay_bounded(
        rounds in prop::collection::vec((1usize..80, any::<bool>(), 0i64..30), 1..6),
    ) {
        let specs = vec![MemoryFunction { name: "alpha".into(), namespace: "openfaas-fn".into(), replicas: 1, labels: BTreeMap::new() }];
        let (service, backend) = service(&specs);
        let max = ledger::Timing::default().max_episodes;
        let mut now = t0();
        let mut next_fp = 0u64;
        runtime().block_on(async {
            for (count, firing, advance) in rounds {
                now += TimeDelta::seconds(advance);
                let alerts: Vec<Value> = (0..count).map(|_| {
                    next_fp += 1;
                    json!({
                        "status": if firing { "firing" } else { "resolved" },
                        "labels": {"alertname": "A", "function_name": "alpha", "i": next_fp.to_string()},
                        "startsAt": (now - TimeDelta::seconds(5)).to_rfc3339(),
                        "fingerprint": format!("{next_fp:016x}"),
                    })
                }).collect();
                let w = json!({"version": "4", "status": "firing", "alerts": alerts});
                service.handle(&alert::parse(w.to_string().as_bytes()).unwrap(), now).await;
                let entry = backend.read(&id("alpha")).await.unwrap().stored.unwrap_or_default().ledger;
                prop_assert!(entry.firing.len() <= max && entry.resolved.len() <= max, "{} / {}", entry.firing.len(), entry.resolved.len());
                prop_assert!(serde_json::to_string(&entry).unwrap().len() < 16 * 1024);
            }
            Ok(())
        })?;
    }
}

/// A notification of `count` alerts, all for `alpha` (a noisy rule whose labels change, or a
/// group by function): random status, direction, fingerprint (of 200, so notifications overlap)
/// and start.
fn big_webhook_json() -> impl Strategy<Value = Value> {
    let alert = (any::<bool>(), 0u16..200, 0i64..4, any::<bool>());
    prop::collection::vec(alert, 20..80).prop_map(|alerts| {
        let alerts: Vec<Value> = alerts
            .into_iter()
            .map(|(firing, fp, start, up)| {
                let starts_at = t0() - TimeDelta::minutes(10 * (start + 1));
                json!({
                    "status": if firing { "firing" } else { "resolved" },
                    "labels": {"alertname": "Noisy", "function_name": "alpha", "i": fp.to_string(),
                        "scale_direction": if up { "up" } else { "down" }},
                    "startsAt": starts_at.to_rfc3339(),
                    "endsAt": if firing { "0001-01-01T00:00:00Z".to_owned() } else { t0().to_rfc3339() },
                    "fingerprint": format!("{fp:016x}"),
                })
            })
            .collect();
        json!({"version": "4", "status": "firing", "alerts": alerts})
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// The same notification twice acts once also when it names more alerts of one function than
    /// the ledger keeps episodes of (`max_episodes`): the copy finds some of its episodes evicted
    /// by the bound, and must not step on them as new ones.
    #[test]
    fn the_same_notification_over_the_episode_bound_twice_acts_once(
        replicas in 1u32..21,
        before in prop::collection::vec((big_webhook_json(), 0i64..120), 0..3),
        w in big_webhook_json(),
        gap in 0i64..5,
    ) {
        let specs = vec![MemoryFunction { name: "alpha".into(), namespace: "openfaas-fn".into(), replicas, labels: BTreeMap::new() }];
        acts_once(&specs, before, w, gap)?;
    }
}
