//! The webhook as decisions read it, borrowed from the request body.
//!
//! A decision needs each alert's status, a few labels, its annotations, `startsAt` and the
//! fingerprint. Everything else AlertManager sends (group and common labels, URLs, `groupKey`,
//! `endsAt`, …) is skipped by the parser without being copied, and strings are borrowed from the
//! body unless they hold JSON escapes.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};

use super::{Labels, Status, Webhook};

/// The parts of a notification that decisions use.
#[derive(Debug, Deserialize)]
pub struct Notification<'a> {
    #[serde(borrow)]
    pub version: Cow<'a, str>,
    pub status: Status,
    #[serde(borrow)]
    pub alerts: Vec<AlertRef<'a>>,
}

/// One alert of a [`Notification`].
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertRef<'a> {
    pub status: Status,
    #[serde(default, borrow)]
    pub labels: Pairs<'a>,
    #[serde(default, borrow)]
    pub annotations: Pairs<'a>,
    #[serde(deserialize_with = "starts_at")]
    pub starts_at: DateTime<Utc>,
    /// When a resolved alert ended (`0001-01-01T00:00:00Z` while firing); read leniently: an
    /// unreadable `endsAt` is absent, as it was before the ledger used it.
    #[serde(default, deserialize_with = "ends_at")]
    pub ends_at: Option<DateTime<Utc>>,
    // Through `CowStr`: serde's own `Option<Cow<str>>` always copies.
    #[serde(default, borrow, deserialize_with = "optional_str")]
    pub fingerprint: Option<Cow<'a, str>>,
}

/// `startsAt`, AlertManager's layout read directly (see [`super::timestamp`]).
fn starts_at<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    let CowStr(text) = CowStr::deserialize(deserializer)?;
    super::timestamp::parse(&text).map_err(serde::de::Error::custom)
}

/// `endsAt`, or `None` when it is missing, null or not a timestamp (the owned payload reads it
/// so too, so that a bad body's explanation names the fault the webhook refused it for).
pub(super) fn ends_at<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    let text = Option::<CowStr<'_>>::deserialize(deserializer)?;
    Ok(text.and_then(|CowStr(text)| super::timestamp::parse(&text).ok()))
}

fn optional_str<'de: 'a, 'a, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Cow<'a, str>>, D::Error> {
    Ok(Option::<CowStr<'a>>::deserialize(deserializer)?.map(|CowStr(text)| text))
}

/// A label or annotation map as sent, in body order. Alerts carry a handful of labels: a linear
/// search beats building a map.
#[derive(Debug, Default)]
pub struct Pairs<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'a> Pairs<'a> {
    /// The value of `key` (the last one, as a JSON map keeps it, if the key repeats).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    /// As an owned, sorted map (a signal keeps its annotations); no allocation when empty.
    pub fn to_labels(&self) -> Labels {
        self.0
            .iter()
            .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned()))
            .collect()
    }

    /// AlertManager's fingerprint of this label set (see [`super::fingerprint`]).
    pub fn fingerprint(&self) -> String {
        let sorted: BTreeMap<&str, &str> = self
            .0
            .iter()
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .collect();
        super::fingerprint_sorted(sorted.into_iter())
    }

    fn borrowed(labels: &'a Labels) -> Self {
        Self(
            labels
                .iter()
                .map(|(k, v)| (Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str())))
                .collect(),
        )
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Pairs<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(PairsVisitor(std::marker::PhantomData))
    }
}

struct PairsVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for PairsVisitor<'a> {
    type Value = Pairs<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of strings")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Pairs<'a>, M::Error> {
        let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some((CowStr(k), CowStr(v))) = map.next_entry()? {
            pairs.push((k, v));
        }
        Ok(Pairs(pairs))
    }
}

/// A string borrowed from the input when it holds no escapes.
struct CowStr<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for CowStr<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = CowStr<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<CowStr<'a>, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }

            fn visit_str<E>(self, v: &str) -> Result<CowStr<'a>, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E>(self, v: String) -> Result<CowStr<'a>, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(V(std::marker::PhantomData))
    }
}

