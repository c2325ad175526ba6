//! The fulfillment attempt counter: an atomic counter (`UpdateItem` with `ADD`).
//!
//! ```text
//! pk = ORDER#<orderId>   sk = FULFILLMENT_ATTEMPTS   attempts (number)
//!
//! UpdateItem  UpdateExpression: ADD attempts :one      (no ConditionExpression)
//!             ReturnValues: UPDATED_NEW                (the count after this increment)
//! ```
//!
//! `fulfill-order` counts every message it processes for an order, so support can see how often
//! fulfillment was tried (a count per order: SQS's `ApproximateReceiveCount` is per message, and
//! does not see one event published twice).
//!
//! Exam: an atomic counter. DynamoDB applies `ADD` to the number it has stored, in one write: no
//! read first, no condition, and concurrent increments never overwrite each other (50 at once end
//! at 50). A missing item is created and a missing attribute counts from 0, so the first attempt
//! needs no setup. A read-modify-write (`GetItem`, then a `PutItem` or `SET` of the number read
//! plus one) loses the increments made between its read and its write.
//!
//! Exam trap: an atomic counter is not idempotent. An `ADD` carries no identity, so a repeated
//! request counts again: SQS redelivering a message (delivery is at least once), or an SDK retry
//! of a write that had landed but whose answer was lost. Here that is right: the counter counts
//! deliveries. A count that must be exact per event needs a write that recognises a repeat: a
//! conditional write keyed by the event (as `audit.rs` does), or `TransactWriteItems` with a
//! `ClientRequestToken`. Contrast the order's `version`: it also goes up by one per write, but
//! only inside a write conditional on the version expected (`locking.rs`), so a replay of that
//! write fails its condition and changes nothing.
//!
//! Why an item of its own, not an attribute of the order: every write to the order item is a
//! `MODIFY` on the table's stream, which `publish-events` would publish as an `OrderUpdated` with
//! nothing changed. The counter item's sort key is not `ORDER`, so the stream's filter criteria
//! drop its records (and `messaging::stream` ignores them), it has no `customerId`, so the sparse
//! `byCustomer` index never holds it, and its partition key starts `ORDER#`, so the fulfillment
//! role's `dynamodb:LeadingKeys` condition already covers it.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::{CONSUMED_CAPACITY, Item, OrderStore, sdk_failure};
use crate::domain::OrderId;
use crate::error::AppError;

/// The sort key of an order's fulfillment attempt counter.
pub const FULFILLMENT_ATTEMPTS_SK: &str = "FULFILLMENT_ATTEMPTS";
/// The counter's attribute.
pub const ATTEMPTS: &str = "attempts";

/// The key of the attempt counter of order `id`: beside the order, in its partition.
pub fn attempts_key(id: OrderId) -> Item {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(format!("ORDER#{id}"))),
        (
            "sk".to_owned(),
            AttributeValue::S(FULFILLMENT_ATTEMPTS_SK.to_owned()),
        ),
    ])
}

impl OrderStore {
    /// Counts one more fulfillment attempt of order `id` and returns the count, this attempt
    /// included (1 the first time). Not idempotent: called twice, it counts twice.
    pub async fn count_fulfillment_attempt(&self, id: OrderId) -> Result<u64, AppError> {
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .return_consumed_capacity(CONSUMED_CAPACITY)
            .set_key(Some(attempts_key(id)))
            .update_expression("ADD #attempts :one")
            .expression_attribute_names("#attempts", ATTEMPTS)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|error| sdk_failure("UpdateItem", error))?;
        let count = output
            .attributes
            .as_ref()
            .and_then(|attributes| attributes.get(ATTEMPTS))
            .and_then(|value| value.as_n().ok())
            .and_then(|n| n.parse().ok());
        count.ok_or_else(|| {
            AppError::Internal(format!(
                "UpdateItem ADD returned no {ATTEMPTS} count: {:?}",
                output.attributes
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{sample_order, store};
    use aws_sdk_dynamodb::Client;
    use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
    use aws_smithy_mocks::{mock, mock_client};

    #[tokio::test]
    async fn an_attempt_is_one_unconditional_add_on_the_counter_item_beside_the_order() {
        let id = sample_order().order_id;
        let rule = mock!(Client::update_item)
            .match_requests(move |req| {
                let key = req.key().unwrap();
                key["pk"] == AttributeValue::S(format!("ORDER#{id}"))
                    && key["sk"] == AttributeValue::S("FULFILLMENT_ATTEMPTS".into())
                    && req.update_expression() == Some("ADD #attempts :one")
                    && req.expression_attribute_names().unwrap()["#attempts"] == "attempts"
                    && req.expression_attribute_values().unwrap()[":one"]
                        == AttributeValue::N("1".into())
                    // No condition: an atomic counter never conflicts, and never recognises a repeat.
                    && req.condition_expression().is_none()
                    && req.return_values() == Some(&ReturnValue::UpdatedNew)
            })
            .then_output(|| {
                UpdateItemOutput::builder()
                    .attributes("attempts", AttributeValue::N("2".into()))
                    .build()
            });
        let store = store(mock_client!(aws_sdk_dynamodb, [&rule]));
        assert_eq!(store.count_fulfillment_attempt(id).await.unwrap(), 2);
    }

    #[tokio::test]
    async fn an_answer_without_the_count_is_an_internal_error() {
        let rule = mock!(Client::update_item).then_output(|| UpdateItemOutput::builder().build());
        let store = store(mock_client!(aws_sdk_dynamodb, [&rule]));
        let error = store
            .count_fulfillment_attempt(sample_order().order_id)
            .await
            .unwrap_err();
        assert!(matches!(error, AppError::Internal(_)), "{error:?}");
    }

    #[test]
    fn the_counter_item_is_in_the_orders_partition_but_is_no_order() {
        let key = attempts_key(sample_order().order_id);
        // The fulfillment role's `dynamodb:LeadingKeys` is `ORDER#*`: no new permission.
        assert!(key["pk"].as_s().unwrap().starts_with("ORDER#"));
        // Not `ORDER`: the stream's filter drops its records, and publish-events makes no event.
        assert_ne!(key["sk"], AttributeValue::S(crate::store::ORDER_SK.into()));
        // No `customerId`: the sparse customer index never holds it.
        assert!(!key.contains_key("customerId"));
    }
}
