//! Pagination: DynamoDB's `LastEvaluatedKey` as an opaque, validated `nextToken`.
//!
//! A query returns at most `Limit` items and, if there may be more, the key of the last one it
//! read. The next query passes it back as `ExclusiveStartKey`. Clients get that key as an opaque
//! string (base64url of JSON), so they cannot depend on its shape; and since a token comes back
//! from a client, it is checked before use: only the four key attributes of the `byCustomer`
//! index, only for the customer being listed. Anything else is a 400, never a DynamoDB error.
//!
//! Opaque is not secret: base64 is an encoding, not encryption. The token holds nothing the
//! client may not see (its own order id, customer id and a timestamp).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::{Item, ORDER_SK, from_item, to_item};
use crate::domain::{CustomerId, OrderId};
use crate::error::AppError;

/// A longer token cannot be one of ours.
const MAX_TOKEN_CHARS: usize = 512;

/// Where the next page starts: the key of the last order of this page in the `byCustomer` index
/// (the index key plus the table key, as DynamoDB returns it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PageToken {
    pk: String,
    sk: String,
    customer_id: String,
    created_at: String,
}

impl PageToken {
    pub(crate) fn from_last_key(key: Item) -> Result<Self, AppError> {
        from_item(key)
    }

    pub(crate) fn into_start_key(self) -> Result<Item, AppError> {
        to_item(&self)
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("strings always serialise"))
    }

    /// Decodes a client's `nextToken` for listing `customer`'s orders.
    pub fn decode(token: &str, customer: &CustomerId) -> Result<Self, AppError> {
        let invalid = || AppError::BadRequest("nextToken is not a token this API issued".into());
        if token.len() > MAX_TOKEN_CHARS {
            return Err(invalid());
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
        let parsed: Self = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        let is_order_key = parsed
            .pk
            .strip_prefix("ORDER#")
            .and_then(OrderId::parse)
            .is_some()
            && parsed.sk == ORDER_SK;
        if !is_order_key
            || parsed.customer_id != customer.as_str()
            || !is_stored_timestamp(&parsed.created_at)
        {
            return Err(invalid());
        }
        Ok(parsed)
    }
}

/// `createdAt` is the index's sort key, so it goes to DynamoDB as part of `ExclusiveStartKey`:
/// an empty one is a `ValidationException` there (a key attribute cannot be an empty string),
/// which would be a 500. A token must hold a timestamp as the store writes it (`now_timestamp`).
fn is_stored_timestamp(text: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(text).is_ok_and(|time| {
        time.to_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            == text
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;

    fn customer(id: &str) -> CustomerId {
        CustomerId::parse(id).unwrap()
    }

    fn last_key() -> Item {
        let s = |v: &str| AttributeValue::S(v.into());
        Item::from([
            ("pk".into(), s("ORDER#0194a3f2-7c1e-7b3a-9d2e-5f6a7b8c9d0e")),
            ("sk".into(), s("ORDER")),
            ("customerId".into(), s("c-1")),
            ("createdAt".into(), s("2026-11-23T00:00:00.000Z")),
        ])
    }

    #[test]
    fn a_token_round_trips_to_the_same_start_key() {
        let token = PageToken::from_last_key(last_key()).unwrap().encode();
        assert!(!token.contains("ORDER"), "opaque: {token}");
        let decoded = PageToken::decode(&token, &customer("c-1")).unwrap();
        assert_eq!(decoded.into_start_key().unwrap(), last_key());
    }

    #[test]
    fn garbage_is_refused() {
        for garbage in ["", "abc", "!!!!", "e30", &"A".repeat(600)] {
            assert!(
                matches!(
                    PageToken::decode(garbage, &customer("c-1")),
                    Err(AppError::BadRequest(_))
                ),
                "{garbage}"
            );
        }
    }

    #[test]
    fn a_token_of_another_customer_is_refused() {
        let token = PageToken::from_last_key(last_key()).unwrap().encode();
        assert!(PageToken::decode(&token, &customer("c-2")).is_err());
    }

    #[test]
    fn a_token_naming_other_items_is_refused() {
        for (pk, sk) in [("IDEMPOTENCY#k", "IDEMPOTENCY"), ("ORDER#x", "ORDER")] {
            let forged = PageToken {
                pk: pk.into(),
                sk: sk.into(),
                customer_id: "c-1".into(),
                created_at: "2026-11-23T00:00:00.000Z".into(),
            };
            assert!(PageToken::decode(&forged.encode(), &customer("c-1")).is_err());
        }
        // A forged createdAt would reach DynamoDB as a key: an empty one is its 400, our 500.
        for created_at in [
            "",
            "x",
            "2026-11-23",
            "2026-11-23T00:00:00Z",
            "2026-13-01T00:00:00.000Z",
        ] {
            let forged = PageToken {
                created_at: created_at.into(),
                ..PageToken::from_last_key(last_key()).unwrap()
            };
            let decoded = PageToken::decode(&forged.encode(), &customer("c-1"));
            assert!(
                matches!(decoded, Err(AppError::BadRequest(_))),
                "{created_at:?}"
            );
        }
        let extra = URL_SAFE_NO_PAD
            .encode(br#"{"pk":"a","sk":"b","customerId":"c-1","createdAt":"x","evil":1}"#);
        assert!(PageToken::decode(&extra, &customer("c-1")).is_err());
    }
}
