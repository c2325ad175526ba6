//! The demo: the exam scenarios, narrated, against a running local stack (`make demo`).
//!
//! Each step names the exam concept, shows the requests and the answers, checks them, and says what
//! they prove. [`run`] runs them all and stops at the first step that does not behave as stated,
//! naming it; [`run_step`] runs one (`make demo STEP=<name>`), after the steps it builds on.
//! Every request is a signed-in customer's, with the API key, as a client app would send it.
//!
//! | steps                                              | file                                      |
//! |----------------------------------------------------|-------------------------------------------|
//! | the list: name, scenario, what each builds on      | `steps.rs`                                |
//! | create, conflict, idempotent_retry, envelope       | `orders.rs`: the order API                |
//! | two_customers                                      | `identity.rs`: who may see and change what |
//! | cors                                               | `cors.rs`: the preflight, the function's header |
//! | all_or_nothing                                     | `transaction.rs`: TransactWriteItems      |
//! | fan_out, confirmed, redelivered, poison, trace     | `pipeline.rs`: the event pipeline         |
//! | encrypted_hops                                     | `encryption.rs`: SSE-KMS on the topic and every queue |
//! | expired_but_visible, capacity, list_pages          | `table.rs`: DynamoDB's TTL, capacity units, pages |
//! | async_retries                                      | `async_invoke.rs`: an event Lambda gives up on |
//! | merchant_webhook                                   | `merchant_webhook.rs`: SNS -> Lambda asynchronously, a signed webhook, retries, the destination |
//! | integration_timeout                                | `timeouts.rs`: 504 or 502, which timeout ends first |
//! | reserved_concurrency                               | `concurrency.rs`: Lambda's 429, API Gateway's 500, async accepted |
//! | (the function of the two above)                    | `stand_in.rs`: the demo's own stand-in function and API |
//! | throttled                                          | `throttled.rs`: API Gateway's 429 and backoff |

mod async_invoke;
mod concurrency;
mod cors;
mod encryption;
mod identity;
mod merchant_webhook;
mod orders;
mod pipeline;
mod stand_in;
mod steps;
mod table;
mod throttled;
mod timeouts;
mod transaction;

use std::fmt::Write as _;
use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

pub use steps::{STEPS, Step, UnknownStep};

use crate::sign_in::LOCAL_PASSWORD;
use crate::stack::Stack;

/// The card of the demo's orders (a test Visa number that passes the Luhn check).
const CARD: &str = "4111 1111 1111 1111";

/// A step that did not behave as stated.
#[derive(Debug, thiserror::Error)]
#[error("step `{step}` ({title}) failed: {reason}")]
pub struct StepFailed {
    /// The step's name, as `make demo STEP=<name>` takes it.
    pub step: &'static str,
    pub title: &'static str,
    pub reason: String,
}

/// What a step reports: the lines to print, or why it failed.
type Outcome = Result<String, String>;

/// Runs every step against `stack`, in order, printing as it goes.
pub async fn run(stack: &Stack) -> Result<(), StepFailed> {
    let mut demo = Demo::signed_in(stack).await?;
    for (index, step) in STEPS.iter().enumerate() {
        demo.narrate(step, &format!("{}/{}", index + 1, STEPS.len()))
            .await?;
    }
    println!("\nEvery step behaved as stated.");
    Ok(())
}

/// Runs the step named `name` against `stack`, after the steps it builds on (each reported in
/// one line). An unknown name is refused before anything runs.
pub async fn run_step(stack: &Stack, name: &str) -> Result<(), RunStepError> {
    let step = Step::named(name)?;
    let mut demo = Demo::signed_in(stack).await?;
    for needed in step.set_up() {
        match demo.perform(needed.name).await {
            Ok(_) => println!("(set-up: step `{}` ran: {})", needed.name, needed.title),
            Err(reason) => return Err(demo.failed(needed, reason).into()),
        }
    }
    demo.narrate(step, "1/1").await?;
    println!("\nThe step behaved as stated.");
    Ok(())
}

/// Why [`run_step`] did not pass.
#[derive(Debug, thiserror::Error)]
pub enum RunStepError {
    #[error(transparent)]
    Unknown(#[from] UnknownStep),
    #[error(transparent)]
    Failed(#[from] StepFailed),
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

impl<'a> Demo<'a> {
    /// Ada signs up and in; every step's requests are hers unless it says otherwise.
    async fn signed_in(stack: &'a Stack) -> Result<Demo<'a>, StepFailed> {
        let signed_in = stack
            .sign_in("ada@example.com", LOCAL_PASSWORD, None)
            .await
            .map_err(|error| StepFailed {
                step: "sign_in",
                title: "Sign in",
                reason: error.to_string(),
            })?;
        println!(
            "Every request below carries Ada's ID token (signed up and in to the user pool) and the API key."
        );
        Ok(Demo {
            stack,
            http: Client::new(),
            customer: Credentials {
                token: Some(signed_in.id_token),
                api_key: stack.api_key().map(str::to_owned),
            },
            order: None,
        })
    }

    /// Runs `step` with its heading (`position` is "3/13") and prints its report.
    async fn narrate(&mut self, step: &'static Step, position: &str) -> Result<(), StepFailed> {
        println!(
            "\n── {position} · {} · {} ── exam: {} ({})",
            step.name, step.title, step.concept, step.scenario
        );
        match self.perform(step.name).await {
            Ok(report) => {
                print!("{report}");
                Ok(())
            }
            Err(reason) => Err(self.failed(step, reason)),
        }
    }

    fn failed(&self, step: &'static Step, reason: String) -> StepFailed {
        StepFailed {
            step: step.name,
            title: step.title,
            reason,
        }
    }

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

    /// Ada places the order `body` (with `headers`): expects 201 and returns the answer and the
    /// new order's id.
    async fn place_order(
        &self,
        headers: &[(&str, &str)],
        body: &Value,
    ) -> Result<(Answer, String), String> {
        let answer = self
            .call(Method::POST, "/orders", headers, Some(body))
            .await?;
        expect(answer.status == StatusCode::CREATED, || {
            format!("expected 201, got {} {}", answer.status, answer.body)
        })?;
        let id = answer.body["orderId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Ok((answer, id))
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
        send(
            &self.http,
            &self.url(path),
            credentials,
            method,
            headers,
            body,
        )
        .await
    }

    /// The physical name of the template's orders table, for the steps that read it raw.
    fn orders_table(&self) -> Result<String, String> {
        self.stack
            .deployed()
            .table_name("OrdersTable")
            .map(str::to_owned)
            .ok_or_else(|| "no OrdersTable".to_owned())
    }

    fn order_id(&self) -> Result<&str, String> {
        self.order
            .as_ref()
            .map(|(id, _)| id.as_str())
            .ok_or_else(|| "step `create` made no order".to_owned())
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

/// Sends one request to `url` with `credentials`: what [`Demo::call_as`] does, for a task that
/// cannot borrow the demo (requests sent at once).
async fn send(
    http: &Client,
    url: &str,
    credentials: &Credentials,
    method: Method,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Result<Answer, String> {
    let mut request = http.request(method, url);
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

/// The error code AWS refused a call with (`ConditionalCheckFailedException`, ...), or `ok` if the
/// call went through.
fn refused_with<'a, T, E, R>(result: &'a Result<T, SdkError<E, R>>, ok: &'a str) -> &'a str
where
    E: ProvideErrorMetadata,
{
    result
        .as_ref()
        .err()
        .and_then(|error| error.code())
        .unwrap_or(ok)
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
