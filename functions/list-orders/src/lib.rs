//! `GET /orders?customerId=C&limit=N&nextToken=T`: a customer's orders, newest first.
//!
//! A query on the `byCustomer` global secondary index, `ScanIndexForward=false`, one page of
//! `limit` (1 to 100, default 20) at a time; `nextToken` continues where the last page stopped.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};
use orders_shared::domain::ListQuery;
use orders_shared::store::pagination::PageToken;
use orders_shared::{AppError, OrderStore, api};

pub async fn handler(store: &OrderStore, request: Request) -> Result<Response<Body>, Error> {
    Ok(api::respond(list_orders(store, &request).await))
}

async fn list_orders(store: &OrderStore, request: &Request) -> Result<Response<Body>, AppError> {
    let query = ListQuery::parse(
        api::query_param(request, "customerId").as_deref(),
        api::query_param(request, "limit").as_deref(),
    )?;
    let after = api::query_param(request, "nextToken")
        .map(|token| PageToken::decode(&token, &query.customer_id))
        .transpose()?;
    let page = store
        .list_by_customer(&query.customer_id, query.limit, after)
        .await?;
    Ok(api::json_response(StatusCode::OK, &page))
}
