//! `pre-traffic-check`: the CodeDeploy `PreTraffic` hook. Every new version of every function
//! answers one harmless request before the first client request reaches it.
//!
//! # Canary deployments: versions, aliases and CodeDeploy
//!
//! A Lambda *version* is an immutable snapshot of a function's code and configuration, numbered
//! `1`, `2`, ...; an *alias* (`live`) is a named pointer to a version, and it is the alias that API
//! Gateway and the event source mappings invoke. An alias can also split invocations between two
//! versions by weight. The template's `AutoPublishAlias: live` makes every `sam deploy` that
//! changes a function publish a new version, and its `DeploymentPreference` hands the move of
//! `live` to CodeDeploy instead of CloudFormation: `Canary10Percent5Minutes` sends 10% of the
//! invocations to the new version for five minutes, then all of them; `Linear10PercentEvery1Minute`
//! moves in steps; `AllAtOnce` moves at once. Each function is one CodeDeploy deployment.
//!
//! # The `PreTraffic` hook
//!
//! Before CodeDeploy shifts any traffic it invokes the `PreTraffic` hook function, asynchronously,
//! with `{"DeploymentId", "LifecycleEventHookExecutionId"}` (sample: `events/pre-traffic-check.json`).
//! The hook decides, and reports its verdict with `PutLifecycleEventHookExecutionStatus`:
//!
//! - `Succeeded`: the deployment goes on and the traffic starts to shift;
//! - `Failed`: the deployment stops and rolls back: `live` never points at the new version.
//!
//! A hook that never reports keeps the deployment waiting for the hook's timeout (one hour), so
//! this one reports in every case, `Failed` whenever it cannot tell that the version works (the
//! deployment cannot be read, the function is unknown, the invoke fails). Only when the report
//! itself fails does the handler return an error: Lambda retries a failed asynchronous invocation
//! twice, and the retry checks and reports again.
//!
//! What is deployed: `GetDeployment` returns the deployment's revision, an AppSpec naming the
//! function, its alias and the current and target versions ([`parse_appspec`]). The hook invokes
//! the *target version* itself (`Qualifier` = the version number): `live` still points at the old
//! version, so no client can reach the new one before it has passed.
//!
//! # Why the hook is named `CodeDeployHook_*`
//!
//! CodeDeploy invokes the hook with its own service role. SAM gives that role the managed policy
//! `AWSCodeDeployRoleForLambda`, which allows `lambda:InvokeFunction` only on functions named
//! `CodeDeployHook_*`: a hook named otherwise is never invoked, and the deployment fails at the
//! hook. The hook's own role needs `codedeploy:GetDeployment`,
//! `codedeploy:PutLifecycleEventHookExecutionStatus` and `lambda:InvokeFunction` on the functions.
//!
//! # And after the hook: alarms
//!
//! The hook catches a version that is broken for every request. What only real traffic shows (a
//! rise in errors at 10%) is caught by the `DeploymentPreference`'s `Alarms`: CodeDeploy watches
//! them while it shifts, and one that goes to `ALARM` stops the deployment and rolls `live` back
//! to the old version automatically.
//!
//! # The smoke requests
//!
//! Each function gets a request chosen by its name (the template names each function
//! `<stack>-<binary>`, so the name ends with the binary) that no handler can act on: no item is
//! written, no event published, no card opened. [`SMOKE_TESTS`] is the table:
//!
//! | binary           | request                                                       | passes on                          |
//! |------------------|---------------------------------------------------------------|------------------------------------|
//! | `get-order`      | `GET /orders/{fresh id}`                                      | 404 `OrderNotFound`                |
//! | `update-order`   | `PATCH /orders/{fresh id}`, `If-Match: "1"`, `{"note": "pre-traffic check"}` | 404 `OrderNotFound` (the conditional update finds no item: nothing is written) |
//! | `cancel-order`   | `POST /orders/{fresh id}/cancel`, `If-Match: "1"`             | 404 `OrderNotFound` (idem)         |
//! | `create-order`   | `POST /orders` with `{}`                                      | 400 `ValidationFailed` (refused before any AWS call) |
//! | `list-orders`    | `GET /orders?limit=0`                                         | 400 `ValidationFailed` (idem)      |
//! | `publish-events` | a DynamoDB stream event `{"Records": []}`                     | `{"batchItemFailures": []}`        |
//! | `fulfill-order`  | an SQS event `{"Records": []}`                                | `{"batchItemFailures": []}`        |
//! | `record-audit`   | an SQS event `{"Records": []}`                                | `{"batchItemFailures": []}`        |
//!
//! The fresh id is a new UUID v7 per check: no order has it. The API requests are REST proxy
//! events, the shape API Gateway sends. The hook invokes the function directly, past API
//! Gateway and its authorizer, so it plays the authorizer's part too: each request carries the
//! claims of [`SMOKE_CALLER`], a made-up customer that owns no order. A function that answers
//! anything else, or fails (`FunctionError`), fails the deployment; so does a function with no
//! smoke test.
//!
//! Every step logs one line naming the deployment, the function and version, the check and the
//! verdict. A failed check logs the answer's status and error code only, never its body.

