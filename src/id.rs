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
        if !is_dns_label(name) {
            return Err(format!(
                "function name {name:?} is not a valid DNS-1123 name"
            ));
        }
        if !is_dns_label(namespace) {
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

/// Kubernetes object names: lower-case alphanumerics and '-', 1..=63, alphanumeric at both ends.
/// Dots are excluded on purpose: the gateway's naming splits at the last dot.
fn is_dns_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
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
        assert!(FunctionId::parse(&"a".repeat(64), "x").is_err());
    }
}
