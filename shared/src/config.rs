//! Configuration: the environment a function reads, read once.
//!
//! Lambda passes configuration as environment variables (the template's `Environment.Variables`).
//! They are read here, in one place, during the init phase: a function that lacks one fails at cold
//! start with a clear message instead of on some later request. Nothing else reads the environment.
//!
//! [`Config`] is what every function reads; [`EnvelopeConfig`] only the functions that handle card
//! data, [`TopicConfig`] only the one that publishes events, [`CorsConfig`] the API functions,
//! [`WebhookConfig`] the merchant notifier.

use std::num::NonZeroUsize;
use std::time::Duration;

use crate::crypto::CachePolicy;

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

/// How a function reports: log format and level (Lambda's advanced logging controls), where the
/// X-Ray daemon listens, and the function's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// `AWS_LAMBDA_LOG_FORMAT=JSON`.
    pub log_json: bool,
    /// `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else `INFO`.
    pub log_level: String,
    /// `AWS_XRAY_DAEMON_ADDRESS` (`host:port`; Lambda sets it when tracing is active). Unset: no
    /// traces are sent.
    pub xray_daemon: Option<std::net::SocketAddr>,
    /// `AWS_LAMBDA_FUNCTION_NAME`: the subsegments' name and the metrics' `service` dimension.
    pub function_name: String,
}

impl TelemetryConfig {
    pub fn from_env() -> Self {
        Self::from_lookup(environment)
    }

    /// Never fails: telemetry must not stop a function from serving.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        Self {
            log_json: lookup("AWS_LAMBDA_LOG_FORMAT")
                .is_some_and(|f| f.eq_ignore_ascii_case("json")),
            log_level: lookup("AWS_LAMBDA_LOG_LEVEL")
                .or_else(|| lookup("RUST_LOG"))
                .unwrap_or_else(|| "INFO".to_owned()),
            xray_daemon: lookup("AWS_XRAY_DAEMON_ADDRESS").and_then(|a| a.parse().ok()),
            function_name: lookup("AWS_LAMBDA_FUNCTION_NAME")
                .unwrap_or_else(|| "orders-on-lambda".to_owned()),
        }
    }
}

/// The process environment, as the `lookup` each `from_lookup` reads through (tests pass a map).
fn environment(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A variable the function cannot run without: set, and not empty.
fn required(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<String, ConfigError> {
    lookup(name)
        .filter(|value| !value.is_empty())
        .ok_or(ConfigError::Missing(name))
}

const DEFAULT_IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// What a function that seals or opens card data needs (`create-order`, `fulfill-order`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeConfig {
    /// The KMS key data keys are generated under (`PAYMENT_KEY_ID`: id, ARN or alias; the
    /// template passes the key's ARN).
    pub key_id: String,
    /// Data-key caching: `DATA_KEY_CACHE_MAX_MESSAGES` (0 disables caching),
    /// `DATA_KEY_CACHE_MAX_AGE_SECONDS`, `DATA_KEY_CACHE_CAPACITY`; defaults in [`CachePolicy`].
    pub cache: CachePolicy,
}

impl EnvelopeConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(environment)
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let key_id = required(&lookup, "PAYMENT_KEY_ID")?;
        let defaults = CachePolicy::DEFAULT;
        let number = |name: &'static str, default: u64, minimum: u64| match lookup(name) {
            None => Ok(default),
            Some(value) => match value.parse::<u64>() {
                Ok(n) if n >= minimum => Ok(n),
                _ => Err(ConfigError::Invalid {
                    name,
                    value,
                    reason: if minimum == 0 {
                        "expected a whole number"
                    } else {
                        "expected a positive whole number"
                    },
                }),
            },
        };
        let max_messages = number("DATA_KEY_CACHE_MAX_MESSAGES", defaults.max_messages, 0)?;
        let max_age = number(
            "DATA_KEY_CACHE_MAX_AGE_SECONDS",
            defaults.max_age.as_secs(),
            1,
        )?;
        let capacity = number("DATA_KEY_CACHE_CAPACITY", defaults.capacity.get() as u64, 1)?;
        Ok(Self {
            key_id,
            cache: CachePolicy {
                max_messages,
                max_age: Duration::from_secs(max_age),
                capacity: NonZeroUsize::new(capacity as usize).unwrap_or(defaults.capacity),
            },
        })
    }
}

/// Which web origin may call the API from a browser: `ALLOWED_ORIGIN` (the template's
/// `AllowedOrigin` parameter). Unset: no CORS headers, and browsers on other origins are refused.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CorsConfig {
    pub allowed_origin: Option<String>,
}

impl CorsConfig {
    pub fn from_env() -> Self {
        Self::from_lookup(environment)
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        Self {
            allowed_origin: lookup("ALLOWED_ORIGIN").filter(|value| !value.is_empty()),
        }
    }
}

/// Where `publish-events` sends events: `TOPIC_ARN` (the template's `!Ref OrderEventsTopic`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfig {
    pub topic_arn: String,
}

