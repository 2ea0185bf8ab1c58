//! `ca_file` of `[prometheus]` and `[openfaas]`: a PEM file of CA certificates trusted beside the
//! platform's roots, for a Prometheus (or its proxy: kube-rbac-proxy, a Thanos/Mimir gateway) or an
//! OpenFaaS gateway served over HTTPS with a certificate from a private CA. The platform's roots are
//! kept, so adding a private CA never stops a public endpoint from working.
//!
//! The file is read at start (by `serve` and `check-config` alike) and every certificate is checked
//! as the TLS verifier will check it: a file that would fail at the first query fails at start,
//! naming the key and the file.

use std::path::Path;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::{self, PemObject};

use super::ConfigError;
use super::bounded::{BoundedError, PEM_MAX_BYTES, read_bounded, size};

/// The certificates of the `key` file at `path`, in file order: read with a bound
/// ([`PEM_MAX_BYTES`]), at least one PEM `CERTIFICATE` block, each one usable as a trust anchor.
/// Text outside the blocks (comments, a bundle's headers) is allowed.
pub fn read(key: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let shown = path.display();
    let refused = |problem: String| ConfigError::Invalid { key, problem };
    let bytes = read_bounded(path, PEM_MAX_BYTES).map_err(|e| match e {
        BoundedError::Io(cause) => refused(format!("cannot read {shown}: {cause}")),
        BoundedError::TooLarge { limit } => refused(format!(
            "{shown} is larger than {}: no CA bundle is that large (is it the right file?)",
            size(limit)
        )),
    })?;
    let certificates = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, pem::Error>>()
        .map_err(|e| refused(format!("{shown} is not PEM: {e}")))?;
    if certificates.is_empty() {
        return Err(refused(format!(
            "{shown} holds no certificate (no PEM \"BEGIN CERTIFICATE\" block)"
        )));
    }
    // The check the TLS verifier makes when it adds the roots: done here, a bad certificate is
    // refused at start naming the file, not at the first query as "cannot build the HTTP client".
    for (n, certificate) in certificates.iter().enumerate() {
        rustls::RootCertStore::empty()
            .add(certificate.clone())
            .map_err(|e| {
                // rustls's own words for a certificate ("invalid peer certificate: …") are a
                // handshake's: only the cause is said.
                let cause = match e {
                    rustls::Error::InvalidCertificate(cause) => cause.to_string(),
                    other => other.to_string(),
                };
                refused(format!(
                    "{shown}: certificate {} does not parse as a CA certificate: {cause}",
                    n + 1
                ))
            })?;
    }
    Ok(certificates)
}

/// The roots a client adds to the platform's (`tls_certs_merge`): those of the file at `path`,
/// none without one.
pub fn roots(
    key: &'static str,
    path: Option<&Path>,
) -> Result<Vec<reqwest::Certificate>, ConfigError> {
    let Some(path) = path else {
        return Ok(Vec::new());
    };
    read(key, path)?
        .iter()
        .map(|der| {
            reqwest::Certificate::from_der(der).map_err(|e| ConfigError::Invalid {
                key,
                problem: format!("{}: {e}", path.display()),
            })
        })
        .collect()
}
