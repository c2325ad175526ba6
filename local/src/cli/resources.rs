//! # `orders-local resources`: CloudFormation's step alone, for a function run outside the stack
//!
//! `make invoke` and `make watch` run a function under `cargo lambda watch`, and `make sam-invoke`
//! under SAM's container, not under the local stack's Lambda. They get their resources as
//! `make dev` does: this deploys `template.yaml` onto the moto server the caller started
//! (`AWS_ENDPOINT_URL`, else `127.0.0.1:$ORDERS_LOCAL_MOTO_PORT`, default 5000) through
//! [`deploy_resources`], the step [`crate::stack::Stack::start`] takes, and starts nothing else.
//! Deploying again onto the same moto finds the resources by name and creates nothing new.
//!
//! What it writes is each function's environment as [`crate::stack::Stack::start`] gives it: the
//! template's variables, resolved (`TABLE_NAME` is the table's physical name, `PAYMENT_KEY_ID` the
//! key's ARN), Lambda's logging controls, and the emulator's endpoint, region and test
//! credentials:
//!
//! - `--env-file PATH`: `KEY=VALUE` lines, for `cargo lambda watch --env-file`, which runs every
//!   function in one environment: the file holds every function's variables together (a
//!   variable that two functions give different values is reported);
//! - `--env-dir DIR`: `DIR/<function>.env`, one function's variables each (`make invoke`);
//! - `--sam-env-vars PATH`: one object per function's logical id, for `sam local invoke
//!   --env-vars`, which sets only the variables a function declares;
//! - neither: the `KEY=VALUE` lines on standard output.
//!
//! With `--sample-order` it also stores the order the sample events in `events/` name
//! ([`crate::sample_order`]), with create-order's table and key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_config::SdkConfig;
use orders_shared::config::ConfigError;
use orders_shared::crypto::EnvelopeCipher;
use orders_shared::{Config, EnvelopeConfig, OrderStore};

use crate::sample_order::{SAMPLE_ORDER_ID, SampleOrderError, store_sample_order};
use crate::stack::{StackConfig, StackError, deploy_resources, sdk_config};

use super::{UsageError, value_of};

/// What to deploy, and where the environments go.
#[derive(Debug, Default)]
pub struct ResourcesArgs {
    /// Names the physical resources (`<stack>-OrdersTable`); default: the stack `make dev` runs.
    pub stack_name: Option<String>,
    /// Every function's variables together.
    pub env_file: Option<PathBuf>,
    /// One file a function, named by its binary.
    pub env_dir: Option<PathBuf>,
    pub sam_env_vars: Option<PathBuf>,
    /// Also store the order the sample events name ([`crate::sample_order`]).
    pub sample_order: bool,
}

impl ResourcesArgs {
    pub const USAGE: &str = "orders-local resources [--stack-name NAME] [--env-file PATH] \
                             [--env-dir DIR] [--sam-env-vars PATH] [--sample-order]";

    pub fn parse(arguments: &[String]) -> Result<Self, UsageError> {
        let mut args = Self::default();
        let mut rest = arguments.iter();
        while let Some(argument) = rest.next() {
            match argument.as_str() {
                "--stack-name" => args.stack_name = Some(value_of(argument, &mut rest)?),
                "--env-dir" => args.env_dir = Some(value_of(argument, &mut rest)?.into()),
                "--env-file" => args.env_file = Some(value_of(argument, &mut rest)?.into()),
                "--sam-env-vars" => {
                    args.sam_env_vars = Some(value_of(argument, &mut rest)?.into());
                }
                "--sample-order" => args.sample_order = true,
                other => return Err(UsageError::Unexpected(other.to_owned())),
            }
        }
        Ok(args)
    }
}

