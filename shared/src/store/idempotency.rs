//! Idempotency keys: a retried `POST /orders` returns the first response instead of a second order.
//!
//! Networks fail after a request was processed but before its response arrived; a client that
//! retries must not order twice. It sends an `Idempotency-Key` header; the first request with a
//! key stores an idempotency record *in the same transaction* as the order, so either both exist
//! or neither does:
//!
//! ```text
//! TransactWriteItems
//!   Put ORDER#<id>                     / ORDER        if attribute_not_exists(pk)
//!   Put IDEMPOTENCY#<customerId>#<key> / IDEMPOTENCY  if attribute_not_exists(pk) OR expiresAt < :now
//! ```
//!
//! A key belongs to the customer who sent it: the record's key holds the caller's id, so the same
//! key from another customer is another record. Nobody can replay, or learn anything about,
//! another customer's request by guessing its key.
//!
//! A retry finds the record: the same body (by SHA-256 fingerprint) gets the stored order back; a
//! different body under the same key is a client bug, refused with 422. Two concurrent first
//! attempts race in the transaction: one wins, the other is cancelled and replays the winner's.
//!
//! A cancelled transaction says why, item by item (`CancellationReasons`), and only one reason is
//! a lost race: `ConditionalCheckFailed` on the idempotency record. `TransactionConflict` (another
//! transaction holds the record right now) is a 409 worth retrying; `ThrottlingError` or
//! `ProvisionedThroughputExceeded` a 503 with `Retry-After`; anything else is internal.
//!
//! Records expire through DynamoDB TTL (`expiresAt`, epoch seconds). TTL deletion is lazy (it can
//! take days), so a read treats an expired record as absent rather than trusting it is gone.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{CONSUMED_CAPACITY, Item, OrderStore, from_item, new_order_item, sdk_failure, to_item};
use crate::crypto::Envelope;
use crate::domain::{CustomerId, Order};
use crate::error::AppError;

const IDEMPOTENCY_SK: &str = "IDEMPOTENCY";

/// A client's `Idempotency-Key` (1 to 128 visible ASCII characters; a UUID is a good choice),
/// scoped to the customer who sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    customer: CustomerId,
    key: String,
}

impl IdempotencyKey {
    /// `value`, as sent by `customer`.
    pub fn parse(customer: &CustomerId, value: &str) -> Result<Self, AppError> {
        let visible = value.bytes().all(|b| b.is_ascii_graphic());
        if (1..=128).contains(&value.len()) && visible {
            Ok(Self {
                customer: customer.clone(),
                key: value.to_owned(),
            })
        } else {
            Err(AppError::BadRequest(
                "Idempotency-Key must be 1 to 128 visible ASCII characters".into(),
            ))
        }
    }

    /// A customer id has no `#` (see `CustomerId::parse`): the customer's part cannot run into
    /// the key's.
    fn partition_key(&self) -> String {
        format!("IDEMPOTENCY#{}#{}", self.customer.as_str(), self.key)
    }
}

