//! A stream batch, published: the events of its records go out in order, and the answer names the
//! record the stream retries from.
//!
//! Lambda polls the table's stream and hands `publish-events` up to `BatchSize` records, in the
//! order they were written. Each order change becomes an event ([`super::stream`]); the events go
//! out with `PublishBatch` ([`super::publisher`]), at most [`MAX_BATCH_ENTRIES`] a call. A stream is
//! ordered, so Lambda checkpoints before the first failed sequence number and retries from there
//! ([`super::batch`]); that shapes the loop:
//!
//! - it reads the records up to the first one it cannot turn into an event: the records after it
//!   come again with it anyway;
//! - a record whose event SNS refuses is reported, and the stream retries from it; a retry may
//!   publish an event again, and consumers dedupe on its `eventId`;
//! - near the invocation's deadline it sends no further `PublishBatch` and reports the first
//!   record whose event it did not publish ([`super::deadline`] says why): the stream retries from
//!   there, instead of retrying the whole batch after a timeout.

use aws_lambda_events::dynamodb::EventRecord;

use super::batch::BatchOutcome;
use super::deadline::Deadline;
use super::publisher::{EventPublisher, MAX_BATCH_ENTRIES};
use super::stream;
use crate::domain::OrderEvent;

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
    use crate::messaging::deadline::context_expiring_in;
    use aws_lambda_events::dynamodb::Event;
    use aws_sdk_sns::operation::publish_batch::PublishBatchOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use std::time::Duration;

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:orders-events";

    /// `n` inserts of orders, sequence numbers 1 to n, made from the first record of the sample
    /// stream batch (`events/publish-events.json`).
    fn inserts(n: usize) -> Vec<EventRecord> {
        let sample: Event =
            serde_json::from_str(include_str!("../../../events/publish-events.json")).unwrap();
        let insert = sample.records.into_iter().next().unwrap();
        (1..=n)
            .map(|i| {
                let mut record = insert.clone();
                record.event_id = format!("rec-{i}");
                record.change.sequence_number = Some(i.to_string());
                record
            })
            .collect()
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
        let deadline = Deadline::of(&context_expiring_in(Duration::from_millis(5_500)));
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
            Deadline::of(&context_expiring_in(Duration::from_secs(30))),
        )
        .await;
        assert!(outcome.failed().is_empty());
        assert_eq!(rule.num_calls(), 3);
    }
}
