//! The stream's on-failure destination, on the whole stack from `template.yaml`: a change that
//! `publish-events` keeps failing on is retried `MaximumRetryAttempts` (5) times, then Lambda's
//! invocation record describing it lands in `StreamFailureQueue`, in the shape `make redrive`
//! reads, and it points at the record that failed.

use crate::support;

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use orders_redrive::stream_failures::StreamFailure;
use orders_redrive::stream_reader::{ShardRange, read_range};
use serde_json::Value;

/// The first invocation is a cold start of `publish-events`; the retries follow at once.
const PATIENCE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_publish_events_keeps_failing_on_is_described_in_stream_failure_queue() {
    let stack = support::stack::start("stream-failure").await;
    let deployed = stack.deployed();
    let (table, stream_arn) = support::moto::orders_table_and_stream(deployed);
    let queue_url = deployed
        .queue_url("StreamFailureQueue")
        .expect("the on-failure queue");
    let function_arn = deployed
        .function_arn("PublishEventsFunction")
        .expect("publish-events");

    // An order item that is not an order (written around the application): it passes the
    // mapping's filter (sk = ORDER) and publish-events reports it failed every time.
    aws_sdk_dynamodb::Client::new(stack.aws())
        .put_item()
        .table_name(table)
        .item("pk", AttributeValue::S("ORDER#broken".into()))
        .item("sk", AttributeValue::S("ORDER".into()))
        .send()
        .await
        .expect("PutItem");

    let sqs = aws_sdk_sqs::Client::new(stack.aws());
    let body = first_message(&sqs, queue_url).await;
    let record: Value = serde_json::from_str(&body).expect("the message is JSON");

    let request = &record["requestContext"];
    assert_eq!(request["condition"], "RetryAttemptsExhausted");
    assert_eq!(
        request["approximateInvokeCount"], 6,
        "the first delivery and MaximumRetryAttempts (5) retries"
    );
    assert_eq!(request["functionArn"], function_arn);
    assert!(
        request["requestId"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    // The function answered each time, with a partial batch response: no function error.
    assert_eq!(
        record["responseContext"],
        serde_json::json!({"statusCode": 200, "executedVersion": "$LATEST"})
    );
    assert_eq!(record["version"], "1.0");
    let timestamp = record["timestamp"].as_str().expect("a timestamp");
    chrono::DateTime::parse_from_rfc3339(timestamp).expect("an RFC 3339 timestamp");
    let batch = &record["DDBStreamBatchInfo"];
    assert_eq!(batch["streamArn"], stream_arn);
    assert_eq!(batch["batchSize"], 1);
    assert_eq!(batch["startSequenceNumber"], batch["endSequenceNumber"]);
    for arrival in [
        "approximateArrivalOfFirstRecord",
        "approximateArrivalOfLastRecord",
    ] {
        let at = batch[arrival].as_str().expect(arrival);
        chrono::DateTime::parse_from_rfc3339(at).expect(arrival);
    }

    // `make redrive` reads it, and the range it names holds the record that failed.
    let failure: StreamFailure = serde_json::from_str(&body).expect("make redrive reads it");
    let streams = aws_sdk_dynamodbstreams::Client::new(stack.aws());
    let range = ShardRange {
        stream_arn: failure.batch.stream_arn.clone(),
        shard_id: failure.batch.shard_id.clone(),
        first_sequence_number: failure.batch.start_sequence_number.clone(),
        last_sequence_number: failure.batch.end_sequence_number.clone(),
        batch_size: failure.batch.batch_size,
    };
    let records = read_range(&streams, &range)
        .await
        .expect("the range reads back");
    assert_eq!(records.len(), 1);
    assert_eq!(
        serde_json::to_value(&records[0].change.keys).unwrap()["pk"]["S"],
        "ORDER#broken"
    );

    // Given up once: the shard reads on, and no second description follows.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let more = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .expect("ReceiveMessage")
        .messages
        .unwrap_or_default();
    assert!(more.is_empty(), "a second description: {more:?}");

    stack.shutdown().await;
}

/// The body of the first message on `queue_url`, waiting up to [`PATIENCE`] for it.
async fn first_message(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> String {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let messages = sqs
            .receive_message()
            .queue_url(queue_url)
            .send()
            .await
            .expect("ReceiveMessage")
            .messages
            .unwrap_or_default();
        if let Some(body) = messages.into_iter().find_map(|message| message.body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing in StreamFailureQueue after {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
