//! The DynamoDB store: one table for everything (single-table design).
//!
//! | item            | `pk`                 | `sk`          | notes                                  |
//! |-----------------|----------------------|---------------|----------------------------------------|
//! | order           | `ORDER#<orderId>`    | `ORDER`       | carries `customerId` and `createdAt`, and the sealed card (`encryptedPayment`) |
//! | audit entry     | `ORDER#<orderId>`    | `EVENT#<id>`  | one per event, `expiresAt` TTL ([`audit`]) |
//! | idempotency key | `IDEMPOTENCY#<customerId>#<key>` | `IDEMPOTENCY` | `expiresAt` TTL            |
//! | attempt counter | `ORDER#<orderId>`    | `FULFILLMENT_ATTEMPTS` | an atomic counter (`ADD`), [`counter`] |
//!
//! The global secondary index `byCustomer` (`customerId` / `createdAt`) lists a customer's orders
//! newest first. It is a *sparse* index: only order items have a top-level `customerId`, so audit,
//! idempotency and counter items never appear in it.
//!
//! Card data is stored only sealed: an order item holds the API's view of the order (with
//! `payment: {cardLast4, brand}`) plus `encryptedPayment`, the envelope of `crypto::envelope`.
//! Reads of an order ignore the envelope; only [`OrderStore::sealed_payment`] returns it.
//!
//! Items are mapped with `serde_dynamo`: the domain types derive `Serialize`/`Deserialize` and
//! become attribute maps without hand-written attribute code. Every write that changes an order
//! is conditional; see [`locking`]. The one unconditional update is the attempt counter's `ADD`,
//! on an item of its own ([`counter`]).
//!
//! Every call asks for its consumed capacity (`ReturnConsumedCapacity=TOTAL`): the figure costs
//! nothing to return, and the SDK interceptor records it on the call's X-Ray subsegment and log
//! line.
//! [`capacity`] holds the maths behind the figures.

pub mod audit;
pub mod capacity;
pub mod counter;
pub mod idempotency;
pub mod locking;
pub mod pagination;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::get_item::builders::GetItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::crypto::Envelope;
use crate::domain::{CustomerId, Order, OrderId, OrderStatus};
use crate::error::AppError;
use pagination::PageToken;

/// A DynamoDB item: attribute name to value.
pub type Item = HashMap<String, AttributeValue>;

/// The name of the customer index (the template's `GlobalSecondaryIndexes`).
pub const CUSTOMER_INDEX: &str = "byCustomer";
/// What the customer index copies besides the keys (its `INCLUDE` projection): every attribute of
/// an [`Order`] and nothing else, so the sealed card stays in the base table.
pub const CUSTOMER_INDEX_ATTRIBUTES: [&str; 9] = [
    "orderId",
    "items",
    "totalCents",
    "status",
    "version",
    "updatedAt",
    "note",
    "shippingAddress",
    "payment",
];
/// What every call of the store asks DynamoDB to report: the capacity units it consumed, in
/// total (`INDEXES` would add the table's and each index's share; `NONE` is the default).
pub(crate) const CONSUMED_CAPACITY: ReturnConsumedCapacity = ReturnConsumedCapacity::Total;
/// The sort key of an order item.
pub const ORDER_SK: &str = "ORDER";
/// The attribute of an order item that holds its sealed card.
pub const ENCRYPTED_PAYMENT: &str = "encryptedPayment";

/// The orders table, seen through the operations the functions need.
///
/// Cheap to clone; build it once in `main` and share it with every invocation.
#[derive(Clone, Debug)]
pub struct OrderStore {
    client: Client,
    table: String,
    idempotency_ttl: Duration,
}

/// What fulfillment reads of an order: where it stands, and its sealed card.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SealedPayment {
    pub status: OrderStatus,
    pub version: u64,
    #[serde(rename = "encryptedPayment")]
    pub card: Envelope,
}

/// One page of a customer's orders, newest first.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderPage {
    pub items: Vec<Order>,
    /// Pass back as `nextToken` for the next page; `null` on the last one.
    pub next_token: Option<String>,
}

impl OrderStore {
    pub fn new(client: Client, config: &Config) -> Self {
        Self {
            client,
            table: config.table_name.clone(),
            idempotency_ttl: config.idempotency_ttl,
        }
    }

    /// A GetItem of order `id`'s item, asking for its consumed capacity.
    fn get_order_item(&self, id: OrderId) -> GetItemFluentBuilder {
        self.client
            .get_item()
            .table_name(&self.table)
            .return_consumed_capacity(CONSUMED_CAPACITY)
            .set_key(Some(order_key(id)))
    }

    /// Reads one order. `consistent` asks for a strongly consistent read: it sees every write
    /// acknowledged before it, at twice the read capacity cost of the default eventually
    /// consistent read (which may lag by up to about a second).
    pub async fn get(&self, id: OrderId, consistent: bool) -> Result<Option<Order>, AppError> {
        let output = self
            .get_order_item(id)
            .consistent_read(consistent)
            .send()
            .await
            .map_err(|error| sdk_failure("GetItem", error))?;
        output.item.map(from_item).transpose()
    }