impl TopicConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(environment)
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let topic_arn = required(&lookup, "TOPIC_ARN")?;
        Ok(Self { topic_arn })
    }
}

/// Where `notify-merchant` sends notifications, and the secret that holds their signing key:
/// `MERCHANT_WEBHOOK_URL` (the template's `MerchantWebhookUrl` parameter) and `WEBHOOK_SECRET_ARN`
/// (`!Ref MerchantWebhookSecret`: the ARN, never the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    pub url: String,
    pub secret_arn: String,
}

impl WebhookConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(environment)
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let url = required(&lookup, "MERCHANT_WEBHOOK_URL")?;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(ConfigError::Invalid {
                name: "MERCHANT_WEBHOOK_URL",
                value: url,
                reason: "not an http(s) URL",
            });
        }
        let secret_arn = required(&lookup, "WEBHOOK_SECRET_ARN")?;
        Ok(Self { url, secret_arn })
    }
}

/// The AWS SDK's configuration, from the standard environment: region, credentials, and
/// `AWS_ENDPOINT_URL`, which points every client at an emulator (moto) when set.
///
/// An empty `AWS_ENDPOINT_URL` is refused here, with a message that says what to do: the SDK
/// takes it as an endpoint and panics at the first call ("URL was unset"). It is what `sam local
/// invoke` sets for a variable the template declares but SAM cannot resolve (the template's
/// `AWS_ENDPOINT_URL: !Ref AWS::NoValue`), unless `--env-vars` gives it a value.
///
/// Every client built from it has the [`sdk_timeouts`]: no AWS call can wait past the function's
/// own deadline.
pub async fn aws_sdk_config() -> Result<aws_config::SdkConfig, ConfigError> {
    check_endpoint_url(environment)?;
    Ok(sdk_config_loader().load().await)
}

/// What [`aws_sdk_config`] loads: the standard environment, with [`sdk_timeouts`], over the
/// HTTPS client that trusts only the roots AWS endpoints chain to ([`crate::aws_https`]).
pub fn sdk_config_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(sdk_timeouts())
        .http_client(crate::aws_https::https_client())
}

/// How long one attempt of an AWS call (one HTTP request and its answer) may take.
///
/// DynamoDB, KMS and SNS answer in milliseconds; an attempt still unanswered after 2 s is stuck
/// (a dead connection, an overloaded endpoint), and another attempt, on a new connection, is the
/// better bet. The SDK's connect timeout (3.1 s by default) stays, inside this bound.
pub const SDK_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long one AWS call may take in all, its retries and their backoff included.
///
/// The SDK retries a timed-out attempt (standard mode: 3 attempts, jittered exponential backoff),
/// but without an operation timeout it has no bound: with the default of none, a call to a
/// dependency that accepts connections and never answers waits until Lambda kills the function
/// at its `Timeout` (10 s in the template). Then nothing is reported: the whole batch comes back,
/// and the invocation counts as an error. 4 s lets a stuck first attempt (2 s) be followed by a
/// backoff and most of a second one, and leaves the function more than half of its 10 s to
/// answer, report the record as failed and go on (`messaging::deadline` keeps this much time in
/// reserve before it starts a record).
///
/// Not configurable: it is tied to the template's `Timeout`, not to a deployment's taste.
pub const SDK_OPERATION_TIMEOUT: Duration = Duration::from_secs(4);

/// The timeouts of every SDK client the functions build.
pub fn sdk_timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .operation_attempt_timeout(SDK_ATTEMPT_TIMEOUT)
        .operation_timeout(SDK_OPERATION_TIMEOUT)
        .build()
}

