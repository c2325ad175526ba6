//! `PATCH /orders/{orderId}`: change an order's items, note or shipping address.
//!
//! Optimistic locking in one request: the client's `If-Match` version becomes the condition of the
//! write (`version = :expected`). A stale version gets 412 with the current order; a change the
//! order's status forbids (items once it is no longer `PLACED`) gets 409; no `If-Match` gets 428.
//! The same condition requires the order to be the caller's: another customer's is a 404.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};
use orders_shared::domain::OrderPatch;
use orders_shared::store::locking::ConditionalUpdate;
use orders_shared::{AppError, Caller, OrderStore, api};

pub async fn handler(store: &OrderStore, request: Request) -> Result<Response<Body>, Error> {
    Ok(api::respond(update_order(store, &request).await))
}

async fn update_order(store: &OrderStore, request: &Request) -> Result<Response<Body>, AppError> {
    let caller = Caller::of(request)?;
    let id = api::order_id(request)?;
    let expected = api::if_match(request)?;
    let patch = OrderPatch::parse(&api::json_body(request)?)?;
    let update = ConditionalUpdate::patch(&patch)?.by(&caller);
    let order = store.update_if_version(id, &expected, update).await?;
    Ok(api::order_response(StatusCode::OK, &order))
}