    /// Writes a new order and its sealed card. `attribute_not_exists(pk)` makes the put a
    /// create, never an overwrite.
    pub async fn create(&self, order: &Order, card: &Envelope) -> Result<(), AppError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .return_consumed_capacity(CONSUMED_CAPACITY)
            .set_item(Some(new_order_item(order, card)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|error| sdk_failure("PutItem", error))?;
        Ok(())
    }

    /// The sealed card of an order with the order's status and version, for the one function
    /// allowed to open it (fulfillment), which settles only a `PLACED` order. A projection reads
    /// just those attributes; the read is strongly consistent, so an order announced by its stream
    /// event is always found.
    pub async fn sealed_payment(&self, id: OrderId) -> Result<Option<SealedPayment>, AppError> {
        let output = self
            .get_order_item(id)
            .projection_expression("#status, #version, #payment")
            // `status` is a reserved word: every name goes through a placeholder.
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#version", "version")
            .expression_attribute_names("#payment", ENCRYPTED_PAYMENT)
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| sdk_failure("GetItem", error))?;
        output.item.map(from_item).transpose()
    }

    /// One page of a customer's orders, newest first, from the `byCustomer` index.
    ///
    /// A query on a GSI is always eventually consistent (a GSI cannot serve strongly consistent
    /// reads): an order created a moment ago may be missing from the first page for a moment.
    pub async fn list_by_customer(
        &self,
        customer: &CustomerId,
        limit: u32,
        after: Option<PageToken>,
    ) -> Result<OrderPage, AppError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .return_consumed_capacity(CONSUMED_CAPACITY)
            .index_name(CUSTOMER_INDEX)
            .key_condition_expression("customerId = :customer")
            .expression_attribute_values(":customer", AttributeValue::S(customer.as_str().into()))
            // Newest first: the sort key (createdAt) descending.
            .scan_index_forward(false)
            .limit(limit as i32)
            .set_exclusive_start_key(after.map(PageToken::into_start_key).transpose()?)
            .send()
            .await
            .map_err(|error| sdk_failure("Query", error))?;
        let items = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect::<Result<Vec<Order>, _>>()?;
        let next_token = output
            .last_evaluated_key
            .map(|key| PageToken::from_last_key(key).map(|token| token.encode()))
            .transpose()?;
        Ok(OrderPage { items, next_token })
    }
}

/// The key of an order item.
fn order_key(id: OrderId) -> Item {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(format!("ORDER#{id}"))),
        ("sk".to_owned(), AttributeValue::S(ORDER_SK.to_owned())),
    ])
}

/// An order as an item: its attributes plus the key.
fn order_item(order: &Order) -> Result<Item, AppError> {
    let mut item: Item = to_item(order)?;
    item.extend(order_key(order.order_id));
    Ok(item)
}

/// A new order's item: the order plus its sealed card.
fn new_order_item(order: &Order, card: &Envelope) -> Result<Item, AppError> {
    let mut item = order_item(order)?;
    let envelope = serde_dynamo::to_attribute_value(card)
        .map_err(|error| AppError::Internal(format!("cannot map an envelope: {error}")))?;
    item.insert(ENCRYPTED_PAYMENT.to_owned(), envelope);
    Ok(item)
}

fn to_item(value: &impl Serialize) -> Result<Item, AppError> {
    serde_dynamo::to_item(value)
        .map_err(|error| AppError::Internal(format!("cannot map to an item: {error}")))
}

fn from_item<T: serde::de::DeserializeOwned>(item: Item) -> Result<T, AppError> {
    serde_dynamo::from_item(item)
        .map_err(|error| AppError::Internal(format!("cannot read a stored item: {error}")))
}

/// DynamoDB's throttling errors. The SDK has already retried them (standard retry mode: up to
/// three attempts with exponential backoff and jitter) before we see one.
const THROTTLING_CODES: [&str; 3] = [
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
];

