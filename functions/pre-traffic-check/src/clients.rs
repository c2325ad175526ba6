//! The hook's two AWS clients: CodeDeploy (read the deployment, report the verdict) and Lambda
//! (invoke the new version). Only the hook calls these services, so their clients live here and
//! not in `orders_shared`; they are traced like every other client of the project
//! ([`AwsCallTracing`]), and name the error codes of the hook's operations on their subsegments.

use std::future::Future;
use std::time::Duration;

use aws_sdk_codedeploy::operation::get_deployment::GetDeploymentError;
use aws_sdk_codedeploy::operation::put_lifecycle_event_hook_execution_status::PutLifecycleEventHookExecutionStatusError;
use aws_sdk_lambda::error::DisplayErrorContext;
use aws_sdk_lambda::operation::invoke::InvokeError;
use orders_shared::telemetry::aws_calls::{AwsCallTracing, OperationError, code_of};

use crate::verdict::CheckFailed;

/// A Lambda client whose calls are traced (the hook invokes the new versions with it), with
/// timeouts long enough for a synchronous `Invoke` ([`invoke_timeouts`]).
pub fn lambda_client(config: &aws_config::SdkConfig) -> aws_sdk_lambda::Client {
    let config = aws_sdk_lambda::config::Builder::from(config)
        .timeout_config(invoke_timeouts())
        .interceptor(tracing())
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

/// A CodeDeploy client whose calls are traced (the hook reads its deployment and reports its
/// verdict with it).
pub fn codedeploy_client(config: &aws_config::SdkConfig) -> aws_sdk_codedeploy::Client {
    let config = aws_sdk_codedeploy::config::Builder::from(config)
        .interceptor(tracing())
        .build();
    aws_sdk_codedeploy::Client::from_conf(config)
}

/// The timeouts of a synchronous Lambda `Invoke` (the hook's): the call lasts as long as the
/// invoked function runs, up to its own `Timeout` (10 s) after a cold start, so the common bounds
/// (`orders_shared::config::sdk_timeouts`) would fail a healthy new version. One attempt may take
/// 12 s, the call 25 s: under the hook's own `Timeout` (30 s), so the hook always lives to report
/// its verdict.
pub fn invoke_timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .operation_attempt_timeout(Duration::from_secs(12))
        .operation_timeout(Duration::from_secs(25))
        .build()
}

/// Sends one SDK request. Boxed, as every SDK future of the hook: they are deeply nested types,
/// and nesting them in the runtime's own would exceed the compiler's type-layout depth limit in
/// `main`.
pub(crate) async fn sent<T, E>(request: impl Future<Output = Result<T, E>>) -> Result<T, E> {
    Box::pin(request).await
}

/// An SDK error with its whole chain of causes (the service's code and message, or the
/// connection's failure), as a verdict names it.
pub(crate) fn cause(error: &impl std::error::Error) -> String {
    DisplayErrorContext(error).to_string()
}

/// A failed SDK call as the check's failure of this `kind`, its causes included.
pub(crate) fn failure<E: std::error::Error>(
    kind: fn(String) -> CheckFailed,
) -> impl FnOnce(E) -> CheckFailed {
    move |error| kind(cause(&error))
}

/// The project's AWS call tracing, naming the error codes of the hook's three operations.
fn tracing() -> AwsCallTracing {
    AwsCallTracing::reading_error_codes(error_code)
}

fn error_code(error: &OperationError) -> Option<String> {
    code_of::<InvokeError>(error)
        .or_else(|| code_of::<GetDeploymentError>(error))
        .or_else(|| code_of::<PutLifecycleEventHookExecutionStatusError>(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_synchronous_invoke_waits_for_the_whole_invoked_function_within_the_hooks_timeout() {
        let functions_timeout = Duration::from_secs(10); // template.yaml, Globals.Function.Timeout
        let aws = orders_shared::config::sdk_config_loader()
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_lambda::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .load()
            .await;
        let invoke = lambda_client(&aws);
        let invoke_timeouts = invoke.config().timeout_config().expect("timeouts are set");
        assert!(
            invoke_timeouts.operation_attempt_timeout().unwrap() > functions_timeout,
            "a synchronous Invoke waits for the whole invoked function"
        );
        assert!(invoke_timeouts.operation_timeout().unwrap() < Duration::from_secs(30));
    }

    #[test]
    fn the_hooks_operations_name_their_error_codes() {
        let invoke = OperationError::erase(InvokeError::TooManyRequestsException(
            aws_sdk_lambda::types::error::TooManyRequestsException::builder()
                .meta(
                    aws_sdk_lambda::error::ErrorMetadata::builder()
                        .code("TooManyRequestsException")
                        .build(),
                )
                .build(),
        ));
        assert_eq!(
            error_code(&invoke).as_deref(),
            Some("TooManyRequestsException")
        );
        let other = OperationError::erase(std::io::Error::other("not an AWS error"));
        assert_eq!(error_code(&other), None);
    }
}
