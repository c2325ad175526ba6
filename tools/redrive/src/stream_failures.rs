//! The stream's failures, replayed: what `publish-events` gave up on, read back from the stream
//! and published.
//!
//! When a stream batch has failed `MaximumRetryAttempts` times (or its records grew older than
//! `MaximumRecordAgeInSeconds`), Lambda moves on and sends its on-failure destination
//! (`StreamFailureQueue`) a description of the batch, not its records:
//!
//! ```json
//! {"requestContext": {"requestId": "...", "functionArn": "...", "condition": "RetryAttemptsExhausted",
//!                     "approximateInvokeCount": 6},
//!  "responseContext": {"statusCode": 200, "executedVersion": "3", "functionError": "Unhandled"},
//!  "version": "1.0", "timestamp": "2026-11-29T10:00:05.000Z",
//!  "DDBStreamBatchInfo": {"shardId": "shardId-...", "startSequenceNumber": "...", "endSequenceNumber": "...",
//!                         "approximateArrivalOfFirstRecord": "...", "approximateArrivalOfLastRecord": "...",
//!                         "batchSize": 1, "streamArn": "arn:aws:dynamodb:...:table/.../stream/..."}}
//! ```
//!
//! A replay reads those records back from the stream ([`crate::stream_reader`]), makes their
//! events with the code `publish-events` runs (`messaging::stream::event_of`) and publishes them
//! with its `EventPublisher`; only when every event is published is the failure message deleted.
//! The stream keeps records 24 hours: a failure older than that can no longer be replayed (the
//! message stays, and the report says so; the orders themselves are in the table).
//!
//! An event published twice (the replay of a batch whose first events had gone out) is harmless:
//! the consumers are idempotent on `eventId` (the stream record's id, the same in a replay).

use aws_sdk_sqs::error::DisplayErrorContext;
use orders_shared::messaging::{EventPublisher, stream};
use serde::Deserialize;

use crate::stream_reader::{ReadError, ShardRange, read_range};

/// The message Lambda sends a stream's on-failure destination (the fields a replay needs).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StreamFailure {
    #[serde(rename = "DDBStreamBatchInfo")]
    pub batch: StreamBatchInfo,
}

/// Which records of which shard the failed batch held.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamBatchInfo {
    pub shard_id: String,
    pub start_sequence_number: String,
    pub end_sequence_number: String,
    pub batch_size: usize,
    pub stream_arn: String,
}

impl StreamBatchInfo {
    fn range(&self) -> ShardRange {
        ShardRange {
            stream_arn: self.stream_arn.clone(),
            shard_id: self.shard_id.clone(),
            first_sequence_number: self.start_sequence_number.clone(),
            last_sequence_number: self.end_sequence_number.clone(),
            batch_size: self.batch_size,
        }
    }
}

/// What became of one failure message.
#[derive(Debug)]
pub enum Replay {
    /// Its records' events are published, and the message deleted.
    Published { records: usize, events: usize },
    /// It stays on the queue: it could not be read, its records are gone, or an event was not
    /// published. A later `make redrive` tries it again.
    Kept { message_id: String, why: String },
}

/// Why the queue itself could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{operation} on {queue_url}: {cause}")]
pub struct QueueError {
    operation: &'static str,
    queue_url: String,
    cause: String,
}

/// How long a received failure message stays hidden from another reader while it is replayed.
const REPLAY_VISIBILITY_SECONDS: i32 = 120;

