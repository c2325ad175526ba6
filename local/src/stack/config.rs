//! What the local stack listens on and how it behaves: every address with a documented default
//! (as `sam local start-api` has), each overridable by an environment variable; and why a stack
//! could not start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cloudformation::Template;
use crate::lambda::LogOutput;
use crate::moto::MotoError;

/// Where everything listens, and how the stack behaves. Each address has a documented default
/// (as `sam local start-api`), overridable by environment ([`StackConfig::from_env`]).
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// The repository: `template.yaml`, `.venv`, `scripts/`, `target/`.
    pub workspace: PathBuf,
    /// Names the physical resources: `<stack>-OrdersTable`, ...
    pub stack_name: String,
    pub region: String,
    /// API Gateway (`ORDERS_LOCAL_API`, default `127.0.0.1:3000`).
    pub api: SocketAddr,
    /// moto's port (`ORDERS_LOCAL_MOTO_PORT`, default 5000; 0 picks a free one).
    pub moto_port: u16,
    /// Use this server instead of starting moto (`AWS_ENDPOINT_URL`).
    pub endpoint: Option<String>,
    /// The X-Ray daemon (`ORDERS_LOCAL_XRAY`, default `127.0.0.1:2000`).
    pub xray: SocketAddr,
    /// The Lambda Runtime API (`ORDERS_LOCAL_LAMBDA`, default `127.0.0.1:9001`).
    pub lambda: SocketAddr,
    /// The merchant's webhook receiver (`ORDERS_LOCAL_MERCHANT`, default `127.0.0.1:0`: a free
    /// port, shown in the banner), started unless `MerchantWebhookUrl` is given
    /// ([`crate::merchant_webhook`]).
    pub merchant: SocketAddr,
    /// The functions' binaries (`target/debug`, as `cargo build` leaves them).
    pub binaries: PathBuf,
    /// Where the functions' logs go.
    pub logs: LogOutput,
    /// Print each trace as a tree when it completes.
    pub print_traces: bool,
    /// A failed queue message comes back after this instead of the queue's visibility timeout
    /// (`ORDERS_LOCAL_RETRY_AFTER_SECONDS`; unset: the template's timeout, as on AWS).
    pub retry_after: Option<Duration>,
    /// How long a poller sleeps after an empty poll.
    pub poll_interval: Duration,
    /// The template's parameters given at deploy time, as `sam deploy --parameter-overrides`
    /// gives them (`orders-local --parameter-overrides ApiCacheEnabled=true`, or
    /// `ORDERS_LOCAL_PARAMETER_OVERRIDES`); the others take their `Default`.
    pub parameter_overrides: Vec<(String, String)>,
}