/// `AWS_ENDPOINT_URL`, if set, is not empty.
fn check_endpoint_url(lookup: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
    match lookup("AWS_ENDPOINT_URL") {
        Some(value) if value.trim().is_empty() => Err(ConfigError::Invalid {
            name: "AWS_ENDPOINT_URL",
            value,
            reason: "it is empty: give it the emulator's URL (sam local invoke --env-vars, \
                     as make sam-invoke does) or leave it unset for AWS's own endpoints",
        }),
        _ => Ok(()),
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(environment)
    }

    /// Reads configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let table_name = required(&lookup, "TABLE_NAME")?;
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

    #[test]
    fn an_empty_endpoint_url_is_refused_with_what_to_do() {
        let with = |value: Option<&str>| {
            check_endpoint_url(|name| {
                (name == "AWS_ENDPOINT_URL")
                    .then(|| value.map(str::to_owned))
                    .flatten()
            })
        };
        assert_eq!(with(None), Ok(()));
        assert_eq!(with(Some("http://172.17.0.1:5011")), Ok(()));
        let error = with(Some("")).unwrap_err();
        assert!(error.to_string().contains("AWS_ENDPOINT_URL"), "{error}");
        assert!(error.to_string().contains("--env-vars"), "{error}");
    }

    /// The configuration `aws_sdk_config` loads, with test credentials and a region (the
    /// environment of a test need not have them).
    async fn sdk_config(endpoint: Option<String>) -> aws_config::SdkConfig {
        let mut loader = sdk_config_loader()
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ));
        if let Some(endpoint) = endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        loader.load().await
    }

    #[tokio::test]
    async fn every_client_has_attempt_and_operation_timeouts_within_the_functions_timeout() {
        let functions_timeout = Duration::from_secs(10); // template.yaml, Globals.Function.Timeout
        let aws = sdk_config(None).await;
        let client = crate::telemetry::aws_calls::dynamodb_client(&aws);
        let timeouts = client.config().timeout_config().expect("timeouts are set");
        assert_eq!(
            timeouts.operation_attempt_timeout(),
            Some(SDK_ATTEMPT_TIMEOUT)
        );
        assert_eq!(timeouts.operation_timeout(), Some(SDK_OPERATION_TIMEOUT));
        assert!(
            timeouts.connect_timeout().is_some(),
            "the SDK's connect timeout is kept"
        );
        assert!(SDK_ATTEMPT_TIMEOUT < SDK_OPERATION_TIMEOUT);
        assert!(
            SDK_OPERATION_TIMEOUT * 2 <= functions_timeout,
            "a stuck call leaves the function time to report it and go on"
        );
    }

    #[tokio::test]
    async fn a_dependency_that_never_answers_is_a_timeout_error_not_a_hang() {
        // Accepts every connection, reads nothing, answers nothing: a stuck endpoint.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let client =
            crate::telemetry::aws_calls::dynamodb_client(&sdk_config(Some(endpoint)).await);

        let started = std::time::Instant::now();
        let call = client.get_item().table_name("orders").key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("ORDER#1".into()),
        );
        // A generous outer bound: without an operation timeout the call would wait forever.
        let result = tokio::time::timeout(SDK_OPERATION_TIMEOUT * 3, call.send())
            .await
            .expect("the SDK gives up by itself, within its operation timeout");
        let error = result.expect_err("nothing ever answered");
        assert!(
            matches!(error, aws_sdk_dynamodb::error::SdkError::TimeoutError(_)),
            "{error:?}"
        );
        assert!(
            started.elapsed() >= SDK_ATTEMPT_TIMEOUT,
            "gave up after {:?}",
            started.elapsed()
        );
        silent.abort();
    }

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
    fn the_envelope_config_needs_a_key_and_defaults_the_cache() {
        assert_eq!(
            EnvelopeConfig::from_lookup(lookup(&[])),
            Err(ConfigError::Missing("PAYMENT_KEY_ID"))
        );
        let config = EnvelopeConfig::from_lookup(lookup(&[("PAYMENT_KEY_ID", "alias/k")])).unwrap();
        assert_eq!(config.key_id, "alias/k");
        assert_eq!(config.cache, CachePolicy::DEFAULT);
    }

    #[test]
    fn the_cache_is_configurable_and_zero_messages_disables_it() {
        let config = EnvelopeConfig::from_lookup(lookup(&[
            ("PAYMENT_KEY_ID", "k"),
            ("DATA_KEY_CACHE_MAX_MESSAGES", "0"),
            ("DATA_KEY_CACHE_MAX_AGE_SECONDS", "60"),
            ("DATA_KEY_CACHE_CAPACITY", "5"),
        ]))
        .unwrap();
        assert_eq!(config.cache.max_messages, 0);
        assert_eq!(config.cache.max_age, Duration::from_secs(60));
        assert_eq!(config.cache.capacity.get(), 5);
        for (name, bad) in [
            ("DATA_KEY_CACHE_MAX_MESSAGES", "-1"),
            ("DATA_KEY_CACHE_MAX_AGE_SECONDS", "0"),
            ("DATA_KEY_CACHE_CAPACITY", "many"),
        ] {
            let result =
                EnvelopeConfig::from_lookup(lookup(&[("PAYMENT_KEY_ID", "k"), (name, bad)]));
            assert!(
                matches!(result, Err(ConfigError::Invalid { .. })),
                "{name}={bad}"
            );
        }
    }

    #[test]
    fn telemetry_follows_lambdas_logging_controls_and_daemon_address() {
        let config = TelemetryConfig::from_lookup(lookup(&[
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("AWS_LAMBDA_LOG_LEVEL", "DEBUG"),
            ("RUST_LOG", "trace"),
            ("AWS_XRAY_DAEMON_ADDRESS", "169.254.79.129:2000"),
            ("AWS_LAMBDA_FUNCTION_NAME", "orders-CreateOrder-1"),
        ]));
        assert!(config.log_json);
        assert_eq!(
            config.log_level, "DEBUG",
            "Lambda's level wins over RUST_LOG"
        );
        assert_eq!(
            config.xray_daemon,
            Some("169.254.79.129:2000".parse().unwrap())
        );
        assert_eq!(config.function_name, "orders-CreateOrder-1");

        let local =
            TelemetryConfig::from_lookup(lookup(&[("AWS_XRAY_DAEMON_ADDRESS", "nonsense")]));
        assert!(!local.log_json);
        assert_eq!(local.log_level, "INFO");
        assert_eq!(
            local.xray_daemon, None,
            "no daemon: no traces, and no failure"
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
