//! The one integration-test binary: each module is one area, `support` holds every shared helper and double.

mod support;

mod binary;
mod closed_loop;
mod connections;
mod dashboard;
mod dry_run;
mod e2e;
mod fuzz;
mod harness;
mod hostile;
mod kubernetes;
mod kubernetes_cluster;
mod kubernetes_http;
mod kubernetes_names;
mod kubernetes_state;
mod manifests;
mod manifests_rbac;
mod openfaas;
mod openfaas_cli;
mod openfaas_gateway;
mod openfaas_kill;
mod openfaas_state;
mod operator;
mod ops_doc;
mod ops_http;
mod private_ca;
mod props;
mod scale_to_zero;
mod serve;
mod simulate;
mod webhook;
