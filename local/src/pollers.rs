//! Event source mappings: Lambda's pollers for a DynamoDB stream and an SQS queue.
//!
//! For a stream or a queue, nothing calls the function: Lambda itself polls the source, gathers a
//! batch (`BatchSize`, waiting up to `MaximumBatchingWindowInSeconds` to fill it) and invokes the
//! function synchronously with it. What happens next depends on the function's answer; with
//! `FunctionResponseTypes: [ReportBatchItemFailures]` the answer lists the records that failed:
//!
//! - [`StreamPoller`]: records of a shard are in order. Lambda checkpoints just before the first
//!   failed record (or after the batch when none failed) and reads on from there, so a failed record
//!   and every record after it come again. A function *error* fails the whole batch.
//! - [`QueuePoller`]: Lambda deletes every message not listed. The listed ones stay in flight until
//!   their visibility timeout ends, then SQS delivers them again; after `maxReceiveCount` receives
//!   SQS itself moves a message to the queue's dead-letter queue. A function error leaves the whole
//!   batch in flight.
//!
//! Polls never wait on the server (`WaitTimeSeconds = 0`): the local moto serves one request at a
//! time, and a long poll would hold it; an empty poll sleeps here instead. Lambda event filtering
//! (`FilterCriteria`) is applied to stream records before a batch is built ([`matches_pattern`]).
//! A stream record given up after its retries is described to the mapping's on-failure
//! destination ([`on_failure`]).

pub mod on_failure;

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use aws_lambda_events::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use aws_lambda_events::streams::DynamoDbEventResponse;
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use serde_json::{Value, json};

use on_failure::{GivenUp, OnFailureQueue};

/// A poll or a delete failed (moto went away, say). The message names the operation.
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed: {cause}")]
pub struct PollError {
    pub operation: &'static str,
    pub cause: String,
}

fn failed<E: std::fmt::Debug>(operation: &'static str) -> impl FnOnce(E) -> PollError {
    move |error| PollError {
        operation,
        cause: format!("{error:?}"),
    }
}

/// A function's answer to a batch: its batch response, or the error of a failed invocation.
pub type Invocation<R> = Result<R, String>;

// ============================================================================================
// DynamoDB streams
// ============================================================================================

/// A stream event source mapping (`StartingPosition: TRIM_HORIZON`).
pub struct StreamPoller {
    client: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    /// At most this many records per batch (`BatchSize`).
    pub batch_size: usize,
    /// `FilterCriteria`: a record is delivered if it matches any pattern (all, when empty).
    pub filter_patterns: Vec<Value>,
    /// `DestinationConfig.OnFailure`: told about every record given up.
    pub on_failure: Option<OnFailureQueue>,
    /// Per shard: the sequence number of the last record the function is done with.
    checkpoints: HashMap<String, String>,
    /// The shard of each record of the last batch, by sequence number.
    last_batch: Vec<(String, String)>,
}

/// What one delivery of a stream batch did.
#[derive(Debug, Default)]
pub struct StreamDelivery {
    /// The batch the function got.
    pub records: Vec<EventRecord>,
    /// Records that the filter criteria dropped (checkpointed, never delivered).
    pub filtered_out: usize,
    /// The function's answer (the default, empty one if it was not invoked).
    pub response: DynamoDbEventResponse,
    /// The invocation's error, if it failed as a whole.
    pub error: Option<String>,
}

impl StreamPoller {
    pub fn new(client: aws_sdk_dynamodbstreams::Client, stream_arn: impl Into<String>) -> Self {
        Self {
            client,
            stream_arn: stream_arn.into(),
            batch_size: 100,
            filter_patterns: Vec::new(),
            on_failure: None,
            checkpoints: HashMap::new(),
            last_batch: Vec::new(),
        }
    }

