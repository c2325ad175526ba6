//! The on-failure destination of a stream event source mapping: what Lambda sends when it gives
//! up on a batch.
//!
//! Exam: with `MaximumRetryAttempts` (or `MaximumRecordAgeInSeconds`) a stream mapping stops
//! retrying a failing batch, moves its checkpoint past it and reads on, so one poison record does
//! not hold its shard until the stream trims it (24 hours). With `DestinationConfig.OnFailure` (a
//! standard SQS queue or SNS topic) Lambda first sends the destination an *invocation record* that
//! describes the batch: its shard and first and last sequence numbers (`DDBStreamBatchInfo`), not
//! its records. The records stay in the stream until it trims them; reading them back is the
//! reader's job (`make redrive`, `tools/redrive`). Without a destination, what is given up is lost.
//!
//! The local poller gives up on the failing record alone (its checkpoint moves just past it, see
//! [`super::stream::StreamPoller::give_up`]), so the batch described here is that one record.

use aws_lambda_events::dynamodb::EventRecord;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{PollError, failed};
use crate::lambda::record_envelope;

/// What the poller knows when it gives up on records of one shard.
#[derive(Debug)]
pub struct GivenUp<'a> {
    pub stream_arn: &'a str,
    pub shard_id: &'a str,
    /// The records given up, oldest first (at least one).
    pub records: &'a [EventRecord],
    /// How many times they were delivered: the first invocation and every retry.
    pub invocations: i64,
    /// The last invocation failed as a whole (an error, a timeout, a crash) rather than answering
    /// with a partial batch response.
    pub invocation_failed: bool,
}

/// A mapping's `DestinationConfig.OnFailure` of `Type: SQS`.
#[derive(Debug, Clone)]
pub struct OnFailureQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    /// The function the mapping invokes: the record names it.
    function_arn: String,
}

impl OnFailureQueue {
    pub fn new(
        client: aws_sdk_sqs::Client,
        queue_url: impl Into<String>,
        function_arn: impl Into<String>,
    ) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
            function_arn: function_arn.into(),
        }
    }

    /// Sends the queue the invocation record of `given_up`. Its request id is a fresh one: the
    /// local Lambda service does not hand its pollers the ids of their invocations.
    pub async fn send(&self, given_up: &GivenUp<'_>) -> Result<(), PollError> {
        let record = invocation_record(
            given_up,
            &self.function_arn,
            &Uuid::new_v4().to_string(),
            Utc::now(),
        );
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(record.to_string())
            .send()
            .await
            .map_err(failed("SendMessage (the on-failure destination)"))?;
        Ok(())
    }
}

/// Lambda's invocation record for `given_up` at `now`; `request_id` names the last invocation.
pub fn invocation_record(
    given_up: &GivenUp,
    function_arn: &str,
    request_id: &str,
    now: DateTime<Utc>,
) -> Value {
    let time = |at: DateTime<Utc>| at.to_rfc3339_opts(SecondsFormat::Millis, true);
    let sequence_number = |record: &EventRecord| record.change.sequence_number.clone();
    let arrival = |record: &EventRecord| time(record.change.approximate_creation_date_time);
    let (first, last) = (given_up.records.first(), given_up.records.last());
    // Exam: the version the mapping invoked. The local Lambda has one, `$LATEST`; on AWS a
    // mapping on an alias (`AutoPublishAlias`) names the alias's version number.
    let mut response = json!({"statusCode": 200, "executedVersion": "$LATEST"});
    if given_up.invocation_failed {
        // As the invocation's `X-Amz-Function-Error` header: the function failed, not Lambda.
        response["functionError"] = json!("Unhandled");
    }
    let mut record = record_envelope(
        request_id,
        function_arn,
        "RetryAttemptsExhausted",
        given_up.invocations,
        response,
        now,
    );
    let batch = json!({
            "shardId": given_up.shard_id,
            "startSequenceNumber": first.and_then(sequence_number),
            "endSequenceNumber": last.and_then(sequence_number),
            "approximateArrivalOfFirstRecord": first.map(arrival),
            "approximateArrivalOfLastRecord": last.map(arrival),
            "batchSize": given_up.records.len(),
            "streamArn": given_up.stream_arn,
    });
    record.insert("DDBStreamBatchInfo".into(), batch);
    Value::Object(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(sequence_number: &str, created_seconds: i64) -> EventRecord {
        serde_json::from_value(json!({
            "eventID": format!("e-{sequence_number}"),
            "eventName": "INSERT",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/s",
            "dynamodb": {
                "ApproximateCreationDateTime": created_seconds,
                "Keys": {"pk": {"S": "ORDER#broken"}, "sk": {"S": "ORDER"}},
                "SequenceNumber": sequence_number,
                "SizeBytes": 40,
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            },
        }))
        .unwrap()
    }

    #[test]
    fn a_batch_given_up_is_described_not_sent() {
        let records = [record("100", 1_795_000_000), record("200", 1_795_000_002)];
        let given_up = GivenUp {
            stream_arn: "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/s",
            shard_id: "shardId-1",
            records: &records,
            invocations: 6,
            invocation_failed: true,
        };
        let now = DateTime::from_timestamp(1_795_000_010, 0).unwrap();
        let record = invocation_record(&given_up, "arn:aws:lambda:f", "r-1", now);
        assert_eq!(
            record,
            json!({
                "requestContext": {
                    "requestId": "r-1",
                    "functionArn": "arn:aws:lambda:f",
                    "condition": "RetryAttemptsExhausted",
                    "approximateInvokeCount": 6,
                },
                "responseContext": {
                    "statusCode": 200,
                    "executedVersion": "$LATEST",
                    "functionError": "Unhandled",
                },
                "version": "1.0",
                "timestamp": "2026-11-18T11:06:50.000Z",
                "DDBStreamBatchInfo": {
                    "shardId": "shardId-1",
                    "startSequenceNumber": "100",
                    "endSequenceNumber": "200",
                    "approximateArrivalOfFirstRecord": "2026-11-18T11:06:40.000Z",
                    "approximateArrivalOfLastRecord": "2026-11-18T11:06:42.000Z",
                    "batchSize": 2,
                    "streamArn": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/s",
                },
            })
        );
    }

    #[test]
    fn a_partial_batch_response_is_no_function_error() {
        let records = [record("100", 1_795_000_000)];
        let given_up = GivenUp {
            stream_arn: "arn:s",
            shard_id: "shardId-1",
            records: &records,
            invocations: 6,
            invocation_failed: false,
        };
        let record = invocation_record(&given_up, "arn:f", "r-1", Utc::now());
        assert_eq!(
            record["responseContext"],
            json!({"statusCode": 200, "executedVersion": "$LATEST"})
        );
        assert_eq!(record["DDBStreamBatchInfo"]["batchSize"], 1);
        assert_eq!(
            record["DDBStreamBatchInfo"]["startSequenceNumber"],
            record["DDBStreamBatchInfo"]["endSequenceNumber"]
        );
    }
}
