//! The Lambda entry point of `create-order` (POST /orders). The handler is in `lib.rs`.

use lambda_http::{Error, run, service_fn};
use orders_shared::crypto::EnvelopeCipher;
use orders_shared::telemetry::{self, aws_calls};
use orders_shared::{Config, CorsConfig, EnvelopeConfig, OrderStore, api, config};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let telemetry = telemetry::init();
    // The init phase runs once per execution environment: what is built here (configuration,
    // the SDK clients and their connection pools, the data-key cache) is reused by every warm
    // invocation.
    let config = Config::from_env()?;
    let envelope_config = EnvelopeConfig::from_env()?;
    let aws = config::aws_sdk_config().await?;
    let store = OrderStore::new(aws_calls::dynamodb_client(&aws), &config);
    let cipher = EnvelopeCipher::for_cards(aws_calls::kms_client(&aws), &envelope_config);
    let cors = api::Cors::new(&CorsConfig::from_env());
    run(service_fn(|request| {
        cors.around(telemetry.traced_request(request, |request| {
            create_order::handler(&store, &cipher, request)
        }))
    }))
    .await
}
