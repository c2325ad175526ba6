//! `fulfill-order`: check the card of a new order, then confirm the order or fail its payment.
//!
//! The `FulfillmentQueue` subscription's filter policy passes only `OrderPlaced` events. For each:
//!
//! 1. read the order's status, version and sealed card (one consistent `GetItem`);
//! 2. count the attempt on the order's attempt counter (`store::counter`: an atomic `ADD`, which
//!    counts a redelivered message again, since it counts deliveries);
//! 3. if the order is no longer `PLACED` (a redelivery after success, or a cancel that came
//!    first), stop: nothing to do, and no card is opened;
//! 4. open the card (KMS `Decrypt` of the data key: this is the only function allowed to) and
//!    check it as of today: a card that was valid when the order was placed may have expired since
//!    (the rule is `orders_shared::domain::settlement`);
//! 5. move the order `PLACED -> CONFIRMED` or `PLACED -> PAYMENT_FAILED` with a write conditional
//!    on its version and status (`store::locking`), so a concurrent cancel or patch is never lost.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};
use orders_shared::crypto::{CryptoError, EnvelopeCipher};
use orders_shared::domain::{CardCheck, EventType, OrderEvent, OrderStatus, settled_status};
use orders_shared::messaging::{Deadline, RecordError, for_each_event};
use orders_shared::store::locking::Transition;
use orders_shared::telemetry::metrics::{self, Metric};
use orders_shared::{AppError, OrderStore};

pub async fn handler(
    store: &OrderStore,
    cipher: &EnvelopeCipher,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    let deadline = Deadline::of(&event.context);
    Ok(for_each_event(event.payload, deadline, |event| {
        fulfill(store, cipher, event)
    })
    .await)
}

/// Settles the payment of one placed order.
pub async fn fulfill(
    store: &OrderStore,
    cipher: &EnvelopeCipher,
    event: OrderEvent,
) -> Result<(), RecordError> {
    if event.event_type != EventType::OrderPlaced {
        tracing::warn!(eventType = %event.event_type, "not a new order: the filter policy should not pass it");
        return Ok(());
    }
    let id = event.order_id;
    let sealed = store
        .sealed_payment(id)
        .await?
        .ok_or(RecordError::Store(AppError::NotFound))?;
    // Exam: an atomic counter is not idempotent. A redelivery of this message counts again, which
    // is what an attempt counter is for; the status below changes once whatever the count, because
    // that write is conditional on the version (`store::locking`).
    let attempt = store.count_fulfillment_attempt(id).await?;
    if attempt > 1 {
        tracing::info!(attempt, "this order has been tried before");
    }
    if sealed.status != OrderStatus::Placed {
        tracing::info!(status = %sealed.status, "the order is no longer PLACED: nothing to do");
        return Ok(());
    }

    let check = match cipher.open_card(&sealed.card, id).await {
        Ok(card) => CardCheck::Opened(card),
        Err(CryptoError::NotACard) => CardCheck::NotACard,
        // KMS throttled or failed: the message stays on the queue and is tried again.
        Err(error) => return Err(error.into()),
    };
    // Checked as of today: the rule is `domain::settlement`.
    let to = settled_status(check, chrono::Utc::now().date_naive());

    match store
        .transition(id, sealed.version, to, "settle the payment of")
        .await?
    {
        Transition::Applied(order) => {
            if order.status == OrderStatus::PaymentFailed {
                metrics::count(Metric::PaymentsFailed, 1);
            }
            tracing::info!(status = %order.status, version = order.version, "payment settled");
        }
        Transition::AlreadyMoved(order) => {
            tracing::info!(status = %order.status, "the order moved on meanwhile: nothing written");
        }
    }
    Ok(())
}