impl Webhook {
    /// The notification view of an owned payload (tests and the simulator decide from these).
    pub fn notification(&self) -> Notification<'_> {
        Notification {
            version: Cow::Borrowed(&self.version),
            status: self.status,
            alerts: self
                .alerts
                .iter()
                .map(|a| AlertRef {
                    status: a.status,
                    labels: Pairs::borrowed(&a.labels),
                    annotations: Pairs::borrowed(&a.annotations),
                    starts_at: a.starts_at,
                    ends_at: a.ends_at,
                    fingerprint: a.fingerprint.as_deref().map(Cow::Borrowed),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Identity, fingerprint, parse, parse_notification};
    use super::*;

    const BODY: &[u8] = br#"{"version":"4","status":"firing","receiver":"r","groupKey":"{}:{}",
        "groupLabels":{"alertname":"A"},"commonLabels":{},"externalURL":"http://am","truncatedAlerts":0,
        "alerts":[{"status":"firing","labels":{"alertname":"A","function_name":"echo.openfaas-fn","note":"tab\there"},
        "annotations":{"value":"12"},"startsAt":"2026-11-24T06:55:10.479Z","endsAt":"0001-01-01T00:00:00Z",
        "generatorURL":"http://prom","somethingNew":[1,{"x":2}]}]}"#;

    fn identity() -> Identity {
        Identity {
            function_label: "function_name".into(),
            default_namespace: "openfaas-fn".into(),
            allowed_namespaces: vec!["openfaas-fn".into()],
        }
    }

    #[test]
    fn the_borrowed_view_decides_like_the_owned_payload() {
        let identity = identity();
        let owned = parse(BODY).unwrap();
        let borrowed = parse_notification(BODY).unwrap();
        assert!(matches!(
            borrowed.alerts[0].labels.get("alertname"),
            Some("A")
        ));
        // Unescaped strings are borrowed from the body; an escaped one is decoded.
        assert!(matches!(borrowed.version, Cow::Borrowed("4")));
        assert_eq!(borrowed.alerts[0].labels.get("note"), Some("tab\there"));
        let (from_owned, _) = owned.notification().intents(&identity);
        let (from_borrowed, skipped) = borrowed.intents(&identity);
        assert!(skipped.is_empty());
        assert_eq!(from_owned, from_borrowed);
        // No fingerprint in the payload: AlertManager's hash of the labels, as for the owned one.
        assert_eq!(
            from_borrowed[0].signals[0].episode.fingerprint,
            fingerprint(&owned.alerts[0].labels)
        );
        assert_eq!(from_borrowed[0].signals[0].annotations["value"], "12");
    }

    #[test]
    fn a_resolutions_end_is_read_and_an_unreadable_one_is_absent() {
        let identity = identity();
        let body = br#"{"version":"4","status":"resolved","alerts":[
            {"status":"resolved","labels":{"alertname":"A","function_name":"a"},"startsAt":"2026-11-24T06:55:10Z","endsAt":"2026-11-24T06:59:10.5Z"},
            {"status":"resolved","labels":{"alertname":"A","function_name":"b"},"startsAt":"2026-11-24T06:55:10Z","endsAt":"soon"},
            {"status":"resolved","labels":{"alertname":"A","function_name":"c"},"startsAt":"2026-11-24T06:55:10Z","endsAt":"2026-11-24T06:50:00Z"},
            {"status":"firing","labels":{"alertname":"A","function_name":"d"},"startsAt":"2026-11-24T06:55:10Z","endsAt":"0001-01-01T00:00:00Z"}]}"#;
        let (intents, skipped) = parse_notification(body).unwrap().intents(&identity);
        assert!(skipped.is_empty());
        let ends: Vec<_> = intents
            .iter()
            .map(|i| i.signals[0].ends_at.map(|t| t.to_rfc3339()))
            .collect();
        // Kept only for a resolution whose end is after its start.
        assert_eq!(
            ends,
            [
                Some("2026-11-24T06:59:10.500+00:00".to_owned()),
                None,
                None,
                None
            ]
        );
    }

    #[test]
    fn the_fingerprint_is_borrowed_and_null_is_none() {
        let body = br#"{"version":"4","status":"firing","alerts":[
            {"status":"firing","startsAt":"2026-11-24T06:55:10Z","fingerprint":"6a65bd8dfb3af9ad"},
            {"status":"firing","startsAt":"2026-11-24T06:55:10Z","fingerprint":null},
            {"status":"firing","startsAt":"2026-11-24T06:55:10Z","fingerprint":"a\u0062"}]}"#;
        let n = parse_notification(body).unwrap();
        assert!(matches!(
            n.alerts[0].fingerprint,
            Some(Cow::Borrowed("6a65bd8dfb3af9ad"))
        ));
        assert_eq!(n.alerts[1].fingerprint, None);
        assert_eq!(n.alerts[2].fingerprint.as_deref(), Some("ab"));
        assert_eq!(
            n.alerts[0].starts_at,
            parse(body).unwrap().alerts[0].starts_at
        );
        // Bytes that are not UTF-8 in a field nobody reads are skipped, as they always were.
        let body =
            b"{\"version\":\"4\",\"status\":\"firing\",\"somethingNew\":\"\xff\",\"alerts\":[]}";
        assert!(parse_notification(body).unwrap().alerts.is_empty());
    }

    #[test]
    fn a_bad_payload_is_explained_by_its_real_fault_not_by_an_end_the_hot_path_tolerates() {
        // An unreadable `endsAt` is absent for decisions; the 400 for another fault of the same
        // body must name that fault (the owned re-parse named alerts[0].endsAt instead).
        let body = br#"{"version":"4","status":"firing","alerts":[
            {"status":"firing","labels":{"function_name":"a"},"startsAt":"2026-11-24T06:55:10Z","endsAt":"soon"},
            {"status":"firing","labels":{"function_name":"b"},"startsAt":"yesterday"}]}"#;
        let err = parse_notification(body).unwrap_err().to_string();
        assert!(err.contains("alerts[1].startsAt"), "{err}");
        assert_eq!(parse(body).unwrap_err().to_string(), err);
    }

    #[test]
    fn errors_and_versions_are_those_of_the_owned_parse() {
        for body in [
            &br#"{"version":"4","status":"firing","alerts":[{"status":"firing","startsAt":"yesterday"}]}"#[..],
            br#"{"version":"3","status":"firing","alerts":[]}"#,
            br#"{"status":"firing","alerts":[]}"#,
            br#"{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"a":1},"startsAt":"2026-11-24T06:55:10Z"}]}"#,
            br#"{"version":"4","status":"firing","alerts":[{"status":"firing","startsAt":"2026-11-24T06:55:61Z"}]}"#,
            br#"{"version":"4","status":"firing","alerts":[{"status":"firing","startsAt":12}]}"#,
            b"{\"version\":\"4\",\"status\":\"firing\",\"alerts\":[{\"status\":\"firing\",\"startsAt\":\"2026-11-24T06:55:10Z\",\"fingerprint\":\"\xff\"}]}",
        ] {
            let owned = parse(body).unwrap_err().to_string();
            let borrowed = parse_notification(body).unwrap_err().to_string();
            assert_eq!(owned, borrowed);
        }
    }
}
