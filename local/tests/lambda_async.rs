//! Asynchronous invocation (`InvocationType: Event`) in the local Lambda service: the event is
//! queued and the call returns at once; a function error is retried `MaximumRetryAttempts` times
//! (2 by default: 3 attempts); a throttle is retried without counting; an event Lambda gives up on
//! lands in the on-failure SQS queue (on moto) as Lambda's invocation record.
//!
//! The Invoke API on the service's port answers each invocation type as Lambda does
//! (`RequestResponse` 200, `Event` 202, `DryRun` 204, a throttle 429), through the SDK's client.
//!
//! Attempts are counted from the function's log: Lambda writes one `START RequestId: <id>` line
//! per attempt, and every attempt of an event keeps its request id.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use orders_local::lambda::{EventInvokeConfig, FailureQueue, FunctionProcess, LambdaService};
use serde_json::{Value, json};

use crate::support::async_events::{messages, scratch, until_done};
use crate::support::functions::{bash_function, start_lambda_logging_to};
use crate::support::moto::moto_aws;

/// A new standard queue on moto, as the on-failure destination, and a client to read it.
async fn failure_queue(name: &str) -> (FailureQueue, aws_sdk_sqs::Client, String) {
    let sqs = aws_sdk_sqs::Client::new(&moto_aws().await);
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("async-failures-{name}-{}", std::process::id()))
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .expect("a queue URL");
    (FailureQueue::new(sqs.clone(), &queue_url), sqs, queue_url)
}

