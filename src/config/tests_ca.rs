//! `ca_file` of `[prometheus]` and `[openfaas]`: what a usable file is, and that each unusable one
//! is refused naming the key and the file.

use std::path::Path;

use super::*;

/// A self-signed CA certificate, PEM.
fn ca_pem(name: &str) -> String {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let key = rcgen::KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().pem()
}

const KEYS: [&str; 2] = ["prometheus.ca_file", "openfaas.ca_file"];

#[test]
fn a_ca_file_of_several_certificates_with_text_around_them_gives_each() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca.pem");
    let bundle = format!(
        "# the private CA\n{}\n# its predecessor, still trusted\n{}",
        ca_pem("one"),
        ca_pem("two")
    );
    std::fs::write(&path, bundle).unwrap();
    for key in KEYS {
        assert_eq!(ca::read(key, &path).unwrap().len(), 2, "{key}");
    }
    assert!(ca::roots(KEYS[0], None).unwrap().is_empty());
}

/// The PEM block of a certificate whose DER is `der`.
fn pem_block(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n")
}

#[test]
fn each_unusable_ca_file_is_refused_naming_the_key_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let key_pem = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let cases = [
        (dir.path().join("missing.pem"), "No such file"),
        (
            file(
                "big.pem",
                &format!("{}{}", ca_pem("big"), "#".repeat(1 << 20)),
            ),
            "larger than 1 MiB",
        ),
        (file("key.pem", &key_pem), "holds no certificate"),
        (file("empty.pem", ""), "holds no certificate"),
        (
            file("garbage.pem", &pem_block(b"not DER at all")),
            "certificate 1 does not parse",
        ),
        (
            file(
                "second.pem",
                &format!("{}{}", ca_pem("good"), pem_block(&[0x30, 0x03, 1, 2, 3])),
            ),
            "certificate 2 does not parse",
        ),
        (
            file(
                "base64.pem",
                "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
            ),
            "base64",
        ),
    ];
    for key in KEYS {
        for (path, words) in &cases {
            let e = ca::read(key, path).unwrap_err().to_string();
            assert!(e.contains(&format!("`{key}`")), "{e}");
            assert!(e.contains(&path.display().to_string()), "{e}");
            assert!(e.contains(words), "{words:?} in {e}");
        }
    }
}

#[test]
fn a_device_as_ca_file_is_refused_without_being_read_whole() {
    let e = ca::read(KEYS[1], Path::new("/dev/zero"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("openfaas.ca_file") && e.contains("/dev/zero") && e.contains("1 MiB"),
        "{e}"
    );
}

#[test]
fn ca_file_is_a_key_of_both_sections_in_the_file_and_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    let text = "[prometheus]\nurl = \"https://prometheus:9090\"\nca_file = \"/etc/ca/prom.pem\"\n";
    std::fs::write(&path, text).unwrap();
    let prefix = format!("TEST_CA_{}_", std::process::id());
    // SAFETY: a variable of this test's own prefix, removed right after the load.
    unsafe { std::env::set_var(format!("{prefix}OPENFAAS__CA_FILE"), "/etc/ca/gw.pem") };
    let loaded = Config::load_over(Config::default(), Some(&path), environment(&prefix));
    unsafe { std::env::remove_var(format!("{prefix}OPENFAAS__CA_FILE")) };
    let c = loaded.unwrap();
    assert_eq!(
        c.prometheus.ca_file.as_deref(),
        Some(Path::new("/etc/ca/prom.pem"))
    );
    assert_eq!(
        c.openfaas.ca_file.as_deref(),
        Some(Path::new("/etc/ca/gw.pem"))
    );
    assert_eq!(Config::default().prometheus.ca_file, None);
    assert_eq!(Config::default().openfaas.ca_file, None);
}

#[test]
fn a_prometheus_ca_file_without_a_url_is_refused_as_unused() {
    let mut c = Config::default();
    c.prometheus.ca_file = Some("/etc/ca/prom.pem".into());
    let e = c.validate().unwrap_err().to_string();
    assert!(
        e.contains("prometheus.ca_file") && e.contains("prometheus.url is not"),
        "{e}"
    );
    // With a plain-HTTP URL it is kept (the URL may turn to https) and is not refused.
    c.prometheus.url = Some("http://prometheus:9090".into());
    c.validate().unwrap();
}
