//! Tests of the state file: round trip, bounds, locks and concurrent writes.

use std::path::Path;

use super::disk::load_within;
use super::format::{SLOT_MAX_BYTES, Slots};
use super::*;
use crate::error::BackendError;
use crate::id::FunctionId;
use crate::stored::Stored;

fn id(s: &str) -> FunctionId {
    FunctionId::parse(s, "openfaas-fn").unwrap()
}

#[test]
fn round_trip_and_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    assert!(load(&path).unwrap().is_empty());
    let mut slots = Slots::new();
    slots.insert(
        id("figlet.openfaas-fn"),
        Slot {
            counter: 7,
            entry: Stored::default(),
            pending: Some(Pending {
                from: 1,
                to: 5,
                previous: Stored::default(),
            }),
        },
    );
    save(&path, &encode(&slots)).unwrap();
    assert_eq!(load(&path).unwrap(), slots);
    assert!(!temp_path(&path).exists(), "temp file renamed away");
}

/// A write that would make the file larger than the bound it is read with at start is refused
/// (the function's decision fails, its slot stays as it was): alertscaler never writes a
/// state file that its next start would refuse.
#[tokio::test]
async fn a_write_past_the_bound_the_file_is_read_with_is_refused_and_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let (_, largest) = largest_slot();
    let one = encode(&Slots::from([(id("f0"), largest.clone())])).len();
    let store = Store::open_within(&path, false, one * 2).unwrap();
    store.put(&id("f0"), largest.clone(), None).await.unwrap();
    store.put(&id("f1"), largest.clone(), None).await.unwrap();
    let err = store
        .put(&id("f2"), largest.clone(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::Unavailable(_)), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("larger than") && text.contains("nothing was written"),
        "{text}"
    );
    assert!(!store.slots().0.contains_key(&id("f2")), "rolled back");
    let on_disk = load_within(&path, one * 2).unwrap();
    assert_eq!(on_disk.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_puts_are_each_on_disk_when_they_return() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let store = std::sync::Arc::new(Store::open(&path, false).unwrap());
    let tasks: Vec<_> = (0..40u64)
        .map(|i| {
            let (store, path) = (store.clone(), path.clone());
            tokio::spawn(async move {
                let f = id(&format!("f{i}.openfaas-fn"));
                let slot = Slot {
                    counter: i,
                    ..Slot::default()
                };
                store.put(&f, slot, None).await.unwrap();
                load(&path).unwrap()[&f].counter
            })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.await.unwrap(), i as u64, "durable when put returned");
    }
    assert_eq!(load(&path).unwrap().len(), 40);
}

/// README: a second process on the state file is refused while the first holds
/// `<state_file>.lock`, and `--fresh-state` does not override it (it would otherwise move the
/// first process's file aside and start a second ledger beside it).
#[test]
fn fresh_state_does_not_override_the_lock_of_another_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let _first = Store::open(&path, false).unwrap();
    // What a second process would find if the file were damaged: --fresh-state's case.
    let corrupt = "{\"version\":1,\"functions\":{";
    std::fs::write(&path, corrupt).unwrap();
    for fresh in [false, true] {
        let err = Store::open(&path, fresh).expect_err("a second store is refused");
        assert!(matches!(err, StateError::Locked { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains("state.json.lock"), "{text}");
    }
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        corrupt,
        "left in place"
    );
}

#[test]
fn bad_files_are_errors_naming_file_and_flag() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    for text in [
        "{\"version\":1,\"functions\":{",
        "{\"version\":2,\"functions\":{}}",
        "{\"version\":1,\"functions\":{\"nodot\":{\"counter\":1,\"entry\":{}}}}",
        "",
    ] {
        std::fs::write(&path, text).unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(
            err.contains("state.json") && err.contains("--fresh-state"),
            "{text}: {err}"
        );
    }
}

