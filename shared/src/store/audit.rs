//! The audit trail: one item per event, beside the order it is about.
//!
//! ```text
//! pk = ORDER#<orderId>   sk = EVENT#<eventId>   eventType, version, occurredAt, recordedAt,
//!                                                order (snapshot), expiresAt (TTL: 90 days)
//! ```
//!
//! SQS delivers at least once, so the same event can arrive twice. The write is a *conditional
//! put* (`attribute_not_exists(pk)`): the first delivery creates the item, a duplicate fails the
//! condition and writes nothing. That makes the consumer idempotent without any lookup first.
//!
//! TTL: DynamoDB deletes an item some time after its `expiresAt` (epoch seconds) has passed,
//! within days, for free. Until then the item is still readable, so [`OrderStore::audit_trail`]
//! filters out expired entries itself.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::{CONSUMED_CAPACITY, OrderStore, from_item, sdk_failure, to_item};
use crate::domain::order::now_timestamp;
use crate::domain::{EventType, Order, OrderEvent, OrderId};
use crate::error::AppError;

/// How long an audit entry is kept (its TTL).
pub const AUDIT_RETENTION: Duration = Duration::from_secs(90 * 24 * 60 * 60);
/// The sort keys of audit entries start with this.
const EVENT_SK_PREFIX: &str = "EVENT#";

/// One entry of an order's audit trail, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub event_id: String,
    pub event_type: EventType,
    pub order_id: OrderId,
    pub version: u64,
    pub occurred_at: String,
    /// When this consumer wrote the entry.
    pub recorded_at: String,
    /// The order as the event saw it (no card data: events carry none).
    pub order: Order,
    /// TTL: epoch seconds after which DynamoDB may delete the entry.
    pub expires_at: u64,
}

/// What a write of an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditWrite {
    /// The first delivery of this event: a new entry.
    Recorded,
    /// A redelivery: the entry already exists and nothing was written.
    Duplicate,
}

impl OrderStore {
    /// Records `event` in its order's audit trail, once.
    pub async fn record_event(&self, event: &OrderEvent) -> Result<AuditWrite, AppError> {
        let now = chrono::Utc::now();
        let entry = AuditEntry {
            event_id: event.event_id.clone(),
            event_type: event.event_type,
            order_id: event.order_id,
            version: event.version,
            occurred_at: event.occurred_at.clone(),
            recorded_at: now_timestamp(),
            order: event.order.clone(),
            expires_at: now.timestamp().unsigned_abs() + AUDIT_RETENTION.as_secs(),
        };
        let mut item = to_item(&entry)?;
        item.extend(audit_key(event.order_id, &event.event_id));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .return_consumed_capacity(CONSUMED_CAPACITY)
            .set_item(Some(item))
            // Exam: idempotent consumer. The put succeeds only for the first delivery.
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(AuditWrite::Recorded),
            Err(error) => match error.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(_)) => Ok(AuditWrite::Duplicate),
                _ => Err(sdk_failure("PutItem", error)),
            },
        }
    }

    /// An order's audit trail, oldest event first (event ids sort by time within an order only
    /// roughly, so the entries are ordered by the order version they record). Expired entries
    /// that TTL has not deleted yet are left out.
    pub async fn audit_trail(&self, id: OrderId) -> Result<Vec<AuditEntry>, AppError> {
        let now = chrono::Utc::now().timestamp().unsigned_abs();
        let mut entries = Vec::new();
        let mut start_key = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .return_consumed_capacity(CONSUMED_CAPACITY)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .filter_expression("expiresAt > :now")
                .expression_attribute_values(":pk", AttributeValue::S(format!("ORDER#{id}")))
                .expression_attribute_values(":prefix", AttributeValue::S(EVENT_SK_PREFIX.into()))
                .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
                .consistent_read(true)
                .set_exclusive_start_key(start_key)
                .send()
                .await
                .map_err(|error| sdk_failure("Query", error))?;
            for item in output.items.unwrap_or_default() {
                entries.push(from_item::<AuditEntry>(item)?);
            }
            start_key = output.last_evaluated_key;
            if start_key.is_none() {
                break;
            }
        }
        entries.sort_by(|a, b| (a.version, &a.occurred_at).cmp(&(b.version, &b.occurred_at)));
        Ok(entries)
    }
}

fn audit_key(order: OrderId, event_id: &str) -> super::Item {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(format!("ORDER#{order}"))),
        (
            "sk".to_owned(),
            AttributeValue::S(format!("{EVENT_SK_PREFIX}{event_id}")),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{sample_order, store};
    use aws_sdk_dynamodb::Client;
    use aws_sdk_dynamodb::operation::put_item::PutItemOutput;
    use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
    use aws_smithy_mocks::{mock, mock_client};

    fn event() -> OrderEvent {
        OrderEvent::new("rec-1", EventType::OrderPlaced, sample_order())
    }

    #[tokio::test]
    async fn an_event_is_written_once_beside_its_order_with_a_ttl() {
        let rule = mock!(Client::put_item)
            .match_requests(|req| {
                let item = req.item().unwrap();
                let expires: u64 = item["expiresAt"].as_n().unwrap().parse().unwrap();
                let in_90_days = chrono::Utc::now().timestamp() as u64 + 90 * 24 * 3600;
                req.condition_expression() == Some("attribute_not_exists(pk)")
                    && item["pk"] == AttributeValue::S(format!("ORDER#{}", sample_order().order_id))
                    && item["sk"] == AttributeValue::S("EVENT#rec-1".into())
                    && item["eventType"] == AttributeValue::S("OrderPlaced".into())
                    && in_90_days.abs_diff(expires) < 60
                    // A sparse index: an audit entry must not land in byCustomer.
                    && !item.contains_key("customerId")
            })
            .then_output(|| PutItemOutput::builder().build());
        let store = store(mock_client!(aws_sdk_dynamodb, [&rule]));
        assert_eq!(
            store.record_event(&event()).await.unwrap(),
            AuditWrite::Recorded
        );
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_redelivery_fails_the_condition_and_is_a_duplicate() {
        let rule = mock!(Client::put_item).then_error(|| {
            PutItemError::ConditionalCheckFailedException(
                ConditionalCheckFailedException::builder().build(),
            )
        });
        let store = store(mock_client!(aws_sdk_dynamodb, [&rule]));
        assert_eq!(
            store.record_event(&event()).await.unwrap(),
            AuditWrite::Duplicate
        );
    }
}