/// The SHA-256 of a request body in canonical form (object keys sorted, no whitespace), so the
/// same JSON with other spacing or key order counts as the same request.
///
/// The card number is cut to its last four digits first. A hash of a card number is no secret:
/// the issuer prefix and the last four are known, so the few digits left can be tried in a
/// second (PCI DSS allows only keyed hashes of card numbers). The stored fingerprint must not
/// become a way back to the number.
pub fn fingerprint(body: &Value) -> String {
    let mut body = canonical(body);
    if let Some(number) = body.pointer_mut("/payment/cardNumber")
        && let Some(text) = number.as_str()
    {
        let mut last4: Vec<char> = text
            .chars()
            .rev()
            .filter(char::is_ascii_digit)
            .take(4)
            .collect();
        last4.reverse();
        *number = Value::String(format!("****{}", String::from_iter(last4)));
    }
    let canonical = serde_json::to_vec(&body).expect("a JSON value always serialises");
    Sha256::digest(canonical)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The value with every object's keys in sorted order. (serde_json keeps insertion order here:
/// a dependency enables its `preserve_order` feature, so sorting cannot be left to the Map type.)
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(fields) => {
            let mut sorted: Vec<(&String, &Value)> = fields.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                sorted
                    .into_iter()
                    .map(|(k, v)| (k.clone(), canonical(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// What is remembered of the first request with a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdempotencyRecord {
    pk: String,
    sk: String,
    request_fingerprint: String,
    /// The order the first request created: its response is rebuilt from it.
    order: Order,
    /// TTL attribute: epoch seconds.
    expires_at: u64,
}

impl IdempotencyRecord {
    /// The order to answer a retry with, if the retry is the same request.
    pub fn replay(self, fingerprint: &str) -> Result<Order, AppError> {
        if self.request_fingerprint == fingerprint {
            Ok(self.order)
        } else {
            Err(AppError::IdempotencyKeyReused)
        }
    }
}

impl OrderStore {
    /// The record of an earlier request with this key, unless there is none or it has expired.
    pub async fn find_idempotency_record(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<IdempotencyRecord>, AppError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .return_consumed_capacity(CONSUMED_CAPACITY)
            .key("pk", AttributeValue::S(key.partition_key()))
            .key("sk", AttributeValue::S(IDEMPOTENCY_SK.into()))
            // Strongly consistent: a retry right after the first request must see its record.
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| sdk_failure("GetItem", error))?;
        let record: Option<IdempotencyRecord> = output.item.map(from_item).transpose()?;
        Ok(record.filter(|record| record.expires_at > epoch_seconds()))
    }

    /// Creates the order (with its sealed card) and its idempotency record atomically. Returns
    /// `None` when both were written, or the earlier record when another request with this key
    /// got there first. The record keeps the order as the client saw it: no envelope.
    pub async fn create_with_idempotency_key(
        &self,
        order: &Order,
        card: &Envelope,
        key: &IdempotencyKey,
        fingerprint: &str,
    ) -> Result<Option<IdempotencyRecord>, AppError> {
        let now = epoch_seconds();
        let record = IdempotencyRecord {
            pk: key.partition_key(),
            sk: IDEMPOTENCY_SK.into(),
            request_fingerprint: fingerprint.into(),
            order: order.clone(),
            expires_at: now + self.idempotency_ttl.as_secs(),
        };
        let put_order = put(
            new_order_item(order, card)?,
            "attribute_not_exists(pk)",
            None,
            &self.table,
        )?;
        let put_record = put(
            to_item(&record)?,
            "attribute_not_exists(pk) OR expiresAt < :now",
            Some((":now", AttributeValue::N(now.to_string()))),
            &self.table,
        )?;
        let result = self
            .client
            .transact_write_items()
            // Exam: a transaction costs twice the units of the same writes made one by one.
            .return_consumed_capacity(CONSUMED_CAPACITY)
            .transact_items(TransactWriteItem::builder().put(put_order).build())
            .transact_items(TransactWriteItem::builder().put(put_record).build())
            .send()
            .await;
        let error = match result {
            Ok(_) => return Ok(None),
            Err(error) => error,
        };
        let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
            error.as_service_error()
        else {
            return Err(sdk_failure("TransactWriteItems", error));
        };
        let reasons: Vec<&str> = cancelled
            .cancellation_reasons()
            .iter()
            .map(|reason| reason.code().unwrap_or("None"))
            .collect();
        match cancellation(&reasons) {
            // The key was taken by a concurrent request (a fresh order id cannot collide): replay
            // the winner's record.
            Cancellation::LostRace => match self.find_idempotency_record(key).await? {
                Some(winner) => Ok(Some(winner)),
                None => Err(AppError::ConcurrentRequest),
            },
            Cancellation::Conflict => Err(AppError::ConcurrentRequest),
            Cancellation::Throttled => Err(AppError::Throttled),
            Cancellation::Other => Err(sdk_failure("TransactWriteItems", error)),
        }
    }
}

/// Why the order-and-record transaction was cancelled, from its reasons (the order's first, the
/// record's second).
#[derive(Debug, PartialEq, Eq)]
enum Cancellation {
    /// The record's condition failed: another request with this key wrote it first.
    LostRace,
    /// Another transaction was writing one of the items at the same moment.
    Conflict,
    /// A partition was over its throughput, after the SDK's retries.
    Throttled,
    Other,
}

fn cancellation(reasons: &[&str]) -> Cancellation {
    let any = |codes: &[&str]| reasons.iter().any(|reason| codes.contains(reason));
    if any(&[
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
        "RequestLimitExceeded",
    ]) {
        Cancellation::Throttled
    } else if reasons.get(1) == Some(&"ConditionalCheckFailed") {
        Cancellation::LostRace
    } else if any(&["TransactionConflict"]) {
        Cancellation::Conflict
    } else {
        Cancellation::Other
    }
}

fn put(
    item: Item,
    condition: &str,
    value: Option<(&str, AttributeValue)>,
    table: &str,
) -> Result<Put, AppError> {
    let mut put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression(condition);
    if let Some((name, value)) = value {
        put = put.expression_attribute_values(name, value);
    }
    put.build()
        .map_err(|error| AppError::Internal(format!("cannot build a transaction item: {error}")))
}

fn epoch_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::sample_order;
    use serde_json::json;

    fn customer(id: &str) -> CustomerId {
        CustomerId::parse(id).unwrap()
    }

    #[test]
    fn keys_are_visible_ascii_of_bounded_length() {
        assert!(IdempotencyKey::parse(&customer("c-1"), "3f1c2a9e-demo-key-0001").is_ok());
        for bad in ["", "has space", "tab\t", "é", &"k".repeat(129)] {
            assert!(
                IdempotencyKey::parse(&customer("c-1"), bad).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_same_key_of_two_customers_is_two_records() {
        let of = |id: &str| {
            IdempotencyKey::parse(&customer(id), "k-1")
                .unwrap()
                .partition_key()
        };
        assert_eq!(of("c-1"), "IDEMPOTENCY#c-1#k-1");
        assert_ne!(of("c-1"), of("c-2"));
    }

    #[test]
    fn the_fingerprint_ignores_key_order_and_spacing() {
        let a: Value = serde_json::from_str(r#"{"a": 1, "b": [1, 2]}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"b":[1,2],"a":1}"#).unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&json!({"a": 2, "b": [1, 2]})));
        assert_eq!(fingerprint(&a).len(), 64);
    }

    #[test]
    fn the_fingerprint_keeps_only_the_last_four_card_digits() {
        let body = |number: &str| json!({"payment": {"cardNumber": number, "expiry": "12/29"}});
        let masked = json!({"payment": {"cardNumber": "****1111", "expiry": "12/29"}});
        assert_eq!(
            fingerprint(&body("4111 1111 1111 1111")),
            fingerprint(&masked)
        );
        assert_eq!(
            fingerprint(&body("4111111111111111")),
            fingerprint(&body("5500000000001111")),
            "nothing but the last four reaches the hash"
        );
        assert_ne!(
            fingerprint(&body("4111111111111111")),
            fingerprint(&body("4012888888881881"))
        );
    }

    /// The transaction of a first request, cancelled by DynamoDB with these reasons (the order's,
    /// then the record's), as it answers on the wire.
    async fn cancelled_with(
        reasons: [&'static str; 2],
    ) -> Result<Option<IdempotencyRecord>, AppError> {
        use crate::store::tests::store;
        use aws_sdk_dynamodb::Client;
        use aws_smithy_mocks::{RuleMode, mock, mock_client};
        use aws_smithy_runtime_api::http::{Response as HttpResponse, StatusCode};
        use aws_smithy_types::body::SdkBody;

        let body = json!({
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "Message": "Transaction cancelled",
            "CancellationReasons": reasons.map(|code| json!({"Code": code})),
        })
        .to_string();
        let cancelled = mock!(Client::transact_write_items).then_http_response(move || {
            HttpResponse::new(
                StatusCode::try_from(400).unwrap(),
                SdkBody::from(body.clone()),
            )
        });
        // No read of a winner's record unless the race was lost: the mock has no GetItem rule.
        let store = store(mock_client!(
            aws_sdk_dynamodb,
            RuleMode::MatchAny,
            [&cancelled]
        ));
        let envelope = Envelope {
            v: 1,
            key_id: "k".into(),
            edk: "e".into(),
            nonce: "n".into(),
            ct: "c".into(),
        };
        let key = IdempotencyKey::parse(&customer("c-1"), "k-1").unwrap();
        store
            .create_with_idempotency_key(&sample_order(), &envelope, &key, "f")
            .await
    }

    #[tokio::test]
    async fn a_throttled_or_conflicting_transaction_is_no_lost_race() {
        assert!(matches!(
            cancelled_with(["None", "ThrottlingError"]).await,
            Err(AppError::Throttled)
        ));
        assert!(matches!(
            cancelled_with(["None", "TransactionConflict"]).await,
            Err(AppError::ConcurrentRequest)
        ));
        assert!(matches!(
            cancelled_with(["ValidationError", "None"]).await,
            Err(AppError::Internal(_))
        ));
    }

    #[test]
    fn only_a_failed_record_condition_is_a_lost_race() {
        let cases: [(&[&str], Cancellation); 8] = [
            (&["None", "ConditionalCheckFailed"], Cancellation::LostRace),
            (&["None", "TransactionConflict"], Cancellation::Conflict),
            (&["TransactionConflict", "None"], Cancellation::Conflict),
            (&["ThrottlingError", "None"], Cancellation::Throttled),
            (
                &["None", "ProvisionedThroughputExceeded"],
                Cancellation::Throttled,
            ),
            // The order's own condition failing (an id collision) or a validation error: internal.
            (&["ConditionalCheckFailed", "None"], Cancellation::Other),
            (&["ValidationError", "None"], Cancellation::Other),
            (&[], Cancellation::Other),
        ];
        for (reasons, expected) in cases {
            assert_eq!(cancellation(reasons), expected, "{reasons:?}");
        }
    }

    /// The record of a first request (its fingerprint) that created the sample order.
    fn record_of_request(fingerprint: &str, expires_at: u64) -> IdempotencyRecord {
        IdempotencyRecord {
            pk: "IDEMPOTENCY#k".into(),
            sk: IDEMPOTENCY_SK.into(),
            request_fingerprint: fingerprint.into(),
            order: sample_order(),
            expires_at,
        }
    }

    #[test]
    fn a_replay_needs_the_same_request() {
        let record = record_of_request("abc", 0);
        assert_eq!(record.clone().replay("abc").unwrap(), sample_order());
        assert!(matches!(
            record.replay("abd"),
            Err(AppError::IdempotencyKeyReused)
        ));
    }

    #[test]
    fn the_record_is_not_in_the_customer_index() {
        let record = record_of_request("abc", 1);
        let item = to_item(&record).unwrap();
        // A top-level customerId would put it in the sparse byCustomer index.
        assert!(!item.contains_key("customerId"));
        assert!(item.contains_key("expiresAt"));
    }
}
