//! A small map from fingerprint to episode, kept as a sorted vector.
//!
//! A ledger entry holds a handful of episodes, and a `BTreeMap` allocates a whole B-tree node
//! (~900 bytes for these types) for the first one: with thousands of functions that node would be
//! most of the ledger's memory. Same API subset, same order, same JSON (an object keyed by
//! fingerprint), so stored entries keep their format.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Deserialize, Deserializer};
use serde::ser::{Serialize, SerializeMap, Serializer};

/// Episodes by fingerprint, sorted by fingerprint.
#[derive(Clone, PartialEq)]
pub struct Episodes<V>(Vec<(String, V)>);

impl<V> Default for Episodes<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<V> Episodes<V> {
    fn position(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.position(key).ok().map(|i| &self.0[i].1)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.position(key).ok().map(|i| &mut self.0[i].1)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_ok()
    }

    /// Insert or replace.
    pub fn insert(&mut self, key: String, value: V) {
        match self.position(&key) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.0.insert(i, (key, value)),
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<V> {
        let i = self.position(key).ok()?;
        Some(self.0.remove(i).1)
    }

    /// Keep the episodes for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&String, &mut V) -> bool) {
        self.0.retain_mut(|(k, v)| keep(k, v));
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.0.iter_mut().map(|(_, v)| v)
    }
}

impl<V: fmt::Debug> fmt::Debug for Episodes<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<V: Serialize> Serialize for Episodes<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (k, v) in self.iter() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Episodes<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, V>::deserialize(deserializer)?;
        Ok(Self(map.into_iter().collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_a_sorted_map_and_serialises_like_one() {
        let mut e = Episodes::default();
        for (k, v) in [("c", 3), ("a", 1), ("b", 2), ("a", 10)] {
            e.insert(k.to_string(), v);
        }
        assert_eq!(
            e.iter().map(|(k, v)| (k.as_str(), *v)).collect::<Vec<_>>(),
            [("a", 10), ("b", 2), ("c", 3)]
        );
        assert_eq!(
            (e.get("b"), e.get("z"), e.contains_key("c")),
            (Some(&2), None, true)
        );
        assert_eq!(e.remove("b"), Some(2));
        e.retain(|k, _| k != "c");
        assert_eq!(e.len(), 1);
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(json, r#"{"a":10}"#);
        let reference: BTreeMap<String, i32> = [("a".to_string(), 10)].into();
        assert_eq!(
            json,
            serde_json::to_string(&reference).unwrap(),
            "same JSON as the BTreeMap it replaces"
        );
        assert_eq!(serde_json::from_str::<Episodes<i32>>(&json).unwrap(), e);
    }
}
