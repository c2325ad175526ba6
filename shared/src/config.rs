//! Configuration: the environment a function reads, read once.
//!
//! Lambda passes configuration as environment variables (the template's `Environment.Variables`).
//! They are read here, in one place, during the init phase: a function that lacks one fails at cold
//! start with a clear message instead of on some later request. Nothing else reads the environment.

use std::time::Duration;

/// What a function needs to know about its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The single DynamoDB table (`TABLE_NAME`, set by the template from `!Ref OrdersTable`).
    pub table_name: String,
    /// How long an `Idempotency-Key` is remembered (`IDEMPOTENCY_TTL_SECONDS`, default one day).
    pub idempotency_ttl: Duration,
}

/// A variable is missing or cannot be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} has an invalid value {value:?}: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: &'static str,
    },
}

const DEFAULT_IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 60 * 60);

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let table_name = lookup("TABLE_NAME")
            .filter(|value| !value.is_empty())
            .ok_or(ConfigError::Missing("TABLE_NAME"))?;
        let idempotency_ttl = match lookup("IDEMPOTENCY_TTL_SECONDS") {
            None => DEFAULT_IDEMPOTENCY_TTL,
            Some(value) => match value.parse::<u64>() {
                Ok(seconds) if seconds > 0 => Duration::from_secs(seconds),
                _ => {
                    return Err(ConfigError::Invalid {
                        name: "IDEMPOTENCY_TTL_SECONDS",
                        value,
                        reason: "expected a positive number of seconds",
                    });
                }
            },
        };
        Ok(Self {
            table_name,
            idempotency_ttl,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    #[test]
    fn reads_the_table_and_defaults_the_ttl() {
        let config = Config::from_lookup(lookup(&[("TABLE_NAME", "orders")])).unwrap();
        assert_eq!(config.table_name, "orders");
        assert_eq!(config.idempotency_ttl, DEFAULT_IDEMPOTENCY_TTL);
    }

    #[test]
    fn a_missing_table_name_is_an_error() {
        assert_eq!(
            Config::from_lookup(lookup(&[])),
            Err(ConfigError::Missing("TABLE_NAME"))
        );
        assert_eq!(
            Config::from_lookup(lookup(&[("TABLE_NAME", "")])),
            Err(ConfigError::Missing("TABLE_NAME"))
        );
    }

    #[test]
    fn a_bad_ttl_is_an_error() {
        for bad in ["0", "-1", "day"] {
            let result = Config::from_lookup(lookup(&[
                ("TABLE_NAME", "orders"),
                ("IDEMPOTENCY_TTL_SECONDS", bad),
            ]));
            assert!(matches!(result, Err(ConfigError::Invalid { .. })), "{bad}");
        }
    }
}
