//! The hook's flow: read what the deployment deploys, send each new version its smoke request,
//! and report the verdict.
//!
//! Before CodeDeploy shifts any traffic it invokes the `PreTraffic` hook function, asynchronously,
//! with `{"DeploymentId", "LifecycleEventHookExecutionId"}` ([`HookEvent`]; sample:
//! `events/pre-traffic-check.json`). The hook reads the deployment ([`crate::deployment`]),
//! invokes the *target version* itself (`Qualifier` = the version number) with its smoke request
//! ([`crate::smoke_tests`]): `live` still points at the old version, so no client can reach the new
//! one before it has passed. Then it reports the verdict ([`crate::verdict`]).
//!
//! Every step logs one line naming the deployment, the function and version, the check and the
//! verdict. A failed check logs the answer's status and error code only, never its body.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use lambda_runtime::{Error, LambdaEvent};
use serde::Deserialize;

use crate::clients::{failure, sent};
use crate::deployment::{Target, read_targets};
use crate::smoke_tests::SmokeTest;
use crate::verdict::{CheckFailed, HookStatus, report};

/// The event CodeDeploy sends a lifecycle hook.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HookEvent {
    /// The deployment being checked (`d-...`).
    pub deployment_id: String,
    /// This execution of the hook: the verdict is reported against it.
    pub lifecycle_event_hook_execution_id: String,
}

/// Checks the deployment named by the event and reports the verdict to CodeDeploy.
///
/// Always reports, `Failed` for every failure of the check. Returns an error only if the report
/// could not be made.
pub async fn handler(
    deployments: &aws_sdk_codedeploy::Client,
    functions: &aws_sdk_lambda::Client,
    event: LambdaEvent<HookEvent>,
) -> Result<HookStatus, Error> {
    let HookEvent {
        deployment_id,
        lifecycle_event_hook_execution_id: execution_id,
    } = event.payload;
    let status = match check_deployment(deployments, functions, &deployment_id).await {
        Ok(()) => HookStatus::Succeeded,
        Err(_) => HookStatus::Failed,
    };
    report(deployments, &deployment_id, &execution_id, status).await?;
    Ok(status)
}

/// Reads what the deployment deploys and smoke-tests it. Each step logs its own outcome.
pub async fn check_deployment(
    deployments: &aws_sdk_codedeploy::Client,
    functions: &aws_sdk_lambda::Client,
    deployment_id: &str,
) -> Result<(), CheckFailed> {
    let targets = match read_targets(deployments, deployment_id).await {
        Ok(targets) => targets,
        Err(failure) => {
            tracing::error!(deploymentId = deployment_id, verdict = "failed", reason = %failure, "deployment not read");
            return Err(failure);
        }
    };
    for target in &targets {
        tracing::info!(
            deploymentId = deployment_id,
            functionName = %target.function_name,
            alias = %target.alias,
            currentVersion = target.current_version.as_deref().unwrap_or("none"),
            targetVersion = %target.target_version,
            "deployment read"
        );
        smoke_test(functions, deployment_id, target).await?;
    }
    Ok(())
}

/// Runs the function's smoke test against the target version, and logs the verdict.
async fn smoke_test(
    functions: &aws_sdk_lambda::Client,
    deployment_id: &str,
    target: &Target,
) -> Result<(), CheckFailed> {
    let test = SmokeTest::for_function(&target.function_name);
    let result = match test {
        Some(test) => invoke(functions, target, test).await,
        None => Err(CheckFailed::UnknownFunction(target.function_name.clone())),
    };
    let check = test.map_or_else(|| "none".to_owned(), ToString::to_string);
    match &result {
        Ok(()) => tracing::info!(
            deploymentId = deployment_id,
            functionName = %target.function_name,
            version = %target.target_version,
            check = %check,
            verdict = "passed",
            "smoke test"
        ),
        Err(failure) => tracing::error!(
            deploymentId = deployment_id,
            functionName = %target.function_name,
            version = %target.target_version,
            check = %check,
            verdict = "failed",
            reason = %failure,
            "smoke test"
        ),
    }
    result
}

/// Invokes the target version with the smoke request, synchronously, and checks the answer.
async fn invoke(
    functions: &aws_sdk_lambda::Client,
    target: &Target,
    test: &SmokeTest,
) -> Result<(), CheckFailed> {
    let request = functions
        .invoke()
        .function_name(&target.function_name)
        .qualifier(&target.target_version)
        .invocation_type(InvocationType::RequestResponse)
        .payload(Blob::new(test.request().to_string()));
    let output = sent(request.send())
        .await
        .map_err(failure(CheckFailed::Invoke))?;
    let payload: &[u8] = output.payload().map_or(&[], |payload| payload.as_ref());
    if let Some(kind) = output.function_error() {
        #[derive(Deserialize)]
        struct ErrorPayload {
            #[serde(rename = "errorType")]
            error_type: Option<String>,
        }
        let error_type = serde_json::from_slice::<ErrorPayload>(payload)
            .ok()
            .and_then(|error| error.error_type);
        return Err(CheckFailed::FunctionError {
            kind: kind.to_owned(),
            error_type,
        });
    }
    test.check(payload)
}

#[cfg(test)]
mod tests;
