//! `publish-events`: every change of an order, as a domain event on the `OrderEvents` topic.
//!
//! Lambda polls the table's stream and calls this function with up to `BatchSize` records, in
//! the order they were written. Each order change becomes an event (`messaging::stream`); the
//! events go out with `PublishBatch`. If a record fails (it cannot be read, or SNS refuses its
//! event), the function reports that record's sequence number: Lambda retries the batch from
//! there, at most `MaximumRetryAttempts` times, then sends the record's description to the
//! on-failure destination and moves on. A retry may publish an event again; consumers dedupe on
//! its `eventId`.

use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::DynamoDbEventResponse;
use lambda_runtime::{Error, LambdaEvent};
use orders_shared::domain::OrderEvent;
use orders_shared::messaging::{BatchOutcome, EventPublisher, stream};

pub async fn handler(
    publisher: &EventPublisher,
    event: LambdaEvent<Event>,
) -> Result<DynamoDbEventResponse, Error> {
    Ok(publish_changes(publisher, &event.payload.records)
        .await
        .into_stream_response())
}

/// Publishes the events of `records` and returns the records that failed, earliest first.
pub async fn publish_changes(publisher: &EventPublisher, records: &[EventRecord]) -> BatchOutcome {
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

    let (sequence_numbers, events): (Vec<&str>, Vec<OrderEvent>) = events.into_iter().unzip();
    let results = publisher.publish(&events).await;
    for ((sequence_number, event), result) in sequence_numbers.iter().zip(&events).zip(results) {
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
