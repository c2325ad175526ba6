//! The step of reserved concurrency (scenario 10): a function with
//! `ReservedConcurrentExecutions: 1` runs one invocation at a time; Lambda refuses a second
//! synchronous one at once (429 `TooManyRequestsException`), API Gateway turns that refusal into
//! a 500, and an asynchronous one is accepted (202) and run once the function is free.

use std::fmt::Write as _;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::stand_in::{stand_in_directory, stand_in_route};
use super::{Credentials, Demo, Outcome, expect, proved, send};
use crate::api_gateway::INTEGRATION_TIMEOUT;

const RESERVED_FUNCTION: &str = "ReservedOneStandInFunction";
const RESERVED: u32 = 1;
/// Long enough never to end the held invocation before the demo does.
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(30);

/// A file whose creation ends the invocation holding on it. Dropping it opens it, so a step that
/// fails half-way leaves no invocation held until its timeout.
struct Gate {
    path: std::path::PathBuf,
}

impl Gate {
    fn open(&self) -> Result<(), String> {
        std::fs::write(&self.path, b"").map_err(|error| format!("could not open the gate: {error}"))
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.path, b"");
    }
}

impl Demo<'_> {
    pub(super) async fn reserved_concurrency(&mut self) -> Outcome {
        self.add_stand_in(RESERVED_FUNCTION, FUNCTION_TIMEOUT, Some(RESERVED))
            .await?;
        let directory = stand_in_directory();
        let gate = Gate {
            path: directory.join("gate"),
        };
        let record = directory.join("ran-asynchronously");
        for file in [&gate.path, &record] {
            let _ = std::fs::remove_file(file);
        }
        let api = self
            .serve_stand_in_api(vec![stand_in_route(
                "/reserved",
                RESERVED_FUNCTION,
                INTEGRATION_TIMEOUT,
            )])
            .await?;
        let outcome = self.one_at_a_time(&gate, &record, api.address()).await;
        api.shutdown().await;
        drop(gate);
        for file in ["gate", "ran-asynchronously"] {
            let _ = std::fs::remove_file(directory.join(file));
        }
        outcome
    }

    async fn one_at_a_time(
        &self,
        gate: &Gate,
        record: &std::path::Path,
        api: std::net::SocketAddr,
    ) -> Outcome {
        let lambda = self.stack.lambda();
        let url = format!(
            "http://{}/2015-03-31/functions/{RESERVED_FUNCTION}/invocations",
            lambda.address()
        );
        let invoke = |invocation_type: &'static str, event: serde_json::Value| {
            self.http
                .post(&url)
                .header("X-Amz-Invocation-Type", invocation_type)
                .json(&event)
                .send()
        };
        let mut out = format!(
            "  {RESERVED_FUNCTION} (the demo's stand-in) has ReservedConcurrentExecutions: {RESERVED}\n"
        );

        // The first invocation holds its one environment until the demo opens the gate.
        let held = json!({ "hold": gate.path.display().to_string() });
        let first = tokio::spawn(invoke("RequestResponse", held.clone()));
        self.wait_for(Duration::from_secs(10), || async {
            Ok((lambda.concurrent_executions(RESERVED_FUNCTION).await == RESERVED).then_some(()))
        })
        .await
        .map_err(|error| format!("the first invocation never ran: {error}"))?;
        let _ = writeln!(
            out,
            "  aws lambda invoke --function-name {RESERVED_FUNCTION} --payload '{held}'   (held: 1 in flight)"
        );

        // Exam: reserved concurrency is a hard cap. A synchronous invocation beyond it is refused
        // at once, not queued: 429 TooManyRequestsException; the caller retries with backoff.
        let second = invoke("RequestResponse", json!({"ms": "0"}))
            .await
            .map_err(|error| format!("Invoke: {error}"))?;
        let (status, error_type) = (
            second.status(),
            second
                .headers()
                .get("x-amzn-errortype")
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
        );
        let body: serde_json::Value = second.json().await.unwrap_or_default();
        let _ = writeln!(
            out,
            "  a second synchronous invoke, while the first runs -> {status} {error_type} {body}"
        );
        expect(
            status == StatusCode::TOO_MANY_REQUESTS && error_type == "TooManyRequestsException",
            || {
                format!(
                    "a second concurrent invocation should be refused with 429 TooManyRequestsException, got {status} {error_type} {body}"
                )
            },
        )?;

        // Exam: behind API Gateway, Lambda's refusal is an integration failure: a 500 (the
        // template's DEFAULT_5XX), not a 429. Only API Gateway's own limits answer 429.
        let through_api = send(
            &self.http,
            &format!("http://{api}/reserved"),
            &Credentials::default(),
            Method::GET,
            &[],
            None,
        )
        .await?;
        let _ = writeln!(
            out,
            "  GET /reserved through API Gateway, meanwhile -> {} {}",
            through_api.status.as_u16(),
            through_api.body
        );
        expect(
            through_api.status == StatusCode::INTERNAL_SERVER_ERROR
                && through_api.body["error"]["code"] == "InternalError",
            || {
                format!(
                    "a throttled function behind API Gateway should be a 500 InternalError, got {} {}",
                    through_api.status, through_api.body
                )
            },
        )?;

        // Exam: an asynchronous invocation is accepted (202) whatever the concurrency: Lambda
        // queues the event and retries a throttle itself (for up to 6 hours on AWS).
        let event = json!({ "record": record.display().to_string() });
        let accepted = invoke("Event", event.clone())
            .await
            .map_err(|error| format!("Invoke: {error}"))?
            .status();
        let _ = writeln!(
            out,
            "  aws lambda invoke --invocation-type Event --payload '{event}', meanwhile -> {accepted}"
        );
        expect(accepted == StatusCode::ACCEPTED, || {
            format!("an asynchronous invoke should be accepted with 202, got {accepted}")
        })?;
        expect(!record.exists(), || {
            "the asynchronous event ran while the only environment was busy".to_owned()
        })?;

        gate.open()?;
        let first = first
            .await
            .map_err(|error| format!("the first invocation's task: {error}"))?
            .map_err(|error| format!("Invoke: {error}"))?;
        let first_status = first.status();
        let _ = writeln!(out, "  the gate opens: the first invoke -> {first_status}");
        expect(first_status == StatusCode::OK, || {
            format!("the held invocation should end with 200, got {first_status}")
        })?;
        let ran = self
            .wait_for(Duration::from_secs(20), || async {
                Ok(std::fs::read_to_string(record).ok())
            })
            .await
            .map_err(|error| format!("the throttled asynchronous event never ran: {error}"))?;
        let _ = writeln!(
            out,
            "  then Lambda's retry runs the asynchronous event: the function received {ran}"
        );
        proved(
            out,
            "reserved concurrency caps a function's environments (and is taken from the account's unreserved pool, 1,000 by default, which keeps at least 100): beyond it a synchronous invoke is refused at once with 429 TooManyRequestsException (not queued; the caller retries), which API Gateway answers 500; an asynchronous invoke is accepted (202) and Lambda retries the throttled event itself until it runs. Concurrency needed = requests per second x average duration in seconds",
        )
    }
}
