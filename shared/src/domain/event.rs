//! Domain events: what happened to an order, as the rest of the system hears it.
//!
//! Every change of an order item becomes one event (see `messaging::stream`), published to the
//! `OrderEvents` topic and fanned out to the queues of its consumers:
//!
//! ```json
//! {"eventId": "c5b2…", "eventType": "OrderPlaced", "orderId": "0194…", "version": 1,
//!  "occurredAt": "2026-11-23T09:00:00.000Z", "order": {…the order as the API shows it…}}
//! ```
//!
//! The event carries the order as the API shows it: the card appears only as `{cardLast4, brand}`.
//! `eventId` is the id of the stream record the event comes from, so a record published twice
//! (a retried batch) makes two deliveries of *one* event, which consumers recognise.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::{Order, OrderId, OrderStatus};

/// The kinds of event, named after what happened (past tense), as the `eventType` attribute says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    OrderPlaced,
    OrderUpdated,
    OrderConfirmed,
    PaymentFailed,
    OrderCancelled,
    OrderShipped,
}

impl EventType {
    /// Every event type.
    pub const ALL: [EventType; 6] = [
        EventType::OrderPlaced,
        EventType::OrderUpdated,
        EventType::OrderConfirmed,
        EventType::PaymentFailed,
        EventType::OrderCancelled,
        EventType::OrderShipped,
    ];

    /// The event of a change from `old` to `new`: a status change is named after the new status,
    /// any other change is an update.
    pub fn of_change(old: &Order, new: &Order) -> Self {
        if old.status == new.status {
            return EventType::OrderUpdated;
        }
        match new.status {
            OrderStatus::Confirmed => EventType::OrderConfirmed,
            OrderStatus::PaymentFailed => EventType::PaymentFailed,
            OrderStatus::Cancelled => EventType::OrderCancelled,
            OrderStatus::Shipped => EventType::OrderShipped,
            // No transition leads back to PLACED; if one ever did, it is still a change.
            OrderStatus::Placed => EventType::OrderUpdated,
        }
    }

    /// The wire name, as in the message attribute and the body.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::OrderPlaced => "OrderPlaced",
            EventType::OrderUpdated => "OrderUpdated",
            EventType::OrderConfirmed => "OrderConfirmed",
            EventType::PaymentFailed => "PaymentFailed",
            EventType::OrderCancelled => "OrderCancelled",
            EventType::OrderShipped => "OrderShipped",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event: the message body on the topic and in the queues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderEvent {
    /// The id of the stream record this event comes from: stable across redeliveries.
    pub event_id: String,
    pub event_type: EventType,
    pub order_id: OrderId,
    /// The order's version after the change.
    pub version: u64,
    /// When the change was written (the order's `updatedAt`).
    pub occurred_at: String,
    /// The order after the change, as the API shows it (no card data).
    pub order: Order,
}

impl OrderEvent {
    /// The event `event_type` of `order` (the order as it is after the change).
    pub fn new(event_id: impl Into<String>, event_type: EventType, order: Order) -> Self {
        Self {
            event_id: event_id.into(),
            event_type,
            order_id: order.order_id,
            version: order.version,
            occurred_at: order.updated_at.clone(),
            order,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CardBrand, CardSummary, CustomerId};

    fn order(status: OrderStatus, version: u64) -> Order {
        Order {
            order_id: OrderId::parse("0194a3f2-7c1e-7b3a-9d2e-5f6a7b8c9d0e").unwrap(),
            customer_id: CustomerId::parse("c-1").unwrap(),
            items: vec![],
            total_cents: 0,
            status,
            version,
            created_at: "2026-11-23T00:00:00.000Z".into(),
            updated_at: format!("2026-11-23T00:00:0{version}.000Z"),
            note: None,
            shipping_address: None,
            payment: CardSummary {
                card_last4: "1111".into(),
                brand: CardBrand::Visa,
            },
        }
    }

    #[test]
    fn a_status_change_is_named_after_the_new_status() {
        use OrderStatus::*;
        let cases = [
            (Placed, Confirmed, EventType::OrderConfirmed),
            (Placed, PaymentFailed, EventType::PaymentFailed),
            (Placed, Cancelled, EventType::OrderCancelled),
            (Confirmed, Cancelled, EventType::OrderCancelled),
            (Confirmed, Shipped, EventType::OrderShipped),
            (Placed, Placed, EventType::OrderUpdated),
            (Confirmed, Confirmed, EventType::OrderUpdated),
        ];
        for (from, to, expected) in cases {
            assert_eq!(
                EventType::of_change(&order(from, 1), &order(to, 2)),
                expected,
                "{from} -> {to}"
            );
        }
    }

    #[test]
    fn an_event_serialises_with_the_order_and_round_trips() {
        let event = OrderEvent::new(
            "rec-1",
            EventType::OrderPlaced,
            order(OrderStatus::Placed, 1),
        );
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["eventId"], "rec-1");
        assert_eq!(json["eventType"], "OrderPlaced");
        assert_eq!(json["orderId"], "0194a3f2-7c1e-7b3a-9d2e-5f6a7b8c9d0e");
        assert_eq!(json["version"], 1);
        assert_eq!(json["occurredAt"], "2026-11-23T00:00:01.000Z");
        assert_eq!(json["order"]["payment"]["cardLast4"], "1111");
        let back: OrderEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn wire_names_match_serde() {
        for event_type in EventType::ALL {
            assert_eq!(
                serde_json::to_value(event_type).unwrap(),
                event_type.as_str()
            );
        }
    }
}
