//! The Lambda entry point of `update-order` (PATCH /orders/{orderId}). The handler is in `lib.rs`; what `main`
//! builds runs once per execution environment (`orders_shared::runtime` says why).

use lambda_http::Error;
use orders_shared::telemetry::{self, aws_calls};
use orders_shared::{Config, OrderStore, config, runtime};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let telemetry = telemetry::init();
    let config = Config::from_env()?;
    let aws = config::aws_sdk_config().await?;
    let store = OrderStore::new(aws_calls::dynamodb_client(&aws), &config);
    runtime::serve_api(&telemetry, |request| update_order::handler(&store, request)).await
}
