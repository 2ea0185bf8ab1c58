use std::path::Path;

use super::*;

fn load_str(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    load_str_over(Config::default(), text, env)
}

/// The file `text` and the variables `env` over `defaults`.
fn load_str_over(
    defaults: Config,
    text: &str,
    env: &[(&str, &str)],
) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, text).unwrap();
    // A prefix per call: tests run in parallel threads of one process and share its environment.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let prefix = format!("TEST_{}_{call}_", std::process::id());
    for (k, v) in env {
        // SAFETY: test-local variables with a per-process prefix; read back immediately below.
        unsafe { std::env::set_var(format!("{prefix}{k}"), v) };
    }
    let result = Config::load_over(defaults, Some(&path), environment(&prefix));
    for (k, _) in env {
        unsafe { std::env::remove_var(format!("{prefix}{k}")) };
    }
    result
}

#[test]
fn defaults_validate() {
    let c = Config::default();
    c.validate().unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!((c.labels.min, c.labels.max, c.labels.factor), (1, 20, 20));
}

#[test]
fn file_then_env_layering() {
    let c = load_str(
        "listen = \"127.0.0.1:9999\"\n[labels]\nmax = 30\n",
        &[("LABELS__FACTOR", "50"), ("SCALE_UP_COOLDOWN_SECS", "17")],
    )
    .unwrap();
    assert_eq!(c.listen.port(), 9999);
    assert_eq!((c.labels.max, c.labels.factor, c.labels.min), (30, 50, 1));
    assert_eq!(c.scale_up_cooldown_secs, 17);
}

#[test]
fn unknown_keys_are_errors_with_line() {
    let err = load_str("listen = \"127.0.0.1:1\"\nscale_up_cooldwn_secs = 3\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("scale_up_cooldwn_secs") && err.contains("line 2"),
        "{err}"
    );
    let err = load_str("[labels]\nmaximum = 3\n", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("maximum"), "{err}");
    let err = load_str("", &[("LISTN", "x")]).unwrap_err().to_string();
    assert!(err.contains("listn"), "{err}");
}

