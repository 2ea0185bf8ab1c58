//! The cross-field rules that types cannot express, checked once at load: an invalid configuration
//! never reaches a handler, and each refusal names the key to fix and why.

use super::{
    ALERTMANAGER_RETRY_SECS, Config, ConfigError, MAX_BODY_LIMIT_BYTES, MAX_EPISODE_TTL_SECS,
    sections,
};

impl Config {
    /// Check cross-field rules that types cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_names()?;
        self.validate_scaling()?;
        let platform = self
            .platform
            .validate(self.max_replicas_ceiling, self.labels.min);
        if let Err((key, problem)) = platform
            .and(self.policy.validate())
            .and(self.prometheus.validate())
        {
            return invalid(key, problem);
        }
        sections::validate_ops(self)?;
        self.validate_query_timeout()?;
        self.validate_memory_functions()?;
        self.kubernetes.validate()?;
        self.openfaas.validate()
    }

    /// Namespaces and the alert label that name functions.
    fn validate_names(&self) -> Result<(), ConfigError> {
        if self.allowed_namespaces.is_empty() {
            return invalid(
                "allowed_namespaces",
                "must name at least one namespace".into(),
            );
        }
        if let Some(bad) = self
            .allowed_namespaces
            .iter()
            .find(|ns| !crate::id::is_namespace(ns))
        {
            return invalid(
                "allowed_namespaces",
                format!(
                    "{bad:?} is not a namespace (a DNS-1123 label: 1 to 63 of [a-z0-9-], \
                     alphanumeric at both ends): no function could ever be in it"
                ),
            );
        }
        if !self.allowed_namespaces.contains(&self.default_namespace) {
            return invalid(
                "default_namespace",
                format!(
                    "{:?} is not in allowed_namespaces {:?}",
                    self.default_namespace, self.allowed_namespaces
                ),
            );
        }
        // An alert label name, as Prometheus allows them: anything else never names a function.
        let label = self.function_label.as_bytes();
        let label_char = |c: &u8| c.is_ascii_alphanumeric() || *c == b'_';
        if label.first().is_none_or(u8::is_ascii_digit) || !label.iter().all(label_char) {
            return invalid(
                "function_label",
                format!(
                    "{:?} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)",
                    self.function_label
                ),
            );
        }
        Ok(())
    }

    /// The body limit, the replica bounds and the timings of episodes.
    fn validate_scaling(&self) -> Result<(), ConfigError> {
        if !(1024..=MAX_BODY_LIMIT_BYTES).contains(&self.body_limit_bytes) {
            return invalid(
                "body_limit_bytes",
                format!(
                    "{} is outside 1024 ..= {MAX_BODY_LIMIT_BYTES} (64 MiB): a body is held in memory \
                     whole, and a webhook of thousands of alerts is a few MiB",
                    self.body_limit_bytes
                ),
            );
        }
        if self.max_replicas_ceiling == 0 {
            return invalid("max_replicas_ceiling", "must be at least 1".into());
        }
        let l = &self.labels;
        if l.min == 0 || l.min > l.max || l.max > self.max_replicas_ceiling || l.factor > 100 {
            return invalid(
                "labels",
                format!(
                    "need 1 ≤ min ≤ max ≤ max_replicas_ceiling ({}) and factor ≤ 100, got min {} max {} factor {}",
                    self.max_replicas_ceiling, l.min, l.max, l.factor
                ),
            );
        }
        if self.scale_up_cooldown_secs < ALERTMANAGER_RETRY_SECS {
            return invalid(
                "scale_up_cooldown_secs",
                format!(
                    "{} s is shorter than AlertManager's retry window: it resends a notification \
                     that failed for at least {ALERTMANAGER_RETRY_SECS} s (up to group_interval), and a \
                     resend after the cooldown steps again; use at least {ALERTMANAGER_RETRY_SECS} and \
                     more than your group_interval",
                    self.scale_up_cooldown_secs
                ),
            );
        }
        if self.episode_ttl_secs > MAX_EPISODE_TTL_SECS {
            return invalid(
                "episode_ttl_secs",
                format!("must be at most {MAX_EPISODE_TTL_SECS} (30 days)"),
            );
        }
        if self.scale_up_cooldown_secs >= self.episode_ttl_secs {
            return invalid(
                "scale_up_cooldown_secs",
                "must be shorter than episode_ttl_secs".into(),
            );
        }
        Ok(())
    }

    /// The webhook's request timeout against the Prometheus query's.
    fn validate_query_timeout(&self) -> Result<(), ConfigError> {
        // The webhook's request timeout cuts a notification off with a 503: a query that may take it
        // all never reaches its fallback (the annotation) while Prometheus hangs, and every retry ends
        // the same way. Half of it is left to the backend's read and write.
        let half_request_ms = self.request_timeout_secs.saturating_mul(500);
        if self.prometheus.query_timeout_ms > half_request_ms {
            return invalid(
                "prometheus.query_timeout_ms",
                format!(
                    "{} ms is more than half of request_timeout_secs ({} s): with Prometheus hanging a \
                     notification would be answered 503 before its query gives up and falls back to the \
                     alert's annotation; use at most {half_request_ms}",
                    self.prometheus.query_timeout_ms, self.request_timeout_secs
                ),
            );
        }
        Ok(())
    }

    /// The memory backend's functions: valid names, each declared once.
    fn validate_memory_functions(&self) -> Result<(), ConfigError> {
        // A second table of one function would silently replace the first.
        let mut seen = std::collections::HashSet::with_capacity(self.memory.functions.len());
        for f in &self.memory.functions {
            let label = format!("{}.{}", f.name, f.namespace);
            if crate::id::FunctionId::parse(&label, &self.default_namespace).is_err() {
                return invalid(
                    "memory.functions",
                    format!("{label:?} is not a valid function name.namespace"),
                );
            }
            if !seen.insert((f.name.as_str(), f.namespace.as_str())) {
                return invalid(
                    "memory.functions",
                    format!("{label:?} is declared twice (one [[memory.functions]] per function)"),
                );
            }
        }
        Ok(())
    }
}

fn invalid(key: &'static str, problem: String) -> Result<(), ConfigError> {
    Err(ConfigError::Invalid { key, problem })
}