/// A slot at its largest: 32 firing and 32 resolved episodes (the ledger's bound) with 64-character
/// alert names, a folded summary, a full stabilization window, and an intent in flight carrying a
/// second copy of it all, for a function whose name and namespace are at their longest.
fn largest_slot() -> (FunctionId, Slot) {
    let t = "2026-11-24T06:55:10.123456789Z";
    let alertname = "A".repeat(crate::alert::MAX_ALERTNAME_BYTES);
    let key = |i: u64| format!("{i:0>width$x}", width = crate::alert::MAX_FINGERPRINT_BYTES);
    let firing: serde_json::Map<String, serde_json::Value> = (0..32u64)
        .map(|i| {
            let episode = serde_json::json!({"starts_at": t, "alertname": alertname,
                "direction": "up", "last_seen": t, "policy": "proportional"});
            (key(i), episode)
        })
        .collect();
    let resolved: serde_json::Map<String, serde_json::Value> = (32..64u64)
        .map(|i| {
            let episode = serde_json::json!({"starts_at": t, "resolved_at": t, "ended_at": t,
                "lapsed": true});
            (key(i), episode)
        })
        .collect();
    let window: Vec<_> = (0..32)
        .map(|_| serde_json::json!({"at": t, "desired": u32::MAX}))
        .collect();
    let stored = serde_json::json!({
        "firing": firing, "resolved": resolved,
        "folded": {"at": t, "from": t, "until": t, "bits": vec![u64::MAX; 8]},
        "last_up": t, "last_down": t, "scaled_up": t, "scaled_down": t,
        "recommendations": window, "settle_to": u32::MAX, "idle_since": t,
    });
    let stored: Stored = serde_json::from_value(stored).unwrap();
    let longest = format!("{}.{}", "f".repeat(253), "n".repeat(63));
    let pending = Pending {
        from: u32::MAX,
        to: u32::MAX,
        previous: stored.clone(),
    };
    let slot = Slot {
        counter: u64::MAX,
        entry: stored,
        pending: Some(pending),
    };
    (FunctionId::parse(&longest, "").unwrap(), slot)
}

/// The bound holds the functions alertscaler supports, each at its largest (the product is
/// checked where the constants are).
#[test]
fn the_bound_holds_ten_thousand_functions_at_their_largest() {
    let (id, slot) = largest_slot();
    assert_eq!(slot.entry.ledger.firing.len(), 32);
    let one = encode(&Slots::from([(id, slot)])).len();
    assert!(one <= SLOT_MAX_BYTES, "{one}");
}

/// A state file over the bound (a wrong path to a huge file) is refused at start as a corrupt one
/// is, naming the file and the bound; `--fresh-state` moves it aside (kept whole) and starts
/// empty.
#[test]
fn a_state_file_over_the_bound_stops_startup_unless_fresh_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let huge = std::fs::File::create(&path).unwrap();
    huge.set_len(STATE_MAX_BYTES as u64 + 1).unwrap();
    let err = load(&path).unwrap_err();
    assert!(matches!(err, StateError::TooLarge { .. }), "{err}");
    let text = Store::open(&path, false).unwrap_err().to_string();
    for says in [
        &path.display().to_string(),
        "larger than 625 MiB",
        "--fresh-state",
    ] {
        assert!(text.contains(says), "{says}: {text}");
    }
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        STATE_MAX_BYTES as u64 + 1
    );

    let store = Store::open(&path, true).unwrap();
    assert!(store.slots().0.is_empty());
    assert!(!path.exists());
    let aside = temp_path(&path).with_extension("corrupt");
    assert_eq!(
        std::fs::metadata(aside).unwrap().len(),
        STATE_MAX_BYTES as u64 + 1,
        "kept whole"
    );
}

/// A state file at the bound is read, one byte over is refused; a device is refused before any
/// read (it is not a file).
#[test]
fn a_state_file_at_the_bound_is_read_and_a_device_is_not_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let (id, slot) = largest_slot();
    let mut text = encode(&Slots::from([(id.clone(), slot.clone())]));
    text.resize(text.len() + 100, b' ');
    std::fs::write(&path, &text).unwrap();
    let err = load_within(&path, text.len() - 1).unwrap_err().to_string();
    let bound = format!("larger than {} bytes", text.len() - 1);
    assert!(err.contains(&bound), "{err}");
    assert_eq!(load_within(&path, text.len()).unwrap()[&id], slot);
    let err = load(Path::new("/dev/zero")).unwrap_err();
    assert!(matches!(err, StateError::NotAFile { .. }), "{err}");
}
