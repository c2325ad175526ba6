//! The Lambda entry point of `get-order` (GET /orders/{orderId}). The handler is in `lib.rs`;
//! what `main` builds runs once per execution environment (`orders_shared::runtime` says why).

use lambda_http::Error;
use orders_shared::telemetry::aws_calls;
use orders_shared::{Config, OrderStore, runtime};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (telemetry, aws) = runtime::init().await?;
    let store = OrderStore::new(aws_calls::dynamodb_client(&aws), &Config::from_env()?);
    runtime::serve_api(&telemetry, |request| get_order::handler(&store, request)).await
}