/// Maps a failed SDK call to the app's error: throttling becomes a 503 the client may retry,
/// anything else an internal error whose cause goes to the log, not to the client.
pub(crate) fn sdk_failure<E, R>(operation: &str, error: SdkError<E, R>) -> AppError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match error.code() {
        Some(code) if THROTTLING_CODES.contains(&code) => AppError::Throttled,
        // No answer within the operation timeout: DynamoDB is slow, not our request wrong.
        _ if matches!(error, SdkError::TimeoutError(_)) => AppError::Throttled,
        _ => AppError::Internal(format!(
            "DynamoDB {operation} failed: {}",
            DisplayErrorContext(&error)
        )),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::{CardBrand, CardSummary};
    use aws_sdk_dynamodb::operation::get_item::{GetItemError, GetItemOutput};
    use aws_sdk_dynamodb::types::error::InternalServerError;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_runtime_api::http::{Response as HttpResponse, StatusCode};
    use aws_smithy_types::body::SdkBody;

    pub(crate) fn sample_order() -> Order {
        Order {
            order_id: OrderId::parse("0194a3f2-7c1e-7b3a-9d2e-5f6a7b8c9d0e").unwrap(),
            customer_id: CustomerId::parse("c-1").unwrap(),
            items: vec![],
            total_cents: 0,
            status: OrderStatus::Placed,
            version: 3,
            created_at: "2026-11-23T00:00:00.000Z".into(),
            updated_at: "2026-11-23T00:00:00.000Z".into(),
            note: None,
            shipping_address: None,
            payment: CardSummary {
                card_last4: "1111".into(),
                brand: CardBrand::Visa,
            },
        }
    }

    pub(crate) fn store(client: Client) -> OrderStore {
        let config = Config {
            table_name: "orders".into(),
            idempotency_ttl: Duration::from_secs(60),
        };
        OrderStore::new(client, &config)
    }

    #[test]
    fn an_order_item_has_its_key_and_camel_case_attributes() {
        let item = order_item(&sample_order()).unwrap();
        assert_eq!(
            item["pk"],
            AttributeValue::S("ORDER#0194a3f2-7c1e-7b3a-9d2e-5f6a7b8c9d0e".into())
        );
        assert_eq!(item["sk"], AttributeValue::S("ORDER".into()));
        assert_eq!(item["customerId"], AttributeValue::S("c-1".into()));
        assert_eq!(item["version"], AttributeValue::N("3".into()));
        assert_eq!(item["status"], AttributeValue::S("PLACED".into()));
        assert!(!item.contains_key("note"), "absent options are not stored");
        let back: Order = from_item(item).unwrap();
        assert_eq!(back, sample_order());
    }

    #[test]
    fn the_customer_index_projects_every_attribute_of_an_order_but_no_envelope() {
        let mut order = sample_order();
        order.note = Some("n".into());
        order.shipping_address = Some(crate::domain::Address {
            name: "A".into(),
            line1: "1".into(),
            line2: Some("2".into()),
            city: "C".into(),
            postal_code: "P".into(),
            country: "GB".into(),
        });
        let item = order_item(&order).unwrap();
        let index_keys = ["pk", "sk", "customerId", "createdAt"];
        let mut attributes: Vec<&str> = item
            .keys()
            .map(String::as_str)
            .filter(|name| !index_keys.contains(name))
            .collect();
        attributes.sort_unstable();
        let mut projected = CUSTOMER_INDEX_ATTRIBUTES.to_vec();
        projected.sort_unstable();
        assert_eq!(
            attributes, projected,
            "a list page must show what a get shows"
        );
        assert!(!projected.contains(&ENCRYPTED_PAYMENT));
    }

    #[tokio::test]
    async fn a_read_finds_the_order_by_its_key() {
        let rule = mock!(Client::get_item)
            .match_requests(|req| {
                req.consistent_read() == Some(true)
                    && req.key().unwrap()["pk"]
                        == AttributeValue::S("ORDER#0194a3f2-7c1e-7b3a-9d2e-5f6a7b8c9d0e".into())
            })
            .then_output(|| {
                GetItemOutput::builder()
                    .set_item(Some(order_item(&sample_order()).unwrap()))
                    .build()
            });
        let store = store(mock_client!(aws_sdk_dynamodb, [&rule]));
        let order = store.get(sample_order().order_id, true).await.unwrap();
        assert_eq!(order, Some(sample_order()));
    }

    #[test]
    fn a_call_that_outlives_its_operation_timeout_is_a_503() {
        let timed_out: SdkError<GetItemError, HttpResponse> =
            SdkError::timeout_error("operation timeout (all attempts) exceeded 4s");
        assert!(matches!(
            sdk_failure("GetItem", timed_out),
            AppError::Throttled
        ));
    }

    #[tokio::test]
    async fn throttling_after_retries_is_a_503() {
        // The response DynamoDB sends when a partition is over its throughput, as it is on the
        // wire, so the SDK parses (and retries) it exactly as it would in AWS.
        let rule = mock!(Client::get_item).then_http_response(|| {
            HttpResponse::new(
                StatusCode::try_from(400).unwrap(),
                SdkBody::from(
                    r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"slow down"}"#,
                ),
            )
        });
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]);
        let error = store(client).get(OrderId::new(), false).await.unwrap_err();
        assert!(matches!(error, AppError::Throttled), "{error:?}");
        assert_eq!(
            rule.num_calls(),
            3,
            "the SDK's standard mode tries three times"
        );
    }

    #[tokio::test]
    async fn other_failures_are_internal_and_keep_their_cause_for_the_log() {
        let rule = mock!(Client::get_item).then_error(|| {
            GetItemError::InternalServerError(
                InternalServerError::builder()
                    .message("disk on fire")
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]);
        let error = store(client).get(OrderId::new(), false).await.unwrap_err();
        let AppError::Internal(cause) = &error else {
            panic!("expected an internal error, got {error:?}")
        };
        assert!(cause.contains("GetItem"), "{cause}");
        assert_eq!(error.public_message(), "an internal error occurred");
    }
}
