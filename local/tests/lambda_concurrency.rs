//! Lambda concurrency in the local Lambda service: several execution environments per function,
//! reserved concurrency as a hard cap (throttled beyond it, `TooManyRequestsException`), the
//! local cap on functions without it (they wait), and what an SQS mapping does with a throttled
//! batch.
//!
//! The bash runtime's `hold` event keeps an invocation in flight until the test creates a file,
//! so "two invocations at once" is a fact the test arranges, not a matter of timing.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use orders_local::event_source_mappings::QueuePoller;
use orders_local::lambda::{
    FunctionProcess, InvokeError, LOCAL_UNRESERVED_ENVIRONMENTS, LambdaService,
};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::support::functions::{
    as_json, bash_function, start_lambda_logging_to, start_lambda_with,
};
use crate::support::moto::moto_aws;

/// A file whose creation ends every invocation holding on it; removed when dropped.
struct Gate {
    path: PathBuf,
}

impl Gate {
    fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "orders-local-gate-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_file(&path);
        Self { path }
    }

    /// An event the bash runtime holds until the gate opens, then answers with its pid.
    fn event(&self, n: usize) -> Value {
        json!({ "hold": self.path.display().to_string(), "n": n })
    }

    fn open(&self) {
        std::fs::write(&self.path, b"").unwrap();
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn with_reserved(name: &str, reserved: Option<u32>) -> FunctionProcess {
    FunctionProcess {
        reserved_concurrency: reserved,
        ..bash_function(name, Duration::from_secs(30))
    }
}

fn invoke_in_background(lambda: &LambdaService, name: &str, event: Value) -> JoinHandle<Value> {
    let lambda = lambda.clone();
    let name = name.to_owned();
    tokio::spawn(async move {
        let output = lambda
            .invoke(&name, event.to_string().into_bytes(), None)
            .await
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        as_json(&output)
    })
}

/// Waits (20 s at most) until `count` invocations of `name` are in flight at once.
async fn until_in_flight(lambda: &LambdaService, name: &str, count: u32) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while lambda.concurrent_executions(name).await != count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name}: {} in flight, never {count}",
            lambda.concurrent_executions(name).await
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn assert_throttled(result: Result<Vec<u8>, InvokeError>, reserved: u32) {
    match result {
        Err(error @ InvokeError::Throttled { reserved: limit }) => {
            assert_eq!(limit, reserved);
            let message = error.to_string();
            assert!(message.contains("Rate Exceeded"), "{message}");
            assert!(message.contains("TooManyRequestsException"), "{message}");
        }
        other => panic!("expected a throttle, got {other:?}"),
    }
}

