//! `GET /orders/{orderId}`: read one order, with its version as the `ETag`.
//!
//! Reads are eventually consistent by default; `?consistent=true` asks DynamoDB for a strongly
//! consistent read (sees every acknowledged write, costs twice the read capacity).
//!
//! Only the order's customer and the support group see it; to anyone else it is unknown (404,
//! the same answer as an id that names no order).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};
use orders_shared::{AppError, Caller, OrderStore, api};

pub async fn handler(store: &OrderStore, request: Request) -> Result<Response<Body>, Error> {
    Ok(api::respond(get_order(store, &request).await))
}

async fn get_order(store: &OrderStore, request: &Request) -> Result<Response<Body>, AppError> {
    let caller = Caller::of(request)?;
    let id = api::order_id(request)?;
    let consistent = match api::query_param(request, "consistent").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(AppError::BadRequest(
                "consistent must be true or false".into(),
            ));
        }
    };
    let order = store
        .get(id, consistent)
        .await?
        .filter(|order| caller.may_read(order))
        .ok_or(AppError::NotFound)?;
    Ok(api::order_response(StatusCode::OK, &order))
}
