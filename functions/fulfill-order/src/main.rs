//! The Lambda entry point of `fulfill-order` (SQS `FulfillmentQueue`). The handler is in `lib.rs`;
//! what `main` builds runs once per execution environment (`orders_shared::runtime` says why).

use lambda_runtime::Error;
use orders_shared::crypto::EnvelopeCipher;
use orders_shared::telemetry::aws_calls;
use orders_shared::{Config, EnvelopeConfig, OrderStore, runtime};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (telemetry, aws) = runtime::init().await?;
    let store = OrderStore::new(aws_calls::dynamodb_client(&aws), &Config::from_env()?);
    // The cipher's cache of decrypted data keys outlives the invocation: one KMS Decrypt per
    // data key, not per order.
    let cipher =
        EnvelopeCipher::for_cards(aws_calls::kms_client(&aws), &EnvelopeConfig::from_env()?);
    runtime::serve_events(&telemetry, |event| {
        fulfill_order::handler(&store, &cipher, event)
    })
    .await
}