/// Replays every message of the stream's failure queue.
pub async fn replay_all(
    sqs: &aws_sdk_sqs::Client,
    streams: &aws_sdk_dynamodbstreams::Client,
    publisher: &EventPublisher,
    queue_url: &str,
) -> Result<Vec<Replay>, QueueError> {
    let failed = |operation: &'static str, cause: String| QueueError {
        operation,
        queue_url: queue_url.to_owned(),
        cause,
    };
    let mut replays = Vec::new();
    // A message kept stays invisible until its visibility timeout: the loop ends when every
    // message has been seen once.
    loop {
        let messages = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(REPLAY_VISIBILITY_SECONDS)
            .send()
            .await
            .map_err(|error| failed("ReceiveMessage", DisplayErrorContext(&error).to_string()))?
            .messages
            .unwrap_or_default();
        if messages.is_empty() {
            return Ok(replays);
        }
        for message in messages {
            let message_id = message.message_id.clone().unwrap_or_default();
            match replay_one(streams, publisher, message.body.as_deref().unwrap_or("")).await {
                Ok((records, events)) => {
                    sqs.delete_message()
                        .queue_url(queue_url)
                        .receipt_handle(message.receipt_handle.unwrap_or_default())
                        .send()
                        .await
                        .map_err(|error| {
                            failed("DeleteMessage", DisplayErrorContext(&error).to_string())
                        })?;
                    replays.push(Replay::Published { records, events });
                }
                Err(why) => replays.push(Replay::Kept { message_id, why }),
            }
        }
    }
}

/// Publishes the events of one failure message's records: (records read, events published).
async fn replay_one(
    streams: &aws_sdk_dynamodbstreams::Client,
    publisher: &EventPublisher,
    body: &str,
) -> Result<(usize, usize), String> {
    let failure: StreamFailure = serde_json::from_str(body).map_err(|error| {
        format!("not a stream failure record ({error}): is this the stream's on-failure queue?")
    })?;
    let records =
        read_range(streams, &failure.batch.range())
            .await
            .map_err(|error| match error {
                ReadError::Expired(_) => format!("{error}; the message is kept for inspection"),
                ReadError::Failed { .. } => error.to_string(),
            })?;
    if records.is_empty() {
        return Err(format!(
            "no record between sequence numbers {} and {} in {}",
            failure.batch.start_sequence_number,
            failure.batch.end_sequence_number,
            failure.batch.shard_id
        ));
    }
    let mut events = Vec::new();
    for record in &records {
        // The record that held the stream may be unreadable still: then nothing is published
        // past it, as publish-events would not.
        match stream::event_of(record) {
            Ok(Some(event)) => events.push(event),
            Ok(None) => {}
            Err(error) => return Err(error.to_string()),
        }
    }
    let results = publisher.publish(&events).await;
    if let Some(error) = results.into_iter().find_map(Result::err) {
        return Err(error.to_string());
    }
    Ok((records.len(), events.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambdas_on_failure_record_for_a_stream_is_read() {
        // The documented shape of a DynamoDB stream's on-failure destination message.
        let body = r#"{
          "requestContext": {"requestId": "316aa6d0-8154-4a1f-9af7-85d5f4a6bc81",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:orders-publish-events:live",
            "condition": "RetryAttemptsExhausted", "approximateInvokeCount": 6},
          "responseContext": {"statusCode": 200, "executedVersion": "3", "functionError": "Unhandled"},
          "version": "1.0",
          "timestamp": "2026-11-29T10:00:05.000Z",
          "DDBStreamBatchInfo": {
            "shardId": "shardId-00000001732873200000-1a2b3c4d",
            "startSequenceNumber": "100000000000000000001",
            "endSequenceNumber": "100000000000000000002",
            "approximateArrivalOfFirstRecord": "2026-11-29T09:59:00Z",
            "approximateArrivalOfLastRecord": "2026-11-29T09:59:01Z",
            "batchSize": 2,
            "streamArn": "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-11-01T00:00:00.000"
          }
        }"#;
        let failure: StreamFailure = serde_json::from_str(body).unwrap();
        assert_eq!(
            failure.batch.shard_id,
            "shardId-00000001732873200000-1a2b3c4d"
        );
        assert_eq!(failure.batch.start_sequence_number, "100000000000000000001");
        assert_eq!(failure.batch.end_sequence_number, "100000000000000000002");
        assert_eq!(failure.batch.batch_size, 2);
        assert!(
            failure
                .batch
                .stream_arn
                .ends_with("/stream/2026-11-01T00:00:00.000")
        );
    }
}
