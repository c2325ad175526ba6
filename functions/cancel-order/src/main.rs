//! The Lambda entry point of `cancel-order` (POST /orders/{orderId}/cancel). The handler is in `lib.rs`.

use lambda_http::{Error, run, service_fn};
use orders_shared::telemetry::{self, aws_calls};
use orders_shared::{Config, CorsConfig, OrderStore, api, config};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let telemetry = telemetry::init();
    // The init phase runs once per execution environment: what is built here (configuration,
    // the SDK client and its connection pool) is reused by every warm invocation.
    let config = Config::from_env()?;
    let aws = config::aws_sdk_config().await?;
    let store = OrderStore::new(aws_calls::dynamodb_client(&aws), &config);
    let cors = api::Cors::new(&CorsConfig::from_env());
    run(service_fn(|request| {
        cors.around(
            telemetry.traced_request(request, |request| cancel_order::handler(&store, request)),
        )
    }))
    .await
}
