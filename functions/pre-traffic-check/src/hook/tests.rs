//! The hook against mocked CodeDeploy and Lambda (`aws-smithy-mocks`, the real SDK clients): what
//! it invokes, and what it reports in each case. A client with no rule for a call panics if the
//! call is made, so "not invoked" is checked too.

use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::{CheckFailed, HookEvent, HookStatus, check_deployment, handler};
use aws_sdk_codedeploy::Client as CodeDeploy;
use aws_sdk_codedeploy::operation::get_deployment::{GetDeploymentError, GetDeploymentOutput};
use aws_sdk_codedeploy::operation::put_lifecycle_event_hook_execution_status::{
    PutLifecycleEventHookExecutionStatusError, PutLifecycleEventHookExecutionStatusOutput,
};
use aws_sdk_codedeploy::types::error::{
    DeploymentDoesNotExistException, InvalidDeploymentIdException,
    LifecycleEventAlreadyCompletedException,
};
use aws_sdk_codedeploy::types::{
    AppSpecContent, DeploymentInfo, LifecycleEventStatus, RevisionLocation, RevisionLocationType,
};
use aws_sdk_lambda::Client as Lambda;
use aws_sdk_lambda::operation::invoke::{InvokeError, InvokeOutput};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use aws_sdk_lambda::types::error::TooManyRequestsException;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};

const DEPLOYMENT: &str = "d-7GQ1X9K2A";
const EXECUTION: &str = "eyJlbmNyeXB0ZWREYXRhIjoiZXhlY3V0aW9uIn0=";

/// The AppSpec CloudFormation writes for a function's deployment.
fn appspec(function_name: &str) -> String {
    json!({
        "version": 0.0,
        "Resources": [{
            "Function": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Name": function_name,
                    "Alias": "live",
                    "CurrentVersion": "3",
                    "TargetVersion": "4"
                }
            }
        }],
        "Hooks": [{"BeforeAllowTraffic": "CodeDeployHook_orders-on-lambda-pre-traffic-check"}]
    })
    .to_string()
}

/// `GetDeployment` of [`DEPLOYMENT`], answered with this revision.
fn deployment(revision: RevisionLocation) -> Rule {
    mock!(CodeDeploy::get_deployment)
        .match_requests(|request| request.deployment_id() == Some(DEPLOYMENT))
        .then_output(move || {
            GetDeploymentOutput::builder()
                .deployment_info(
                    DeploymentInfo::builder()
                        .deployment_id(DEPLOYMENT)
                        .revision(revision.clone())
                        .build(),
                )
                .build()
        })
}

/// A revision as CloudFormation creates it: the AppSpec inline, as `AppSpecContent`.
fn appspec_revision(function_name: &str) -> RevisionLocation {
    RevisionLocation::builder()
        .revision_type(RevisionLocationType::AppSpecContent)
        .app_spec_content(
            AppSpecContent::builder()
                .content(appspec(function_name))
                .build(),
        )
        .build()
}

/// What the hook reported: (deployment id, execution id, status), one entry per call.
type Reported = Vec<(String, String, LifecycleEventStatus)>;
type Reports = Arc<Mutex<Reported>>;

/// `PutLifecycleEventHookExecutionStatus`, recording each report.
fn reporting(reports: &Reports) -> Rule {
    let reports = reports.clone();
    mock!(CodeDeploy::put_lifecycle_event_hook_execution_status).then_compute_output(
        move |request| {
            reports.lock().unwrap().push((
                request.deployment_id().unwrap_or_default().to_owned(),
                request
                    .lifecycle_event_hook_execution_id()
                    .unwrap_or_default()
                    .to_owned(),
                request.status().cloned().expect("a status"),
            ));
            PutLifecycleEventHookExecutionStatusOutput::builder()
                .lifecycle_event_hook_execution_id(EXECUTION)
                .build()
        },
    )
}

fn codedeploy(rules: &[&Rule]) -> CodeDeploy {
    mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, rules)
}