use std::collections::BTreeMap;
use std::fmt;

use aws_sdk_codedeploy::operation::put_lifecycle_event_hook_execution_status::PutLifecycleEventHookExecutionStatusError;
use aws_sdk_codedeploy::types::{LifecycleEventStatus, RevisionLocation};
use aws_sdk_lambda::error::DisplayErrorContext;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use lambda_runtime::{Error, LambdaEvent};
use orders_shared::domain::OrderId;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The event CodeDeploy sends a lifecycle hook.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HookEvent {
    /// The deployment being checked (`d-...`).
    pub deployment_id: String,
    /// This execution of the hook: the verdict is reported against it.
    pub lifecycle_event_hook_execution_id: String,
}

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

/// The functions and versions a deployment deploys, from its AppSpec.
async fn read_targets(
    deployments: &aws_sdk_codedeploy::Client,
    deployment_id: &str,
) -> Result<Vec<Target>, CheckFailed> {
    // Boxed, as every SDK future here: they are deeply nested types, and nesting them in the
    // runtime's own would exceed the compiler's type-layout depth limit in `main`.
    let output = Box::pin(
        deployments
            .get_deployment()
            .deployment_id(deployment_id)
            .send(),
    )
    .await
    .map_err(|error| CheckFailed::Deployment(DisplayErrorContext(&error).to_string()))?;
    let revision = output
        .deployment_info()
        .and_then(|info| info.revision())
        .ok_or_else(|| CheckFailed::Deployment("the deployment has no revision".into()))?;
    parse_appspec(appspec_of(revision)?)
}

/// The AppSpec of a revision: `AppSpecContent` (what CloudFormation creates), or the older
/// `String` revision type; both carry the AppSpec inline.
fn appspec_of(revision: &RevisionLocation) -> Result<&str, CheckFailed> {
    revision
        .app_spec_content()
        .and_then(|appspec| appspec.content())
        .or_else(|| revision.string().and_then(|raw| raw.content()))
        .ok_or_else(|| {
            let kind = revision
                .revision_type()
                .map_or("none", |kind| kind.as_str());
            CheckFailed::Deployment(format!("the revision (type {kind}) has no inline AppSpec"))
        })
}

/// One function of a deployment: which version the alias moves from and to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The function's name (`orders-on-lambda-create-order`).
    pub function_name: String,
    /// The alias CodeDeploy moves (`live`).
    pub alias: String,
    /// The version the alias points at now.
    pub current_version: Option<String>,
    /// The new version: the one to check.
    pub target_version: String,
}

