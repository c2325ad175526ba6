//! The order the sample events in `events/` name, stored as create-order would have stored it.
//!
//! `events/get-order.json`, `update-order.json`, `cancel-order.json` and the pipeline's events
//! are about one order of one customer (the `sub` in the API events' claims). For them to find it,
//! a stack needs that order in its table: `PLACED`, with its card sealed by the stack's key
//! (envelope encryption, as create-order seals one). `orders-local resources --sample-order`
//! (`make invoke`, `make watch`, `make sam-check`) and the tests store it through here.

use orders_shared::crypto::{CryptoError, EnvelopeCipher};
use orders_shared::domain::order::now_timestamp;
use orders_shared::domain::{CustomerId, Order, OrderId, OrderStatus, PaymentCard};
use orders_shared::{AppError, OrderStore};

/// The order the sample events name.
pub const SAMPLE_ORDER_ID: &str = "0194a3f2-7c1e-7b3a-9d2e-5f6a7b8c9d0e";
/// Its customer: the `sub` of the caller in the API sample events' claims.
pub const SAMPLE_CUSTOMER: &str = "7d3a6f0e-1c2b-4e5f-8a9b-0c1d2e3f4a5b";
/// The test card it was paid with (a Visa test number, never a real card).
const SAMPLE_CARD: (&str, &str) = ("4111 1111 1111 1111", "12/35");

/// Why the sample order could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum SampleOrderError {
    #[error("reading or writing the table: {0}")]
    Store(#[from] AppError),
    #[error("sealing the card: {0}")]
    Seal(#[from] CryptoError),
}

/// Stores the sample events' order, if it is not there yet. Returns whether it was stored.
pub async fn store_sample_order(
    store: &OrderStore,
    cipher: &EnvelopeCipher,
) -> Result<bool, SampleOrderError> {
    let id = OrderId::parse(SAMPLE_ORDER_ID).expect("SAMPLE_ORDER_ID is a UUID");
    if store.get(id, true).await?.is_some() {
        return Ok(false);
    }
    let today = chrono::Utc::now().date_naive();
    let card = PaymentCard::parse(SAMPLE_CARD.0, SAMPLE_CARD.1, today)
        .expect("the sample card is valid until 2035");
    store_placed_order(store, cipher, id, SAMPLE_CUSTOMER, &card).await?;
    Ok(true)
}

/// Stores a `PLACED` order of `customer` paid with `card`, sealed, as create-order stores one
/// (no items: what reads it cares about the card and the status).
pub async fn store_placed_order(
    store: &OrderStore,
    cipher: &EnvelopeCipher,
    id: OrderId,
    customer: &str,
    card: &PaymentCard,
) -> Result<(), SampleOrderError> {
    let now = now_timestamp();
    let order = Order {
        order_id: id,
        customer_id: CustomerId::parse(customer).expect("a customer id"),
        items: vec![],
        total_cents: 0,
        status: OrderStatus::Placed,
        version: 1,
        created_at: now.clone(),
        updated_at: now,
        note: None,
        shipping_address: None,
        payment: card.summary(),
    };
    let sealed = cipher.seal_card(card, id).await?;
    store.create(&order, &sealed).await?;
    Ok(())
}