fn lambda(rules: &[&Rule]) -> Lambda {
    mock_client!(aws_sdk_lambda, RuleMode::MatchAny, rules)
}

/// An invoke of `function_name` at version 4 that answers `payload`; the requests it got are
/// kept in `sent`.
fn answering(function_name: &'static str, payload: Value, sent: &Arc<Mutex<Vec<Value>>>) -> Rule {
    let sent = sent.clone();
    mock!(Lambda::invoke)
        .match_requests(move |request| {
            request.function_name() == Some(function_name)
                && request.qualifier() == Some("4")
                && request.invocation_type() == Some(&InvocationType::RequestResponse)
        })
        .then_compute_output(move |request| {
            let event = request.payload().expect("a payload").as_ref();
            sent.lock()
                .unwrap()
                .push(serde_json::from_slice(event).expect("the request is JSON"));
            InvokeOutput::builder()
                .status_code(200)
                .executed_version("4")
                .payload(Blob::new(payload.to_string()))
                .build()
        })
}

/// What an API function answers through Lambda: a REST proxy response.
fn proxy_answer(status: u16, body: Value) -> Value {
    json!({
        "statusCode": status,
        "headers": {},
        "multiValueHeaders": {"content-type": ["application/json"]},
        "body": body.to_string(),
        "isBase64Encoded": false
    })
}

fn hook_event() -> LambdaEvent<HookEvent> {
    LambdaEvent::new(
        HookEvent {
            deployment_id: DEPLOYMENT.into(),
            lifecycle_event_hook_execution_id: EXECUTION.into(),
        },
        Context::default(),
    )
}

fn once(status: LifecycleEventStatus) -> Reported {
    vec![(DEPLOYMENT.into(), EXECUTION.into(), status)]
}

/// One invocation of the hook: `GetDeployment` answered by `get`, the report by `put`, the
/// invokes by `invokes`. The clients are kept, so a test can run the check again to see why it
/// failed.
struct HookRun {
    deployments: CodeDeploy,
    functions: Lambda,
    result: Result<HookStatus, lambda_runtime::Error>,
}

impl HookRun {
    async fn new(get: &Rule, put: &Rule, invokes: &[&Rule]) -> Self {
        let (deployments, functions) = (codedeploy(&[get, put]), lambda(invokes));
        let result = handler(&deployments, &functions, hook_event()).await;
        Self {
            deployments,
            functions,
            result,
        }
    }

    /// The hook with every report recorded: what it returned, what it reported, and the run.
    async fn recorded(get: &Rule, invokes: &[&Rule]) -> (HookStatus, Reported, Self) {
        let reports = Reports::default();
        let run = Self::new(get, &reporting(&reports), invokes).await;
        let status = *run.result.as_ref().expect("the verdict is reported");
        let reported = reports.lock().unwrap().clone();
        (status, reported, run)
    }

    /// The hook on a deployment that must fail: it returns and reports `Failed`, and the check,
    /// run again on the same clients, says why.
    async fn failed(get: &Rule, invokes: &[&Rule]) -> Result<(), CheckFailed> {
        let (status, reported, run) = Self::recorded(get, invokes).await;
        assert_eq!(status, HookStatus::Failed);
        assert_eq!(reported, once(LifecycleEventStatus::Failed));
        check_deployment(&run.deployments, &run.functions, DEPLOYMENT).await
    }
}

#[tokio::test]
async fn a_good_create_order_deployment_is_reported_succeeded() {
    let sent = Arc::default();
    let refused = proxy_answer(
        400,
        json!({"error": {"code": "ValidationFailed", "message": "the request has invalid fields",
                         "details": [{"field": "items", "message": "is required"}]}}),
    );
    let invoke = answering("orders-on-lambda-create-order", refused, &sent);

    let get = deployment(appspec_revision("orders-on-lambda-create-order"));
    let (status, reported, _) = HookRun::recorded(&get, &[&invoke]).await;

    assert_eq!(status, HookStatus::Succeeded);
    assert_eq!(reported, once(LifecycleEventStatus::Succeeded));
    assert_eq!(invoke.num_calls(), 1);
    let sent = sent.lock().unwrap();
    let request = &sent[0];
    assert_eq!(request["httpMethod"], "POST");
    assert_eq!(request["path"], "/orders");
    assert_eq!(request["resource"], "/orders");
    assert_eq!(request["body"], "{}");
    // API Gateway's event, as the function's runtime parses it.
    let parsed = lambda_http::request::from_str(&request.to_string()).unwrap();
    assert_eq!(parsed.method(), "POST");
    assert_eq!(parsed.body().as_ref(), b"{}");
}

