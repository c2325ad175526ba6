//! Client input: untrusted JSON in, domain values (or every problem with it) out.
//!
//! A client that sends five mistakes should learn about all five in one response, so parsing does
//! not stop at the first bad field: it walks the whole body, collects a [`FieldError`] for each
//! problem (`items[2].quantity: must be 1 to 1000`), and returns either a complete value or the
//! complete list. Wrong JSON types are field errors too, not a generic "bad JSON".

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{Map, Value};

use super::order::{Address, CustomerId, LineItem, MAX_ITEMS, MAX_NOTE_CHARS, Sku};
use super::payment::{CardProblem, PaymentCard};
use zeroize::Zeroizing;

/// One problem with one field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Where the problem is, as a path into the body: `customerId`, `items[0].sku`.
    pub field: String,
    pub message: String,
}

/// What `POST /orders` asks for, once parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    /// The signed-in caller: never read from the body.
    pub customer_id: CustomerId,
    pub items: Vec<LineItem>,
    /// The card: it leaves this struct only sealed (see `crypto::envelope`).
    pub payment: PaymentCard,
    pub note: Option<String>,
    pub shipping_address: Option<Address>,
}

/// What `PATCH /orders/{id}` asks to change. For `note` and `shippingAddress`, `Some(None)` means
/// the client sent `null`: remove it (JSON Merge Patch, RFC 7396). Absent means leave it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OrderPatch {
    pub items: Option<Vec<LineItem>>,
    pub note: Option<Option<String>>,
    pub shipping_address: Option<Option<Address>>,
}

impl NewOrder {
    /// Parses a new order for `customer`, the signed-in caller; `today` decides whether the card
    /// has expired. A body that names a customer is refused rather than ignored: a client that
    /// believes it can order for someone else learns at once that it cannot.
    pub fn parse(
        body: &Value,
        customer: CustomerId,
        today: NaiveDate,
    ) -> Result<Self, Vec<FieldError>> {
        let mut problems = Problems::default();
        let fields = body_object(body)?;
        for key in sorted_keys(fields) {
            match key {
                "items" | "note" | "shippingAddress" | "payment" => {}
                "customerId" => problems.add(
                    key,
                    "cannot be set: an order belongs to the signed-in customer (the ID token's sub)",
                ),
                _ => problems.add(key, "is not a known field"),
            }
        }
        let items = problems
            .required(fields, "items")
            .and_then(|value| problems.items(value));
        let note = optional(fields, "note").and_then(|value| problems.note(value));
        let shipping_address =
            optional(fields, "shippingAddress").and_then(|value| problems.address(value));
        let payment = problems
            .required(fields, "payment")
            .and_then(|value| problems.payment(value, today));
        problems.finish()?;
        Ok(Self {
            customer_id: customer,
            items: items.expect("checked"),
            payment: payment.expect("checked"),
            note,
            shipping_address,
        })
    }
}

impl OrderPatch {
    pub fn parse(body: &Value) -> Result<Self, Vec<FieldError>> {
        let mut problems = Problems::default();
        let fields = body_object(body)?;
        for key in sorted_keys(fields) {
            match key {
                "items" | "note" | "shippingAddress" => {}
                "status" => problems.add(key, "cannot be patched: cancel with POST .../cancel"),
                "orderId" | "customerId" | "version" | "totalCents" | "createdAt" | "updatedAt" => {
                    problems.add(key, "cannot be changed")
                }
                _ => problems.add(key, "is not a known field"),
            }
        }
        let mut patch = OrderPatch::default();
        match fields.get("items") {
            None => {}
            Some(Value::Null) => problems.add("items", "cannot be removed"),
            Some(value) => patch.items = problems.items(value),
        }
        if let Some(value) = fields.get("note") {
            patch.note = Some(optional_value(value).and_then(|v| problems.note(v)));
        }
        if let Some(value) = fields.get("shippingAddress") {
            patch.shipping_address = Some(optional_value(value).and_then(|v| problems.address(v)));
        }
        if fields.is_empty() {
            problems.add(
                "body",
                "must change at least one of items, note, shippingAddress",
            );
        }
        problems.finish()?;
        Ok(patch)
    }
}