    /// Every record after the checkpoints, oldest first, each with its shard, as the records of
    /// Lambda's stream event.
    pub async fn new_records(&self) -> Result<Vec<(String, EventRecord)>, PollError> {
        let shards = self
            .client
            .describe_stream()
            .stream_arn(&self.stream_arn)
            .send()
            .await
            .map_err(failed("DescribeStream"))?
            .stream_description
            .and_then(|d| d.shards)
            .unwrap_or_default();
        let mut records = Vec::new();
        for shard in shards {
            let shard_id = shard.shard_id().unwrap_or_default().to_owned();
            let request = self
                .client
                .get_shard_iterator()
                .stream_arn(&self.stream_arn)
                .shard_id(&shard_id);
            let request = match self.checkpoints.get(&shard_id) {
                Some(sequence) => request
                    .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                    .sequence_number(sequence),
                None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
            };
            let mut iterator = request
                .send()
                .await
                .map_err(failed("GetShardIterator"))?
                .shard_iterator;
            while let Some(current) = iterator {
                let output = self
                    .client
                    .get_records()
                    .shard_iterator(current)
                    .send()
                    .await
                    .map_err(failed("GetRecords"))?;
                let batch = output.records.unwrap_or_default();
                if batch.is_empty() {
                    break;
                }
                for record in batch {
                    records.push((shard_id.clone(), lambda_record(&self.stream_arn, record)?));
                }
                iterator = output.next_shard_iterator;
            }
        }
        Ok(records)
    }

    /// Calls `function` with the next batch (if any record passes the filter) and moves the
    /// checkpoints as Lambda does with `ReportBatchItemFailures`.
    pub async fn deliver<F, Fut>(&mut self, function: F) -> Result<StreamDelivery, PollError>
    where
        F: FnOnce(StreamEvent) -> Fut,
        Fut: Future<Output = Invocation<DynamoDbEventResponse>>,
    {
        let mut delivery = StreamDelivery::default();
        let mut batch: Vec<(String, EventRecord)> = Vec::new();
        for (shard, record) in self.new_records().await? {
            if batch.len() == self.batch_size {
                break;
            }
            if self.passes_filter(&record) {
                batch.push((shard, record));
            } else if batch.is_empty() {
                // Dropped by the filter before anything was batched: done with it.
                delivery.filtered_out += 1;
                self.checkpoint(&shard, &record);
            }
        }
        if batch.is_empty() {
            return Ok(delivery);
        }
        self.last_batch = batch
            .iter()
            .filter_map(|(shard, record)| {
                let sequence = record.change.sequence_number.clone()?;
                Some((shard.clone(), sequence))
            })
            .collect();
        let mut event = StreamEvent::default();
        event.records = batch.iter().map(|(_, record)| record.clone()).collect();
        match function(event).await {
            Ok(response) => {
                let first_failed = response
                    .batch_item_failures
                    .first()
                    .and_then(|failure| failure.item_identifier.clone());
                for (shard, record) in &batch {
                    if record.change.sequence_number == first_failed {
                        break;
                    }
                    self.checkpoint(shard, record);
                }
                delivery.response = response;
            }
            // The whole batch failed: the checkpoint stays, the batch comes again.
            Err(error) => delivery.error = Some(error),
        }
        delivery.records = batch.into_iter().map(|(_, record)| record).collect();
        Ok(delivery)
    }

    /// Gives up on a record of `delivery`, the last batch, after `invocations` deliveries: the
    /// on-failure destination (if any) gets its description, then the checkpoint moves past it.
    /// If the destination cannot be told, the record stays where it is and comes again. Returns
    /// whether a destination was told.
    pub async fn give_up(
        &mut self,
        delivery: &StreamDelivery,
        sequence_number: &str,
        invocations: i64,
    ) -> Result<bool, PollError> {
        let shard = self
            .last_batch
            .iter()
            .find(|(_, sequence)| sequence == sequence_number)
            .map(|(shard, _)| shard.clone());
        let record = delivery
            .records
            .iter()
            .position(|record| record.change.sequence_number.as_deref() == Some(sequence_number));
        let told = match (&self.on_failure, shard, record) {
            (Some(destination), Some(shard_id), Some(index)) => {
                let given_up = GivenUp {
                    stream_arn: &self.stream_arn,
                    shard_id: &shard_id,
                    records: &delivery.records[index..=index],
                    invocations,
                    invocation_failed: delivery.error.is_some(),
                };
                destination.send(&given_up).await?;
                true
            }
            _ => false,
        };
        self.skip(sequence_number);
        Ok(told)
    }