#[tokio::test]
async fn a_function_answering_500_fails_the_deployment() {
    let get = deployment(appspec_revision("orders-on-lambda-get-order"));
    let broken = proxy_answer(
        500,
        json!({"error": {"code": "InternalError", "message": "an internal error occurred"}}),
    );
    let invoke = answering("orders-on-lambda-get-order", broken, &Arc::default());

    assert_eq!(
        HookRun::failed(&get, &[&invoke]).await,
        Err(CheckFailed::UnexpectedAnswer {
            expected: "404 OrderNotFound".into(),
            got: "500 InternalError".into()
        })
    );
}

#[tokio::test]
async fn a_function_error_fails_the_deployment() {
    let get = deployment(appspec_revision("orders-on-lambda-list-orders"));
    // The new version crashed: Lambda answers the invoke with `FunctionError: Unhandled` and the
    // runtime's error document as the payload.
    let invoke = mock!(Lambda::invoke).then_output(|| {
        InvokeOutput::builder()
            .status_code(200)
            .function_error("Unhandled")
            .payload(Blob::new(
                r#"{"errorType":"Runtime.ExitError","errorMessage":"RequestId: 1 Error: Runtime exited with error: signal: aborted"}"#,
            ))
            .build()
    });

    assert_eq!(
        HookRun::failed(&get, &[&invoke]).await,
        Err(CheckFailed::FunctionError {
            kind: "Unhandled".into(),
            error_type: Some("Runtime.ExitError".into())
        })
    );
}

#[tokio::test]
async fn an_invoke_that_fails_fails_the_deployment() {
    let get = deployment(appspec_revision("orders-on-lambda-record-audit"));
    let invoke = mock!(Lambda::invoke).then_error(|| {
        InvokeError::TooManyRequestsException(
            TooManyRequestsException::builder()
                .message("Rate Exceeded.")
                .build(),
        )
    });

    let failure = HookRun::failed(&get, &[&invoke]).await;
    assert!(
        matches!(&failure, Err(CheckFailed::Invoke(cause)) if cause.contains("TooManyRequests")),
        "{failure:?}"
    );
}

#[tokio::test]
async fn a_deployment_that_cannot_be_read_is_reported_failed_anyway() {
    let get = mock!(CodeDeploy::get_deployment).then_error(|| {
        GetDeploymentError::DeploymentDoesNotExistException(
            DeploymentDoesNotExistException::builder().build(),
        )
    });

    // No invoke rule: an invoke would panic.
    let failure = HookRun::failed(&get, &[]).await;
    assert!(
        matches!(&failure, Err(CheckFailed::Deployment(cause)) if cause.contains("DeploymentDoesNotExist")),
        "{failure:?}"
    );
}

#[tokio::test]
async fn an_unknown_function_is_reported_failed_without_an_invoke() {
    let get = deployment(appspec_revision("orders-on-lambda-send-newsletter"));

    assert_eq!(
        HookRun::failed(&get, &[]).await,
        Err(CheckFailed::UnknownFunction(
            "orders-on-lambda-send-newsletter".into()
        ))
    );
}

