//! CloudFormation's step of the stack: the template's resources on moto, and the environment each
//! function gets from them (only what the template gives it, plus the emulator's endpoint and
//! credentials), for the stack's own Lambda and for a function run outside it.

use std::collections::BTreeMap;

use aws_config::{BehaviorVersion, Region, SdkConfig};

use super::{StackConfig, StackError};
use crate::cloudformation::template::FunctionSpec;
use crate::cloudformation::{self, Deployed};

/// SDK configuration for a local endpoint with the emulator's test credentials.
pub async fn sdk_config(endpoint: &str, region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_owned()))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "testing", "testing", None, None, "local",
        ))
        .load()
        .await
}

/// CloudFormation's step of [`Stack::start`](super::Stack::start) alone: the template's resources on the server at
/// `endpoint` (started by the caller), and the environment [`Stack::start`](super::Stack::start) would give each
/// function. For a function run outside the stack, as `make invoke` and `make watch` run one
/// under `cargo lambda watch` (`orders-local resources`).
pub async fn deploy_resources(
    config: &StackConfig,
    endpoint: &str,
) -> Result<(Deployed, Vec<(FunctionSpec, BTreeMap<String, String>)>), StackError> {
    let template = config.template()?;
    let aws = sdk_config(endpoint, &config.region).await;
    let deployed = cloudformation::deploy(&template, &aws, &config.stack_name)
        .await
        .map_err(|error| StackError::Resources(error.to_string()))?;
    let environments = template
        .functions()
        .into_iter()
        .map(|function| {
            let environment = function_environment(&deployed, &function, endpoint, config)?;
            Ok((function, environment))
        })
        .collect::<Result<_, StackError>>()?;
    Ok((deployed, environments))
}

/// The environment a function gets: what the template gives it, what Lambda's logging controls
/// set, and the emulator's endpoint, region and test credentials. Nothing else.
pub(super) fn function_environment(
    deployed: &Deployed,
    function: &FunctionSpec,
    endpoint: &str,
    config: &StackConfig,
) -> Result<BTreeMap<String, String>, StackError> {
    let mut environment = deployed
        .environment(function)
        .map_err(|error| StackError::Resources(format!("{}: {error}", function.logical_id)))?;
    // Exam: Lambda's advanced logging controls arrive as these variables.
    if let Some(format) = &function.log_format {
        environment.insert("AWS_LAMBDA_LOG_FORMAT".into(), format.clone());
    }
    if let Some(level) = &function.application_log_level {
        let level = deployed
            .resolve(level)
            .map_err(|error| StackError::Resources(format!("{}: {error}", function.logical_id)))?;
        environment.insert("AWS_LAMBDA_LOG_LEVEL".into(), level);
    }
    for (name, value) in [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_REGION", config.region.as_str()),
        ("AWS_DEFAULT_REGION", config.region.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ] {
        environment.insert(name.into(), value.into());
    }
    Ok(environment)
}