/// What `GET /orders` asks for: how many orders per page, and, from the support group only,
/// whose (see `identity::Caller::orders_to_list`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub customer_id: Option<CustomerId>,
    pub limit: u32,
}

/// Orders per page when the client does not say.
pub const DEFAULT_PAGE_SIZE: u32 = 20;
/// The most orders one page may hold.
pub const MAX_PAGE_SIZE: u32 = 100;

impl ListQuery {
    /// Parses the `customerId` and `limit` query parameters, reporting both problems at once.
    pub fn parse(customer_id: Option<&str>, limit: Option<&str>) -> Result<Self, Vec<FieldError>> {
        let mut problems = Problems::default();
        let customer_id = match customer_id {
            None => Some(None),
            Some(id) => problems
                .check("customerId", CustomerId::parse(id))
                .map(Some),
        };
        let limit = match limit {
            None => Some(DEFAULT_PAGE_SIZE),
            Some(text) => problems.check(
                "limit",
                text.parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
                    .ok_or_else(|| format!("must be 1 to {MAX_PAGE_SIZE}")),
            ),
        };
        problems.finish()?;
        Ok(Self {
            customer_id: customer_id.expect("checked"),
            limit: limit.expect("checked"),
        })
    }
}

/// The problems found so far, and the parsers of the shared parts of a body.
#[derive(Default)]
struct Problems(Vec<FieldError>);

impl Problems {
    fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// Keeps the value, or records why there is none.
    fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        result.map_err(|message| self.add(field, message)).ok()
    }

    fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }

    fn object<'a>(&mut self, value: &'a Value, field: &str) -> Option<&'a Map<String, Value>> {
        let object = value.as_object();
        if object.is_none() {
            self.add(field, "must be a JSON object");
        }
        object
    }

    fn required<'a>(&mut self, fields: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
        let value = optional(fields, name);
        if value.is_none() {
            self.add(name, "is required");
        }
        value
    }

    fn reject_unknown(&mut self, fields: &Map<String, Value>, prefix: &str, known: &[&str]) {
        for key in sorted_keys(fields).filter(|key| !known.contains(key)) {
            self.add(format!("{prefix}{key}"), "is not a known field");
        }
    }

    /// `items`: 1 to 100 line items, each checked, all reported.
    fn items(&mut self, value: &Value) -> Option<Vec<LineItem>> {
        let Some(array) = value.as_array() else {
            self.add("items", "must be an array");
            return None;
        };
        if array.is_empty() || array.len() > MAX_ITEMS {
            self.add("items", format!("must hold 1 to {MAX_ITEMS} items"));
            return None;
        }
        let parsed: Vec<Option<LineItem>> = array
            .iter()
            .enumerate()
            .map(|(index, value)| self.line_item(value, &format!("items[{index}]")))
            .collect();
        parsed.into_iter().collect()
    }

    fn line_item(&mut self, value: &Value, path: &str) -> Option<LineItem> {
        let fields = self.object(value, path)?;
        let prefix = format!("{path}.");
        self.reject_unknown(fields, &prefix, &["sku", "quantity", "unitPriceCents"]);
        let sku = self.field(fields, &prefix, "sku", |v| Sku::parse(string(v)?));
        let quantity = self.field(fields, &prefix, "quantity", |v| {
            LineItem::parse_quantity(integer(v)?)
        });
        let unit_price_cents = self.field(fields, &prefix, "unitPriceCents", |v| {
            LineItem::parse_unit_price(integer(v)?)
        });
        Some(LineItem {
            sku: sku?,
            quantity: quantity?,
            unit_price_cents: unit_price_cents?,
        })
    }

    fn note(&mut self, value: &Value) -> Option<String> {
        let note = string(value).and_then(|note| {
            if note.chars().count() > MAX_NOTE_CHARS {
                Err(format!("must be at most {MAX_NOTE_CHARS} characters"))
            } else {
                Ok(note.to_owned())
            }
        });
        self.check("note", note)
    }

    fn address(&mut self, value: &Value) -> Option<Address> {
        const PREFIX: &str = "shippingAddress.";
        let fields = self.object(value, "shippingAddress")?;
        let known = ["name", "line1", "line2", "city", "postalCode", "country"];
        self.reject_unknown(fields, PREFIX, &known);
        let name = self.field(fields, PREFIX, "name", address_line);
        let line1 = self.field(fields, PREFIX, "line1", address_line);
        // Optional: absent is fine (Some(None)); present but bad is a problem (None).
        let line2 = match optional(fields, "line2") {
            None => Some(None),
            Some(value) => self
                .check("shippingAddress.line2", address_line(value))
                .map(Some),
        };
        let city = self.field(fields, PREFIX, "city", address_line);
        let postal_code = self.field(fields, PREFIX, "postalCode", address_line);
        let country = self.field(fields, PREFIX, "country", country_code);
        Some(Address {
            name: name?,
            line1: line1?,
            line2: line2?,
            city: city?,
            postal_code: postal_code?,
            country: country?,
        })
    }

    /// `payment`: `{cardNumber, expiry}`. The messages name the field and never echo its value.
    fn payment(&mut self, value: &Value, today: NaiveDate) -> Option<PaymentCard> {
        const PREFIX: &str = "payment.";
        let fields = self.object(value, "payment")?;
        self.reject_unknown(fields, PREFIX, &["cardNumber", "expiry"]);
        // Copies of the number are wiped when dropped, like the card itself.
        let number = self.field(fields, PREFIX, "cardNumber", |v| {
            string(v).map(|s| Zeroizing::new(s.to_owned()))
        });
        let expiry = self.field(fields, PREFIX, "expiry", |v| string(v).map(str::to_owned));
        match PaymentCard::parse(&number?, &expiry?, today) {
            Ok(card) => Some(card),
            Err(card_problems) => {
                for problem in card_problems {
                    match problem {
                        CardProblem::Number(message) => self.add("payment.cardNumber", message),
                        CardProblem::Expiry(message) => self.add("payment.expiry", message),
                    }
                }
                None
            }
        }
    }

    /// A required field `{prefix}{name}`: absent or `null` is "is required", else `parse` decides.
    fn field<T>(
        &mut self,
        fields: &Map<String, Value>,
        prefix: &str,
        name: &str,
        parse: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Option<T> {
        let path = format!("{prefix}{name}");
        match optional(fields, name) {
            None => {
                self.add(path, "is required");
                None
            }
            Some(value) => self.check(&path, parse(value)),
        }
    }
}

