//! The Lambda entry point of `create-order` (POST /orders). The handler is in `lib.rs`.

use lambda_http::{Error, run, service_fn};
use orders_shared::{Config, OrderStore, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    // The init phase runs once per execution environment: what is built here (configuration,
    // the SDK client and its connection pool) is reused by every warm invocation.
    let config = Config::from_env()?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = OrderStore::new(aws_sdk_dynamodb::Client::new(&aws), &config);
    run(service_fn(|request| create_order::handler(&store, request))).await
}
