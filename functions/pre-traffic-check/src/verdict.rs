//! The verdict, and how it is reported to CodeDeploy (`PutLifecycleEventHookExecutionStatus`):
//!
//! - `Succeeded`: the deployment goes on and the traffic starts to shift;
//! - `Failed`: the deployment stops and rolls back: `live` never points at the new version.
//!
//! A hook that never reports keeps the deployment waiting for the hook's timeout (one hour), so
//! this one reports in every case, `Failed` whenever it cannot tell that the version works
//! ([`CheckFailed`]: the deployment cannot be read, the function is unknown, the invoke fails).
//! Only when the report itself fails does the handler return an error ([`ReportFailed`]): Lambda
//! retries a failed asynchronous invocation twice, and the retry checks and reports again.

use aws_sdk_codedeploy::operation::put_lifecycle_event_hook_execution_status::PutLifecycleEventHookExecutionStatusError;
use aws_sdk_codedeploy::types::LifecycleEventStatus;
use serde::Serialize;

use crate::clients::{cause, sent};

/// The verdict reported to CodeDeploy (and returned, for `cargo lambda invoke`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum HookStatus {
    /// The new version passed: the traffic may shift to it.
    Succeeded,
    /// It did not, or the hook could not tell: the deployment rolls back.
    Failed,
}

impl From<HookStatus> for LifecycleEventStatus {
    fn from(status: HookStatus) -> Self {
        match status {
            HookStatus::Succeeded => LifecycleEventStatus::Succeeded,
            HookStatus::Failed => LifecycleEventStatus::Failed,
        }
    }
}

/// Why a deployment failed its check. Each variant is reported as `Failed`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckFailed {
    /// The deployment, or the function and version it deploys, could not be read.
    #[error("cannot tell what the deployment deploys: {0}")]
    Deployment(String),
    /// The function has no smoke test (the name is the function's name).
    #[error("no smoke test for {0}")]
    UnknownFunction(String),
    /// The invoke itself failed (permissions, throttling, no such version).
    #[error("the invoke failed: {0}")]
    Invoke(String),
    /// The function ran and failed: `Unhandled` (an error, a crash, a timeout).
    #[error("the function failed ({kind}, errorType {})", .error_type.as_deref().unwrap_or("unknown"))]
    FunctionError {
        /// The invoke's `FunctionError`.
        kind: String,
        /// The `errorType` of the error payload, if it has one (never its message).
        error_type: Option<String>,
    },
    /// The function answered, but not what a working version answers.
    #[error("expected {expected}, got {got}")]
    UnexpectedAnswer {
        /// The answer that passes: `404 OrderNotFound`.
        expected: String,
        /// What came back: a status and an error code, never a body.
        got: String,
    },
}

/// Reporting the verdict failed: the handler fails, so Lambda invokes the hook again.
#[derive(Debug, thiserror::Error)]
#[error("the verdict {status:?} for deployment {deployment_id} was not reported: {cause}")]
pub struct ReportFailed {
    /// The deployment whose verdict is lost.
    pub deployment_id: String,
    /// The verdict that was not reported.
    pub status: HookStatus,
    /// The SDK's error, with its causes.
    pub cause: String,
}

/// Reports the verdict. A hook execution that is already completed (an earlier attempt of this
/// invocation reported, or the hook timed out) has nothing left to report.
pub(crate) async fn report(
    deployments: &aws_sdk_codedeploy::Client,
    deployment_id: &str,
    execution_id: &str,
    status: HookStatus,
) -> Result<(), ReportFailed> {
    let request = deployments
        .put_lifecycle_event_hook_execution_status()
        .deployment_id(deployment_id)
        .lifecycle_event_hook_execution_id(execution_id)
        .status(status.into());
    let result = sent(request.send()).await;
    match result {
        Ok(_) => {
            tracing::info!(deploymentId = deployment_id, status = ?status, "verdict reported");
            Ok(())
        }
        Err(error)
            if matches!(
                error.as_service_error(),
                Some(
                    PutLifecycleEventHookExecutionStatusError::LifecycleEventAlreadyCompletedException(_)
                )
            ) =>
        {
            tracing::warn!(
                deploymentId = deployment_id,
                status = ?status,
                "verdict not reported: the hook execution is already completed"
            );
            Ok(())
        }
        Err(error) => {
            let failed = ReportFailed {
                deployment_id: deployment_id.to_owned(),
                status,
                cause: cause(&error),
            };
            tracing::error!(deploymentId = deployment_id, status = ?status, error = %failed, "verdict not reported: Lambda will retry the hook");
            Err(failed)
        }
    }
}
