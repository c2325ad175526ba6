//! `POST /orders/{orderId}/cancel`: cancel an order that is `PLACED` or `CONFIRMED`.
//!
//! A status transition under optimistic locking: the write's condition checks both the client's
//! `If-Match` version and the status machine (`status IN (PLACED, CONFIRMED)`), atomically. Cancel
//! twice and the second gets 409: a cancelled order cannot be cancelled. Only the order's customer
//! may cancel it (`customerId = :caller` in the same condition).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};
use orders_shared::domain::OrderStatus;
use orders_shared::store::locking::ConditionalUpdate;
use orders_shared::{AppError, Caller, OrderStore, api};

pub async fn handler(store: &OrderStore, request: Request) -> Result<Response<Body>, Error> {
    Ok(api::respond(cancel_order(store, &request).await))
}

async fn cancel_order(store: &OrderStore, request: &Request) -> Result<Response<Body>, AppError> {
    let caller = Caller::of(request)?;
    let id = api::order_id(request)?;
    let expected = api::if_match(request)?;
    let update = ConditionalUpdate::transition(OrderStatus::Cancelled, "cancel").by(&caller);
    let order = store.update_if_version(id, &expected, update).await?;
    Ok(api::order_response(StatusCode::OK, &order))
}
