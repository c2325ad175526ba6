//! From DynamoDB stream records to domain events.
//!
//! The table's stream (`NEW_AND_OLD_IMAGES`) has one record per item change, with the item before
//! (`OldImage`) and after (`NewImage`). Only order items (`sk = ORDER`) make events:
//!
//! | record                          | event                                                |
//! |---------------------------------|------------------------------------------------------|
//! | `INSERT` of an order            | `OrderPlaced`                                        |
//! | `MODIFY` of an order            | named after the new status if it changed, else `OrderUpdated` |
//! | `REMOVE`, audit and idempotency items | none                                           |
//!
//! Exam: the stream holds the raw item, including the sealed card (`encryptedPayment`). The
//! event is built from the order's own fields only, so the ciphertext never leaves the table.

use aws_lambda_events::dynamodb::EventRecord;
use serde_dynamo::AttributeValue;

use crate::domain::{EventType, Order, OrderEvent};
use crate::store::ORDER_SK;

/// A stream record this function cannot turn into an event (an image that is not an order, an
/// unknown event name). The message names the record, never its contents.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("stream record {event_id}: {reason}")]
pub struct UnreadableRecord {
    pub event_id: String,
    pub reason: String,
}

/// The event of one stream record, or `None` for a change that makes no event.
pub fn event_of(record: &EventRecord) -> Result<Option<OrderEvent>, UnreadableRecord> {
    let unreadable = |reason: String| UnreadableRecord {
        event_id: record.event_id.clone(),
        reason,
    };
    let is_order = matches!(
        record.change.keys.get("sk"),
        Some(AttributeValue::S(sk)) if sk == ORDER_SK
    );
    if !is_order {
        return Ok(None);
    }
    let image = |name: &str, item: &serde_dynamo::Item| -> Result<Order, UnreadableRecord> {
        if item.is_empty() {
            return Err(unreadable(format!("no {name} image")));
        }
        // The image holds the item's other attributes too (keys, `encryptedPayment`): reading
        // it as an `Order` keeps the order's fields and drops the rest.
        serde_dynamo::from_item(item.clone())
            .map_err(|error| unreadable(format!("the {name} image is not an order: {error}")))
    };
    let event_type = match record.event_name.as_str() {
        "INSERT" => EventType::OrderPlaced,
        "MODIFY" => EventType::of_change(
            &image("old", &record.change.old_image)?,
            &image("new", &record.change.new_image)?,
        ),
        "REMOVE" => return Ok(None),
        other => return Err(unreadable(format!("unknown event name {other:?}"))),
    };
    let order = image("new", &record.change.new_image)?;
    Ok(Some(OrderEvent::new(&record.event_id, event_type, order)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// A stream record as Lambda delivers it (the shape of `events/publish-events.json`).
    fn record(name: &str, sk: &str, old: Option<Value>, new: Option<Value>) -> EventRecord {
        let mut change = json!({
            "Keys": {"pk": {"S": "ORDER#0194a3f2-7c1e-7b3a-9d2e-5f6a7b8c9d0e"}, "sk": {"S": sk}},
            "SequenceNumber": "100",
            "SizeBytes": 100,
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        });
        if let Some(old) = old {
            change["OldImage"] = old;
        }
        if let Some(new) = new {
            change["NewImage"] = new;
        }
        serde_json::from_value(json!({
            "eventID": "rec-1",
            "eventName": name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": change
        }))
        .unwrap()
    }

    fn image(status: &str, version: u32) -> Value {
        json!({
            "pk": {"S": "ORDER#0194a3f2-7c1e-7b3a-9d2e-5f6a7b8c9d0e"},
            "sk": {"S": "ORDER"},
            "orderId": {"S": "0194a3f2-7c1e-7b3a-9d2e-5f6a7b8c9d0e"},
            "customerId": {"S": "c-1"},
            "items": {"L": []},
            "totalCents": {"N": "0"},
            "status": {"S": status},
            "version": {"N": version.to_string()},
            "createdAt": {"S": "2026-11-23T00:00:00.000Z"},
            "updatedAt": {"S": "2026-11-23T00:00:05.000Z"},
            "payment": {"M": {"cardLast4": {"S": "1111"}, "brand": {"S": "visa"}}},
            "encryptedPayment": {"M": {"v": {"N": "1"}, "ct": {"S": "c2VjcmV0"}}}
        })
    }

    #[test]
    fn an_insert_of_an_order_is_order_placed_without_the_sealed_card() {
        let event = event_of(&record("INSERT", "ORDER", None, Some(image("PLACED", 1))))
            .unwrap()
            .unwrap();
        assert_eq!(event.event_type, EventType::OrderPlaced);
        assert_eq!(event.event_id, "rec-1");
        assert_eq!(event.version, 1);
        assert_eq!(event.occurred_at, "2026-11-23T00:00:05.000Z");
        let json = serde_json::to_string(&event).unwrap();
        assert!(
            !json.contains("encryptedPayment") && !json.contains("c2VjcmV0"),
            "{json}"
        );
    }

    #[test]
    fn a_modify_is_named_after_the_status_change() {
        let confirmed = record(
            "MODIFY",
            "ORDER",
            Some(image("PLACED", 1)),
            Some(image("CONFIRMED", 2)),
        );
        let event = event_of(&confirmed).unwrap().unwrap();
        assert_eq!(
            (event.event_type, event.version),
            (EventType::OrderConfirmed, 2)
        );

        let patched = record(
            "MODIFY",
            "ORDER",
            Some(image("PLACED", 1)),
            Some(image("PLACED", 2)),
        );
        assert_eq!(
            event_of(&patched).unwrap().unwrap().event_type,
            EventType::OrderUpdated
        );
    }

    #[test]
    fn audit_and_idempotency_items_and_removals_make_no_event() {
        let audit = record(
            "INSERT",
            "EVENT#rec-0",
            None,
            Some(json!({"sk": {"S": "EVENT#rec-0"}})),
        );
        assert_eq!(event_of(&audit), Ok(None));
        let idempotency = record("INSERT", "IDEMPOTENCY", None, Some(json!({})));
        assert_eq!(event_of(&idempotency), Ok(None));
        let removed = record("REMOVE", "ORDER", Some(image("PLACED", 1)), None);
        assert_eq!(event_of(&removed), Ok(None));
    }

    #[test]
    fn an_image_that_is_not_an_order_is_unreadable_and_says_which_record() {
        let broken = record("INSERT", "ORDER", None, Some(json!({"sk": {"S": "ORDER"}})));
        let error = event_of(&broken).unwrap_err();
        assert_eq!(error.event_id, "rec-1");
        assert!(error.to_string().contains("not an order"), "{error}");
        let strange = record("TRUNCATE", "ORDER", None, Some(image("PLACED", 1)));
        assert!(event_of(&strange).is_err());
    }
}
