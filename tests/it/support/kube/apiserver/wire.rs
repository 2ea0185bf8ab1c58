//! Wire helpers of the fake apiserver, written independently of the backend's own code: RFC 7386
//! merge patches, query strings and equality-based label selectors.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// RFC 7386 JSON merge patch.
pub(super) fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let t = target.as_object_mut().expect("made an object above");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// `a=b&c=d` with percent-decoding of the values the kube client sends (`,`, `=`, `!`).
pub(super) fn url_pairs(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => out.push(b),
                    Err(_) => out.extend_from_slice(&bytes[i..i + 3]),
                }
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The fake's own (independent) reading of an equality-based selector.
pub(super) fn selector_matches(selector: &str, labels: &Value) -> bool {
    let label = |k: &str| labels.get(k).and_then(Value::as_str);
    selector
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .all(|part| {
            if let Some((k, v)) = part.split_once("!=") {
                label(k) != Some(v)
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                label(k) == Some(v)
            } else if let Some(k) = part.strip_prefix('!') {
                label(k).is_none()
            } else {
                label(part).is_some()
            }
        })
}