/// The AppSpec of a Lambda deployment, as CloudFormation writes it:
///
/// ```json
/// {"version": 0.0,
///  "Resources": [{"CreateOrderFunction": {"Type": "AWS::Lambda::Function",
///    "Properties": {"Name": "orders-on-lambda-create-order", "Alias": "live",
///                   "CurrentVersion": "3", "TargetVersion": "4"}}}],
///  "Hooks": [{"BeforeAllowTraffic": "CodeDeployHook_..."}]}
/// ```
#[derive(Deserialize)]
struct AppSpec {
    #[serde(rename = "Resources", default)]
    resources: Vec<BTreeMap<String, AppSpecResource>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AppSpecResource {
    #[serde(rename = "Type")]
    kind: String,
    properties: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LambdaProperties {
    name: String,
    alias: String,
    #[serde(default)]
    current_version: Option<VersionText>,
    target_version: VersionText,
}

/// A version as an AppSpec may write it: `"4"`, or `4` in a hand-written YAML one.
#[derive(Deserialize)]
#[serde(untagged)]
enum VersionText {
    Text(String),
    Number(u64),
}

impl From<VersionText> for String {
    fn from(version: VersionText) -> Self {
        match version {
            VersionText::Text(text) => text,
            VersionText::Number(number) => number.to_string(),
        }
    }
}

/// The functions an AppSpec deploys (CloudFormation writes one per deployment). An AppSpec that
/// is not JSON, names no function, or names anything but a Lambda function is refused.
pub fn parse_appspec(content: &str) -> Result<Vec<Target>, CheckFailed> {
    let appspec: AppSpec = serde_json::from_str(content)
        .map_err(|error| CheckFailed::Deployment(format!("the AppSpec is not JSON: {error}")))?;
    let mut targets = Vec::new();
    for (name, resource) in appspec.resources.into_iter().flatten() {
        if resource.kind != "AWS::Lambda::Function" {
            return Err(CheckFailed::Deployment(format!(
                "resource {name} is a {}, not a Lambda function",
                resource.kind
            )));
        }
        let properties: LambdaProperties =
            serde_json::from_value(resource.properties).map_err(|error| {
                CheckFailed::Deployment(format!("resource {name} has unusable properties: {error}"))
            })?;
        let target_version = String::from(properties.target_version);
        if target_version.is_empty() {
            return Err(CheckFailed::Deployment(format!(
                "resource {name} has no target version"
            )));
        }
        targets.push(Target {
            function_name: properties.name,
            alias: properties.alias,
            current_version: properties.current_version.map(String::from),
            target_version,
        });
    }
    if targets.is_empty() {
        return Err(CheckFailed::Deployment(
            "the AppSpec names no function".into(),
        ));
    }
    Ok(targets)
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
    let output = Box::pin(
        functions
            .invoke()
            .function_name(&target.function_name)
            .qualifier(&target.target_version)
            .invocation_type(InvocationType::RequestResponse)
            .payload(Blob::new(test.request().to_string()))
            .send(),
    )
    .await
    .map_err(|error| CheckFailed::Invoke(DisplayErrorContext(&error).to_string()))?;
    let payload = output
        .payload()
        .map(|payload| payload.as_ref())
        .unwrap_or_default();
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

/// Reports the verdict. A hook execution that is already completed (an earlier attempt of this
/// invocation reported, or the hook timed out) has nothing left to report.
async fn report(
    deployments: &aws_sdk_codedeploy::Client,
    deployment_id: &str,
    execution_id: &str,
    status: HookStatus,
) -> Result<(), ReportFailed> {
    let result = Box::pin(
        deployments
            .put_lifecycle_event_hook_execution_status()
            .deployment_id(deployment_id)
            .lifecycle_event_hook_execution_id(execution_id)
            .status(status.into())
            .send(),
    )
    .await;
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
                cause: DisplayErrorContext(&error).to_string(),
            };
            tracing::error!(deploymentId = deployment_id, status = ?status, error = %failed, "verdict not reported: Lambda will retry the hook");
            Err(failed)
        }
    }
}

/// A request no handler can act on, and the one answer a working version gives to it.
#[derive(Debug)]
pub struct SmokeTest {
    /// The function's binary (its crate): the end of its function name.
    pub binary: &'static str,
    request: SmokeRequest,
    expected: Expected,
}

