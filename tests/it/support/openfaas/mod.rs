//! The OpenFaaS gateway mock and the fixtures of the OpenFaaS backend tests.
pub mod env;
pub mod mock;
