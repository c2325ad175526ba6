//! `POST /orders`: place an order.
//!
//! The order belongs to the caller: its customer is the signed-in customer (the ID token's `sub`),
//! and a body that names one is refused. Validates the body (every bad field reported at once),
//! computes the total, seals the card with
//! KMS envelope encryption (bound to the new order's id), and writes the order with a conditional
//! put: `attribute_not_exists(pk)` makes it a create that can never overwrite. The response shows
//! the card only as `{cardLast4, brand}`.
//!
//! With an `Idempotency-Key` header the order and an idempotency record are written in one
//! transaction, and a retry returns the first response (`Idempotent-Replayed: true`) without
//! sealing anything again. Keys are the caller's own: another customer's key is another record.

use lambda_http::http::HeaderValue;
use lambda_http::{Body, Error, Request, Response};
use orders_shared::api;
use orders_shared::crypto::{Envelope, EnvelopeCipher};
use orders_shared::domain::order::now_timestamp;
use orders_shared::domain::{NewOrder, Order};
use orders_shared::store::idempotency::{self, IdempotencyKey};
use orders_shared::telemetry::metrics::{self, Metric};
use orders_shared::{AppError, Caller, OrderStore};

pub async fn handler(
    store: &OrderStore,
    cipher: &EnvelopeCipher,
    request: Request,
) -> Result<Response<Body>, Error> {
    Ok(api::respond(create_order(store, cipher, &request).await))
}

async fn create_order(
    store: &OrderStore,
    cipher: &EnvelopeCipher,
    request: &Request,
) -> Result<Response<Body>, AppError> {
    let caller = Caller::of(request)?;
    let body = api::json_body(request)?;
    let key = api::header_text(request, "idempotency-key")?
        .map(|key| IdempotencyKey::parse(caller.customer_id(), key))
        .transpose()?;
    let today = chrono::Utc::now().date_naive();
    let new_order = NewOrder::parse(&body, caller.customer_id().clone(), today)?;
    let Some(key) = key else {
        let (order, sealed) = place(new_order, cipher).await?;
        store.create(&order, &sealed).await?;
        return Ok(placed(&order));
    };

    let fingerprint = idempotency::fingerprint(&body);
    if let Some(earlier) = store.find_idempotency_record(&key).await? {
        return Ok(replayed(earlier.replay(&fingerprint)?));
    }
    let (order, sealed) = place(new_order, cipher).await?;
    match store
        .create_with_idempotency_key(&order, &sealed, &key, &fingerprint)
        .await?
    {
        None => Ok(placed(&order)),
        // A concurrent request with the same key won the race: answer as it did.
        Some(winner) => Ok(replayed(winner.replay(&fingerprint)?)),
    }
}

/// A new order, and its card sealed for it: the card leaves here only encrypted.
async fn place(
    new_order: NewOrder,
    cipher: &EnvelopeCipher,
) -> Result<(Order, Envelope), AppError> {
    let (order, card) = Order::place(new_order, &now_timestamp());
    let sealed = cipher.seal_card(&card, order.order_id).await?;
    Ok((order, sealed))
}

/// The response to a stored new order (and the `OrdersPlaced` metric).
fn placed(order: &Order) -> Response<Body> {
    metrics::count(Metric::OrdersPlaced, 1);
    api::created_response(order)
}

/// The first response again, marked as a replay.
fn replayed(order: Order) -> Response<Body> {
    let mut response = api::created_response(&order);
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
