//! Loading a configuration: built-in defaults < TOML file (read with a bound, its function table
//! apart) < environment (`ALERTSCALER_…`, Kubernetes' service links left out, query names folded
//! onto the file's), then `validate()`; and load errors in words a reader knows (line and column,
//! plain type names).

use std::net::SocketAddr;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};

use super::{Config, ConfigError, bounded, table};

/// The configuration file's text, read with a bound ([`bounded::CONFIG_MAX_BYTES`]).
fn read_config_file(path: &Path) -> Result<String, ConfigError> {
    let unreadable = |cause| ConfigError::Read {
        path: path.to_owned(),
        cause,
    };
    let bytes = bounded::read_bounded(path, bounded::CONFIG_MAX_BYTES).map_err(|e| match e {
        bounded::BoundedError::Io(cause) => unreadable(cause),
        bounded::BoundedError::TooLarge { limit } => ConfigError::TooLarge {
            path: path.to_owned(),
            limit,
        },
    })?;
    String::from_utf8(bytes).map_err(|_| {
        unreadable(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        ))
    })
}

/// The configuration's environment variables: `<prefix><KEY>`, nested keys with `__`. Kubernetes'
/// service links are left out: a Service named `alertscaler` beside the pod gives it
/// `ALERTSCALER_SERVICE_HOST`, `ALERTSCALER_PORT_8080_TCP_ADDR` and the like, which are no keys of
/// ours (refused as unknown, they stopped the pod at start-up).
pub fn environment(prefix: &str) -> Env {
    Env::prefixed(prefix)
        .filter(|key| !service_link(key.as_str()))
        .split("__")
}

/// Whether a variable (its name after the prefix) is one Kubernetes sets for a Service:
/// `SERVICE_HOST`, `SERVICE_PORT[_<name>]`, `PORT`, `PORT_<port>_<protocol>[_PROTO|_PORT|_ADDR]`.
fn service_link(key: &str) -> bool {
    let key = key.to_ascii_uppercase();
    let port_n = key
        .strip_prefix("PORT_")
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
    key == "SERVICE_HOST"
        || key == "SERVICE_PORT"
        || key.starts_with("SERVICE_PORT_")
        || key == "PORT"
        || port_n
}

/// The environment's keys arrive lowercased: a query set there for an alert the file names in
/// another case (`ALERTSCALER_PROMETHEUS__QUERIES__APIHighInvocationRate` beside the file's
/// `APIHighInvocationRate`) is the same query and overrides the file's, under the file's name.
fn fold_environment_queries(queries: &mut std::collections::BTreeMap<String, String>) {
    let lowered: Vec<String> = queries
        .keys()
        .filter(|k| k.chars().all(|c| !c.is_uppercase()))
        .cloned()
        .collect();
    for low in lowered {
        let named = queries
            .keys()
            .find(|k| **k != low && k.eq_ignore_ascii_case(&low))
            .cloned();
        if let (Some(named), Some(query)) = (named, queries.get(&low).cloned()) {
            queries.insert(named, query);
            queries.remove(&low);
        }
    }
}

impl Config {
    /// Load defaults < `file` < environment, then validate.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(file, environment("ALERTSCALER_"))
    }

    /// As [`Config::load`], with `listen`'s built-in default replaced by `listen` when given: the
    /// container image listens on every interface (a loopback address in a container cannot be
    /// reached from outside it) unless the file or the environment says otherwise.
    pub fn load_with_default_listen(
        file: Option<&Path>,
        listen: Option<SocketAddr>,
    ) -> Result<Self, ConfigError> {
        let mut defaults = Config::default();
        defaults.listen = listen.unwrap_or(defaults.listen);
        Self::load_over(defaults, file, environment("ALERTSCALER_"))
    }

    /// As [`Config::load`], with the environment provider given (tests pass a fake one).
    pub fn load_with_env(file: Option<&Path>, env: Env) -> Result<Self, ConfigError> {
        Self::load_over(Config::default(), file, env)
    }

    /// `defaults` < `file` < `env`, then validate: the one loader the others call.
    pub fn load_over(defaults: Config, file: Option<&Path>, env: Env) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(defaults));
        let mut text = None;
        let mut functions = Vec::new();
        if let Some(path) = file {
            let read = read_config_file(path)?;
            // The function table is read apart (see `table`); a table that does not parse is
            // reported below with its position, from the whole file.
            match table::split(&read) {
                Ok(split) => {
                    figment = figment.merge(Toml::string(&split.settings));
                    functions = split.functions;
                }
                Err(()) => figment = figment.merge(Toml::string(&read)),
            }
            text = Some((path, read));
        }
        let mut config: Config = figment.merge(env).extract().map_err(|e| {
            // figment names the key but not the line: parse the file alone again, only now, for
            // an error with line and column. If the file is fine, the problem came from the
            // environment and figment's message stands.
            let positioned = text.as_ref().and_then(|(path, text)| {
                let e = toml::from_str::<Config>(text).err()?;
                Some(ConfigError::File {
                    path: path.to_path_buf(),
                    message: plain_types(&positioned(text, &e)),
                })
            });
            positioned.unwrap_or_else(|| ConfigError::Figment(plain_types(&e.to_string())))
        })?;
        // Functions set through the environment replace the file's, as any other key would.
        if config.memory.functions.is_empty() {
            config.memory.functions = functions;
        }
        fold_environment_queries(&mut config.prometheus.queries);
        config.validate()?;
        Ok(config)
    }
}

/// A TOML error on one line, for a log line or a terminal: "line L, column C: what". toml's own `Display`
/// draws the offending line with a caret under it over several lines, which a one-line log flattens into a
/// misaligned run of `|`s.
pub(crate) fn positioned(text: &str, e: &toml::de::Error) -> String {
    // Some messages say what was expected on a second line.
    let what = e
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let Some(mut before) = e.span().and_then(|span| text.get(..span.start)) else {
        return what;
    };
    // An error at the end of the text (an unclosed array) is past the last line's end, not on a line
    // after the file's final newline (as toml says too).
    if before.len() == text.len() {
        before = before.strip_suffix('\n').unwrap_or(before);
        before = before.strip_suffix('\r').unwrap_or(before);
    }
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {column}: {what}")
}

/// serde's "expected u64" in words a configuration's reader knows.
fn plain_types(message: &str) -> String {
    let mut out = message.to_owned();
    for (rust, words) in [
        ("usize", "a whole number ≥ 0"),
        ("u64", "a whole number ≥ 0"),
        ("u32", "a whole number from 0 to 4294967295"),
        ("u16", "a whole number from 0 to 65535"),
        ("u8", "a whole number from 0 to 255"),
        ("i64", "a whole number"),
        ("i32", "a whole number"),
        ("f64", "a number"),
        ("f32", "a number"),
    ] {
        out = out.replace(&format!("expected {rust}"), &format!("expected {words}"));
    }
    // toml's words for an integer past its own range (i64), whatever the key's type.
    out.replace(
        "number too large to fit in target type",
        "number too large (at most 9223372036854775807)",
    )
    // `listen` is the only socket address.
    .replace(
        "invalid socket address syntax",
        "invalid listen address: an IP address and a port, e.g. 0.0.0.0:8080 or [::]:8080 \
         (host names are not resolved)",
    )
}
