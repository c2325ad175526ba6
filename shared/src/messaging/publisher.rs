//! Publishing events to the `OrderEvents` SNS topic.
//!
//! Each event is one SNS message: the body is the event's JSON, and its type travels as the
//! message attribute `eventType`, which subscription filter policies match on (the fulfillment
//! queue's policy is `{"eventType": ["OrderPlaced"]}`). Filters on attributes cost nothing to
//! evaluate and never need the body parsed.
//!
//! Exam: `PublishBatch` sends up to 10 messages (256 KB in total) in one call: fewer requests,
//! less latency, the same price per message. It can succeed for some entries and fail for others,
//! so the answer is read entry by entry.

use aws_sdk_sns::Client;
use aws_sdk_sns::error::DisplayErrorContext;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};

use crate::domain::OrderEvent;

/// The most entries one `PublishBatch` call takes.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// The name of the message attribute that carries the event type.
pub const EVENT_TYPE_ATTRIBUTE: &str = "eventType";

/// Why an event was not published. Holds an error code or an SDK message, never the event.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("SNS did not take the event: {0}")]
pub struct PublishFailed(pub String);

/// Publishes events to one topic. Cheap to clone; build it once in `main`.
#[derive(Debug, Clone)]
pub struct EventPublisher {
    client: Client,
    topic_arn: String,
}

impl EventPublisher {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }

    /// Publishes `events` in batches of ten, in order, and says for each whether SNS took it.
    pub async fn publish(&self, events: &[OrderEvent]) -> Vec<Result<(), PublishFailed>> {
        let mut outcomes = Vec::with_capacity(events.len());
        for chunk in events.chunks(MAX_BATCH_ENTRIES) {
            outcomes.extend(self.publish_batch(chunk).await);
        }
        outcomes
    }

    async fn publish_batch(&self, events: &[OrderEvent]) -> Vec<Result<(), PublishFailed>> {
        let mut entries = Vec::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            match entry(index, event) {
                Ok(entry) => entries.push(entry),
                Err(failed) => return vec![Err(failed); events.len()],
            }
        }
        let output = match self
            .client
            .publish_batch()
            .topic_arn(&self.topic_arn)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await
        {
            Ok(output) => output,
            Err(error) => {
                let failed = PublishFailed(DisplayErrorContext(&error).to_string());
                return vec![Err(failed); events.len()];
            }
        };
        // Entry ids are the events' indexes in this chunk: map each failure back to its event.
        let mut outcomes = vec![Ok(()); events.len()];
        for failure in output.failed() {
            if let Some(outcome) = failure
                .id()
                .parse::<usize>()
                .ok()
                .and_then(|index| outcomes.get_mut(index))
            {
                *outcome = Err(PublishFailed(format!(
                    "{}: {}",
                    failure.code(),
                    failure.message().unwrap_or("no message")
                )));
            }
        }
        outcomes
    }
}

/// One batch entry: the event as the message body, its type as a message attribute.
fn entry(index: usize, event: &OrderEvent) -> Result<PublishBatchRequestEntry, PublishFailed> {
    let body = serde_json::to_string(event)
        .map_err(|error| PublishFailed(format!("cannot serialise the event: {error}")))?;
    let event_type = MessageAttributeValue::builder()
        .data_type("String")
        .string_value(event.event_type.as_str())
        .build()
        .map_err(|error| PublishFailed(error.to_string()))?;
    PublishBatchRequestEntry::builder()
        .id(index.to_string())
        .message(body)
        .message_attributes(EVENT_TYPE_ATTRIBUTE, event_type)
        .build()
        .map_err(|error| PublishFailed(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EventType, OrderEvent};
    use crate::store::tests::sample_order;
    use aws_sdk_sns::operation::publish_batch::PublishBatchOutput;
    use aws_sdk_sns::types::{BatchResultErrorEntry, PublishBatchResultEntry};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    fn events(n: usize) -> Vec<OrderEvent> {
        (0..n)
            .map(|i| OrderEvent::new(format!("rec-{i}"), EventType::OrderPlaced, sample_order()))
            .collect()
    }

    #[tokio::test]
    async fn events_go_out_ten_at_a_time_with_their_type_as_an_attribute() {
        let rule = mock!(Client::publish_batch)
            .match_requests(|req| {
                req.publish_batch_request_entries().iter().all(|entry| {
                    entry.message_attributes().unwrap()[EVENT_TYPE_ATTRIBUTE].string_value()
                        == Some("OrderPlaced")
                        && entry.message().contains("\"eventType\":\"OrderPlaced\"")
                })
            })
            .then_output(|| PublishBatchOutput::builder().build());
        let client = mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&rule]);
        let publisher = EventPublisher::new(client, "arn:aws:sns:us-east-1:1:topic");
        let outcomes = publisher.publish(&events(23)).await;
        assert_eq!(outcomes.len(), 23);
        assert!(outcomes.iter().all(Result::is_ok));
        assert_eq!(rule.num_calls(), 3, "10 + 10 + 3");
    }

    #[tokio::test]
    async fn a_failed_entry_fails_only_its_event() {
        let rule = mock!(Client::publish_batch).then_output(|| {
            PublishBatchOutput::builder()
                .successful(PublishBatchResultEntry::builder().id("0").build())
                .failed(
                    BatchResultErrorEntry::builder()
                        .id("1")
                        .code("InternalError")
                        .sender_fault(false)
                        .build()
                        .unwrap(),
                )
                .build()
        });
        let client = mock_client!(aws_sdk_sns, [&rule]);
        let publisher = EventPublisher::new(client, "arn:aws:sns:us-east-1:1:topic");
        let outcomes = publisher.publish(&events(2)).await;
        assert!(outcomes[0].is_ok());
        assert!(
            outcomes[1]
                .as_ref()
                .unwrap_err()
                .0
                .contains("InternalError")
        );
    }
}
