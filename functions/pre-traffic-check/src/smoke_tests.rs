//! The smoke requests: what event each function is sent, and which answer counts as healthy.
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
//! | `notify-merchant`| an SNS event `{"Records": []}` (no webhook call; its init read the secret) | `null`           |
//!
//! The fresh id is a new UUID v7 per check: no order has it. The API requests are REST proxy
//! events, the shape API Gateway sends. The hook invokes the function directly, past API
//! Gateway and its authorizer, so it plays the authorizer's part too: each request carries the
//! claims of [`SMOKE_CALLER`], a made-up customer that owns no order. A function that answers
//! anything else, or fails (`FunctionError`), fails the deployment; so does a function with no
//! smoke test.

use std::fmt;

use orders_shared::api::ProxyRequest;
use orders_shared::domain::OrderId;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::verdict::CheckFailed;

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
    /// A stream, queue or topic batch without records: `{"Records": []}`.
    EmptyBatch,
}

#[derive(Debug)]
enum Expected {
    /// The app's error shape, `{"error": {"code", ...}}`, with this status.
    Error { status: u16, code: &'static str },
    /// A partial batch response listing no failure.
    NoBatchItemFailures,
    /// No answer: `null`, what a handler returning `()` gives.
    Nothing,
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
    SmokeTest {
        binary: "notify-merchant",
        request: SmokeRequest::EmptyBatch,
        expected: Expected::Nothing,
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
                let mut request = ProxyRequest::new(method, resource, &path)
                    .header("user-agent", "pre-traffic-check")
                    .stage("pre-traffic-check")
                    .request_id(&OrderId::new().to_string())
                    // What a Cognito user pool authorizer passes on: the caller's claims.
                    .claims(json!({"sub": SMOKE_CALLER, "token_use": "id"}));
                if resource.contains("{orderId}") {
                    request = request.path_parameter("orderId", &order_id);
                }
                if let Some(body) = body {
                    request = request
                        .header("content-type", "application/json")
                        .body(body.as_bytes());
                }
                if let Some(version) = if_match {
                    request = request.header("if-match", version);
                }
                if let Some((name, value)) = query {
                    request = request.query(name, value);
                }
                request.to_event()
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
            Expected::Nothing => match serde_json::from_slice::<Value>(payload) {
                Ok(Value::Null) => Ok(()),
                Ok(other) => Err(unexpected(other.to_string())),
                Err(_) => Err(unexpected("an answer that is not JSON".into())),
            },
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
            Expected::Nothing => f.write_str("null"),
        }
    }
}

#[cfg(test)]
mod tests;
