//! # The Runtime API: what a function's process calls
//!
//! A custom runtime asks for an event with `GET /2018-06-01/runtime/invocation/next` (a long
//! poll whose response carries the event and its context headers), answers it with
//! `POST .../invocation/{id}/response` or `.../error`, and reports a failed `main` with
//! `POST .../runtime/init/error`. On Lambda each execution environment has its own Runtime API;
//! here one server serves every environment of every function, under the function's logical id
//! and the environment's number: `/{function}/{environment}/2018-06-01/runtime/...`.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path as UrlPath};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::oneshot;

use super::MAX_PAYLOAD_BYTES;
use super::execution_environment::{Answer, Environment, Fault};
use super::functions::Service;

pub(super) fn runtime_api(service: Arc<Service>) -> Router {
    Router::new()
        .route(
            "/{function}/{environment}/2018-06-01/runtime/invocation/next",
            get(next_invocation),
        )
        .route(
            "/{function}/{environment}/2018-06-01/runtime/invocation/{request_id}/response",
            post(invocation_response),
        )
        .route(
            "/{function}/{environment}/2018-06-01/runtime/invocation/{request_id}/error",
            post(invocation_error),
        )
        .route(
            "/{function}/{environment}/2018-06-01/runtime/init/error",
            post(init_error),
        )
        .with_state(service)
}

/// `GET /next`: the process is ready for an event, and waits (a long poll) until there is one.
async fn next_invocation(FunctionEnvironment(environment): FunctionEnvironment) -> Response {
    environment.ready.send_replace(true);
    let event = tokio::select! {
        event = async { environment.next_event.lock().await.recv().await } => event,
        _ = environment.exited() => None,
    };
    let Some(event) = event else {
        return runtime_error(
            StatusCode::GONE,
            "EnvironmentGone",
            "the environment has stopped",
        );
    };
    let deadline = SystemTime::now() + event.timeout;
    let deadline_ms = deadline
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let _ = event.delivered.send(());
    (
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (
                header::HeaderName::from_static("lambda-runtime-aws-request-id"),
                event.request_id,
            ),
            (
                header::HeaderName::from_static("lambda-runtime-deadline-ms"),
                deadline_ms.to_string(),
            ),
            (
                header::HeaderName::from_static("lambda-runtime-invoked-function-arn"),
                event.invoked_function_arn,
            ),
            (
                header::HeaderName::from_static("lambda-runtime-trace-id"),
                event.trace_header,
            ),
        ],
        event.payload,
    )
        .into_response()
}

/// `POST /invocation/{id}/response`: the handler's result.
async fn invocation_response(
    WaitingCaller(answer): WaitingCaller,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if content_length(&headers).is_some_and(|length| length > MAX_PAYLOAD_BYTES) {
        let _ = answer.send(Answer::Error(response_too_large()));
        return runtime_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            "response over 6 MB",
        );
    }
    match axum::body::to_bytes(body, MAX_PAYLOAD_BYTES).await {
        Ok(body) => {
            let _ = answer.send(Answer::Response(body));
            accepted()
        }
        Err(error) => {
            let _ = answer.send(Answer::Error(Fault {
                error_type: "Runtime.InvalidResponse".to_owned(),
                error_message: format!("the response could not be read: {error}"),
            }));
            runtime_error(
                StatusCode::BAD_REQUEST,
                "InvalidResponse",
                "unreadable response",
            )
        }
    }
}

/// `POST /invocation/{id}/error`: the handler failed.
async fn invocation_error(
    WaitingCaller(answer): WaitingCaller,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let _ = answer.send(Answer::Error(read_fault(&headers, body).await));
    accepted()
}

/// The path of a request: which environment of which function, and for a response or an error,
/// which invocation.
#[derive(Deserialize)]
struct RuntimePath {
    function: String,
    environment: u64,
    request_id: Option<String>,
}

impl RuntimePath {
    async fn of(parts: &mut Parts, service: &Arc<Service>) -> Result<Self, Response> {
        UrlPath::<Self>::from_request_parts(parts, service)
            .await
            .map(|UrlPath(path)| path)
            .map_err(IntoResponse::into_response)
    }
}

/// The execution environment `/{function}/{environment}/...` names; an unknown one is a 404.
struct FunctionEnvironment(Arc<Environment>);

impl FromRequestParts<Arc<Service>> for FunctionEnvironment {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        service: &Arc<Service>,
    ) -> Result<Self, Response> {
        let path = RuntimePath::of(parts, service).await?;
        service
            .environment_of(&path.function, path.environment)
            .map(Self)
            .ok_or_else(|| {
                runtime_error(
                    StatusCode::NOT_FOUND,
                    "ResourceNotFound",
                    "no such function or execution environment",
                )
            })
    }
}

/// The caller waiting for the invocation that `/{function}/{environment}/.../invocation/{request_id}/...`
/// is about, taken: a request id is answered once, and one no caller waits for is refused.
struct WaitingCaller(oneshot::Sender<Answer>);

impl FromRequestParts<Arc<Service>> for WaitingCaller {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        service: &Arc<Service>,
    ) -> Result<Self, Response> {
        let path = RuntimePath::of(parts, service).await?;
        let request_id = path.request_id.as_deref().unwrap_or_default();
        service
            .take_waiting_answer(&path.function, path.environment, request_id)
            .map(Self)
            .ok_or_else(unknown_request_id)
    }
}

/// `POST /init/error`: the process could not initialise; it will be stopped.
async fn init_error(
    FunctionEnvironment(environment): FunctionEnvironment,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let fault = read_fault(&headers, body).await;
    environment.init_error.send_replace(Some(fault));
    accepted()
}

/// An error document, or what can be made of a body that is not one.
async fn read_fault(headers: &HeaderMap, body: Body) -> Fault {
    let body = axum::body::to_bytes(body, MAX_PAYLOAD_BYTES)
        .await
        .unwrap_or_default();
    let error_type_header = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("Unhandled")
        .to_owned();
    match serde_json::from_slice::<Fault>(&body) {
        Ok(fault) if !fault.error_type.is_empty() => fault,
        Ok(fault) => Fault {
            error_type: error_type_header,
            ..fault
        },
        Err(_) => Fault {
            error_type: error_type_header,
            error_message: String::from_utf8_lossy(&body).into_owned(),
        },
    }
}

fn response_too_large() -> Fault {
    Fault {
        error_type: "Function.ResponseSizeTooLarge".to_owned(),
        error_message: format!(
            "Response payload size exceeded maximum allowed payload size ({MAX_PAYLOAD_BYTES} bytes)."
        ),
    }
}

fn content_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(json!({ "status": "OK" }))).into_response()
}

fn unknown_request_id() -> Response {
    runtime_error(
        StatusCode::BAD_REQUEST,
        "InvalidRequestID",
        "no invocation in flight has this request id",
    )
}

fn runtime_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "errorType": error_type, "errorMessage": message })),
    )
        .into_response()
}
