//! `record-audit`: every event of an order, kept in the order's audit trail for 90 days.
//!
//! The `AuditQueue` subscription has no filter policy: this consumer hears every event. SQS may
//! deliver an event twice; the store's conditional put (`store::audit`) writes it once.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};
use orders_shared::OrderStore;
use orders_shared::domain::OrderEvent;
use orders_shared::messaging::{Deadline, RecordError, for_each_event};
use orders_shared::store::audit::AuditWrite;

pub async fn handler(
    store: &OrderStore,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    let deadline = Deadline::of(&event.context);
    Ok(for_each_event(event.payload, deadline, |event| record(store, event)).await)
}

/// Records one event in its order's audit trail.
pub async fn record(store: &OrderStore, event: OrderEvent) -> Result<(), RecordError> {
    match store.record_event(&event).await? {
        AuditWrite::Recorded => tracing::info!(eventId = %event.event_id, "event recorded"),
        AuditWrite::Duplicate => {
            tracing::info!(eventId = %event.event_id, "event already recorded: a redelivery")
        }
    }
    Ok(())
}
