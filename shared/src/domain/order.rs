//! An order and its parts.
//!
//! "Parse, don't validate": each part of an order that comes from a client has a constructor
//! (`CustomerId::parse`, `LineItem::parse_quantity`, `PaymentCard::parse`, ...) that is the only
//! way to make one from untrusted input, so code holding an [`Order`] never holds an invalid value. The total is computed here,
//! from the items: a client never sends it and the server never trusts one.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

use super::OrderStatus;
use super::payment::{CardSummary, PaymentCard};

/// At most this many line items per order.
pub const MAX_ITEMS: usize = 100;
/// The quantity of one line item is 1 to this.
pub const MAX_QUANTITY: u32 = 1000;
/// A unit price above this (one million in the currency) is taken for a mistake.
pub const MAX_UNIT_PRICE_CENTS: u64 = 100_000_000;
/// The longest free-text note.
pub const MAX_NOTE_CHARS: usize = 1000;

/// An order id: a UUID v7, so ids sort by creation time and spread evenly over partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrderId(Uuid);

impl OrderId {
    /// A new, time-ordered id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    /// Parses an id from a path parameter; `None` if it is not a UUID.
    pub fn parse(value: &str) -> Option<Self> {
        Uuid::try_parse(value).ok().map(Self)
    }
}

impl Default for OrderId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// Who placed the order: the signed-in customer's Cognito `sub` (a UUID; see `identity`), or
/// any 1 to 64 letters, digits, `-`, `_` or `.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CustomerId(String);

