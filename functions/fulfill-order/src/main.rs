//! The Lambda entry point of `fulfill-order` (SQS `FulfillmentQueue`). The handler is in `lib.rs`;
//! what `main` builds runs once per execution environment (`orders_shared::runtime` says why).

use lambda_runtime::Error;
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
    // The cipher's cache of decrypted data keys outlives the invocation: one KMS Decrypt per
    // data key, not per order.
    let cipher = EnvelopeCipher::for_cards(aws_calls::kms_client(&aws), &envelope_config);
    runtime::serve_events(&telemetry, |event| {
        fulfill_order::handler(&store, &cipher, event)
    })
    .await
}
