//! The Lambda entry point of `create-order` (POST /orders). The handler is in `lib.rs`; what
//! `main` builds runs once per execution environment (`orders_shared::runtime` says why).

use lambda_http::Error;
use orders_shared::crypto::EnvelopeCipher;
use orders_shared::telemetry::{self, aws_calls};
use orders_shared::{Config, EnvelopeConfig, OrderStore, config, runtime};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let telemetry = telemetry::init();
    let config = Config::from_env()?;
    let envelope_config = EnvelopeConfig::from_env()?;
    let aws = config::aws_sdk_config().await?;
    let store = OrderStore::new(aws_calls::dynamodb_client(&aws), &config);
    let cipher = EnvelopeCipher::for_cards(aws_calls::kms_client(&aws), &envelope_config);
    runtime::serve_api(&telemetry, |request| {
        create_order::handler(&store, &cipher, request)
    })
    .await
}
