//! Why the state file cannot be used, with the advice an operator needs to start anyway: apart
//! from the file's format and I/O because startup (`server`) and `--fresh-state` read these texts.

use std::path::PathBuf;

use thiserror::Error;

use crate::config::bounded;

/// The state file cannot be used; the message names the file and how to start anyway (an I/O
/// error is part of the message, not a `source`: anyhow would print it twice).
#[derive(Debug, Error)]
pub enum StateError {
    #[error(
        "cannot read state file {path}: {cause}; fix its permissions, or start with --fresh-state to begin with an empty ledger"
    )]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(
        "state file {path} is corrupt ({message}); move it away, or start with --fresh-state to begin with an empty ledger (duplicates of alerts already acted on may then step once more)"
    )]
    Corrupt { path: PathBuf, message: String },
    #[error(
        "state file {path} is larger than {}: no ledger is that large (is it the right file?); move it away, or start with --fresh-state to begin with an empty ledger",
        bounded::size(*limit)
    )]
    TooLarge { path: PathBuf, limit: usize },
    #[error(
        "state file {path} is not a file (a directory?): set openfaas.state_file to a file, e.g. one inside it (a directory is never moved aside)"
    )]
    NotAFile { path: PathBuf },
    #[error(
        "state file {path} is in use by another alertscaler process ({lock} is locked): the OpenFaaS backend runs as ONE replica; stop the other one (on Kubernetes: replicas: 1 and strategy: Recreate)"
    )]
    Locked { path: PathBuf, lock: PathBuf },
    #[error("cannot write state file {path}: {cause}")]
    Write {
        path: PathBuf,
        cause: std::io::Error,
    },
}

impl StateError {
    /// What is wrong, without the advice to start with `--fresh-state` (for when it was given).
    pub fn problem(&self) -> String {
        match self {
            Self::Read { path, cause } => {
                format!("cannot read state file {}: {cause}", path.display())
            }
            Self::Corrupt { path, message } => {
                format!("state file {} is corrupt ({message})", path.display())
            }
            Self::TooLarge { path, limit } => format!(
                "state file {} is larger than {}: no ledger is that large (is it the right file?)",
                path.display(),
                bounded::size(*limit)
            ),
            Self::NotAFile { .. } | Self::Locked { .. } | Self::Write { .. } => self.to_string(),
        }
    }
}
