//! The DynamoDB stream event source mapping: records of a shard in order, a checkpoint just
//! before the first failed record, bounded retries, then the on-failure destination.
//!
//! [`StreamPoller`] is one mapping's state (its checkpoints and last batch); `poll_stream` is
//! the loop Lambda runs for it, counting the invocations of a failing record until
//! `MaximumRetryAttempts` gives it up.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_lambda_events::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::streams::DynamoDbEventResponse;
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::on_failure::{GivenUp, OnFailureQueue};
use super::{Invocation, PollError, PollPace, failed, invoke};
use crate::lambda::LambdaService;

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

/// How many times each failing record has been sent to the function, to give it up after
/// `MaximumRetryAttempts` retries.
struct Retries {
    /// -1: never give up (the record is retried until it expires from the stream).
    maximum_retry_attempts: i64,
    invocations: HashMap<String, i64>,
}

impl Retries {
    fn new(maximum_retry_attempts: i64) -> Self {
        Self {
            maximum_retry_attempts,
            invocations: HashMap::new(),
        }
    }

    /// A batch failed at record `sequence`. Returns how many times the function has been sent
    /// the record when it is to be given up.
    fn failed(&mut self, sequence: &str, throttled: bool) -> Option<i64> {
        // Exam: a throttled batch never reached the function, so it is retried without counting
        // toward MaximumRetryAttempts; its records are not lost.
        if throttled {
            return None;
        }
        let count = self.invocations.entry(sequence.to_owned()).or_default();
        *count += 1;
        (self.maximum_retry_attempts >= 0 && *count > self.maximum_retry_attempts).then_some(*count)
    }

    fn given_up(&mut self, sequence: &str) {
        self.invocations.remove(sequence);
    }
}

/// A DynamoDB stream event source mapping, until told to stop. A record that keeps failing is
/// given up after `maximum_retry_attempts` retries (-1: until it expires from the stream), and
/// described to the mapping's on-failure destination if it has one.
pub(crate) async fn poll_stream(
    mut poller: StreamPoller,
    function: String,
    maximum_retry_attempts: i64,
    lambda: LambdaService,
    stopped: watch::Receiver<bool>,
    interval: Duration,
) {
    let mut retries = Retries::new(maximum_retry_attempts);
    let mut pace = PollPace::new(stopped, interval);
    while pace.running() {
        let round: Result<bool, PollError> = async {
            let throttled = AtomicBool::new(false);
            let delivery = poller
                .deliver(|event| {
                    invoke::<DynamoDbEventResponse, _>(&lambda, &function, event, &throttled)
                })
                .await?;
            let failed = match (
                &delivery.error,
                delivery.response.batch_item_failures.first(),
            ) {
                (Some(_), _) => delivery
                    .records
                    .first()
                    .and_then(|r| r.change.sequence_number.clone()),
                (None, Some(failure)) => failure.item_identifier.clone(),
                (None, None) => None,
            };
            let Some(sequence) = failed else {
                return Ok(delivery.records.is_empty());
            };
            if let Some(invocations) = retries.failed(&sequence, throttled.load(Ordering::SeqCst))
            {
                // Exam: bounded retries. The record's description goes to the on-failure
                // destination (`DestinationConfig.OnFailure`), then the shard reads on.
                match poller.give_up(&delivery, &sequence, invocations).await {
                    Ok(told) => {
                        let destination = if told {
                            ", described to the on-failure destination"
                        } else {
                            ""
                        };
                        println!(
                            "{function}: gave up on stream record {sequence} after {maximum_retry_attempts} retries{destination}"
                        );
                        retries.given_up(&sequence);
                    }
                    Err(error) => eprintln!("{function}: {error}"),
                }
            }
            Ok(delivery.records.is_empty())
        }
        .await;
        pace.after(&function, round).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_given_up_after_its_retries_and_throttles_do_not_count() {
        let mut retries = Retries::new(1);
        for _ in 0..5 {
            assert_eq!(retries.failed("7", true), None, "a throttle is not a retry");
        }
        assert_eq!(
            retries.failed("7", false),
            None,
            "the first invocation failed"
        );
        assert_eq!(retries.failed("7", true), None);
        assert_eq!(
            retries.failed("7", false),
            Some(2),
            "its one retry failed too"
        );
        retries.given_up("7");
        assert_eq!(retries.failed("7", false), None, "counted afresh");

        let mut forever = Retries::new(-1);
        for _ in 0..100 {
            assert_eq!(forever.failed("8", false), None);
        }
    }

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
}