impl StackConfig {
    /// The documented defaults, overridden by the environment.
    pub fn from_env(workspace: &Path) -> Result<Self, StackError> {
        let address = |name: &'static str, default: &str| -> Result<SocketAddr, StackError> {
            let value = std::env::var(name).unwrap_or_else(|_| default.to_owned());
            value.parse().map_err(|_| StackError::Config {
                name,
                reason: format!("{value:?} is not an address like 127.0.0.1:3000"),
            })
        };
        let moto_port = match std::env::var("ORDERS_LOCAL_MOTO_PORT") {
            Ok(value) => value.parse().map_err(|_| StackError::Config {
                name: "ORDERS_LOCAL_MOTO_PORT",
                reason: format!("{value:?} is not a port"),
            })?,
            Err(_) => 5000,
        };
        let retry_after = match std::env::var("ORDERS_LOCAL_RETRY_AFTER_SECONDS") {
            Ok(value) => Some(Duration::from_secs(value.parse().map_err(|_| {
                StackError::Config {
                    name: "ORDERS_LOCAL_RETRY_AFTER_SECONDS",
                    reason: format!("{value:?} is not a number of seconds"),
                }
            })?)),
            Err(_) => None,
        };
        let parameter_overrides = match std::env::var("ORDERS_LOCAL_PARAMETER_OVERRIDES") {
            Ok(value) => parse_parameter_overrides(value.split_whitespace()).map_err(|reason| {
                StackError::Config {
                    name: "ORDERS_LOCAL_PARAMETER_OVERRIDES",
                    reason,
                }
            })?,
            Err(_) => Vec::new(),
        };
        Ok(Self {
            workspace: workspace.to_owned(),
            stack_name: std::env::var("ORDERS_LOCAL_STACK")
                .unwrap_or_else(|_| "orders-local".into()),
            region: "us-east-1".into(),
            api: address("ORDERS_LOCAL_API", "127.0.0.1:3000")?,
            moto_port,
            endpoint: std::env::var("AWS_ENDPOINT_URL").ok(),
            xray: address("ORDERS_LOCAL_XRAY", "127.0.0.1:2000")?,
            lambda: address("ORDERS_LOCAL_LAMBDA", "127.0.0.1:9001")?,
            merchant: address("ORDERS_LOCAL_MERCHANT", "127.0.0.1:0")?,
            binaries: workspace.join("target/debug"),
            logs: LogOutput::Console,
            print_traces: true,
            retry_after,
            poll_interval: Duration::from_millis(250),
            parameter_overrides,
        })
    }

    /// `template.yaml`, with the parameter overrides.
    pub fn template(&self) -> Result<Template, StackError> {
        Template::load_with_overrides(
            &self.workspace.join("template.yaml"),
            &self.parameter_overrides,
        )
        .map_err(|error| StackError::Template(error.to_string()))
    }
}

/// Parameter values in `sam deploy --parameter-overrides`' two spellings: `Name=value` or
/// `ParameterKey=Name,ParameterValue=value`.
pub fn parse_parameter_overrides<'a>(
    arguments: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<(String, String)>, String> {
    let mut overrides = Vec::new();
    for argument in arguments {
        let pair = match argument
            .strip_prefix("ParameterKey=")
            .and_then(|rest| rest.split_once(",ParameterValue="))
        {
            Some(pair) => Some(pair),
            None => argument.split_once('='),
        };
        match pair {
            Some((name, value)) if !name.is_empty() => {
                overrides.push((name.to_owned(), value.to_owned()))
            }
            _ => {
                return Err(format!(
                    "{argument:?} is not Name=value (nor ParameterKey=Name,ParameterValue=value)"
                ));
            }
        }
    }
    Ok(overrides)
}

#[cfg(test)]
mod tests {
    use super::parse_parameter_overrides;

    #[test]
    fn parameter_overrides_take_both_of_sam_deploys_spellings() {
        let parsed = parse_parameter_overrides([
            "ApiCacheEnabled=true",
            "ParameterKey=StageName,ParameterValue=test",
            "Empty=",
        ])
        .unwrap();
        let pairs: Vec<(&str, &str)> = parsed
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("ApiCacheEnabled", "true"),
                ("StageName", "test"),
                ("Empty", "")
            ]
        );
        assert!(parse_parameter_overrides(["ApiCacheEnabled"]).is_err());
        assert!(parse_parameter_overrides(["=true"]).is_err());
    }
}

/// Why the stack could not start. Each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("{name}: {reason}")]
    Config { name: &'static str, reason: String },
    #[error(transparent)]
    Moto(#[from] MotoError),
    #[error("template.yaml: {0}")]
    Template(String),
    #[error("creating the template's resources: {0}")]
    Resources(String),
    #[error("{service} cannot listen on {address}: {source} (set {variable} to another address)")]
    Listen {
        service: &'static str,
        address: SocketAddr,
        variable: &'static str,
        source: std::io::Error,
    },
    #[error("no binary for {function} at {path}: build the functions first (`cargo build --bins`)")]
    NoBinary { function: String, path: String },
}

impl StackError {
    /// `service` could not bind `address` (taken, most often), which the environment variable
    /// `variable` overrides: for `map_err` on the service's start.
    pub(crate) fn cannot_listen(
        service: &'static str,
        address: SocketAddr,
        variable: &'static str,
    ) -> impl FnOnce(std::io::Error) -> Self {
        move |source| Self::Listen {
            service,
            address,
            variable,
            source,
        }
    }
}
