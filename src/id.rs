//! Function identity: `name` in `namespace`, as OpenFaaS names functions.
//!
//! A leaf: payload parsing, backends, ledger and metrics all name functions, so the type lives
//! where none of them has to import another to get it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A function as OpenFaaS names it: `name` in `namespace`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FunctionId {
    pub name: String,
    pub namespace: String,
}

impl FunctionId {
    /// Split `name.namespace` at the last '.', as the OpenFaaS gateway does; no dot → `default_namespace`.
    pub fn parse(label: &str, default_namespace: &str) -> Result<Self, String> {
        let (name, namespace) = match label.rsplit_once('.') {
            Some((name, namespace)) => (name, namespace),
            None => (label, default_namespace),
        };
        if !is_dns_name(name, NAME_MAX) {
            return Err(format!(
                "function name {name:?} is not a valid DNS-1123 name (at most {NAME_MAX} of [a-z0-9-])"
            ));
        }
        if !is_dns_name(namespace, NAMESPACE_MAX) {
            return Err(format!(
                "namespace {namespace:?} is not a valid DNS-1123 label"
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
        })
    }
}

impl fmt::Display for FunctionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.name, self.namespace)
    }
}

/// Whether `s` can name a namespace a function lives in (a DNS-1123 label).
pub fn is_namespace(s: &str) -> bool {
    is_dns_name(s, NAMESPACE_MAX)
}

/// Longest function name: a Deployment's (a DNS-1123 subdomain). faas-netes' own functions stay
/// within 63 (it labels and names a Service after them), but any Deployment labelled like a
/// function is scaled, and the Kubernetes backend stores state for longer names too.
const NAME_MAX: usize = 253;
/// Longest namespace (a DNS-1123 label).
const NAMESPACE_MAX: usize = 63;

/// Kubernetes names: lower-case alphanumerics and '-', 1..=`max`, alphanumeric at both ends.
/// Dots are excluded on purpose: the gateway's naming splits at the last dot.
fn is_dns_name(s: &str, max: usize) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= max
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_id_splits_at_last_dot() {
        let f = FunctionId::parse("figlet.openfaas-fn", "default-ns").unwrap();
        assert_eq!(
            (f.name.as_str(), f.namespace.as_str()),
            ("figlet", "openfaas-fn")
        );
        let f = FunctionId::parse("figlet", "openfaas-fn").unwrap();
        assert_eq!(
            (f.name.as_str(), f.namespace.as_str()),
            ("figlet", "openfaas-fn")
        );
        assert!(FunctionId::parse("a.b.c", "x").is_err(), "name with a dot");
        assert!(FunctionId::parse("", "x").is_err());
        assert!(FunctionId::parse("Upper", "x").is_err());
        assert!(FunctionId::parse("fn.", "x").is_err());
        let long = "a".repeat(253);
        assert_eq!(FunctionId::parse(&long, "x").unwrap().name, long);
        assert!(FunctionId::parse(&"a".repeat(254), "x").is_err());
        assert!(
            FunctionId::parse(&format!("f.{}", "a".repeat(64)), "x").is_err(),
            "namespace"
        );
    }
}
