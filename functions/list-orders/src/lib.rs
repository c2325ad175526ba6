//! `GET /orders?customerId=C&limit=N&nextToken=T`: a customer's orders, newest first.
//!
//! A query on the `byCustomer` global secondary index, `ScanIndexForward=false`, one page of
//! `limit` (1 to 100, default 20) at a time; `nextToken` continues where the last page stopped.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};
use orders_shared::domain::{CustomerId, FieldError};
use orders_shared::store::pagination::PageToken;
use orders_shared::{AppError, OrderStore, api};

const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 100;

pub async fn handler(store: &OrderStore, request: Request) -> Result<Response<Body>, Error> {
    Ok(api::respond(list_orders(store, &request).await))
}

async fn list_orders(store: &OrderStore, request: &Request) -> Result<Response<Body>, AppError> {
    let mut problems = Vec::new();
    let mut problem = |field: &str, message: String| {
        problems.push(FieldError {
            field: field.into(),
            message,
        })
    };
    let customer = match api::query_param(request, "customerId") {
        None => Err("is required".to_owned()),
        Some(id) => CustomerId::parse(&id),
    }
    .map_err(|message| problem("customerId", message))
    .ok();
    let limit = match api::query_param(request, "limit") {
        None => Some(DEFAULT_LIMIT),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .or_else(|| {
                problem("limit", format!("must be 1 to {MAX_LIMIT}"));
                None
            }),
    };
    let (Some(customer), Some(limit)) = (customer, limit) else {
        return Err(AppError::Validation(problems));
    };
    let after = api::query_param(request, "nextToken")
        .map(|token| PageToken::decode(&token, &customer))
        .transpose()?;
    let page = store.list_by_customer(&customer, limit, after).await?;
    Ok(api::json_response(StatusCode::OK, &page))
}
