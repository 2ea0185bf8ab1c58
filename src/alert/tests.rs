use super::*;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn fingerprint_matches_alertmanager() {
    // Labels and fingerprint from a real AlertManager 0.25 notification.
    let l = labels(&[
        ("alertname", "APIHighInvocationRate"),
        ("function_name", "echo-fn.openfaas-fn"),
        ("service", "gateway"),
        ("severity", "major"),
    ]);
    assert_eq!(fingerprint(&l), "6a65bd8dfb3af9ad");
}

#[test]
fn unset_ends_at_and_unknown_fields_parse() {
    let body = br#"{"version":"4","status":"firing","notification_reason":"new","routeLabels":{},
        "alerts":[{"status":"firing","labels":{"function_name":"f"},"startsAt":"2026-11-24T06:55:10.479Z",
        "endsAt":"0001-01-01T00:00:00Z","somethingNew":1}]}"#;
    let w = parse(body).unwrap();
    assert_eq!(w.alerts[0].ends_at.unwrap().timestamp(), -62135596800);
}

#[test]
fn errors_name_the_field() {
    let body = br#"{"version":"4","status":"firing","alerts":[{"status":"firing","startsAt":"yesterday"}]}"#;
    let err = parse(body).unwrap_err().to_string();
    assert!(err.contains("alerts[0].startsAt"), "{err}");
    let err = parse(br#"{"status":"firing","alerts":[]}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("version"), "{err}");
    let err = parse(br#"{"version":"3","status":"firing","alerts":[]}"#).unwrap_err();
    assert!(matches!(err, PayloadError::Version(v) if v == "3"));
    // The legacy version 3 payload: numeric groupKey, which the v4 types refuse.
    let v3 = br#"{"version":"3","groupKey":12345,"status":"firing","receiver":"r",
        "alerts":[{"status":"firing","labels":{"function_name":"f"},"startsAt":"2026-11-24T06:55:10Z"}]}"#;
    let err = parse(v3).unwrap_err();
    assert!(
        matches!(&err, PayloadError::Version(v) if v == "3"),
        "{err:?}"
    );
    assert!(err.to_string().contains('3'), "{err}");
    let err = parse(br#"{"version":4,"status":"firing","alerts":[]}"#).unwrap_err();
    assert!(
        matches!(&err, PayloadError::Json { path, .. } if path == "version"),
        "{err:?}"
    );
}

#[test]
fn trailing_characters_after_the_payload_are_named_with_their_position() {
    // Fails on main: the path-tracking re-parse stops after the object and accepts it, so the
    // 400 says "payload rejected by the parser" at `.`, without the line and column the
    // README promises for malformed JSON.
    for body in [
        &br#"{"version":"4","status":"firing","alerts":[]} trailing"#[..],
        &br#"{"version":"4","status":"firing","alerts":[]}{}"#[..],
    ] {
        for err in [
            parse(body).unwrap_err(),
            parse_notification(body).unwrap_err(),
        ] {
            let message = err.to_string();
            assert!(
                message.contains("trailing") && message.contains("line 1 column"),
                "{message}"
            );
        }
    }
}

#[test]
fn alerts_are_grouped_by_function_in_order_each_functions_in_body_order() {
    let alert = |name: &str, function: &str| {
        format!(
            r#"{{"status":"firing","labels":{{"alertname":"{name}","function_name":"{function}"}},"startsAt":"2026-11-24T06:55:10Z"}}"#
        )
    };
    let identity = Identity {
        function_label: "function_name".into(),
        default_namespace: "openfaas-fn".into(),
        allowed_namespaces: vec!["openfaas-fn".into()],
    };
    let grouped = |alerts: &[(&str, &str)]| {
        let alerts: Vec<String> = alerts.iter().map(|(n, f)| alert(n, f)).collect();
        let body = format!(
            r#"{{"version":"4","status":"firing","alerts":[{}]}}"#,
            alerts.join(",")
        );
        let (intents, _) = intents(&parse(body.as_bytes()).unwrap(), &identity);
        intents
            .iter()
            .map(|i| {
                let names: Vec<&str> = i.signals.iter().map(|s| &*s.alertname).collect();
                format!("{}:{}", i.function.name, names.join(","))
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(grouped(&[("A", "f")]), ["f:A"]);
    assert_eq!(grouped(&[("A", "f"), ("B", "f")]), ["f:A,B"]);
    assert_eq!(
        grouped(&[
            ("A", "g"),
            ("B", "f"),
            ("C", "g"),
            ("D", "e"),
            ("E", "f"),
            ("F", "g")
        ]),
        ["e:D", "f:B,E", "g:A,C,F"]
    );
    assert_eq!(grouped(&[("A", "f"), ("B", "g")]), ["f:A", "g:B"]);
    assert!(grouped(&[]).is_empty());
}

#[test]
fn an_unknown_policy_is_refused_before_any_backend_call() {
    let body = br#"{"version":"4","status":"firing","alerts":[
        {"status":"firing","labels":{"alertname":"A","function_name":"f","scale_policy":"magic"},"startsAt":"2026-11-24T06:55:10Z"},
        {"status":"firing","labels":{"alertname":"B","function_name":"g","scale_policy":"latency"},"startsAt":"2026-11-24T06:55:10Z"}]}"#;
    let identity = Identity {
        function_label: "function_name".into(),
        default_namespace: "openfaas-fn".into(),
        allowed_namespaces: vec!["openfaas-fn".into()],
    };
    let (intents, skipped) = intents(&parse(body).unwrap(), &identity);
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].outcome, "refused");
    assert_eq!(skipped[0].function.as_deref(), Some("f.openfaas-fn"));
    assert!(
        skipped[0].reason.contains("\"magic\""),
        "{}",
        skipped[0].reason
    );
    assert_eq!(intents.len(), 1);
    assert_eq!(intents[0].signals[0].policy, Some(PolicyKind::Latency));
}

#[test]
fn an_alertname_or_fingerprint_longer_than_the_ledger_stores_is_refused_naming_it() {
    // Every episode is stored under its fingerprint and alert name: unbounded, one payload
    // could grow a function's ledger by megabytes (the Kubernetes backend then refuses the
    // function for good at its 16 KiB ConfigMap limit; the others store it).
    let identity = Identity {
        function_label: "function_name".into(),
        default_namespace: "openfaas-fn".into(),
        allowed_namespaces: vec!["openfaas-fn".into()],
    };
    let alert = |name: &str, fingerprint: &str| {
        format!(
            r#"{{"status":"firing","labels":{{"alertname":"{name}","function_name":"f"}},"fingerprint":"{fingerprint}","startsAt":"2026-11-24T06:55:10Z"}}"#
        )
    };
    let run = |name: &str, fingerprint: &str| {
        let body = format!(
            r#"{{"version":"4","status":"firing","alerts":[{}]}}"#,
            alert(name, fingerprint)
        );
        let (intents, skipped) = intents(&parse(body.as_bytes()).unwrap(), &identity);
        (intents.len(), skipped)
    };
    let at = |n: usize| "a".repeat(n);
    assert_eq!(
        run(&at(MAX_ALERTNAME_BYTES), &at(MAX_FINGERPRINT_BYTES)).0,
        1
    );
    for (name, fingerprint, named, size) in [
        (
            at(MAX_ALERTNAME_BYTES + 1),
            "6a65bd8dfb3af9ad".to_owned(),
            "alertname",
            MAX_ALERTNAME_BYTES + 1,
        ),
        (
            "A".to_owned(),
            at(MAX_FINGERPRINT_BYTES + 1),
            "fingerprint",
            MAX_FINGERPRINT_BYTES + 1,
        ),
    ] {
        let (acted, skipped) = run(&name, &fingerprint);
        assert_eq!(acted, 0);
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].outcome, "refused");
        assert_eq!(skipped[0].function.as_deref(), Some("f.openfaas-fn"));
        let reason = &skipped[0].reason;
        assert!(reason.starts_with(named), "{reason}");
        assert!(reason.contains(&format!("{size} bytes")), "{reason}");
        // Echoed shortened, as every payload value is.
        assert!(reason.len() < 600, "{}", reason.len());
    }
}