/// Why the resources or their environments are not there.
#[derive(Debug, thiserror::Error)]
pub enum ResourcesError {
    #[error("deploying template.yaml onto {endpoint}: {source} (is moto running there?)")]
    Deploy {
        endpoint: String,
        source: StackError,
    },
    #[error("create-order's environment: {0}")]
    Environment(String),
    #[error("storing the sample order: {0}")]
    SampleOrder(#[from] SampleOrderError),
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Deploys the template's resources and writes the functions' environments; the resources
/// created are listed on standard error.
pub async fn run(mut config: StackConfig, args: &ResourcesArgs) -> Result<(), ResourcesError> {
    if let Some(stack_name) = &args.stack_name {
        config.stack_name = stack_name.clone();
    }
    let endpoint = config
        .endpoint
        .clone()
        .unwrap_or_else(|| format!("http://127.0.0.1:{}", config.moto_port));
    let (deployed, environments) =
        deploy_resources(&config, &endpoint)
            .await
            .map_err(|source| ResourcesError::Deploy {
                endpoint: endpoint.clone(),
                source,
            })?;
    eprintln!(
        "stack `{}` on {endpoint}, from template.yaml:",
        config.stack_name
    );
    for resource in deployed.resources() {
        eprintln!(
            "  {:<28} {:<30} {}",
            resource.logical_id, resource.resource_type, resource.physical_id
        );
    }

    if args.sample_order {
        let create_order = environments
            .iter()
            .find(|(function, _)| function.binary == "create-order")
            .map(|(_, environment)| environment)
            .ok_or_else(|| ResourcesError::Environment("no create-order in the template".into()))?;
        let aws = sdk_config(&endpoint, &config.region).await;
        if store_sample_order_with(&aws, create_order).await? {
            eprintln!("stored the sample events' order {SAMPLE_ORDER_ID}");
        }
    }

    if let Some(path) = &args.sam_env_vars {
        let by_logical_id: BTreeMap<&str, &BTreeMap<String, String>> = environments
            .iter()
            .map(|(function, environment)| (function.logical_id.as_str(), environment))
            .collect();
        let json = serde_json::to_string_pretty(&by_logical_id).unwrap_or_default();
        write(path, &json)?;
    }
    if let Some(dir) = &args.env_dir {
        for (function, environment) in &environments {
            let path = dir.join(format!("{}.env", function.binary));
            write(&path, &env_lines([(function.binary.as_str(), environment)]))?;
        }
    }
    let lines = env_lines(
        environments
            .iter()
            .map(|(function, environment)| (function.binary.as_str(), environment)),
    );
    match &args.env_file {
        Some(path) => write(path, &lines)?,
        None if args.sam_env_vars.is_none() && args.env_dir.is_none() => print!("{lines}"),
        None => {}
    }
    Ok(())
}

/// Stores the sample order with the table and the key create-order is given (`TABLE_NAME`,
/// `PAYMENT_KEY_ID`): the resources of this stack, as the sample events expect them.
async fn store_sample_order_with(
    aws: &SdkConfig,
    environment: &BTreeMap<String, String>,
) -> Result<bool, ResourcesError> {
    let lookup = |name: &str| environment.get(name).cloned();
    let unusable = |error: ConfigError| ResourcesError::Environment(error.to_string());
    let table = Config::from_lookup(lookup).map_err(unusable)?;
    let store = OrderStore::new(aws_sdk_dynamodb::Client::new(aws), &table);
    let envelope = EnvelopeConfig::from_lookup(lookup).map_err(unusable)?;
    let cipher = EnvelopeCipher::for_cards(aws_sdk_kms::Client::new(aws), &envelope);
    Ok(store_sample_order(&store, &cipher).await?)
}

/// Environments (by function) as one set of `KEY=VALUE` lines, the first function's value
/// winning where two differ (each such variable is reported on standard error).
fn env_lines<'a>(
    environments: impl IntoIterator<Item = (&'a str, &'a BTreeMap<String, String>)>,
) -> String {
    let mut merged: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
    for (function, environment) in environments {
        for (name, value) in environment {
            match merged.get(name.as_str()) {
                None => {
                    merged.insert(name, (value, function));
                }
                Some((kept, from)) if kept != value => eprintln!(
                    "note: {name} is {kept:?} for {from} but {value:?} for {function}: the env \
                     file has {from}'s"
                ),
                Some(_) => {}
            }
        }
    }
    merged
        .iter()
        .map(|(name, (value, _))| format!("{name}={value}\n"))
        .collect()
}

fn write(path: &Path, contents: &str) -> Result<(), ResourcesError> {
    let written = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(path, contents));
    written.map_err(|source| ResourcesError::Write {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environment(variables: &[(&str, &str)]) -> BTreeMap<String, String> {
        variables
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn every_function_s_variables_go_into_one_env_file_the_first_value_winning() {
        let a = environment(&[("TABLE_NAME", "t"), ("ONLY_A", "1"), ("LEVEL", "INFO")]);
        let b = environment(&[("TABLE_NAME", "t"), ("LEVEL", "DEBUG")]);
        assert_eq!(
            env_lines([("a", &a), ("b", &b)]),
            "LEVEL=INFO\nONLY_A=1\nTABLE_NAME=t\n"
        );
        assert_eq!(env_lines([("b", &b)]), "LEVEL=DEBUG\nTABLE_NAME=t\n");
    }
}
