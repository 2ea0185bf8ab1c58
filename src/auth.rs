//! Webhook authentication: none, basic (password from a file) or bearer (token from a file).
//!
//! Credentials are compared in constant time and never logged.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine;
use subtle::ConstantTimeEq;

use crate::config::{AuthConfig, ConfigError};

/// The credential a request must present, in the form it appears after the scheme.
#[derive(Clone)]
pub enum Auth {
    None,
    Basic { expected: Vec<u8> },
    Bearer { expected: Vec<u8> },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::None => "Auth::None",
            Self::Basic { .. } => "Auth::Basic([redacted])",
            Self::Bearer { .. } => "Auth::Bearer([redacted])",
        })
    }
}

impl Auth {
    /// Read the secret files named in the configuration.
    pub fn from_config(config: &AuthConfig) -> Result<Self, ConfigError> {
        Ok(match config {
            AuthConfig::None => Self::None,
            AuthConfig::Basic {
                username,
                password_file,
            } => {
                let password = read_secret("auth.password_file", password_file)?;
                let pair = format!("{username}:{password}");
                let expected = base64::engine::general_purpose::STANDARD.encode(pair);
                Self::Basic {
                    expected: expected.into_bytes(),
                }
            }
            AuthConfig::Bearer { token_file } => {
                let token = read_secret("auth.token_file", token_file)?;
                // A header value is read as text of visible ASCII, spaces and tabs (see `allows`): a
                // token with any other character could never be presented, and every request would
                // be 401.
                if let Some(c) = token
                    .chars()
                    .find(|c| !c.is_ascii_graphic() && !matches!(c, ' ' | '\t'))
                {
                    return Err(ConfigError::Invalid {
                        key: "auth.token_file",
                        problem: format!(
                            "the token in {} holds {c:?}, which an Authorization header cannot carry \
                             as text (visible ASCII, spaces and tabs only): no request could ever \
                             present it",
                            token_file.display()
                        ),
                    });
                }
                Self::Bearer {
                    expected: token.into_bytes(),
                }
            }
        })
    }

    /// Whether the request's `Authorization` header carries the expected credential.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let (scheme, expected) = match self {
            Self::None => return true,
            Self::Basic { expected } => ("basic", expected),
            Self::Bearer { expected } => ("bearer", expected),
        };
        let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let Some((given_scheme, credential)) = value.split_once(' ') else {
            return false;
        };
        given_scheme.eq_ignore_ascii_case(scheme)
            && bool::from(credential.trim().as_bytes().ct_eq(expected))
    }

    /// The `WWW-Authenticate` challenge for a 401.
    pub(crate) fn challenge(&self) -> &'static str {
        match self {
            Self::Bearer { .. } => "Bearer realm=\"alertscaler\"",
            _ => "Basic realm=\"alertscaler\"",
        }
    }
}

/// The largest secret file read (64 KiB). A password or token is far smaller, and a request's head
/// cannot carry one much larger; the bound keeps a path to a device (`/dev/zero`) from being read
/// until memory runs out.
pub(crate) const SECRET_MAX_BYTES: usize = 64 * 1024;

/// Read a secret file. Surrounding whitespace (the newline `echo` writes, a CRLF) and a leading
/// byte-order mark (an editor's) are not part of the secret, as with the gateway's own secret files:
/// an HTTP header cannot carry either, so a secret keeping them could never be presented.
pub(crate) fn read_secret(
    key: &'static str,
    path: &std::path::Path,
) -> Result<String, ConfigError> {
    use crate::config::bounded::{BoundedError, read_bounded, size};
    let unreadable = |cause| ConfigError::Secret {
        key,
        path: path.to_owned(),
        cause,
    };
    let bytes = read_bounded(path, SECRET_MAX_BYTES).map_err(|e| match e {
        BoundedError::Io(cause) => unreadable(cause),
        BoundedError::TooLarge { limit } => ConfigError::Invalid {
            key,
            problem: format!(
                "secret file {} is larger than {}: no request could present such a secret \
                 (is it the right file?)",
                path.display(),
                size(limit)
            ),
        },
    })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        unreadable(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        ))
    })?;
    let secret = text.trim_start_matches('\u{feff}').trim().to_owned();
    if secret.is_empty() {
        return Err(ConfigError::Invalid {
            key,
            problem: format!(
                "secret file {} is empty or holds only whitespace",
                path.display()
            ),
        });
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer_with_token_file(contents: &[u8]) -> Auth {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, contents).unwrap();
        Auth::from_config(&AuthConfig::Bearer { token_file: path }).unwrap()
    }

    fn bearer(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        headers
    }

    #[test]
    fn a_secret_file_saved_with_a_bom_or_surrounding_whitespace_still_matches() {
        // An HTTP header cannot carry a BOM, and its value's surrounding whitespace is not part of
        // it: kept in the secret, they made every request 401 (then 429) with nothing said at load.
        for contents in [
            &b"s3cret\r\n"[..],
            b"\xef\xbb\xbfs3cret\n",
            b"s3cret \n",
            b" s3cret\t\n",
        ] {
            let auth = bearer_with_token_file(contents);
            assert!(auth.allows(&bearer("s3cret")), "{contents:?}");
        }
    }

    #[test]
    fn a_token_no_header_can_carry_is_refused_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        for token in ["tökén", "a\u{7}b", "日本"] {
            std::fs::write(&path, token).unwrap();
            let e = Auth::from_config(&AuthConfig::Bearer {
                token_file: path.clone(),
            })
            .err()
            .unwrap_or_else(|| panic!("{token:?} was accepted"));
            assert!(
                e.to_string()
                    .contains("visible ASCII, spaces and tabs only"),
                "{e}"
            );
        }
        // A space or a tab inside is carried (the header's value is split at its first space only).
        for token in ["two words", "a\tb"] {
            std::fs::write(&path, token).unwrap();
            let auth = Auth::from_config(&AuthConfig::Bearer {
                token_file: path.clone(),
            })
            .unwrap();
            assert!(auth.allows(&bearer(token)), "{token:?}");
        }
    }

    #[test]
    fn a_secret_file_larger_than_any_header_is_refused_naming_it_and_never_read_whole() {
        // A token no request could carry (the server refuses heads over about 400 KB); a path to a
        // device (`/dev/zero`, `/dev/urandom`) was read until memory ran out.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "a".repeat(SECRET_MAX_BYTES)).unwrap();
        assert_eq!(
            read_secret("auth.token_file", &path).unwrap().len(),
            SECRET_MAX_BYTES
        );
        std::fs::write(&path, "a".repeat(SECRET_MAX_BYTES + 1)).unwrap();
        let e = read_secret("auth.token_file", &path)
            .expect_err("a secret over the limit was accepted");
        let text = e.to_string();
        assert!(text.contains("auth.token_file"), "{text}");
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("larger than"), "{text}");
        let e = read_secret("openfaas.password_file", std::path::Path::new("/dev/zero"))
            .expect_err("/dev/zero was accepted as a secret");
        assert!(e.to_string().contains("larger than"), "{e}");
    }

    #[test]
    fn a_secret_file_of_whitespace_only_is_refused_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, b"\xef\xbb\xbf \r\n").unwrap();
        let e = read_secret("auth.token_file", &path).unwrap_err();
        assert!(e.to_string().contains("is empty"), "{e}");
    }
}