/// The caller of the smoke requests (its Cognito `sub`): a customer that owns no order.
pub const SMOKE_CALLER: &str = "pre-traffic-check";

#[derive(Debug)]
enum SmokeRequest {
    /// A REST proxy event. `{orderId}` in the resource becomes a fresh order id.
    Api {
        method: &'static str,
        resource: &'static str,
        /// One query-string parameter.
        query: Option<(&'static str, &'static str)>,
        if_match: Option<&'static str>,
        body: Option<&'static str>,
    },
    /// A stream or queue batch without records: `{"Records": []}`.
    EmptyBatch,
}

#[derive(Debug)]
enum Expected {
    /// The app's error shape, `{"error": {"code", ...}}`, with this status.
    Error { status: u16, code: &'static str },
    /// A partial batch response listing no failure.
    NoBatchItemFailures,
}

/// Every function's smoke test (the table in the module documentation).
pub const SMOKE_TESTS: &[SmokeTest] = &[
    SmokeTest {
        binary: "get-order",
        request: SmokeRequest::Api {
            method: "GET",
            resource: "/orders/{orderId}",
            query: None,
            if_match: None,
            body: None,
        },
        expected: Expected::Error {
            status: 404,
            code: "OrderNotFound",
        },
    },
    SmokeTest {
        binary: "update-order",
        request: SmokeRequest::Api {
            method: "PATCH",
            resource: "/orders/{orderId}",
            query: None,
            if_match: Some("\"1\""),
            body: Some(r#"{"note":"pre-traffic check"}"#),
        },
        expected: Expected::Error {
            status: 404,
            code: "OrderNotFound",
        },
    },
    SmokeTest {
        binary: "cancel-order",
        request: SmokeRequest::Api {
            method: "POST",
            resource: "/orders/{orderId}/cancel",
            query: None,
            if_match: Some("\"1\""),
            body: None,
        },
        expected: Expected::Error {
            status: 404,
            code: "OrderNotFound",
        },
    },
    SmokeTest {
        binary: "create-order",
        request: SmokeRequest::Api {
            method: "POST",
            resource: "/orders",
            query: None,
            if_match: None,
            body: Some("{}"),
        },
        expected: Expected::Error {
            status: 400,
            code: "ValidationFailed",
        },
    },
    SmokeTest {
        binary: "list-orders",
        request: SmokeRequest::Api {
            method: "GET",
            resource: "/orders",
            query: Some(("limit", "0")),
            if_match: None,
            body: None,
        },
        expected: Expected::Error {
            status: 400,
            code: "ValidationFailed",
        },
    },
    SmokeTest {
        binary: "publish-events",
        request: SmokeRequest::EmptyBatch,
        expected: Expected::NoBatchItemFailures,
    },
    SmokeTest {
        binary: "fulfill-order",
        request: SmokeRequest::EmptyBatch,
        expected: Expected::NoBatchItemFailures,
    },
    SmokeTest {
        binary: "record-audit",
        request: SmokeRequest::EmptyBatch,
        expected: Expected::NoBatchItemFailures,
    },
];

impl SmokeTest {
    /// The smoke test of a function, by the end of its name: `orders-on-lambda-get-order` (or its
    /// ARN) is `get-order`'s.
    pub fn for_function(function_name: &str) -> Option<&'static SmokeTest> {
        let name = function_name.rsplit(':').next().unwrap_or(function_name);
        SMOKE_TESTS.iter().find(|test| {
            name.strip_suffix(test.binary)
                .is_some_and(|stack| stack.is_empty() || stack.ends_with('-'))
        })
    }

    /// The event sent to the function: a new one for every check (a fresh order id each time).
    pub fn request(&self) -> Value {
        match &self.request {
            SmokeRequest::Api {
                method,
                resource,
                query,
                if_match,
                body,
            } => {
                let order_id = OrderId::new().to_string();
                let path = resource.replace("{orderId}", &order_id);
                let path_parameters = if resource.contains("{orderId}") {
                    json!({ "orderId": order_id })
                } else {
                    Value::Null
                };
                let mut headers = json!({ "user-agent": "pre-traffic-check" });
                if body.is_some() {
                    headers["content-type"] = json!("application/json");
                }
                if let Some(version) = if_match {
                    headers["if-match"] = json!(version);
                }
                let multi_value_headers: serde_json::Map<String, Value> = headers
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(name, value)| (name.clone(), json!([value])))
                    .collect();
                let (query, multi_value_query) = match query {
                    Some((name, value)) => (json!({ *name: value }), json!({ *name: [value] })),
                    None => (Value::Null, Value::Null),
                };
                json!({
                    "resource": resource,
                    "path": path,
                    "httpMethod": method,
                    "headers": headers,
                    "multiValueHeaders": multi_value_headers,
                    "queryStringParameters": query,
                    "multiValueQueryStringParameters": multi_value_query,
                    "pathParameters": path_parameters,
                    "stageVariables": null,
                    "requestContext": {
                        "resourcePath": resource,
                        "httpMethod": method,
                        "path": path,
                        "stage": "pre-traffic-check",
                        "requestId": OrderId::new().to_string(),
                        // What a Cognito user pool authorizer passes on: the caller's claims.
                        "authorizer": {
                            "claims": {"sub": SMOKE_CALLER, "token_use": "id"},
                        },
                    },
                    "body": body,
                    "isBase64Encoded": false,
                })
            }
            SmokeRequest::EmptyBatch => json!({ "Records": [] }),
        }
    }