#[tokio::test]
async fn with_reserved_concurrency_1_a_second_concurrent_invocation_is_throttled() {
    let lambda = start_lambda_with(with_reserved("ReservedOne", Some(1))).await;
    let gate = Gate::new();
    let first = invoke_in_background(&lambda, "ReservedOne", gate.event(1));
    until_in_flight(&lambda, "ReservedOne", 1).await;

    // Exam: reserved concurrency is a hard cap: refused at once, not queued.
    let second = lambda
        .invoke("ReservedOne", br#"{"pid": 2}"#.to_vec(), None)
        .await;
    assert_throttled(second, 1);

    gate.open();
    let first = first.await.unwrap();
    assert_eq!(first["event"], gate.event(1), "the first one succeeded");
    // The throttle left nothing behind: the next invocation is warm, in the same environment.
    let third = as_json(
        &lambda
            .invoke("ReservedOne", br#"{"pid": 3}"#.to_vec(), None)
            .await
            .unwrap(),
    );
    assert_eq!(third["pid"], first["pid"]);
    assert_eq!(lambda.pids("ReservedOne").await.len(), 1);
    lambda.shutdown().await;
}

#[tokio::test]
async fn with_reserved_concurrency_2_two_invocations_run_at_once_in_two_environments() {
    let logs = std::env::temp_dir().join(format!(
        "orders-local-logs-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let lambda = start_lambda_logging_to(logs.clone()).await;
    lambda.add(with_reserved("ReservedTwo", Some(2))).await;
    let gate = Gate::new();
    let first = invoke_in_background(&lambda, "ReservedTwo", gate.event(1));
    let second = invoke_in_background(&lambda, "ReservedTwo", gate.event(2));
    until_in_flight(&lambda, "ReservedTwo", 2).await;
    let third = lambda
        .invoke("ReservedTwo", br#"{"pid": 3}"#.to_vec(), None)
        .await;
    assert_throttled(third, 2);

    gate.open();
    let (first, second) = (first.await.unwrap(), second.await.unwrap());
    assert_eq!(first["event"], gate.event(1));
    assert_eq!(second["event"], gate.event(2));
    assert_ne!(first["pid"], second["pid"], "two processes");
    assert_eq!(lambda.pids("ReservedTwo").await.len(), 2);
    lambda.shutdown().await;

    // Two cold starts, each with its own log stream.
    let log = std::fs::read_to_string(logs.join("ReservedTwo.log")).unwrap();
    let _ = std::fs::remove_dir_all(&logs);
    let streams: Vec<&str> = log
        .lines()
        .filter(|line| line.starts_with("INIT_START"))
        .filter_map(|line| line.split("log stream ").nth(1))
        .collect();
    assert_eq!(streams.len(), 2, "{log}");
    assert_ne!(streams[0], streams[1]);
    assert_eq!(log.lines().filter(|l| l.starts_with("START")).count(), 2);
}

#[tokio::test]
async fn without_reserved_concurrency_invocations_run_at_once_up_to_the_local_cap_then_wait() {
    let lambda = start_lambda_with(with_reserved("Unreserved", None)).await;
    let gate = Gate::new();
    let cap = LOCAL_UNRESERVED_ENVIRONMENTS as usize;
    let invocations: Vec<_> = (0..=cap)
        .map(|n| invoke_in_background(&lambda, "Unreserved", gate.event(n)))
        .collect();
    // All of the cap in flight at once, each in its own environment; the one beyond waits.
    until_in_flight(&lambda, "Unreserved", LOCAL_UNRESERVED_ENVIRONMENTS).await;

    gate.open();
    let mut pids = Vec::new();
    for (n, invocation) in invocations.into_iter().enumerate() {
        let response = invocation.await.unwrap();
        assert_eq!(
            response["event"],
            gate.event(n),
            "each caller gets its own answer"
        );
        pids.push(response["pid"].as_u64().unwrap());
    }
    pids.sort_unstable();
    pids.dedup();
    // Locally (not on AWS) the invocation beyond the cap waited and reused an environment.
    assert_eq!(pids.len(), cap, "{pids:?}");
    assert_eq!(lambda.concurrent_executions("Unreserved").await, 0);
    lambda.shutdown().await;
}

#[tokio::test]
async fn a_throttled_sqs_batch_stays_on_the_queue_and_its_next_receive_counts() {
    // Reserved concurrency 0: every invocation is throttled (how AWS stops a function).
    let lambda = start_lambda_with(with_reserved("Stopped", Some(0))).await;
    let aws = moto_aws().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("throttled-{}", std::process::id()))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    sqs.send_message()
        .queue_url(&queue_url)
        .message_body("an order event")
        .send()
        .await
        .unwrap();

    let mut poller = QueuePoller::new(sqs.clone(), &queue_url, &queue_arn);
    let lambda = &lambda;
    let delivery = poller
        .deliver(|event| async move {
            let payload = serde_json::to_vec(&event).unwrap();
            let output = lambda
                .invoke("Stopped", payload, None)
                .await
                .map_err(|error| error.to_string())?;
            serde_json::from_slice(&output).map_err(|error| error.to_string())
        })
        .await
        .unwrap();
    assert_eq!(delivery.received.len(), 1);
    assert_eq!(delivery.failed, delivery.received, "nothing deleted");
    let error = delivery.error.expect("the invocation failed");
    assert!(error.contains("TooManyRequestsException"), "{error}");

    // The visibility timeout passes: the same message again, its second receive.
    poller.let_visibility_timeout_pass().await.unwrap();
    let (_, messages) = poller.receive().await.unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].message_id(),
        delivery.received.first().map(String::as_str)
    );
    let receives = messages[0]
        .attributes()
        .and_then(|attributes| attributes.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .cloned();
    assert_eq!(
        receives.as_deref(),
        Some("2"),
        "it counts toward maxReceiveCount"
    );
    lambda.shutdown().await;
}