#[test]
fn a_file_error_is_one_line_naming_line_column_and_problem() {
    let err = load_str("[policy]\nscale_down_stabilization_secs = \"x\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(!err.contains('\n') && !err.contains('|'), "{err}");
    assert!(
        err.contains("line 2, column 33: invalid type: string \"x\", expected a whole number ≥ 0"),
        "{err}"
    );
    // A syntax error, on a line after a multi-byte character: the column counts characters.
    let err = load_str("# é\n[policy\n", &[]).unwrap_err().to_string();
    assert!(
        err.contains("line 2, column 8: invalid table header; expected"),
        "{err}"
    );
    assert!(!err.contains('\n'), "{err}");
}

#[test]
fn auth_modes_parse() {
    let c = load_str(
        "[auth]\nmode = \"basic\"\nusername = \"admin\"\npassword_file = \"/p\"\n",
        &[],
    )
    .unwrap();
    assert!(matches!(c.auth, AuthConfig::Basic { .. }));
    let err = load_str("[auth]\nmode = \"bearer\"\ntoken = \"inline\"\n", &[]).unwrap_err();
    assert!(err.to_string().contains("token"), "{err}");
}

#[test]
fn openfaas_section_defaults_and_overrides() {
    let c = load_str(
        "backend = \"openfaas\"\n[openfaas]\ngateway_url = \"http://gw:8080\"\npassword_file = \"/var/secrets/basic-auth-password\"\n",
        &[("OPENFAAS__RETRIES", "5")],
    )
    .unwrap();
    assert_eq!(c.backend, BackendKind::Openfaas);
    assert_eq!(c.openfaas.gateway_url, "http://gw:8080");
    assert_eq!(c.openfaas.retries, 5);
    assert_eq!(c.openfaas.username, "admin");
    assert_eq!(
        c.openfaas.state_file,
        PathBuf::from("alertscaler-state.json")
    );
    let err = load_str("[openfaas]\npasword_file = \"/p\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("pasword_file"), "{err}");
}

#[test]
fn invalid_combinations_name_the_key() {
    for (text, key) in [
        ("max_replicas_ceiling = 10\n", "labels"),
        ("default_namespace = \"other\"\n", "default_namespace"),
        ("allowed_namespaces = []\n", "allowed_namespaces"),
        ("body_limit_bytes = 10\n", "body_limit_bytes"),
        (
            "[[memory.functions]]\nname = \"Bad_Name\"\n",
            "memory.functions",
        ),
        (
            "[openfaas]\ngateway_url = \"ftp://x\"\n",
            "openfaas.gateway_url",
        ),
        (
            "[openfaas]\ngateway_url = \"not a url\"\n",
            "openfaas.gateway_url",
        ),
        (
            "[openfaas]\nrequest_timeout_ms = 0\n",
            "openfaas.request_timeout_ms",
        ),
        ("[openfaas]\nretries = 1000\n", "openfaas.retries"),
        ("[openfaas]\nstate_file = \"\"\n", "openfaas.state_file"),
        ("function_label = \"\"\n", "function_label"),
        ("function_label = \"function-name\"\n", "function_label"),
        ("function_label = \"1fn\"\n", "function_label"),
        (
            "[kubernetes]\nselector = \"env in (prod)\"\n",
            "kubernetes.selector",
        ),
        (
            "[kubernetes]\nledger_annotation = \"bad key!\"\n",
            "kubernetes.ledger_annotation",
        ),
        (
            "[kubernetes]\nrequest_timeout_secs = 0\n",
            "kubernetes.request_timeout_secs",
        ),
        // Unbounded spans overflowed time arithmetic: every request, a throttled client, start-up.
        (
            "request_timeout_secs = 9223372036854775807\n",
            "request_timeout_secs",
        ),
        (
            "[auth_failure_limit]\nwindow_secs = 9223372036854775807\n",
            "auth_failure_limit",
        ),
        ("episode_ttl_secs = 10000000000000000\n", "episode_ttl_secs"),
    ] {
        let err = load_str(text, &[]).unwrap_err().to_string();
        assert!(err.contains(key), "{text}: {err}");
    }
}

#[test]
fn ops_settings_parse_and_validate() {
    let c = load_str(
        "audit_capacity = 5\nshutdown_grace_secs = 3\nrequest_timeout_secs = 4\n\
         [auth_failure_limit]\nmax_failures = 2\nwindow_secs = 9\n\
         [tls]\ncert_file = \"/c.pem\"\nkey_file = \"/k.pem\"\n",
        &[],
    )
    .unwrap();
    assert_eq!(
        (
            c.audit_capacity,
            c.shutdown_grace_secs,
            c.request_timeout_secs
        ),
        (5, 3, 4)
    );
    assert_eq!(
        (
            c.auth_failure_limit.max_failures,
            c.auth_failure_limit.window_secs
        ),
        (2, 9)
    );
    assert_eq!(c.tls.unwrap().key_file, PathBuf::from("/k.pem"));
    for (text, key) in [
        ("request_timeout_secs = 0\n", "request_timeout_secs"),
        ("audit_capacity = 2000000\n", "audit_capacity"),
        (
            "[auth_failure_limit]\nmax_failures = 0\n",
            "auth_failure_limit",
        ),
        ("[tls]\ncert_file = \"/c.pem\"\n", "key_file"),
    ] {
        let err = load_str(text, &[]).unwrap_err().to_string();
        assert!(err.contains(key), "{text}: {err}");
    }
}

/// A Prometheus query that may take the webhook's whole request timeout: with Prometheus hanging, a
/// capacity or proportional notification is answered 503 before its query gives up and the decision
/// is written, so the annotation fallback is never reached and every AlertManager retry ends the same
/// way. At most half of it leaves the other half to the backend.
#[test]
fn a_query_timeout_above_half_the_request_timeout_is_refused() {
    for text in [
        "[prometheus]\nquery_timeout_ms = 10000\n",
        "[prometheus]\nquery_timeout_ms = 5001\n",
        "request_timeout_secs = 2\n[prometheus]\nquery_timeout_ms = 1500\n",
    ] {
        let err = load_str(text, &[]).unwrap_err().to_string();
        assert!(err.contains("prometheus.query_timeout_ms"), "{text}: {err}");
        assert!(err.contains("request_timeout_secs"), "{text}: {err}");
    }
    assert!(load_str("[prometheus]\nquery_timeout_ms = 5000\n", &[]).is_ok());
}

#[test]
fn the_desired_count_max_age_defaults_to_three_evaluations_and_is_bounded() {
    assert_eq!(Config::default().prometheus.desired_max_age_secs, 45);
    let c = load_str("[prometheus]\ndesired_max_age_secs = 90\n", &[]).unwrap();
    assert_eq!(c.prometheus.desired_max_age_secs, 90);
    for secs in ["0", "86401"] {
        let text = format!("[prometheus]\ndesired_max_age_secs = {secs}\n");
        let err = load_str(&text, &[]).unwrap_err().to_string();
        assert!(
            err.contains("prometheus.desired_max_age_secs"),
            "{text}: {err}"
        );
    }
}

#[test]
fn a_cooldown_shorter_than_alertmanagers_retry_window_is_refused_with_the_reason() {
    for secs in ["0", "9"] {
        let err = load_str(&format!("scale_up_cooldown_secs = {secs}\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("scale_up_cooldown_secs") && err.contains("retry window"),
            "{err}"
        );
    }
    assert!(load_str("scale_up_cooldown_secs = 10\n", &[]).is_ok());
}

#[test]
fn connection_limits_have_safe_defaults_and_bounds() {
    let c = load_str("", &[]).unwrap();
    let l = c.connections.limits();
    assert_eq!(
        (
            l.header_read_timeout.as_secs(),
            l.idle_timeout.as_secs(),
            l.max_connections
        ),
        (10, 60, 512)
    );
    for bad in [
        "header_read_timeout_secs = 0",
        "idle_timeout_secs = 0",
        "max_connections = 0",
    ] {
        let err = load_str(&format!("[connections]\n{bad}\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("connections."), "{bad}: {err}");
    }
}

/// What Kubernetes sets in a pod for the Service `alertscaler` in its namespace.
const SERVICE_LINKS: &[(&str, &str)] = &[
    ("SERVICE_HOST", "10.96.0.10"),
    ("SERVICE_PORT", "8080"),
    ("SERVICE_PORT_HTTP", "8080"),
    ("PORT", "tcp://10.96.0.10:8080"),
    ("PORT_8080_TCP", "tcp://10.96.0.10:8080"),
    ("PORT_8080_TCP_PROTO", "tcp"),
    ("PORT_8080_TCP_PORT", "8080"),
    ("PORT_8080_TCP_ADDR", "10.96.0.10"),
];

#[test]
fn kubernetes_service_link_variables_are_not_configuration() {
    let c = load_str("listen = \"0.0.0.0:8080\"\n", SERVICE_LINKS).unwrap();
    assert_eq!(c.listen.to_string(), "0.0.0.0:8080");
    // A real key beside them still applies, and an unknown one is still an error.
    let mut env = SERVICE_LINKS.to_vec();
    env.push(("LABELS__MAX", "30"));
    assert_eq!(load_str("", &env).unwrap().labels.max, 30);
    let e = load_str("", &[("PORTS", "1")]).unwrap_err();
    assert!(e.to_string().contains("ports"), "{e}");
}

#[test]
fn every_function_table_is_kept_whatever_its_header_comment_or_form() {
    let names = |text: &str| -> Vec<String> {
        let c = load_str(text, &[]).unwrap();
        c.memory.functions.into_iter().map(|f| f.name).collect()
    };
    // A bracket in a header's comment (the table was left in the settings, and replaced the rest).
    let text = "[[memory.functions]]\nname = \"a\"\n\n[[memory.functions]] # replicas [1..5]\nname = \"b\"\n";
    assert_eq!(names(text), ["a", "b"]);
    // A header the split does not take (a quoted key) beside ones it takes.
    let text = "[[memory.functions]]\nname = \"a\"\n\n[[\"memory\".functions]]\nname = \"b\"\n";
    assert_eq!(names(text), ["a", "b"]);
}

#[test]
fn an_environment_query_overrides_the_files_whatever_the_case() {
    let file = "[prometheus]\nurl = \"http://p:9090\"\n[prometheus.queries]\nAPIHighInvocationRate = \"from_file\"\nOther = \"kept\"\n";
    let c = load_str(
        file,
        &[("PROMETHEUS__QUERIES__APIHighInvocationRate", "from_env")],
    )
    .unwrap();
    let q = &c.prometheus.queries;
    assert_eq!(
        q.get("APIHighInvocationRate").map(String::as_str),
        Some("from_env"),
        "{q:?}"
    );
    assert_eq!(q.get("Other").map(String::as_str), Some("kept"));
    assert_eq!(q.len(), 2, "{q:?}");
    // Set only through the environment: kept lowercased (matched ignoring case at decision time).
    let c = load_str("", &[("PROMETHEUS__QUERIES__FunctionLatencyHigh", "x")]).unwrap();
    assert_eq!(
        c.prometheus
            .queries
            .get("functionlatencyhigh")
            .map(String::as_str),
        Some("x")
    );
}

#[test]
fn a_file_error_at_the_end_of_the_text_names_a_line_of_the_file() {
    // An unclosed array: toml's span is the end of the text, after the file's last newline. The
    // file has two lines: the error is just past the end of line 2 (34 characters).
    let err = load_str("[policy]\nscale_down_stabilization_secs = [5\n", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2, column 35: "), "{err}");
}

#[test]
fn a_function_declared_twice_is_refused_not_dropped() {
    // Fails on main: the second [[memory.functions]] table of the same name silently replaces the
    // first (the listing then shows one echo-fn with the second table's replicas), while every
    // other configuration mistake is an error naming it.
    let err = load_str(
        "[[memory.functions]]\nname = \"echo-fn\"\nreplicas = 1\n\n[[memory.functions]]\nname = \"echo-fn\"\nreplicas = 7\n",
        &[],
    )
    .map(|c| c.memory.functions.len())
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("memory.functions") && err.contains("echo-fn"),
        "{err}"
    );
}

#[test]
fn an_unreadable_config_file_is_said_once() {
    // Fails on main: `cannot read config file {path}: {source}` also returns the io::Error as its
    // source, so `alertscaler check-config --config missing.toml` prints the OS error twice
    // ("Error: cannot read config file …: No such file or directory (os error 2)\n\nCaused by:\n
    // No such file or directory (os error 2)"). The same holds for ConfigError::Secret.
    let dir = tempfile::tempdir().unwrap();
    let err = Config::load_with_env(Some(&dir.path().join("missing.toml")), environment("NONE_"))
        .unwrap_err();
    let shown = err.to_string();
    let repeated = std::error::Error::source(&err).map(|s| s.to_string());
    assert!(
        repeated
            .as_ref()
            .is_none_or(|cause| !shown.contains(cause.as_str())),
        "{shown} / caused by {repeated:?}"
    );
}

#[test]
fn a_wrong_type_is_said_in_words_not_rust_types() {
    let cases = [
        load_str("audit_capacity = \"lots\"\n", &[]),
        load_str("[policy]\nsettle_interval_secs = -3\n", &[]),
        load_str("", &[("AUDIT_CAPACITY", "abc")]),
    ];
    for result in cases {
        let err = result.map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("expected a whole number ≥ 0"), "{err}");
        assert!(!err.contains("usize") && !err.contains("u64"), "{err}");
    }
}

#[test]
fn body_limit_bytes_is_bounded_on_both_sides_and_the_bounds_are_accepted() {
    let ceiling = MAX_BODY_LIMIT_BYTES;
    for accepted in [1024, ceiling] {
        let c = load_str(&format!("body_limit_bytes = {accepted}\n"), &[]).unwrap();
        assert_eq!(c.body_limit_bytes, accepted);
    }
    // 10 GB: a webhook body that large would be held in memory whole before it is parsed.
    for refused in [ceiling + 1, 10_000_000_000] {
        let err = load_str(&format!("body_limit_bytes = {refused}\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("body_limit_bytes"), "{refused}: {err}");
        assert!(err.contains(&ceiling.to_string()), "{refused}: {err}");
    }
}

/// The image's default listen address (all interfaces) is a default: the file's and the
/// environment's `listen` still win over it, as over the built-in loopback default.
#[test]
fn a_replaced_default_listen_is_below_the_file_and_the_environment() {
    let image = Config {
        listen: "0.0.0.0:8080".parse().unwrap(),
        ..Config::default()
    };
    let listen = |text: &str, env: &[(&str, &str)]| {
        let c = load_str_over(image.clone(), text, env).unwrap();
        c.listen.to_string()
    };
    assert_eq!(listen("", &[]), "0.0.0.0:8080");
    assert_eq!(
        listen("listen = \"127.0.0.1:9000\"\n", &[]),
        "127.0.0.1:9000"
    );
    assert_eq!(listen("", &[("LISTEN", "10.0.0.1:9100")]), "10.0.0.1:9100");
    assert_eq!(
        load_str("", &[]).unwrap().listen.to_string(),
        "127.0.0.1:8080"
    );
}

#[test]
fn check_config_output_never_shows_a_password_written_in_a_url() {
    // reqwest sends a URL's user:password as basic auth, so a Prometheus behind basic auth can be
    // configured so; check-config shows the user, never the password.
    let c = load_str(
        "[prometheus]\nurl = \"http://scraper:hunter2@127.0.0.1:9090\"\n",
        &[],
    )
    .unwrap();
    assert_eq!(
        c.prometheus.url.as_deref(),
        Some("http://scraper:hunter2@127.0.0.1:9090"),
        "the password still reaches the client"
    );
    let shown = c.to_redacted_toml();
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(
        shown.contains("scraper:[redacted]@127.0.0.1:9090"),
        "{shown}"
    );
}

#[test]
fn a_gateway_url_with_credentials_is_refused_without_echoing_them() {
    // The gateway's credentials are `openfaas.username` and `openfaas.password_file`; a password in
    // the URL would be logged with every failed gateway call and shown by check-config.
    for url in [
        "http://admin:hunter2@127.0.0.1:8080",
        "http://hunter2@127.0.0.1:8080",
    ] {
        let e = load_str(&format!("[openfaas]\ngateway_url = {url:?}\n"), &[])
            .err()
            .unwrap_or_else(|| panic!("{url} was accepted"));
        let text = e.to_string();
        assert!(text.contains("openfaas.gateway_url"), "{text}");
        assert!(text.contains("openfaas.password_file"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}

/// `[prometheus]` credentials: a bearer token file, or a user with a password file, never both and
/// never beside credentials written in the URL (which one would be sent?). Checked at load, before
/// any file is read; the error names the keys and never echoes a URL's password.
#[test]
fn prometheus_credentials_are_one_kind_at_a_time() {
    let url = "url = \"http://127.0.0.1:9090\"\n";
    let ok = [
        format!("[prometheus]\n{url}bearer_token_file = \"/t\"\n"),
        format!("[prometheus]\n{url}username = \"scraper\"\npassword_file = \"/p\"\n"),
        // URL credentials alone keep working (README, docs/operations.md).
        "[prometheus]\nurl = \"http://scraper:hunter2@127.0.0.1:9090\"\n".to_string(),
    ];
    for text in &ok {
        load_str(text, &[]).unwrap_or_else(|e| panic!("{text}: {e}"));
    }
    let both = format!(
        "[prometheus]\n{url}bearer_token_file = \"/t\"\nusername = \"u\"\npassword_file = \"/p\"\n"
    );
    let refused = [
        (both, &["prometheus.bearer_token_file", "prometheus.password_file"][..]),
        (
            format!("[prometheus]\n{url}password_file = \"/p\"\n"),
            &["prometheus.username"][..],
        ),
        (
            format!("[prometheus]\n{url}username = \"scraper\"\n"),
            &["prometheus.password_file"][..],
        ),
        (
            format!("[prometheus]\n{url}username = \"a:b\"\npassword_file = \"/p\"\n"),
            &["prometheus.username", "':'"][..],
        ),
        (
            "[prometheus]\nbearer_token_file = \"/t\"\n".to_string(),
            &["prometheus.bearer_token_file", "prometheus.url"][..],
        ),
        (
            "[prometheus]\nurl = \"http://s:hunter2@127.0.0.1:9090\"\nbearer_token_file = \"/t\"\n"
                .to_string(),
            &["prometheus.url", "prometheus.bearer_token_file"][..],
        ),
        (
            "[prometheus]\nurl = \"http://s:hunter2@127.0.0.1:9090\"\nusername = \"u\"\npassword_file = \"/p\"\n"
                .to_string(),
            &["prometheus.url", "prometheus.password_file"][..],
        ),
    ];
    for (text, named) in refused {
        let e = load_str(&text, &[])
            .err()
            .unwrap_or_else(|| panic!("{text} was accepted"));
        let e = e.to_string();
        for name in named {
            assert!(e.contains(name), "{text}: {e} does not name {name}");
        }
        assert!(!e.contains("hunter2"), "{e}");
    }
}

#[test]
fn a_number_too_large_for_its_key_says_the_largest_allowed() {
    // "invalid value: integer `5000000000`, expected a whole number ≥ 0" contradicted itself.
    let cases = [
        (
            load_str("max_replicas_ceiling = 5000000000\n", &[]),
            "4294967295",
        ),
        (
            load_str("", &[("MAX_REPLICAS_CEILING", "5000000000")]),
            "4294967295",
        ),
        // Past TOML's own integers (i64): toml says only "number too large to fit in target type".
        (
            load_str("episode_ttl_secs = 99999999999999999999\n", &[]),
            "9223372036854775807",
        ),
    ];
    for (result, largest) in cases {
        let err = result.map(|_| ()).unwrap_err().to_string();
        assert!(err.contains(largest), "{err}");
        assert!(!err.contains("expected a whole number ≥ 0"), "{err}");
    }
}

#[test]
fn a_listen_address_that_is_no_ip_and_port_says_what_is_expected() {
    // Go's ":8080", a host name, a missing port: "invalid socket address syntax" said none of it.
    for (text, env) in [
        ("listen = \":8080\"\n", &[][..]),
        ("listen = \"localhost:8080\"\n", &[]),
        ("", &[("LISTEN", "0.0.0.0")]),
    ] {
        let err = load_str(text, env).map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("0.0.0.0:8080"), "{err}");
        assert!(err.contains("host names"), "{err}");
    }
}

#[test]
fn a_namespace_no_function_can_be_in_is_refused_naming_it() {
    // Accepted before: every alert for the namespace was then refused at run time, one by one.
    for (text, named) in [
        (
            "allowed_namespaces = [\"openfaas-fn\", \"OpenFaaS-Fn\"]\n",
            "\"OpenFaaS-Fn\"",
        ),
        (
            "allowed_namespaces = [\"openfaas-fn\", \"openfaas-fn \"]\n",
            "\"openfaas-fn \"",
        ),
        (
            "default_namespace = \"\"\nallowed_namespaces = [\"\"]\n",
            "\"\"",
        ),
    ] {
        let err = load_str(text, &[]).map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("`allowed_namespaces`"), "{err}");
        assert!(err.contains(named), "{err}");
        assert!(err.contains("DNS-1123"), "{err}");
    }
}

/// README's configuration table, column "default", for the webhook and operations keys.
#[test]
fn the_readme_defaults_are_the_built_in_ones() {
    let c = Config::default();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.backend, BackendKind::Memory);
    assert_eq!(c.default_namespace, "openfaas-fn");
    assert_eq!(c.allowed_namespaces, ["openfaas-fn"]);
    assert_eq!(c.function_label, "function_name");
    assert!(matches!(c.auth, AuthConfig::None));
    assert_eq!(c.body_limit_bytes, 1_048_576);
    assert_eq!(
        (
            c.request_timeout_secs,
            c.shutdown_grace_secs,
            c.scale_up_cooldown_secs,
            c.episode_ttl_secs
        ),
        (10, 20, 20, 3600)
    );
    assert_eq!((c.max_replicas_ceiling, c.audit_capacity), (100, 1000));
    let l = c.auth_failure_limit;
    assert_eq!((l.max_failures, l.window_secs), (10, 60));
    let n = c.connections;
    assert_eq!(
        (
            n.header_read_timeout_secs,
            n.idle_timeout_secs,
            n.max_connections
        ),
        (10, 60, 512)
    );
    assert!(c.tls.is_none());
    assert!(!c.dry_run);
    let p = c.policy;
    assert_eq!(
        (p.default, p.scale_down),
        (PolicyKind::Step, ScaleDown::Stabilized)
    );
    assert_eq!(
        (
            p.scale_down_stabilization_secs,
            p.settle_interval_secs,
            p.follow_up_interval_secs,
            p.latency_hold_secs
        ),
        (300, 15, 5, 300)
    );
    assert_eq!(
        (p.tolerance, p.max_scale_up_factor, p.max_scale_up_step),
        (0.1, 2.0, 4)
    );
    assert_eq!(
        (c.prometheus.url.as_deref(), c.prometheus.query_timeout_ms),
        (None, 500)
    );
    let p = &c.prometheus;
    assert_eq!(
        (&p.bearer_token_file, &p.username, &p.password_file),
        (&None, &None, &None)
    );
}

/// README's ranges, at their edges: `request_timeout_secs` 1..=3600, `episode_ttl_secs` at most
/// 30 days, `body_limit_bytes` 1024..=64 MiB, `scale_up_cooldown_secs` at least 10 and below
/// `episode_ttl_secs`, `shutdown_grace_secs` and `audit_capacity` bounded.
#[test]
fn the_readme_ranges_hold_at_their_edges() {
    let day = 86_400;
    for (key, inside, outside) in [
        ("request_timeout_secs", 3600, 3601),
        ("request_timeout_secs", 1, 0),
        ("episode_ttl_secs", 30 * day, 30 * day + 1),
        ("body_limit_bytes", 64 * 1024 * 1024, 64 * 1024 * 1024 + 1),
        ("body_limit_bytes", 1024, 1023),
        ("scale_up_cooldown_secs", 10, 9),
        // Shorter than `episode_ttl_secs` (3600 by default).
        ("scale_up_cooldown_secs", 3599, 3600),
        ("shutdown_grace_secs", 3600, 3601),
        ("audit_capacity", 1_000_000, 1_000_001),
    ] {
        let ok = format!("{key} = {inside}\n");
        assert!(load_str(&ok, &[]).is_ok(), "{ok}");
        let bad = format!("{key} = {outside}\n");
        let err = load_str(&bad, &[]).unwrap_err().to_string();
        assert!(err.contains(key), "{bad}: {err}");
    }
}

/// README: label defaults need 1 ≤ min ≤ max ≤ `max_replicas_ceiling` and factor ≤ 100; the
/// ceiling is at least 1.
#[test]
fn label_defaults_and_the_ceiling_are_bounded_as_the_readme_says() {
    for ok in [
        "[labels]\nmin = 1\nmax = 100\nfactor = 100\n",
        "max_replicas_ceiling = 1\n[labels]\nmin = 1\nmax = 1\n",
    ] {
        assert!(load_str(ok, &[]).is_ok(), "{ok}");
    }
    for (bad, key) in [
        ("[labels]\nmin = 0\n", "labels"),
        ("[labels]\nmin = 21\n", "labels"),
        ("[labels]\nmax = 101\n", "labels"),
        ("[labels]\nfactor = 101\n", "labels"),
        ("max_replicas_ceiling = 0\n", "max_replicas_ceiling"),
    ] {
        let err = load_str(bad, &[]).unwrap_err().to_string();
        assert!(err.contains(key), "{bad}: {err}");
    }
}

#[test]
fn a_config_file_larger_than_the_bound_is_refused_naming_it_and_never_read_whole() {
    // `--config /dev/zero` (or a huge file given by mistake) was read until memory ran out.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    let line = "# a comment line, valid TOML\n";
    let mut text = line.repeat(bounded::CONFIG_MAX_BYTES / line.len());
    text.push_str(&" ".repeat(bounded::CONFIG_MAX_BYTES - text.len()));
    std::fs::write(&path, &text).unwrap();
    assert!(Config::load_with_env(Some(&path), environment("NONE_")).is_ok());
    text.push('\n');
    std::fs::write(&path, &text).unwrap();
    for file in [path.as_path(), Path::new("/dev/zero")] {
        let err = Config::load_with_env(Some(file), environment("NONE_"))
            .expect_err("a file over the bound was loaded")
            .to_string();
        assert!(err.contains(&file.display().to_string()), "{err}");
        assert!(err.contains("larger than 16 MiB"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

/// README: `dry_run` from the file, overridden by `ALERTSCALER_DRY_RUN`; `check-config` says so.
#[test]
fn dry_run_is_read_from_the_file_and_the_environment_and_shown() {
    assert!(load_str("dry_run = true\n", &[]).unwrap().dry_run);
    assert!(load_str("", &[("DRY_RUN", "true")]).unwrap().dry_run);
    assert!(
        !load_str("dry_run = true\n", &[("DRY_RUN", "false")])
            .unwrap()
            .dry_run
    );
    let err = load_str("dry_run = \"yes\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 1") && err.contains("expected a boolean"),
        "{err}"
    );
    let on = load_str("dry_run = true\n", &[])
        .unwrap()
        .to_redacted_toml();
    assert!(on.contains("dry_run = true"), "{on}");
    assert!(
        on.contains("# dry_run = true: no replica count is written"),
        "{on}"
    );
    let off = Config::default().to_redacted_toml();
    assert!(
        off.contains("dry_run = false") && !off.contains("# dry_run"),
        "{off}"
    );
}
