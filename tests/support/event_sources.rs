//! Lambda's event source mappings, as the tests drive them: a DynamoDB stream poller and an SQS
//! poller, each handing a function a batch in the shape Lambda sends and acting on the function's
//! partial batch response as Lambda does.
//!
//! - [`StreamPoller`]: reads the table's stream from where it last got to, calls the function
//!   with the new records, and moves its checkpoint to just before the first failed record (or
//!   past the batch when none failed): a failed record and every record after it come again.
//! - [`QueuePoller`]: receives up to `batch_size` messages (with every system attribute, including
//!   `AWSTraceHeader`), calls the function, deletes every message the function did not report,
//!   and leaves the reported ones in flight. They become visible again when the visibility
//!   timeout passes ([`QueuePoller::let_visibility_timeout_pass`] makes it pass now); after
//!   `maxReceiveCount` receives, SQS itself moves a message to the dead-letter queue.
//!
//! Receives never wait (`WaitTimeSeconds = 0`): the moto server handles one request at a time,
//! and a long poll would hold it.

use std::future::Future;

use aws_lambda_events::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use aws_lambda_events::streams::DynamoDbEventResponse;
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};

/// A stream event source mapping (`StartingPosition: TRIM_HORIZON`).
pub struct StreamPoller {
    client: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    /// Per shard: the sequence number of the last record the function is done with.
    checkpoints: std::collections::HashMap<String, String>,
}

impl StreamPoller {
    pub fn new(client: aws_sdk_dynamodbstreams::Client, stream_arn: String) -> Self {
        Self {
            client,
            stream_arn,
            checkpoints: Default::default(),
        }
    }

    /// The records after the checkpoints, as Lambda's stream event records, oldest first, each
    /// with its shard.
    pub async fn new_records(&self) -> Vec<(String, EventRecord)> {
        let shards = self
            .client
            .describe_stream()
            .stream_arn(&self.stream_arn)
            .send()
            .await
            .expect("DescribeStream")
            .stream_description
            .and_then(|d| d.shards)
            .unwrap_or_default();
        let mut records = Vec::new();
        for shard in shards {
            let shard_id = shard.shard_id().expect("a shard id").to_owned();
            let mut request = self
                .client
                .get_shard_iterator()
                .stream_arn(&self.stream_arn)
                .shard_id(&shard_id);
            request = match self.checkpoints.get(&shard_id) {
                Some(sequence) => request
                    .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                    .sequence_number(sequence),
                None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
            };
            let mut iterator = request
                .send()
                .await
                .expect("GetShardIterator")
                .shard_iterator;
            while let Some(current) = iterator {
                let output = self
                    .client
                    .get_records()
                    .shard_iterator(current)
                    .send()
                    .await
                    .expect("GetRecords");
                let batch = output.records.unwrap_or_default();
                if batch.is_empty() {
                    break;
                }
                records.extend(
                    batch
                        .into_iter()
                        .map(|r| (shard_id.clone(), lambda_record(&self.stream_arn, r))),
                );
                iterator = output.next_shard_iterator;
            }
        }
        records
    }

    /// Calls `function` with every new record (one batch) and moves the checkpoint as Lambda does
    /// with `ReportBatchItemFailures`. Returns the batch and the function's answer.
    pub async fn deliver<F, Fut>(
        &mut self,
        function: F,
    ) -> (Vec<EventRecord>, DynamoDbEventResponse)
    where
        F: FnOnce(LambdaEvent<StreamEvent>) -> Fut,
        Fut: Future<Output = Result<DynamoDbEventResponse, lambda_runtime::Error>>,
    {
        let (shards, records): (Vec<String>, Vec<EventRecord>) =
            self.new_records().await.into_iter().unzip();
        if records.is_empty() {
            return (records, DynamoDbEventResponse::default());
        }
        let mut event = StreamEvent::default();
        event.records = records.clone();
        let response = function(LambdaEvent::new(event, Context::default()))
            .await
            .expect("the function answers with a batch response, never an error");
        let first_failed = response
            .batch_item_failures
            .first()
            .and_then(|failure| failure.item_identifier.clone());
        // Done with every record before the first failure (all of them if none failed).
        for (shard, record) in shards.into_iter().zip(&records) {
            let sequence = record
                .change
                .sequence_number
                .clone()
                .expect("a sequence number");
            if Some(&sequence) == first_failed.as_ref() {
                break;
            }
            self.checkpoints.insert(shard, sequence);
        }
        (records, response)
    }
}

