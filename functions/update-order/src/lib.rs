//! `PATCH /orders/{orderId}`: change an order's items, note or shipping address.
//!
//! Optimistic locking in one request: the client's `If-Match` version becomes the condition of the
//! write (`version = :expected`). A stale version gets 412 with the current order; a change the
//! order's status forbids (items once it is no longer `PLACED`) gets 409; no `If-Match` gets 428.
//! The same condition requires the order to be the caller's: another customer's is a 404.

use lambda_http::{Body, Error, Request, Response};
use orders_shared::domain::OrderPatch;
use orders_shared::store::locking::ConditionalUpdate;
use orders_shared::{OrderStore, api};

pub async fn handler(store: &OrderStore, request: Request) -> Result<Response<Body>, Error> {
    // The body is read only after `If-Match`: a change without one is a 428, whatever its body.
    let patch = || ConditionalUpdate::patch(&OrderPatch::parse(&api::json_body(&request)?)?);
    let result = api::change_order_if_match(store, &request, patch).await;
    Ok(api::respond(result))
}
