//! `GET /orders?limit=N&nextToken=T`: the caller's orders, newest first.
//!
//! A query on the `byCustomer` global secondary index, `ScanIndexForward=false`, one page of
//! `limit` (1 to 100, default 20) at a time; `nextToken` continues where the last page stopped.
//! The support group may add `customerId=C` to list customer C's orders; a customer may not (403).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};
use orders_shared::domain::ListQuery;
use orders_shared::store::pagination::PageToken;
use orders_shared::{AppError, Caller, OrderStore, api};

pub async fn handler(store: &OrderStore, request: Request) -> Result<Response<Body>, Error> {
    Ok(api::respond(list_orders(store, &request).await))
}

async fn list_orders(store: &OrderStore, request: &Request) -> Result<Response<Body>, AppError> {
    let caller = Caller::of(request)?;
    let query = ListQuery::parse(
        api::query_param(request, "customerId").as_deref(),
        api::query_param(request, "limit").as_deref(),
    )?;
    let customer = caller.orders_to_list(query.customer_id)?;
    let after = api::query_param(request, "nextToken")
        .map(|token| PageToken::decode(&token, &customer))
        .transpose()?;
    let page = store
        .list_by_customer(&customer, query.limit, after)
        .await?;
    Ok(api::json_response(StatusCode::OK, &page))
}
