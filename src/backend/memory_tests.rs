//! Tests of the memory backend: unlabelled functions share one empty labels map, and the listing
//! (its JSON is the typed listing's, its pages together are the whole table in order, a function
//! added or removed between pages is listed once or not at all). A file of its own beside
//! `memory.rs`, as `audit_tests.rs` is beside `audit.rs`, to keep each under ~400 lines.

use chrono::{TimeZone, Utc};

use super::*;
use crate::alert::Direction;
use crate::ledger::Firing;

fn function(name: &str, labels: &[(&str, &str)]) -> MemoryFunction {
    MemoryFunction {
        name: name.into(),
        namespace: "openfaas-fn".into(),
        replicas: 2,
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

#[tokio::test]
async fn unlabelled_functions_share_one_empty_map_and_labelled_ones_keep_their_own() {
    let backend = MemoryBackend::new(&[
        function("a", &[]),
        function("b", &[]),
        function("c", &[("com.openfaas.scale.max", "7")]),
    ]);
    let mut read = Vec::new();
    for name in ["a", "b", "c"] {
        let id = FunctionId {
            name: name.into(),
            namespace: "openfaas-fn".into(),
        };
        read.push(backend.read_shared(&id).await.unwrap());
    }
    let [a, b, c] = &read[..] else { unreachable!() };
    assert!(a.labels.is_empty() && Arc::ptr_eq(&a.labels, &b.labels));
    assert_eq!(
        c.labels.get("com.openfaas.scale.max").map(String::as_str),
        Some("7")
    );
    assert!(!Arc::ptr_eq(&a.labels, &c.labels));
}

/// The listing's pages, each of about `budget` bytes.
async fn paged(
    backend: &MemoryBackend,
    silent_before: DateTime<Utc>,
    budget: usize,
) -> Vec<Vec<u8>> {
    let (mut json, mut after, mut pages) = (JsonListing::new(budget), None, Vec::new());
    while let Some(last) = backend
        .list_page(after.as_ref(), silent_before, &mut json)
        .await
        .unwrap()
    {
        pages.push(json.take_page());
        after = Some(last);
    }
    pages.push(json.finish());
    pages
}

#[tokio::test]
async fn the_json_listing_is_the_listing_serialized() {
    let backend = MemoryBackend::from_specs(vec![
        function("a", &[("com.openfaas.scale.max", "9")]),
        function("b\"quoted", &[]),
        function("c", &[]),
    ]);
    let at = Utc.with_ymd_and_hms(2026, 11, 24, 6, 55, 10).unwrap();
    let mut stored = Stored::default();
    for (fp, alertname) in [("f1", "Up"), ("f2", "Also")] {
        let firing = Firing {
            starts_at: at,
            alertname: alertname.into(),
            direction: Direction::Up,
            last_seen: at,
            policy: None,
        };
        stored.ledger.firing.insert(fp.into(), firing);
    }
    stored.window.pending = Some(1);
    let id = FunctionId::parse("a", "openfaas-fn").unwrap();
    let update = Update {
        replicas: Some(3),
        stored: &stored,
        version: "1",
    };
    backend.apply(&id, update).await.unwrap();

    let listed = backend.list().await.unwrap();
    assert_eq!(listed[0].firing, ["Also", "Up"]);
    assert_eq!(listed[0].settling_to, Some(1));
    // Straight from the table as through the default (`list`, then `listed`): the alerts last
    // seen at `at` fire while `at` is after `silent_before`, and are silent from then on.
    let second = chrono::TimeDelta::seconds(1);
    for (silent_before, firing) in [(at - second, 2), (at, 0)] {
        let expected: Vec<FunctionSummary> = listed
            .iter()
            .map(|f| f.clone().listed(silent_before))
            .collect();
        assert_eq!(expected[0].firing.len(), firing, "{expected:?}");
        let expected = serde_json::to_vec(&expected).unwrap();
        assert_eq!(paged(&backend, silent_before, 1 << 20).await, [expected]);
    }
    // An empty table is an empty array.
    let empty = MemoryBackend::default();
    assert_eq!(paged(&empty, at, 1).await, [b"[]"]);
}

/// `n` functions, one in three labelled; of the labelled, every other one with an alert firing
/// (last seen at `at`) and one silent (last seen a day before).
async fn table(n: usize, at: DateTime<Utc>) -> MemoryBackend {
    let labels = [
        ("com.openfaas.scale.max", "9"),
        ("team", "a \"quoted\" één"),
    ];
    let specs = (0..n).map(|i| {
        let labelled: &[(&str, &str)] = if i % 3 == 0 { &labels } else { &[] };
        function(&format!("fn-{i:04}"), labelled)
    });
    let backend = MemoryBackend::from_specs(specs.collect());
    for i in (0..n).step_by(6) {
        let mut stored = Stored::default();
        let day = chrono::TimeDelta::days(1);
        for (fp, alertname, seen) in [("f1", "Up", at), ("f2", "Silent", at - day)] {
            let firing = Firing {
                starts_at: at - day,
                alertname: alertname.into(),
                direction: Direction::Up,
                last_seen: seen,
                policy: None,
            };
            stored.ledger.firing.insert(fp.into(), firing);
        }
        let id = FunctionId::parse(&format!("fn-{i:04}"), "openfaas-fn").unwrap();
        let update = Update {
            replicas: Some(4),
            stored: &stored,
            version: "1",
        };
        backend.apply(&id, update).await.unwrap();
    }
    backend
}

#[tokio::test]
async fn the_pages_together_are_the_whole_listing_in_table_order() {
    let at = Utc.with_ymd_and_hms(2026, 11, 24, 6, 55, 10).unwrap();
    let backend = table(400, at).await;
    let silent_before = at - chrono::TimeDelta::hours(1);
    let listed: Vec<FunctionSummary> = backend
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.listed(silent_before))
        .collect();
    let firing = listed.iter().filter(|f| f.firing == ["Up"]).count();
    assert_eq!(
        (listed.len(), firing),
        (400, 67),
        "silent alerts are not listed"
    );
    let expected = serde_json::to_vec(&listed).unwrap();
    for budget in [1, 100, 4096, 1 << 20] {
        let pages = paged(&backend, silent_before, budget).await;
        // A page ends once it holds its budget: at most one function over it.
        let longest = listed
            .iter()
            .map(|f| serde_json::to_vec(f).unwrap().len())
            .max()
            .unwrap();
        assert!(
            pages.iter().all(|p| p.len() <= budget + longest + 2),
            "budget {budget}"
        );
        // ... and only then: each page but the last holds at least its budget.
        let (last, full) = pages.split_last().unwrap();
        assert!(full.iter().all(|p| p.len() >= budget), "budget {budget}");
        assert!(!last.is_empty());
        assert_eq!(pages.len() > 1, budget < expected.len(), "budget {budget}");
        assert_eq!(pages.concat(), expected, "budget {budget}");
    }
}

#[tokio::test]
async fn a_function_added_or_removed_between_pages_is_listed_once_or_not_at_all() {
    let at = Utc.with_ymd_and_hms(2026, 11, 24, 6, 55, 10).unwrap();
    let backend = table(300, at).await;
    let (mut json, mut after, mut body) = (JsonListing::new(2048), None, Vec::new());
    let mut pages = 0;
    while let Some(last) = backend
        .list_page(after.as_ref(), at, &mut json)
        .await
        .unwrap()
    {
        body.extend(json.take_page());
        pages += 1;
        // Between pages: one function added behind the listing, one ahead of it, one ahead
        // removed, and the last one listed removed and added again.
        let mut table = backend.lock();
        let ahead = table
            .range(&last..)
            .nth(3)
            .map(|(id, _)| id.clone())
            .unwrap();
        table.remove(&ahead);
        let slot = table.remove(&last).unwrap();
        table.insert(last.clone(), slot);
        for name in [
            format!("{}-behind", "fn-0000"),
            format!("{}-ahead", ahead.name),
        ] {
            let id = FunctionId::parse(&name, "openfaas-fn").unwrap();
            let slot = Slot {
                replicas: 1,
                version: 1,
                labels: Arc::default(),
                stored: None,
            };
            table.insert(id, slot);
        }
        after = Some(last);
    }
    body.extend(json.finish());
    assert!(pages > 3, "{pages} pages");
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
    let names: Vec<&str> = listed.iter().map(|f| f["name"].as_str().unwrap()).collect();
    let mut unique = names.clone();
    unique.dedup();
    assert_eq!(unique, names, "in order, each once");
    assert!(names.is_sorted());
    // Those removed ahead are not listed, those added ahead are, those added behind are not.
    let table = backend.lock();
    let expected: Vec<&str> = table
        .keys()
        .map(|id| id.name.as_str())
        .filter(|name| !name.ends_with("-behind"))
        .collect();
    assert_eq!(names, expected);
    assert_eq!(table.len(), 300 - pages + 1 + pages);
}
