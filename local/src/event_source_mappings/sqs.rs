//! The SQS event source mapping: a batch (with its batching window), a partial batch response,
//! and the failed messages left in flight until their visibility timeout ends.
//!
//! [`QueuePoller`] is one mapping's state (the failed messages still in flight); `poll_queue`
//! is the loop Lambda runs for it.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::{Invocation, PollError, PollPace, failed, invoke};
use crate::lambda::LambdaService;

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

/// An SQS event source mapping, until told to stop.
pub(crate) async fn poll_queue(
    mut poller: QueuePoller,
    function: String,
    lambda: LambdaService,
    stopped: watch::Receiver<bool>,
    interval: Duration,
) {
    let mut pace = PollPace::new(stopped, interval);
    while pace.running() {
        let round: Result<bool, PollError> = async {
            let throttled = AtomicBool::new(false);
            let delivery = poller
                .deliver(|event| {
                    invoke::<SqsBatchResponse, _>(&lambda, &function, event, &throttled)
                })
                .await?;
            if throttled.load(Ordering::SeqCst) {
                // Exam: a throttled SQS batch is not lost: it stays on the queue and comes back
                // after the visibility timeout, but each receive counts toward the queue's
                // maxReceiveCount, so steady throttling can move good messages to the DLQ. That
                // is why AWS recommends capping an SQS consumer with the mapping's
                // ScalingConfig.MaximumConcurrency rather than with reserved concurrency.
                println!(
                    "{function}: throttled; {} messages stay on the queue until their visibility timeout ends",
                    delivery.received.len()
                );
            } else if !delivery.failed.is_empty() {
                println!(
                    "{function}: {} of {} messages failed and stay on the queue{}",
                    delivery.failed.len(),
                    delivery.received.len(),
                    delivery
                        .error
                        .map(|error| format!(" (the invocation failed: {error})"))
                        .unwrap_or_default()
                );
            }
            Ok(delivery.received.is_empty())
        }
        .await;
        pace.after(&function, round).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