    /// Moves the checkpoint past a record of the last batch.
    pub fn skip(&mut self, sequence_number: &str) {
        if let Some((shard, sequence)) = self
            .last_batch
            .iter()
            .find(|(_, sequence)| sequence == sequence_number)
            .cloned()
        {
            self.checkpoints.insert(shard, sequence);
        }
    }

    fn checkpoint(&mut self, shard: &str, record: &EventRecord) {
        if let Some(sequence) = &record.change.sequence_number {
            self.checkpoints.insert(shard.to_owned(), sequence.clone());
        }
    }

    fn passes_filter(&self, record: &EventRecord) -> bool {
        if self.filter_patterns.is_empty() {
            return true;
        }
        let record = serde_json::to_value(record).unwrap_or(Value::Null);
        self.filter_patterns
            .iter()
            .any(|pattern| matches_pattern(pattern, &record))
    }
}

/// Lambda's record for a stream record: the same fields, in the event's JSON shape.
fn lambda_record(
    stream_arn: &str,
    record: aws_sdk_dynamodbstreams::types::Record,
) -> Result<EventRecord, PollError> {
    let change = record
        .dynamodb
        .unwrap_or_else(|| aws_sdk_dynamodbstreams::types::StreamRecord::builder().build());
    let image = |item: Option<HashMap<String, _>>| -> Value {
        let item: serde_dynamo::Item = item.unwrap_or_default().into();
        serde_json::to_value(item).unwrap_or(Value::Null)
    };
    let json = json!({
        "eventID": record.event_id,
        "eventName": record.event_name.map(|n| n.as_str().to_owned()),
        "eventVersion": record.event_version,
        "eventSource": "aws:dynamodb",
        "awsRegion": record.aws_region,
        "eventSourceARN": stream_arn,
        "dynamodb": {
            "ApproximateCreationDateTime": change.approximate_creation_date_time.map(|t| t.secs()),
            "Keys": image(change.keys),
            "NewImage": image(change.new_image),
            "OldImage": image(change.old_image),
            "SequenceNumber": change.sequence_number,
            "SizeBytes": change.size_bytes,
            "StreamViewType": change.stream_view_type.map(|v| v.as_str().to_owned()),
        }
    });
    serde_json::from_value(json).map_err(failed("GetRecords (mapping a record)"))
}

/// Lambda event filtering: does `event` match `pattern`? A pattern is a JSON object whose leaves
/// are arrays of allowed values: `{"dynamodb": {"Keys": {"sk": {"S": ["ORDER"]}}}}` matches a
/// record whose `dynamodb.Keys.sk.S` is `"ORDER"`. (The exact-value subset of the syntax.)
pub fn matches_pattern(pattern: &Value, event: &Value) -> bool {
    match pattern {
        Value::Object(fields) => fields.iter().all(|(name, sub)| {
            event
                .get(name)
                .is_some_and(|value| matches_pattern(sub, value))
        }),
        Value::Array(allowed) => allowed.iter().any(|value| value == event),
        other => other == event,
    }
}

// ============================================================================================
// SQS
// ============================================================================================

