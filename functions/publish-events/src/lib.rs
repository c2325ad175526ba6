//! `publish-events`: every change of an order, as a domain event on the `OrderEvents` topic.
//!
//! Lambda polls the table's stream and calls this function with up to `BatchSize` records, in
//! the order they were written. Each order change becomes an event (`messaging::stream`); the
//! events go out with `PublishBatch`. If a record fails (it cannot be read, or SNS refuses its
//! event), the function reports that record's sequence number: Lambda retries the batch from
//! there, at most `MaximumRetryAttempts` times, then sends the record's description to the
//! on-failure destination and moves on. A retry may publish an event again; consumers dedupe on
//! its `eventId`.
//!
//! Near the invocation's deadline it publishes no further `PublishBatch` and reports the first
//! record whose event it did not publish (`messaging::deadline` says why): the stream retries
//! from there, instead of retrying the whole batch after a timeout.

use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::DynamoDbEventResponse;
use lambda_runtime::{Error, LambdaEvent};
use orders_shared::domain::OrderEvent;
use orders_shared::messaging::publisher::MAX_BATCH_ENTRIES;
use orders_shared::messaging::{BatchOutcome, Deadline, EventPublisher, stream};

pub async fn handler(
    publisher: &EventPublisher,
    event: LambdaEvent<Event>,
) -> Result<DynamoDbEventResponse, Error> {
    let deadline = Deadline::of(&event.context);
    Ok(publish_changes(publisher, &event.payload.records, deadline)
        .await
        .into_stream_response())
}

/// Publishes the events of `records` and returns the records that failed, earliest first.
pub async fn publish_changes(
    publisher: &EventPublisher,
    records: &[EventRecord],
    deadline: Deadline,
) -> BatchOutcome {
    let mut outcome = BatchOutcome::default();

    // The events of the records, in order, up to the first record that cannot be read: the
    // records after it will be delivered again anyway (a stream retries from the failed record).
    let mut events: Vec<(&str, OrderEvent)> = Vec::new();
    let mut unreadable = None;
    for record in records {
        match stream::event_of(record) {
            Ok(Some(event)) => events.push((sequence_number(record), event)),
            Ok(None) => {}
            Err(error) => {
                tracing::error!(%error, "cannot make an event of this stream record");
                unreadable = Some(sequence_number(record));
                break;
            }
        }
    }

    // One PublishBatch at a time, each started only with time left to finish it.
    let (sequence_numbers, events): (Vec<&str>, Vec<OrderEvent>) = events.into_iter().unzip();
    let chunks = sequence_numbers
        .chunks(MAX_BATCH_ENTRIES)
        .zip(events.chunks(MAX_BATCH_ENTRIES));
    for (sequence_numbers, events) in chunks {
        if !deadline.has_time_for_another() {
            // The first record not published is enough: the stream retries from it, and the
            // records after it come again with it.
            let first_untouched = sequence_numbers[0];
            tracing::warn!(
                sequenceNumber = first_untouched,
                remaining_ms = deadline.remaining().as_millis() as u64,
                "the invocation's deadline is near: the stream retries from this record"
            );
            outcome.fail(first_untouched);
            return outcome;
        }
        let results = publisher.publish(events).await;
        for ((sequence_number, event), result) in sequence_numbers.iter().zip(events).zip(results) {
            match result {
                Ok(()) => tracing::info!(
                    eventId = %event.event_id,
                    eventType = %event.event_type,
                    orderId = %event.order_id,
                    "event published"
                ),
                Err(error) => {
                    tracing::error!(eventId = %event.event_id, %error, "event not published");
                    outcome.fail(*sequence_number);
                }
            }
        }
    }
    if let Some(sequence_number) = unreadable {
        outcome.fail(sequence_number);
    }
    outcome
}

/// The identifier Lambda expects for a stream record: its sequence number.
fn sequence_number(record: &EventRecord) -> &str {
    record
        .change
        .sequence_number
        .as_deref()
        .unwrap_or(&record.event_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sns::operation::publish_batch::PublishBatchOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use lambda_runtime::Context;
    use std::time::{Duration, SystemTime};

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:orders-events";

    /// The sample stream batch (`events/publish-events.json`): two order changes, then an audit
    /// entry.
    fn sample_batch() -> Event {
        serde_json::from_str(include_str!("../../../events/publish-events.json")).unwrap()
    }

    /// `n` inserts of orders, sequence numbers 1 to n.
    fn inserts(n: usize) -> Vec<EventRecord> {
        let insert = sample_batch().records.remove(0);
        (1..=n)
            .map(|i| {
                let mut record = insert.clone();
                record.event_id = format!("rec-{i}");
                record.change.sequence_number = Some(i.to_string());
                record
            })
            .collect()
    }

    fn context_with(timeout: Duration) -> Context {
        let mut context = Context::default();
        context.deadline = (SystemTime::now() + timeout)
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        context
    }

    #[tokio::test]
    async fn near_the_deadline_nothing_is_published_and_the_stream_retries_from_the_first_record() {
        // A client without rules fails the test on any call.
        let publisher = EventPublisher::new(mock_client!(aws_sdk_sns, []), TOPIC);
        let event = LambdaEvent::new(sample_batch(), context_with(Duration::from_secs(1)));
        let response = handler(&publisher, event).await.unwrap();
        let failures: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_deref())
            .collect();
        assert_eq!(failures, [Some("100000000000000000001")]);
    }

    #[tokio::test]
    async fn a_deadline_reached_mid_batch_reports_the_first_record_not_published() {
        // Twelve events: two PublishBatch calls. The first takes 2 s; the deadline is 5.5 s away
        // and a call needs 4 s in reserve, so the second is never sent.
        let rule = mock!(aws_sdk_sns::Client::publish_batch).then_output(|| {
            std::thread::sleep(Duration::from_secs(2));
            PublishBatchOutput::builder().build()
        });
        let client = mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&rule]);
        let publisher = EventPublisher::new(client, TOPIC);
        let deadline = Deadline::of(&context_with(Duration::from_millis(5_500)));
        let outcome = publish_changes(&publisher, &inserts(12), deadline).await;
        assert_eq!(rule.num_calls(), 1);
        assert_eq!(
            outcome.failed(),
            ["11"],
            "the first event of the batch not sent"
        );

        // With its whole timeout, the same batch is published in full.
        let outcome = publish_changes(
            &publisher,
            &inserts(12),
            Deadline::of(&context_with(Duration::from_secs(30))),
        )
        .await;
        assert!(outcome.failed().is_empty());
        assert_eq!(rule.num_calls(), 3);
    }
}