/// Waits (20 s at most) until the function's log has a line containing `text`.
async fn until_logged(log: &Path, text: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let logged = std::fs::read_to_string(log).unwrap_or_default();
        if logged.contains(text) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never logged {text:?}:\n{logged}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How many times Lambda started the event `request_id`: one `START` line per attempt.
fn attempts(log: &Path, request_id: &str) -> usize {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter(|line| line.starts_with(&format!("START RequestId: {request_id} ")))
        .count()
}

fn config(maximum_retry_attempts: u32, on_failure: Option<FailureQueue>) -> EventInvokeConfig {
    EventInvokeConfig {
        maximum_retry_attempts,
        on_failure,
        ..EventInvokeConfig::default()
    }
}

/// A Lambda service logging to a fresh directory, with `function` added: the service and the
/// function's log file.
async fn lambda_with(function: FunctionProcess) -> (LambdaService, PathBuf) {
    let logs = scratch("logs");
    let log = logs.join(format!("{}.log", function.name));
    let lambda = start_lambda_logging_to(logs).await;
    lambda.add(function).await;
    (lambda, log)
}

#[tokio::test]
async fn an_event_that_always_fails_is_tried_3_times_then_its_record_goes_to_the_queue() {
    let (lambda, log) = lambda_with(bash_function("AlwaysFails", Duration::from_secs(30))).await;
    let (destination, sqs, queue_url) = failure_queue("always").await;
    // Exam: the default, MaximumRetryAttempts 2.
    lambda
        .put_event_invoke_config("AlwaysFails", config(2, Some(destination)))
        .unwrap();

    let event = json!({"fail": true, "order": "o-1"});
    let request_id = lambda
        .invoke_async("AlwaysFails", event.to_string().into_bytes(), None)
        .await
        .unwrap();
    until_done(&lambda, "AlwaysFails").await;

    assert_eq!(attempts(&log, &request_id), 3, "the attempt and 2 retries");
    let records = messages(&sqs, &queue_url, 5).await;
    let [record] = records.as_slice() else {
        panic!("one record expected, got {records:#?}");
    };
    assert_eq!(record["version"], "1.0");
    let context = &record["requestContext"];
    assert_eq!(context["requestId"], request_id.as_str());
    assert_eq!(context["condition"], "RetriesExhausted");
    assert_eq!(context["approximateInvokeCount"], 3);
    assert_eq!(
        context["functionArn"],
        "arn:aws:lambda:us-east-1:123456789012:function:orders-local-AlwaysFails:$LATEST"
    );
    // Exam: unlike a dead-letter queue, the destination gets the event *and* the error.
    assert_eq!(record["requestPayload"], event);
    assert_eq!(record["responseContext"]["functionError"], "Unhandled");
    assert_eq!(
        record["responsePayload"],
        json!({"errorType": "Boom", "errorMessage": "it failed"})
    );
    lambda.shutdown().await;
}

#[tokio::test]
async fn with_maximum_retry_attempts_0_a_failing_event_is_tried_once() {
    let (lambda, log) = lambda_with(bash_function("FailsOnce", Duration::from_secs(30))).await;
    let (destination, sqs, queue_url) = failure_queue("once").await;
    lambda
        .put_event_invoke_config("FailsOnce", config(0, Some(destination)))
        .unwrap();

    let request_id = lambda
        .invoke_async("FailsOnce", br#"{"fail": 1}"#.to_vec(), None)
        .await
        .unwrap();
    until_done(&lambda, "FailsOnce").await;

    assert_eq!(attempts(&log, &request_id), 1);
    let records = messages(&sqs, &queue_url, 5).await;
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["requestContext"]["approximateInvokeCount"], 1);
    assert_eq!(
        records[0]["requestContext"]["condition"],
        "RetriesExhausted"
    );
    lambda.shutdown().await;
}

#[tokio::test]
async fn an_event_that_succeeds_on_its_retry_sends_no_record() {
    let (lambda, log) = lambda_with(bash_function("SecondTime", Duration::from_secs(30))).await;
    let (destination, sqs, queue_url) = failure_queue("second").await;
    lambda
        .put_event_invoke_config("SecondTime", config(2, Some(destination)))
        .unwrap();
    let marker = scratch("marker");

    let request_id = lambda
        .invoke_async(
            "SecondTime",
            json!({"marker": marker.display().to_string()})
                .to_string()
                .into_bytes(),
            None,
        )
        .await
        .unwrap();
    until_done(&lambda, "SecondTime").await;

    assert_eq!(attempts(&log, &request_id), 2, "a failure, then a success");
    assert!(marker.exists(), "the first attempt ran");
    assert_eq!(messages(&sqs, &queue_url, 0).await, Vec::<Value>::new());
    let _ = std::fs::remove_file(&marker);
    lambda.shutdown().await;
}

#[tokio::test]
async fn an_asynchronous_invoke_returns_before_the_function_has_run() {
    let (lambda, log) = lambda_with(bash_function("Held", Duration::from_secs(30))).await;
    let gate = scratch("gate");

    // The function cannot finish before the gate opens, and the call has returned already.
    let request_id = lambda
        .invoke_async(
            "Held",
            json!({"hold": gate.display().to_string()})
                .to_string()
                .into_bytes(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(lambda.async_events_pending("Held"), 1, "queued, not done");

    std::fs::write(&gate, b"").unwrap();
    until_done(&lambda, "Held").await;
    assert_eq!(attempts(&log, &request_id), 1);
    until_logged(&log, &format!("END RequestId: {request_id}")).await;
    let _ = std::fs::remove_file(&gate);
    lambda.shutdown().await;
}

#[tokio::test]
async fn a_throttled_event_is_retried_without_counting_as_a_retry() {
    let (lambda, log) = lambda_with(FunctionProcess {
        reserved_concurrency: Some(1),
        ..bash_function("ReservedAsync", Duration::from_secs(30))
    })
    .await;
    // No retry of a function error at all: only a throttle is retried here.
    lambda
        .put_event_invoke_config("ReservedAsync", config(0, None))
        .unwrap();
    let gate = scratch("gate");
    let held = {
        let lambda = lambda.clone();
        let event = json!({"hold": gate.display().to_string()});
        tokio::spawn(async move {
            lambda
                .invoke("ReservedAsync", event.to_string().into_bytes(), None)
                .await
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while lambda.concurrent_executions("ReservedAsync").await != 1 {
        assert!(tokio::time::Instant::now() < deadline, "never in flight");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let request_id = lambda
        .invoke_async("ReservedAsync", br#"{"pid": "async"}"#.to_vec(), None)
        .await
        .unwrap();
    // Exam: with the reserved concurrency in use the attempt is throttled; Lambda keeps the event.
    until_logged(&log, &format!("ASYNC RequestId: {request_id} throttled")).await;
    std::fs::write(&gate, b"").unwrap();
    held.await.unwrap().expect("the held invocation succeeds");
    until_done(&lambda, "ReservedAsync").await;

    assert_eq!(attempts(&log, &request_id), 1, "it ran once, and succeeded");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(!logged.contains("discarded"), "{logged}");
    let _ = std::fs::remove_file(&gate);
    lambda.shutdown().await;
}

#[tokio::test]
async fn lambda_refuses_an_event_invoke_config_out_of_bounds() {
    let (lambda, _log) = lambda_with(bash_function("Bounded", Duration::from_secs(3))).await;
    assert!(
        lambda
            .put_event_invoke_config("Bounded", config(3, None))
            .is_err()
    );
    assert!(
        lambda
            .put_event_invoke_config("Nobody", config(1, None))
            .is_err()
    );
    let too_young = EventInvokeConfig {
        maximum_event_age: Duration::from_secs(59),
        ..EventInvokeConfig::default()
    };
    assert!(
        lambda
            .put_event_invoke_config("Bounded", too_young)
            .is_err()
    );
    lambda.shutdown().await;
}

// The Invoke API on the local service's port, through the SDK's Lambda client (what
// `aws lambda invoke --endpoint-url` calls).

/// The SDK's Lambda client against the local service, without the SDK's own retries.
async fn lambda_client(lambda: &LambdaService) -> aws_sdk_lambda::Client {
    let config = aws_sdk_lambda::config::Builder::from(&moto_aws().await)
        .endpoint_url(format!("http://{}", lambda.address()))
        .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

#[tokio::test]
async fn the_invoke_api_request_response_is_200_with_the_result_or_the_function_error() {
    let (lambda, _log) = lambda_with(bash_function("Sync", Duration::from_secs(30))).await;
    let client = lambda_client(&lambda).await;

    let answer = client
        .invoke()
        .function_name("orders-local-Sync")
        .payload(Blob::new(br#"{"hello": "world"}"#.to_vec()))
        .send()
        .await
        .expect("Invoke");
    assert_eq!(answer.status_code(), 200);
    assert_eq!(answer.function_error(), None);
    assert_eq!(answer.executed_version(), Some("$LATEST"));
    let payload: Value = serde_json::from_slice(answer.payload().unwrap().as_ref()).unwrap();
    assert_eq!(payload, json!({"hello": "world"}));

    // Exam: a function error is not an error status: 200, and the header says it failed.
    let failed = client
        .invoke()
        .function_name("Sync")
        .invocation_type(InvocationType::RequestResponse)
        .payload(Blob::new(br#"{"fail": 1}"#.to_vec()))
        .send()
        .await
        .expect("Invoke");
    assert_eq!(failed.status_code(), 200);
    assert_eq!(failed.function_error(), Some("Unhandled"));
    let error: Value = serde_json::from_slice(failed.payload().unwrap().as_ref()).unwrap();
    assert_eq!(
        error,
        json!({"errorType": "Boom", "errorMessage": "it failed"})
    );
    lambda.shutdown().await;
}

#[tokio::test]
async fn the_invoke_api_event_is_202_and_the_function_runs_later() {
    let (lambda, log) = lambda_with(bash_function("Later", Duration::from_secs(30))).await;
    let client = lambda_client(&lambda).await;
    let gate = scratch("gate");

    let answer = client
        .invoke()
        .function_name("arn:aws:lambda:us-east-1:123456789012:function:orders-local-Later")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(
            json!({"hold": gate.display().to_string()})
                .to_string()
                .into_bytes(),
        ))
        .send()
        .await
        .expect("Invoke");
    assert_eq!(answer.status_code(), 202);
    assert!(
        answer
            .payload()
            .is_none_or(|payload| payload.as_ref().is_empty())
    );
    assert_eq!(lambda.async_events_pending("Later"), 1, "queued, not done");

    std::fs::write(&gate, b"").unwrap();
    until_done(&lambda, "Later").await;
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(logged.matches("START RequestId: ").count(), 1, "{logged}");
    let _ = std::fs::remove_file(&gate);
    lambda.shutdown().await;
}

#[tokio::test]
async fn the_invoke_api_dry_run_is_204_and_runs_nothing() {
    let (lambda, log) = lambda_with(bash_function("Dry", Duration::from_secs(30))).await;
    let client = lambda_client(&lambda).await;

    let answer = client
        .invoke()
        .function_name("Dry")
        .invocation_type(InvocationType::DryRun)
        .payload(Blob::new(br#"{"pid": 1}"#.to_vec()))
        .send()
        .await
        .expect("Invoke");
    assert_eq!(answer.status_code(), 204);
    assert_eq!(
        lambda.pids("Dry").await,
        Vec::<u32>::new(),
        "no environment started"
    );
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!logged.contains("START"), "{logged}");

    let unknown = client
        .invoke()
        .function_name("Nobody")
        .invocation_type(InvocationType::DryRun)
        .send()
        .await
        .expect_err("no such function");
    assert!(
        unknown
            .as_service_error()
            .is_some_and(|error| error.is_resource_not_found_exception()),
        "{unknown:?}"
    );
    lambda.shutdown().await;
}

#[tokio::test]
async fn the_invoke_api_answers_a_throttled_synchronous_invoke_429() {
    let (lambda, _log) = lambda_with(FunctionProcess {
        reserved_concurrency: Some(0),
        ..bash_function("NoConcurrency", Duration::from_secs(30))
    })
    .await;
    let client = lambda_client(&lambda).await;

    // Exam: reserved concurrency 0 throttles every invocation: TooManyRequestsException, 429.
    let throttled = client
        .invoke()
        .function_name("NoConcurrency")
        .payload(Blob::new(br#"{"pid": 1}"#.to_vec()))
        .send()
        .await
        .expect_err("throttled");
    let raw_status = throttled.raw_response().map(|raw| raw.status().as_u16());
    assert_eq!(raw_status, Some(429));
    assert!(
        throttled
            .as_service_error()
            .is_some_and(|error| error.is_too_many_requests_exception()),
        "{throttled:?}"
    );
    lambda.shutdown().await;
}
