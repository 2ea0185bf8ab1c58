//! Listing functions without a full Deployment LIST on every pass.
//!
//! The settle pass, the label refresh and `/system/functions` all list. A full LIST sends every
//! pod template of every function each time; here each namespace costs one METADATA-only LIST of
//! Deployments (names, labels, resourceVersions) and one LIST of alertscaler's own state
//! ConfigMaps. Full Deployments are fetched (GET) only when their resourceVersion differs from the
//! cached copy (or, when many differ, by one full LIST), so a quiet cluster is listed from metadata
//! alone. The summaries are hints: every decision re-reads.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};

use super::errors::{CONFIGMAPS, Call, DEPLOYMENTS};
use super::state::MANAGED_BY;
use super::{KubernetesBackend, replicas, request, scaling_labels, store};
use crate::backend::FunctionSummary;
use crate::error::BackendError;
use crate::stored::Stored;

/// Above this many changed Deployments in a namespace, one full LIST replaces the GETs.
pub(crate) const MAX_GETS: usize = 8;

/// Full Deployments by (namespace, name), with the resourceVersion they were fetched at.
#[derive(Debug, Default)]
pub(super) struct Cache(Mutex<HashMap<(String, String), Deployment>>);

impl Cache {
    fn fresh(&self, key: &(String, String), version: Option<&String>) -> Option<Deployment> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key)
            .filter(|d| d.metadata.resource_version.as_ref() == version)
            .cloned()
    }

    fn keep(&self, namespace: &str, fresh: Vec<Deployment>) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|(ns, _), _| ns != namespace);
        for d in fresh {
            let name = d.metadata.name.clone().unwrap_or_default();
            map.insert((namespace.to_owned(), name), d);
        }
    }
}

fn managed() -> ListParams {
    ListParams::default().labels(&format!("{}={}", MANAGED_BY.0, MANAGED_BY.1))
}

impl KubernetesBackend {
    /// Every eligible function of every allowed namespace, with what its state says.
    pub(super) async fn list_functions(&self) -> Result<Vec<FunctionSummary>, BackendError> {
        let mut functions = Vec::new();
        for namespace in &self.allowed_namespaces {
            let ledgers = self.ledgers(namespace).await?;
            for d in self.deployments(namespace).await? {
                let name = d.metadata.name.clone().unwrap_or_default();
                functions.push(FunctionSummary::new(
                    name.clone(),
                    namespace.clone(),
                    replicas(&d),
                    scaling_labels(&d),
                    ledgers.get(&name).or(self.legacy_ledger(&d).as_ref()),
                ));
            }
        }
        Ok(functions)
    }

    /// The state ConfigMaps' ledgers of `namespace`, by function name (in full: two long names may
    /// share a shortened label, never an annotation).
    async fn ledgers(&self, namespace: &str) -> Result<HashMap<String, Stored>, BackendError> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        let params = managed();
        let call = Call::list(CONFIGMAPS, namespace);
        let list = request::run(call, self.timeout, || api.list(&params)).await?;
        Ok(list
            .items
            .iter()
            .filter_map(|cm| Some((store::function_of(cm)?, store::ledger_of(cm)?)))
            .collect())
    }

    /// The eligible Deployments of `namespace`: metadata LIST, then a GET of each changed one, or
    /// one full LIST when more than [`MAX_GETS`] changed (a cold cache after a start).
    async fn deployments(&self, namespace: &str) -> Result<Vec<Deployment>, BackendError> {
        let api: Api<Deployment> = self.api(namespace);
        let params = ListParams::default().labels(&self.selector.to_string());
        let call = Call::list(DEPLOYMENTS, namespace);
        let metas = request::run(call, self.timeout, || api.list_metadata(&params)).await?;
        let mut cached = Vec::new();
        let mut changed = Vec::new();
        for meta in metas.items {
            let labels = meta.metadata.labels.clone().unwrap_or_default();
            let Some(name) = meta.metadata.name.clone() else {
                continue;
            };
            if !self.selector.matches(&labels) {
                continue;
            }
            let key = (namespace.to_owned(), name.clone());
            match self
                .cache
                .fresh(&key, meta.metadata.resource_version.as_ref())
            {
                Some(d) => cached.push(d),
                None => changed.push(name),
            }
        }
        let fetched = if changed.len() > MAX_GETS {
            let call = Call::list(DEPLOYMENTS, namespace);
            let all = request::run(call, self.timeout, || api.list(&params)).await?;
            cached.clear();
            all.items
                .into_iter()
                .filter(|d| {
                    self.selector
                        .matches(d.metadata.labels.as_ref().unwrap_or(&Default::default()))
                })
                .collect()
        } else {
            let mut fetched = Vec::new();
            for name in changed {
                let call = Call::on("get", DEPLOYMENTS, namespace, &name);
                // None: deleted since the listing.
                if let Some(d) = request::run(call, self.timeout, || api.get_opt(&name)).await? {
                    fetched.push(d);
                }
            }
            fetched
        };
        let mut fresh = cached;
        fresh.extend(fetched);
        fresh.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        self.cache.keep(namespace, fresh.clone());
        Ok(fresh)
    }

    /// The `/readyz` probe of one namespace: both lists, one item each, at once (the Deployments'
    /// failure is reported first when both fail).
    pub(super) async fn probe(&self, namespace: &str) -> Result<(), BackendError> {
        let deployments: Api<Deployment> = self.api(namespace);
        let deployment_params = ListParams::default()
            .labels(&self.selector.to_string())
            .limit(1);
        let states: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        let state_params = managed().limit(1);
        let (listed, states) = tokio::join!(
            request::run(Call::list(DEPLOYMENTS, namespace), self.timeout, || {
                deployments.list_metadata(&deployment_params)
            }),
            request::run(Call::list(CONFIGMAPS, namespace), self.timeout, || {
                states.list(&state_params)
            }),
        );
        listed?;
        states?;
        Ok(())
    }
}