/// Lambda's record for a stream record: the same fields, in the event's JSON shape.
fn lambda_record(stream_arn: &str, record: aws_sdk_dynamodbstreams::types::Record) -> EventRecord {
    let change = record.dynamodb.expect("a stream record has its change");
    let image = |item: Option<std::collections::HashMap<String, _>>| -> Value {
        let item: serde_dynamo::Item = item.unwrap_or_default().into();
        serde_json::to_value(item).expect("an item is JSON")
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
    serde_json::from_value(json).expect("a stream record in Lambda's event shape")
}

/// An SQS event source mapping (`FunctionResponseTypes: [ReportBatchItemFailures]`).
pub struct QueuePoller {
    client: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub queue_arn: String,
    pub batch_size: i32,
    /// Receipt handles of the messages the function reported as failed, still in flight.
    in_flight: Vec<String>,
}

/// One delivery of a batch: what was received and what the function reported as failed.
#[derive(Debug, Default)]
pub struct Delivery {
    pub received: Vec<String>,
    pub failed: Vec<String>,
}

impl QueuePoller {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: String, queue_arn: String) -> Self {
        Self {
            client,
            queue_url,
            queue_arn,
            batch_size: 10,
            in_flight: Vec::new(),
        }
    }

    /// Receives one batch (up to `batch_size`, no waiting), as Lambda's raw SQS event.
    pub async fn receive(&self) -> (SqsEvent, Vec<Message>) {
        let messages = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.batch_size)
            .wait_time_seconds(0)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .expect("ReceiveMessage")
            .messages
            .unwrap_or_default();
        let records: Vec<Value> = messages
            .iter()
            .map(|message| lambda_message(message, &self.queue_arn))
            .collect();
        let event: SqsEvent = serde_json::from_value(json!({ "Records": records }))
            .expect("messages in Lambda's SQS event shape");
        (event, messages)
    }

    /// Receives a batch, calls `function` with it, and deletes what did not fail. An empty
    /// queue calls nothing (Lambda does not invoke for an empty poll).
    pub async fn deliver<F, Fut>(&mut self, function: F) -> Delivery
    where
        F: FnOnce(LambdaEvent<SqsEvent>) -> Fut,
        Fut: Future<Output = Result<SqsBatchResponse, lambda_runtime::Error>>,
    {
        let (event, messages) = self.receive().await;
        if messages.is_empty() {
            return Delivery::default();
        }
        let response = function(LambdaEvent::new(event, Context::default()))
            .await
            .expect("the function answers with a batch response, never an error");
        let failed: Vec<String> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        let mut done = Vec::new();
        for (i, message) in messages.iter().enumerate() {
            let id = message.message_id().unwrap_or_default();
            let handle = message.receipt_handle().unwrap_or_default().to_owned();
            if failed.iter().any(|f| f == id) {
                self.in_flight.push(handle);
            } else {
                done.push(
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(handle)
                        .build()
                        .unwrap(),
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
                .expect("DeleteMessageBatch");
        }
        Delivery {
            received: messages
                .iter()
                .map(|m| m.message_id().unwrap_or_default().to_owned())
                .collect(),
            failed,
        }
    }

    /// Makes the messages of a batch received with [`Self::receive`] visible again at once, as
    /// if their visibility timeout had passed (a test looks at a batch, then lets it be delivered).
    pub async fn release(&self, event: &SqsEvent) {
        for record in &event.records {
            self.client
                .change_message_visibility()
                .queue_url(&self.queue_url)
                .receipt_handle(record.receipt_handle.clone().unwrap_or_default())
                .visibility_timeout(0)
                .send()
                .await
                .expect("ChangeMessageVisibility");
        }
    }

    /// Time passes: the visibility timeout of every failed message ends, and SQS may deliver
    /// them again.
    pub async fn let_visibility_timeout_pass(&mut self) {
        for handle in self.in_flight.drain(..) {
            self.client
                .change_message_visibility()
                .queue_url(&self.queue_url)
                .receipt_handle(handle)
                .visibility_timeout(0)
                .send()
                .await
                .expect("ChangeMessageVisibility");
        }
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
    json!({
        "messageId": message.message_id(),
        "receiptHandle": message.receipt_handle(),
        "body": message.body(),
        "md5OfBody": message.md5_of_body(),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": "us-east-1",
    })
}