fn address_line(value: &Value) -> Result<String, String> {
    let text = string(value)?.trim();
    match text.chars().count() {
        1..=200 => Ok(text.to_owned()),
        _ => Err("must be 1 to 200 characters".to_owned()),
    }
}

fn country_code(value: &Value) -> Result<String, String> {
    let code = string(value)?;
    if code.len() == 2 && code.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(code.to_owned())
    } else {
        Err("must be an ISO 3166-1 alpha-2 code, like GB".to_owned())
    }
}

/// A request body must be a JSON object; anything else is one problem, reported alone.
fn body_object(body: &Value) -> Result<&Map<String, Value>, Vec<FieldError>> {
    body.as_object().ok_or_else(|| {
        vec![FieldError {
            field: "body".into(),
            message: "must be a JSON object".into(),
        }]
    })
}

/// The keys of an object in sorted order, so problems are reported in the same order whatever
/// order the client sent (and whether or not serde_json's `preserve_order` feature is on).
fn sorted_keys(fields: &Map<String, Value>) -> impl Iterator<Item = &str> {
    let mut keys: Vec<&str> = fields.keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys.into_iter()
}

/// A field that is absent or `null` is not there.
fn optional<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    fields.get(name).and_then(optional_value)
}

fn optional_value(value: &Value) -> Option<&Value> {
    (!value.is_null()).then_some(value)
}

fn string(value: &Value) -> Result<&str, String> {
    value.as_str().ok_or_else(|| "must be a string".to_owned())
}

fn integer(value: &Value) -> Result<i64, String> {
    value
        .as_i64()
        .ok_or_else(|| "must be an integer".to_owned())
}

#[cfg(test)]
mod tests;