    /// Checks the function's answer (the invoke's payload).
    pub fn check(&self, payload: &[u8]) -> Result<(), CheckFailed> {
        let unexpected = |got: String| CheckFailed::UnexpectedAnswer {
            expected: self.expected.to_string(),
            got,
        };
        match self.expected {
            Expected::Error { status, code } => {
                #[derive(Deserialize)]
                #[serde(rename_all = "camelCase")]
                struct ProxyResponse {
                    status_code: u16,
                    #[serde(default)]
                    body: Option<String>,
                }
                let response: ProxyResponse = serde_json::from_slice(payload)
                    .map_err(|_| unexpected("an answer that is not a proxy response".into()))?;
                let got_code = response
                    .body
                    .as_deref()
                    .and_then(|body| serde_json::from_str::<Value>(body).ok())
                    .and_then(|body| body.pointer("/error/code")?.as_str().map(str::to_owned));
                if response.status_code == status && got_code.as_deref() == Some(code) {
                    Ok(())
                } else {
                    Err(unexpected(format!(
                        "{} {}",
                        response.status_code,
                        got_code.as_deref().unwrap_or("(no error code)")
                    )))
                }
            }
            Expected::NoBatchItemFailures => {
                let answer: Value = serde_json::from_slice(payload)
                    .map_err(|_| unexpected("an answer that is not JSON".into()))?;
                if answer == json!({ "batchItemFailures": [] }) {
                    return Ok(());
                }
                Err(unexpected(
                    match answer.get("batchItemFailures").and_then(Value::as_array) {
                        Some(failures) => format!("{} batch item failures", failures.len()),
                        None => "an answer that is not a partial batch response".into(),
                    },
                ))
            }
        }
    }
}

/// The check, as the logs name it: `GET /orders/{orderId} -> 404 OrderNotFound`.
impl fmt::Display for SmokeTest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.request {
            SmokeRequest::Api {
                method, resource, ..
            } => write!(f, "{method} {resource} -> {}", self.expected),
            SmokeRequest::EmptyBatch => write!(f, "no records -> {}", self.expected),
        }
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::Error { status, code } => write!(f, "{status} {code}"),
            Expected::NoBatchItemFailures => f.write_str("no batch item failures"),
        }
    }
}

#[cfg(test)]
mod tests;