impl CustomerId {
    pub fn parse(value: &str) -> Result<Self, String> {
        parse_identifier(value).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stock-keeping unit: 1 to 64 letters, digits, `-`, `_` or `.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sku(String);

impl Sku {
    pub fn parse(value: &str) -> Result<Self, String> {
        parse_identifier(value).map(Self)
    }
}

fn parse_identifier(value: &str) -> Result<String, String> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if value.is_empty() || value.len() > 64 {
        Err("must be 1 to 64 characters".into())
    } else if !value.chars().all(valid_char) {
        Err("may contain only letters, digits, '-', '_' and '.'".into())
    } else {
        Ok(value.to_owned())
    }
}

/// One line of an order. Built by the input parser, which range-checks the quantity and the price
/// with [`LineItem::parse_quantity`] and [`LineItem::parse_unit_price`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineItem {
    pub sku: Sku,
    pub quantity: u32,
    pub unit_price_cents: u64,
}

impl LineItem {
    /// The quantity must be 1 to [`MAX_QUANTITY`].
    pub fn parse_quantity(value: i64) -> Result<u32, String> {
        u32::try_from(value)
            .ok()
            .filter(|q| (1..=MAX_QUANTITY).contains(q))
            .ok_or_else(|| format!("must be 1 to {MAX_QUANTITY}"))
    }

    /// The unit price must be 0 to [`MAX_UNIT_PRICE_CENTS`] (free items exist; negative ones do not).
    pub fn parse_unit_price(value: i64) -> Result<u64, String> {
        u64::try_from(value)
            .ok()
            .filter(|p| *p <= MAX_UNIT_PRICE_CENTS)
            .ok_or_else(|| format!("must be 0 to {MAX_UNIT_PRICE_CENTS}"))
    }

    pub fn line_total_cents(&self) -> u64 {
        u64::from(self.quantity) * self.unit_price_cents
    }
}

/// The total of some items. With the limits above it cannot overflow a u64
/// (100 items x 1,000 x 10^8 = 10^13).
pub fn total_cents(items: &[LineItem]) -> u64 {
    items.iter().map(LineItem::line_total_cents).sum()
}

/// Where to ship the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    pub name: String,
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country code, e.g. `GB`.
    pub country: String,
}

/// An order as returned by the API, and as stored apart from its sealed card (see `store`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub items: Vec<LineItem>,
    /// Computed from `items`, never taken from a client.
    pub total_cents: u64,
    pub status: OrderStatus,
    /// The optimistic-locking version: 1 on creation, +1 on every write. The API's `ETag`.
    pub version: u64,
    /// RFC 3339, UTC, millisecond precision: sorts as text, so it is the GSI's sort key.
    pub created_at: String,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_address: Option<Address>,
    /// The last four digits and the brand: all of the card that is ever shown.
    pub payment: CardSummary,
}

impl Order {
    /// A new order from validated input: status `PLACED`, version 1, total computed. The card
    /// comes back separately: it never becomes part of an `Order`, only of its sealed envelope.
    pub fn place(new: super::NewOrder, now: &str) -> (Self, PaymentCard) {
        let order = Self {
            order_id: OrderId::new(),
            customer_id: new.customer_id,
            total_cents: total_cents(&new.items),
            items: new.items,
            status: OrderStatus::Placed,
            version: 1,
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
            note: new.note,
            shipping_address: new.shipping_address,
            payment: new.payment.summary(),
        };
        (order, new.payment)
    }
}

/// The current time as stored: RFC 3339 in UTC with exactly three fractional digits, so that
/// text order is time order (a DynamoDB sort key compares strings byte by byte).
pub fn now_timestamp() -> String {
    chrono::Utc::now()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(quantity: u32, unit_price_cents: u64) -> LineItem {
        LineItem {
            sku: Sku::parse("SKU-1").unwrap(),
            quantity,
            unit_price_cents,
        }
    }

    #[test]
    fn the_total_is_the_sum_of_the_lines() {
        assert_eq!(total_cents(&[item(2, 1250), item(1, 199)]), 2699);
        assert_eq!(total_cents(&[]), 0);
    }

    #[test]
    fn the_largest_possible_order_does_not_overflow() {
        let items = vec![item(MAX_QUANTITY, MAX_UNIT_PRICE_CENTS); MAX_ITEMS];
        assert_eq!(total_cents(&items), 10_000_000_000_000);
    }

    #[test]
    fn quantities_and_prices_are_range_checked() {
        assert_eq!(LineItem::parse_quantity(1), Ok(1));
        assert_eq!(LineItem::parse_quantity(1000), Ok(1000));
        assert!(LineItem::parse_quantity(0).is_err());
        assert!(LineItem::parse_quantity(1001).is_err());
        assert!(LineItem::parse_quantity(-3).is_err());
        assert_eq!(LineItem::parse_unit_price(0), Ok(0));
        assert!(LineItem::parse_unit_price(-1).is_err());
        assert!(LineItem::parse_unit_price(100_000_001).is_err());
    }

    #[test]
    fn identifiers_are_restricted() {
        assert!(CustomerId::parse("c-1").is_ok());
        assert!(CustomerId::parse("").is_err());
        assert!(CustomerId::parse(&"x".repeat(65)).is_err());
        assert!(Sku::parse("BOOK 1").is_err());
        assert!(Sku::parse("BOOK#1").is_err());
    }

    #[test]
    fn order_ids_are_uuids_and_sort_by_time() {
        let first = OrderId::new();
        let second = OrderId::new();
        assert!(first.to_string() < second.to_string());
        assert_eq!(OrderId::parse(&first.to_string()), Some(first));
        assert_eq!(OrderId::parse("not-a-uuid"), None);
    }

    #[test]
    fn timestamps_have_a_fixed_width() {
        let ts = now_timestamp();
        assert_eq!(ts.len(), "2026-11-23T00:19:55.123Z".len(), "{ts}");
        assert!(ts.ends_with('Z'));
    }

    #[test]
    fn an_order_serialises_in_camel_case_without_empty_options() {
        // The store's sample order (placed by c-1, paid by a Visa ending 1111), with one line.
        let order = Order {
            items: vec![item(2, 1250)],
            total_cents: 2500,
            version: 1,
            ..crate::store::tests::sample_order()
        };
        let json = serde_json::to_value(&order).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "orderId": "0194a3f2-7c1e-7b3a-9d2e-5f6a7b8c9d0e",
                "customerId": "c-1",
                "items": [{"sku": "SKU-1", "quantity": 2, "unitPriceCents": 1250}],
                "totalCents": 2500,
                "status": "PLACED",
                "version": 1,
                "createdAt": "2026-11-23T00:00:00.000Z",
                "updatedAt": "2026-11-23T00:00:00.000Z",
                "payment": {"cardLast4": "1111", "brand": "visa"},
            })
        );
    }
}
