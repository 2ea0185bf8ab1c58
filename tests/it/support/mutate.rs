//! Structural mutations of real AlertManager payloads, for property and fuzz tests: drop,
//! duplicate, retype, truncate and swap fields anywhere in the document, and hostile strings in
//! any value. Random bytes rarely get past the JSON lexer; these reach the typed parse, the
//! intents and the decisions.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::fixture_json;

/// The fixtures that are real notification shapes (the malformed fixtures are mutations already).
pub const BASES: [&str; 9] = [
    "firing",
    "resolved",
    "ha-duplicate",
    "group-three",
    "latency",
    "latency-resolved",
    "stale-resolved",
    "bad-labels",
    "missing-function-label",
];

/// One edit: what to do, where (an index into the document's paths, taken modulo their number)
/// and an argument (which replacement, where to cut).
#[derive(Debug, Clone, Copy)]
pub struct Edit {
    pub kind: Kind,
    pub at: usize,
    pub arg: usize,
}

/// The kinds of edit.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Remove the value (object key or array element).
    Drop,
    /// Repeat an array element, or copy an object entry under a new key.
    Duplicate,
    /// Replace with a value of another type.
    Retype,
    /// Cut a string or an array short.
    Truncate,
    /// Replace with a hostile string.
    Hostile,
    /// Replace with another part of the same document.
    Swap,
}

/// Strings that broke or nearly broke receivers: control characters, signs, huge, empty, unicode.
const HOSTILE: [&str; 14] = [
    "",
    "x\nINFO forged",
    "+7",
    "0x10",
    "-1",
    "1e3",
    "99999999999999999999",
    "NaN",
    "echo-fn.openfaas-fn\u{0}",
    "ÉCHO.openfaas-fn",
    "a.b.c",
    "4",
    "firing",
    "0001-01-01T00:00:00Z",
];

/// A base payload and a list of edits.
pub fn mutated() -> impl Strategy<Value = (Value, Vec<Edit>)> {
    let kind = prop_oneof![
        Just(Kind::Drop),
        Just(Kind::Duplicate),
        Just(Kind::Retype),
        Just(Kind::Truncate),
        Just(Kind::Hostile),
        Just(Kind::Swap),
    ];
    let edit =
        (kind, any::<usize>(), any::<usize>()).prop_map(|(kind, at, arg)| Edit { kind, at, arg });
    (
        prop::sample::select(BASES.to_vec()),
        prop::collection::vec(edit, 1..6),
    )
        .prop_map(|(base, edits)| (fixture_json(base), edits))
}

/// `base` with `edits` applied in order.
pub fn apply(mut doc: Value, edits: &[Edit]) -> Value {
    for edit in edits {
        let paths = paths(&doc);
        let path = &paths[edit.at % paths.len()];
        let donor = pick(&doc, &paths, edit.arg);
        apply_one(&mut doc, path, *edit, donor);
    }
    doc
}

/// A step into a document.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// Every path in the document, the root included.
fn paths(doc: &Value) -> Vec<Vec<Step>> {
    let mut out = vec![Vec::new()];
    let mut i = 0;
    while i < out.len() {
        let path = out[i].clone();
        match get(doc, &path) {
            Some(Value::Object(m)) => {
                for k in m.keys() {
                    let mut p = path.clone();
                    p.push(Step::Key(k.clone()));
                    out.push(p);
                }
            }
            Some(Value::Array(a)) => {
                for j in 0..a.len() {
                    let mut p = path.clone();
                    p.push(Step::Index(j));
                    out.push(p);
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

fn get<'a>(doc: &'a Value, path: &[Step]) -> Option<&'a Value> {
    path.iter().try_fold(doc, |v, step| match step {
        Step::Key(k) => v.get(k),
        Step::Index(i) => v.get(*i),
    })
}

fn get_mut<'a>(doc: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    path.iter().try_fold(doc, |v, step| match step {
        Step::Key(k) => v.get_mut(k),
        Step::Index(i) => v.get_mut(*i),
    })
}

fn pick(doc: &Value, paths: &[Vec<Step>], arg: usize) -> Value {
    get(doc, &paths[arg % paths.len()])
        .cloned()
        .unwrap_or(Value::Null)
}

fn retyped(v: &Value, arg: usize) -> Value {
    let options = [
        Value::Null,
        json!(true),
        json!(0),
        json!(-1),
        json!(1.5),
        json!(u64::MAX),
        json!("1"),
        json!([]),
        json!({}),
        json!([v.clone()]),
        json!({"value": v.clone()}),
    ];
    options[arg % options.len()].clone()
}

fn apply_one(doc: &mut Value, path: &[Step], edit: Edit, donor: Value) {
    let Some((last, parent_path)) = path.split_last() else {
        // The root: only replace it.
        if matches!(edit.kind, Kind::Retype | Kind::Hostile) {
            *doc = retyped(doc, edit.arg);
        }
        return;
    };
    let Some(parent) = get_mut(doc, parent_path) else {
        return;
    };
    match (parent, last) {
        (Value::Object(m), Step::Key(k)) => edit_entry(m, k, edit, donor),
        (Value::Array(a), Step::Index(i)) if *i < a.len() => match edit.kind {
            Kind::Drop => {
                a.remove(*i);
            }
            Kind::Duplicate => {
                let copy = a[*i].clone();
                a.insert(*i, copy);
            }
            _ => edit_value(&mut a[*i], edit, donor),
        },
        _ => {}
    }
}

fn edit_entry(m: &mut Map<String, Value>, key: &str, edit: Edit, donor: Value) {
    match edit.kind {
        Kind::Drop => {
            m.remove(key);
        }
        Kind::Duplicate => {
            if let Some(v) = m.get(key).cloned() {
                m.insert(format!("{key}_{}", edit.arg % 3), v);
            }
        }
        _ => {
            if let Some(v) = m.get_mut(key) {
                edit_value(v, edit, donor);
            }
        }
    }
}

fn edit_value(v: &mut Value, edit: Edit, donor: Value) {
    match edit.kind {
        Kind::Retype => *v = retyped(v, edit.arg),
        Kind::Hostile => *v = Value::String(HOSTILE[edit.arg % HOSTILE.len()].to_owned()),
        Kind::Swap => *v = donor,
        Kind::Truncate => match v {
            Value::String(s) => {
                let cut = s
                    .char_indices()
                    .nth(edit.arg % (s.len() + 1))
                    .map_or(s.len(), |(i, _)| i);
                s.truncate(cut);
            }
            Value::Array(a) => a.truncate(edit.arg % (a.len() + 1)),
            _ => {}
        },
        Kind::Drop | Kind::Duplicate => {}
    }
}

/// Serialized `doc`, then cut at a byte and/or with one byte replaced, as a broken connection or
/// a corrupting proxy would deliver it.
pub fn damaged(doc: &Value, cut: Option<usize>, flip: Option<(usize, u8)>) -> Vec<u8> {
    let mut bytes = doc.to_string().into_bytes();
    if let Some((at, byte)) = flip
        && !bytes.is_empty()
    {
        let at = at % bytes.len();
        bytes[at] = byte;
    }
    if let Some(cut) = cut {
        bytes.truncate(cut % (bytes.len() + 1));
    }
    bytes
}