/// The hook on a good `fulfill-order` deployment whose report CodeDeploy refuses with `error`:
/// what the handler returned, and how many reports it made.
async fn refused_report(
    error: fn() -> PutLifecycleEventHookExecutionStatusError,
) -> (Result<HookStatus, lambda_runtime::Error>, usize) {
    let get = deployment(appspec_revision("orders-on-lambda-fulfill-order"));
    let put = mock!(CodeDeploy::put_lifecycle_event_hook_execution_status).then_error(error);
    let invoke = answering(
        "orders-on-lambda-fulfill-order",
        json!({"batchItemFailures": []}),
        &Arc::default(),
    );
    let result = HookRun::new(&get, &put, &[&invoke]).await.result;
    (result, put.num_calls())
}

#[tokio::test]
async fn a_failed_report_fails_the_invocation_so_lambda_retries_it() {
    let (result, reports) = refused_report(|| {
        PutLifecycleEventHookExecutionStatusError::InvalidDeploymentIdException(
            InvalidDeploymentIdException::builder().build(),
        )
    })
    .await;

    let error = result.expect_err("an unreported verdict must fail the invocation");
    assert!(error.to_string().contains("Succeeded"), "{error}");
    assert!(error.to_string().contains(DEPLOYMENT), "{error}");
    assert_eq!(reports, 1);
}

#[tokio::test]
async fn a_verdict_already_recorded_is_not_retried() {
    let (result, reports) = refused_report(|| {
        PutLifecycleEventHookExecutionStatusError::LifecycleEventAlreadyCompletedException(
            LifecycleEventAlreadyCompletedException::builder().build(),
        )
    })
    .await;

    assert_eq!(result.unwrap(), HookStatus::Succeeded);
    assert_eq!(reports, 1);
}

#[tokio::test]
async fn a_consumer_passes_with_an_empty_batch_response_only() {
    for (answer, expected) in [
        (
            json!({"batchItemFailures": []}),
            LifecycleEventStatus::Succeeded,
        ),
        (
            json!({"batchItemFailures": [{"itemIdentifier": "49545115243490985018280067714973144582180062593244200961"}]}),
            LifecycleEventStatus::Failed,
        ),
    ] {
        let sent = Arc::default();
        let invoke = answering("orders-on-lambda-publish-events", answer, &sent);

        let get = deployment(appspec_revision("orders-on-lambda-publish-events"));
        let (_, reported, _) = HookRun::recorded(&get, &[&invoke]).await;

        assert_eq!(reported, once(expected));
        assert_eq!(sent.lock().unwrap()[..], [json!({"Records": []})]);
    }
}

// The `String` revision type is deprecated for new revisions, but an older deployment may still
// carry one.
#[allow(deprecated)]
#[tokio::test]
async fn an_older_string_revision_is_read_too() {
    let revision = RevisionLocation::builder()
        .revision_type(RevisionLocationType::String)
        .string(
            aws_sdk_codedeploy::types::RawString::builder()
                .content(appspec("orders-on-lambda-cancel-order"))
                .build(),
        )
        .build();
    let sent = Arc::default();
    let not_found = proxy_answer(
        404,
        json!({"error": {"code": "OrderNotFound", "message": "no such order"}}),
    );
    let invoke = answering("orders-on-lambda-cancel-order", not_found, &sent);

    let (_, reported, _) = HookRun::recorded(&deployment(revision), &[&invoke]).await;

    assert_eq!(reported, once(LifecycleEventStatus::Succeeded));
    let sent = sent.lock().unwrap();
    assert_eq!(sent[0]["httpMethod"], "POST");
    assert_eq!(sent[0]["headers"]["if-match"], "\"1\"");
}

#[tokio::test]
async fn a_revision_without_an_inline_appspec_is_reported_failed() {
    let revision = RevisionLocation::builder()
        .revision_type(RevisionLocationType::S3)
        .build();

    // `failed` asserts the verdict: returned and reported `Failed`.
    HookRun::failed(&deployment(revision), &[])
        .await
        .unwrap_err();
}

#[test]
fn the_sample_event_is_a_hook_event() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/pre-traffic-check.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let event: HookEvent = serde_json::from_str(&text).unwrap();
    assert!(event.deployment_id.starts_with("d-"), "{event:?}");
    assert!(!event.lifecycle_event_hook_execution_id.is_empty());
}
