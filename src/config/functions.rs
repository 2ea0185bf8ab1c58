//! What the configuration says about functions: label defaults and the memory backend's functions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Defaults for functions that carry no scaling labels (OpenFaaS CE's: min 1, max 20, factor 20).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabelDefaults {
    pub min: u32,
    pub max: u32,
    pub factor: u32,
}

impl Default for LabelDefaults {
    fn default() -> Self {
        Self {
            min: 1,
            max: 20,
            factor: 20,
        }
    }
}

/// `[memory]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryConfig {
    pub functions: Vec<MemoryFunction>,
}

/// A function of the embedded memory backend, declared in the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryFunction {
    pub name: String,
    #[serde(default = "default_namespace")]
    pub namespace: String,
    #[serde(default = "one")]
    pub replicas: u32,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn default_namespace() -> String {
    "openfaas-fn".into()
}

fn one() -> u32 {
    1
}
