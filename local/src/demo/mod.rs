//! The demo: the exam scenarios, narrated, against a running local stack (`make demo`).
//!
//! Each step names the exam concept, shows the requests and the answers, checks them, and says what
//! they prove. [`run`] stops at the first step that does not behave as stated and names it. Every
//! request is a signed-in customer's, with the API key, as a client app would send it.
//!
//! | steps | file                                                                   |
//! |-------|------------------------------------------------------------------------|
//! | 1, 3-5 | `orders.rs`: create, optimistic locking, idempotency, the sealed card  |
//! | 2     | `identity.rs`: two customers and support: who may see and change what   |
//! | 6-9   | `pipeline.rs`: fan-out, fulfillment, a poison message, the trace        |

mod identity;
mod orders;
mod pipeline;

use std::fmt::Write as _;
use std::time::Duration;

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

use crate::sign_in::LOCAL_PASSWORD;
use crate::stack::Stack;

/// The card of the demo's orders (a test Visa number that passes the Luhn check).
const CARD: &str = "4111 1111 1111 1111";

/// A step that did not behave as stated.
#[derive(Debug, thiserror::Error)]
#[error("step {step} ({title}) failed: {reason}")]
pub struct StepFailed {
    pub step: usize,
    pub title: &'static str,
    pub reason: String,
}

/// What a step reports: the lines to print, or why it failed.
type Outcome = Result<String, String>;

/// Runs every step against `stack`, printing as it goes.
pub async fn run(stack: &Stack) -> Result<(), StepFailed> {
    let signed_in = stack
        .sign_in("ada@example.com", LOCAL_PASSWORD, None)
        .await
        .map_err(|error| StepFailed {
            step: 0,
            title: "Sign in",
            reason: error.to_string(),
        })?;
    let mut demo = Demo {
        stack,
        http: Client::new(),
        customer: Credentials {
            token: Some(signed_in.id_token),
            api_key: stack.api_key().map(str::to_owned),
        },
        order: None,
    };
    println!(
        "Every request below carries Ada's ID token (signed up and in to the user pool) and the API key."
    );
    let steps: [(&'static str, &'static str); 9] = [
        (
            "Create an order",
            "API Gateway REST proxy -> Lambda -> DynamoDB conditional put",
        ),
        (
            "Two customers, one order",
            "Cognito user pool authorizer, API keys, ownership, groups",
        ),
        (
            "Two clients, one version",
            "optimistic locking: ConditionExpression version = :expected",
        ),
        (
            "Retry with an Idempotency-Key",
            "idempotency: TransactWriteItems with a condition",
        ),
        (
            "What the table holds",
            "KMS envelope encryption: GenerateDataKey + AES-256-GCM",
        ),
        (
            "The event fans out",
            "DynamoDB stream -> SNS -> SQS, subscription filter policy",
        ),
        (
            "The order is confirmed",
            "an idempotent SQS consumer with a conditional update",
        ),
        (
            "A poison message",
            "partial batch responses, redrive to a dead-letter queue",
        ),
        (
            "The trace of one request",
            "X-Ray: segments, subsegments, annotations",
        ),
    ];
    for (index, (title, concept)) in steps.iter().enumerate() {
        let step = index + 1;
        println!("\n── {step}/{} · {title} ── exam: {concept}", steps.len());
        let outcome = match step {
            1 => demo.create().await,
            2 => demo.two_customers().await,
            3 => demo.conflict().await,
            4 => demo.idempotent_retry().await,
            5 => demo.envelope().await,
            6 => demo.fan_out().await,
            7 => demo.confirmed().await,
            8 => demo.poison().await,
            _ => demo.trace().await,
        };
        match outcome {
            Ok(report) => print!("{report}"),
            Err(reason) => {
                return Err(StepFailed {
                    step,
                    title,
                    reason,
                });
            }
        }
    }
    println!("\nEvery step behaved as stated.");
    Ok(())
}

struct Demo<'a> {
    stack: &'a Stack,
    http: Client,
    /// Ada, the customer whose requests the steps send.
    customer: Credentials,
    /// The order of step 1: its id and the trace id of its creation.
    order: Option<(String, String)>,
}

/// What a request carries to get past API Gateway: an ID token (`Authorization`) and the API
/// key (`x-api-key`).
#[derive(Debug, Clone, Default)]
struct Credentials {
    token: Option<String>,
    api_key: Option<String>,
}

/// An HTTP answer: status, the headers that matter here, and the JSON body.
struct Answer {
    status: StatusCode,
    etag: Option<String>,
    trace: Option<String>,
    /// `Access-Control-Allow-Origin`: the function's own CORS header.
    allow_origin: Option<String>,
    replayed: bool,
    body: Value,
}

impl Demo<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.stack.api_url())
    }

    /// A request as Ada.
    async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Answer, String> {
        self.call_as(&self.customer, method, path, headers, body)
            .await
    }

    /// A request with `credentials`.
    async fn call_as(
        &self,
        credentials: &Credentials,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Answer, String> {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = &credentials.token {
            request = request.header("authorization", token);
        }
        if let Some(key) = &credentials.api_key {
            request = request.header("x-api-key", key);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|error| format!("the API did not answer: {error}"))?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (status, etag, trace) = (response.status(), header("etag"), header("x-amzn-trace-id"));
        let replayed = header("idempotent-replayed").as_deref() == Some("true");
        let allow_origin = header("access-control-allow-origin");
        let body = response.json().await.unwrap_or(Value::Null);
        Ok(Answer {
            status,
            etag,
            trace,
            allow_origin,
            replayed,
            body,
        })
    }

    fn order_id(&self) -> Result<&str, String> {
        self.order
            .as_ref()
            .map(|(id, _)| id.as_str())
            .ok_or_else(|| "no order was created in step 1".to_owned())
    }

    /// Polls `check` every 250 ms until it gives a value or `timeout` passes.
    async fn wait_for<T, F, Fut>(&self, timeout: Duration, check: F) -> Result<T, String>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>, String>>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(value) = check().await? {
                return Ok(value);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!("nothing happened within {} s", timeout.as_secs()));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// A new order; `note` tells orders apart. Its customer is whoever sends it.
fn new_order(note: &str) -> Value {
    json!({
        "items": [{"sku": "BOOK-1", "quantity": 2, "unitPriceCents": 1250}],
        "payment": {"cardNumber": CARD, "expiry": "12/35"},
        "note": note
    })
}

/// A step's report, closed by the line it is for: what the step proves.
fn proved(mut report: String, proof: &str) -> Outcome {
    let _ = writeln!(report, "  proves: {proof}");
    Ok(report)
}

fn expect(condition: bool, reason: impl FnOnce() -> String) -> Result<(), String> {
    if condition { Ok(()) } else { Err(reason()) }
}

fn short(body: &Value) -> String {
    match (body["error"]["code"].as_str(), body["version"].as_u64()) {
        (Some(code), _) => format!("{code} (current version {})", body["current"]["version"]),
        (None, Some(version)) => format!("version {version} note {}", body["note"]),
        _ => body.to_string(),
    }
}

fn clip(text: &str, n: usize) -> &str {
    &text[..text.len().min(n)]
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!("  {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}