/// An SQS event source mapping.
pub struct QueuePoller {
    client: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub queue_arn: String,
    /// At most this many messages per batch (`BatchSize`, at most 10 per receive).
    pub batch_size: i32,
    /// `MaximumBatchingWindowInSeconds`: how long to gather a batch that is not yet full.
    pub batching_window: Duration,
    /// When set, a failed message becomes visible again after this long instead of the queue's
    /// visibility timeout (a local shortcut so redrive happens in seconds; see `stack`).
    pub retry_after: Option<Duration>,
    /// Receipt handles of the messages the function reported as failed, still in flight.
    in_flight: Vec<String>,
}

/// What one delivery of a queue batch did.
#[derive(Debug, Default)]
pub struct QueueDelivery {
    /// The ids of the messages in the batch.
    pub received: Vec<String>,
    /// The ids of the messages left on the queue (reported failed, or all if the invocation failed).
    pub failed: Vec<String>,
    /// The invocation's error, if it failed as a whole.
    pub error: Option<String>,
}

impl QueuePoller {
    pub fn new(
        client: aws_sdk_sqs::Client,
        queue_url: impl Into<String>,
        queue_arn: impl Into<String>,
    ) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
            queue_arn: queue_arn.into(),
            batch_size: 10,
            batching_window: Duration::ZERO,
            retry_after: None,
            in_flight: Vec::new(),
        }
    }

    /// Receives one batch (no waiting on the server), as Lambda's SQS event, with every system
    /// attribute (`AWSTraceHeader`, `ApproximateReceiveCount`, ...). With a batching window, polls
    /// again until the batch is full or the window has passed.
    pub async fn receive(&self) -> Result<(SqsEvent, Vec<Message>), PollError> {
        let deadline = tokio::time::Instant::now() + self.batching_window;
        let mut messages: Vec<Message> = Vec::new();
        loop {
            let wanted = self.batch_size.clamp(1, 10) - messages.len() as i32;
            let received = self
                .client
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(wanted)
                .wait_time_seconds(0)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await
                .map_err(failed("ReceiveMessage"))?
                .messages
                .unwrap_or_default();
            messages.extend(received);
            let full = messages.len() as i32 >= self.batch_size.clamp(1, 10);
            if messages.is_empty() || full || tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let records: Vec<Value> = messages
            .iter()
            .map(|message| lambda_message(message, &self.queue_arn))
            .collect();
        let event = serde_json::from_value(json!({ "Records": records }))
            .map_err(failed("ReceiveMessage (mapping messages)"))?;
        Ok((event, messages))
    }

    /// Receives a batch, calls `function` with it, deletes what did not fail and leaves the rest
    /// in flight. An empty queue invokes nothing.
    pub async fn deliver<F, Fut>(&mut self, function: F) -> Result<QueueDelivery, PollError>
    where
        F: FnOnce(SqsEvent) -> Fut,
        Fut: Future<Output = Invocation<SqsBatchResponse>>,
    {
        let (event, messages) = self.receive().await?;
        let mut delivery = QueueDelivery {
            received: messages
                .iter()
                .map(|m| m.message_id().unwrap_or_default().to_owned())
                .collect(),
            ..QueueDelivery::default()
        };
        if messages.is_empty() {
            return Ok(delivery);
        }
        delivery.failed = match function(event).await {
            Ok(response) => response
                .batch_item_failures
                .into_iter()
                .map(|failure| failure.item_identifier)
                .collect(),
            Err(error) => {
                delivery.error = Some(error);
                delivery.received.clone()
            }
        };
        let mut done = Vec::new();
        for (i, message) in messages.iter().enumerate() {
            let id = message.message_id().unwrap_or_default();
            let handle = message.receipt_handle().unwrap_or_default().to_owned();
            if delivery.failed.iter().any(|failed| failed == id) {
                self.in_flight.push(handle);
            } else {
                done.push(
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(handle)
                        .build()
                        .map_err(failed("DeleteMessageBatch (entry)"))?,
                );
            }
        }
        if !done.is_empty() {
            self.client
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(done))
                .send()
                .await
                .map_err(failed("DeleteMessageBatch"))?;
        }
        if let Some(delay) = self.retry_after {
            self.make_failed_visible_after(delay).await?;
        }
        Ok(delivery)
    }

    /// Makes the messages of a batch received with [`Self::receive`] visible again at once, as
    /// if their visibility timeout had passed.
    pub async fn release(&self, event: &SqsEvent) -> Result<(), PollError> {
        for record in &event.records {
            self.change_visibility(record.receipt_handle.as_deref().unwrap_or_default(), 0)
                .await?;
        }
        Ok(())
    }

    /// Time passes: the visibility timeout of every failed message ends now.
    pub async fn let_visibility_timeout_pass(&mut self) -> Result<(), PollError> {
        self.make_failed_visible_after(Duration::ZERO).await
    }

    async fn make_failed_visible_after(&mut self, delay: Duration) -> Result<(), PollError> {
        for handle in std::mem::take(&mut self.in_flight) {
            self.change_visibility(&handle, delay.as_secs() as i32)
                .await?;
        }
        Ok(())
    }

    async fn change_visibility(&self, receipt_handle: &str, seconds: i32) -> Result<(), PollError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds)
            .send()
            .await
            .map_err(failed("ChangeMessageVisibility"))?;
        Ok(())
    }
}

