//! The Lambda entry point of `create-order` (POST /orders). The handler is in `lib.rs`; what
//! `main` builds runs once per execution environment (`orders_shared::runtime` says why).

use lambda_http::Error;
use orders_shared::crypto::EnvelopeCipher;
use orders_shared::telemetry::aws_calls;
use orders_shared::{Config, EnvelopeConfig, OrderStore, runtime};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (telemetry, aws) = runtime::init().await?;
    let store = OrderStore::new(aws_calls::dynamodb_client(&aws), &Config::from_env()?);
    let cipher =
        EnvelopeCipher::for_cards(aws_calls::kms_client(&aws), &EnvelopeConfig::from_env()?);
    runtime::serve_api(&telemetry, |request| {
        create_order::handler(&store, &cipher, request)
    })
    .await
}