#[test]
fn alerts_naming_no_eligible_function_are_skipped_or_refused_with_the_reason() {
    // README: `skipped` when no `function_name` label; `refused` (with the function) for a
    // name that is no function name, a namespace not allowed, or an unknown direction.
    let alert = |labels: &str| {
        format!(
            r#"{{"status":"firing","labels":{{"alertname":"A"{labels}}},"startsAt":"2026-11-24T06:55:10Z"}}"#
        )
    };
    let cases = [
        ("", "skipped", None, "\"function_name\""),
        (
            r#","function_name":"Bad_Name""#,
            "refused",
            Some("Bad_Name"),
            "DNS-1123",
        ),
        (
            r#","function_name":"f.kube-system""#,
            "refused",
            Some("f.kube-system"),
            "allowed",
        ),
        (
            r#","function_name":"f","scale_direction":"sideways""#,
            "refused",
            Some("f.openfaas-fn"),
            "\"sideways\"",
        ),
    ];
    let identity = Identity {
        function_label: "function_name".into(),
        default_namespace: "openfaas-fn".into(),
        allowed_namespaces: vec!["openfaas-fn".into()],
    };
    for (labels, outcome, function, said) in cases {
        let body = format!(
            r#"{{"version":"4","status":"firing","alerts":[{}]}}"#,
            alert(labels)
        );
        let (intents, skipped) = intents(&parse(body.as_bytes()).unwrap(), &identity);
        assert!(intents.is_empty(), "{labels}");
        assert_eq!(skipped.len(), 1, "{labels}");
        let s = &skipped[0];
        assert_eq!(
            (s.outcome, s.function.as_deref()),
            (outcome, function),
            "{labels}"
        );
        assert!(s.reason.contains(said), "{labels}: {}", s.reason);
    }
}