/// Lambda's record for an SQS message.
fn lambda_message(message: &Message, queue_arn: &str) -> Value {
    let attributes: serde_json::Map<String, Value> = message
        .attributes()
        .into_iter()
        .flatten()
        .map(|(name, value)| (name.as_str().to_owned(), Value::String(value.clone())))
        .collect();
    let message_attributes: serde_json::Map<String, Value> = message
        .message_attributes()
        .into_iter()
        .flatten()
        .map(|(name, value)| {
            (
                name.clone(),
                json!({
                    "stringValue": value.string_value(),
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": value.data_type(),
                }),
            )
        })
        .collect();
    let region = queue_arn.split(':').nth(3).unwrap_or("us-east-1");
    json!({
        "messageId": message.message_id(),
        "receiptHandle": message.receipt_handle(),
        "body": message.body(),
        "md5OfBody": message.md5_of_body(),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_pattern_matches_exact_values_at_its_leaves() {
        let pattern = json!({"dynamodb": {"Keys": {"sk": {"S": ["ORDER"]}}}});
        let order = json!({"eventName": "INSERT", "dynamodb": {"Keys": {"pk": {"S": "ORDER#1"}, "sk": {"S": "ORDER"}}}});
        let audit = json!({"dynamodb": {"Keys": {"sk": {"S": "EVENT#1"}}}});
        let no_keys = json!({"dynamodb": {}});
        assert!(matches_pattern(&pattern, &order));
        assert!(!matches_pattern(&pattern, &audit));
        assert!(!matches_pattern(&pattern, &no_keys));
        let either = json!({"eventName": ["INSERT", "MODIFY"]});
        assert!(matches_pattern(&either, &order));
        assert!(!matches_pattern(&either, &json!({"eventName": "REMOVE"})));
    }

    #[test]
    fn an_sqs_message_becomes_lambdas_record() {
        let message = Message::builder()
            .message_id("m-1")
            .receipt_handle("r-1")
            .body("{}")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "2")
            .attributes(
                MessageSystemAttributeName::AwsTraceHeader,
                "Root=1-a-b;Sampled=1",
            )
            .build();
        let record = lambda_message(&message, "arn:aws:sqs:eu-west-1:123456789012:q");
        let event: SqsEvent = serde_json::from_value(json!({ "Records": [record] })).unwrap();
        let record = &event.records[0];
        assert_eq!(record.message_id.as_deref(), Some("m-1"));
        assert_eq!(record.attributes["ApproximateReceiveCount"], "2");
        assert_eq!(record.attributes["AWSTraceHeader"], "Root=1-a-b;Sampled=1");
        assert_eq!(record.aws_region.as_deref(), Some("eu-west-1"));
    }
}
