//! `notify-merchant`: tell the merchant's webhook that an order was confirmed or cancelled.
//!
//! The function's SNS subscription passes only `OrderConfirmed` and `OrderCancelled` events
//! (its filter policy, in the template). SNS invokes it **asynchronously**: SNS's part ends when
//! Lambda has queued the event (202), and from then on Lambda retries. For each notification:
//!
//! 1. read the order event from the SNS message (a message that is not one can never succeed);
//! 2. POST it, unchanged, to the webhook, signed (`orders_shared::webhook`), with its event id;
//! 3. a 2xx answer is a delivery; anything else is returned to Lambda as an error, which makes
//!    Lambda retry the whole event (twice, after about 1 and 2 minutes), then send its invocation
//!    record to `MerchantNotificationFailureQueue`, the on-failure destination.
//!
//! SNS delivers one message per invocation; the loop below still reads every record.

use aws_lambda_events::sns::SnsEvent;
use lambda_runtime::{Error, LambdaEvent};
use orders_shared::domain::OrderEvent;
use orders_shared::webhook::{DeliveryError, MerchantWebhook};

/// Why a notification failed: the error Lambda records, and retries on.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The message is not an order event (never retried into success; it ends in the
    /// destination queue with this reason).
    #[error("SNS message {message_id} is not an order event: {cause}")]
    NotAnOrderEvent { message_id: String, cause: String },
    #[error("event {event_id} ({event_type}) not delivered: {cause}")]
    NotDelivered {
        event_id: String,
        event_type: String,
        cause: DeliveryError,
    },
}

pub async fn handler(webhook: &MerchantWebhook, event: LambdaEvent<SnsEvent>) -> Result<(), Error> {
    for record in event.payload.records {
        let message_id = record.sns.message_id;
        let body = record.sns.message;
        notify(webhook, &message_id, &body).await?;
    }
    Ok(())
}

/// Delivers one SNS message's order event to the webhook.
pub async fn notify(
    webhook: &MerchantWebhook,
    message_id: &str,
    body: &str,
) -> Result<u16, NotifyError> {
    let event: OrderEvent =
        serde_json::from_str(body).map_err(|error| NotifyError::NotAnOrderEvent {
            message_id: message_id.to_owned(),
            cause: error.to_string(),
        })?;
    let event_id = event.event_id.to_string();
    // The body is sent as SNS delivered it: the signature covers exactly the bytes sent.
    let sent_at = chrono::Utc::now().timestamp();
    match webhook.deliver(&event_id, body, sent_at).await {
        Ok(status) => {
            tracing::info!(eventId = %event_id, eventType = %event.event_type, status, "merchant notified");
            Ok(status)
        }
        Err(cause) => Err(NotifyError::NotDelivered {
            event_id,
            event_type: event.event_type.to_string(),
            cause,
        }),
    }
}
