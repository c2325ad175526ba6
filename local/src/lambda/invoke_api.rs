//! # The Invoke API: `POST /2015-03-31/functions/{name}/invocations`
//!
//! What `aws lambda invoke` and the SDK's Lambda client call. The local service serves it on the
//! Runtime API's port, so `aws lambda invoke --endpoint-url http://127.0.0.1:9001 ...` and an SDK
//! client with that endpoint reach the local functions. `{name}` is the function's name, its
//! logical id or its ARN; the only qualifier is `$LATEST`.
//!
//! Exam: the caller chooses the invocation type with `X-Amz-Invocation-Type`:
//!
//! | type                        | what Lambda does                                  | status |
//! |-----------------------------|---------------------------------------------------|--------|
//! | `RequestResponse` (default) | runs the function and returns its result          | 200    |
//! | `Event`                     | queues the event, answers at once, runs it later  | 202    |
//! | `DryRun`                    | checks the parameters (and permission), runs nothing | 204 |
//!
//! The status code does not reflect a function error: a synchronous invocation whose function
//! failed (an error it reported, a timeout, a crash) is a 200 with `X-Amz-Function-Error:
//! Unhandled` and the error object as the body. Error statuses are for Lambda refusing to run
//! it: 404 `ResourceNotFoundException`, 413 `RequestTooLargeException` (6 MB synchronous, 1 MB
//! asynchronous), 429 `TooManyRequestsException` (throttled: reserved concurrency in use).
//!
//! Not played locally: IAM (every caller may invoke), `X-Amz-Log-Type: Tail` (no
//! `X-Amz-Log-Result`), `X-Amz-Client-Context`, versions and aliases.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use uuid::Uuid;

use super::async_invocation::MAX_ASYNC_PAYLOAD_BYTES;
use super::functions::{Function, Service};
use super::invocation_record::error_payload;
use super::{InvokeError, MAX_PAYLOAD_BYTES, lock, run_to_completion};

pub(super) fn invoke_api(service: Arc<Service>) -> Router {
    Router::new()
        .route("/2015-03-31/functions/{name}/invocations", post(invoke))
        .with_state(service)
}

/// `X-Amz-Invocation-Type`.
enum InvocationType {
    RequestResponse,
    Event,
    DryRun,
}

async fn invoke(
    State(service): State<Arc<Service>>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let invocation_type = match headers
        .get("x-amz-invocation-type")
        .map(|value| value.to_str().unwrap_or_default())
    {
        None | Some("RequestResponse") => InvocationType::RequestResponse,
        Some("Event") => InvocationType::Event,
        Some("DryRun") => InvocationType::DryRun,
        Some(other) => {
            return lambda_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                &format!(
                    "Value '{other}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"
                ),
            );
        }
    };
    let Some(function) = find_function(&service, &name) else {
        return lambda_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            &format!("Function not found: {name}"),
        );
    };
    // Exam: 6 MB for a synchronous invocation, 1 MB for an asynchronous one.
    let limit = match invocation_type {
        InvocationType::Event => MAX_ASYNC_PAYLOAD_BYTES,
        _ => MAX_PAYLOAD_BYTES,
    };
    let Ok(payload) = axum::body::to_bytes(body, limit).await else {
        return lambda_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLargeException",
            &format!("Request must be smaller than {limit} bytes for the InvokeFunction operation"),
        );
    };
    let trace_header = headers
        .get("x-amzn-trace-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    match invocation_type {
        InvocationType::DryRun => StatusCode::NO_CONTENT.into_response(),
        InvocationType::Event => {
            if service.refuse_when_shutting_down().is_err() {
                return failure_response(&InvokeError::ShuttingDown);
            }
            let request_id = service.enqueue(&function.config.name, payload, trace_header);
            let mut response = StatusCode::ACCEPTED.into_response();
            set_request_id(&mut response, &request_id);
            response
        }
        InvocationType::RequestResponse => {
            request_response(service, function, payload, trace_header).await
        }
    }
}

/// A synchronous invocation: 200 with the result, or with the error object and
/// `X-Amz-Function-Error` when the function failed; an error status when Lambda refused.
async fn request_response(
    service: Arc<Service>,
    function: Arc<Function>,
    payload: Bytes,
    trace_header: Option<String>,
) -> Response {
    let request_id = Uuid::new_v4().to_string();
    let id = request_id.clone();
    let outcome = run_to_completion(async move {
        service
            .invoke_as(&function, &id, payload, trace_header)
            .await
    })
    .await;
    let mut response = match outcome {
        Ok(result) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            result,
        )
            .into_response(),
        Err(
            error @ (InvokeError::FunctionError { .. }
            | InvokeError::InitFailed { .. }
            | InvokeError::Timeout(_)
            | InvokeError::Crashed(_)),
        ) => {
            // Exam: a function error is still a 200; the header says it failed.
            let mut response = (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                error_payload(&request_id, &error).to_string(),
            )
                .into_response();
            response.headers_mut().insert(
                "x-amz-function-error",
                HeaderValue::from_static("Unhandled"),
            );
            response
        }
        Err(error) => return failure_response(&error),
    };
    response.headers_mut().insert(
        "x-amz-executed-version",
        HeaderValue::from_static("$LATEST"),
    );
    set_request_id(&mut response, &request_id);
    response
}

/// The function `name` designates: its logical id, its function name, or its ARN (with or
/// without `:$LATEST`).
fn find_function(service: &Service, name: &str) -> Option<Arc<Function>> {
    let name = name.strip_suffix(":$LATEST").unwrap_or(name);
    lock(&service.functions)
        .values()
        .find(|function| {
            function.config.name == name
                || function.config.function_name == name
                || function.arn == name
        })
        .cloned()
}

/// Lambda refusing an invocation it did not run.
fn failure_response(error: &InvokeError) -> Response {
    match error {
        InvokeError::Throttled { .. } => {
            // Exam: a throttled synchronous invocation is a 429 the caller must retry.
            let mut response = lambda_error(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequestsException",
                "Rate Exceeded.",
            );
            if let Ok(body) = serde_json::to_vec(&json!({
                "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
                "Type": "User",
                "message": "Rate Exceeded.",
            })) {
                *response.body_mut() = Body::from(body);
            }
            response
        }
        InvokeError::UnknownFunction(name) => lambda_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            &format!("Function not found: {name}"),
        ),
        InvokeError::PayloadTooLarge(size) => lambda_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLargeException",
            &format!("Request of {size} bytes is over Lambda's limit"),
        ),
        other => lambda_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceException",
            &other.to_string(),
        ),
    }
}

/// Lambda's error shape: the type in `X-Amzn-ErrorType` (where the SDK looks), and a JSON body.
fn lambda_error(status: StatusCode, error_type: &'static str, message: &str) -> Response {
    let kind = if status.is_server_error() {
        "Service"
    } else {
        "User"
    };
    let body: Value = json!({"Type": kind, "message": message});
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    response
        .headers_mut()
        .insert("x-amzn-errortype", HeaderValue::from_static(error_type));
    set_request_id(&mut response, &Uuid::new_v4().to_string());
    response
}

fn set_request_id(response: &mut Response, request_id: &str) {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-amzn-requestid", value);
    }
}
