//! `POST /orders/{orderId}/cancel`: cancel an order that is `PLACED` or `CONFIRMED`.
//!
//! A status transition under optimistic locking: the write's condition checks both the client's
//! `If-Match` version and the status machine (`status IN (PLACED, CONFIRMED)`), atomically. Cancel
//! twice and the second gets 409: a cancelled order cannot be cancelled. Only the order's customer
//! may cancel it (`customerId = :caller` in the same condition).

use lambda_http::{Body, Error, Request, Response};
use orders_shared::domain::OrderStatus;
use orders_shared::store::locking::ConditionalUpdate;
use orders_shared::{OrderStore, api};

pub async fn handler(store: &OrderStore, request: Request) -> Result<Response<Body>, Error> {
    let cancel = ConditionalUpdate::transition(OrderStatus::Cancelled, "cancel");
    let result = api::change_order_if_match(store, &request, || Ok(cancel)).await;
    Ok(api::respond(result))
}
