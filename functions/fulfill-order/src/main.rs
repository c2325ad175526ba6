//! The Lambda entry point of `fulfill-order` (SQS `FulfillmentQueue`). The handler is in `lib.rs`.

use lambda_runtime::{Error, run, service_fn};
use orders_shared::crypto::EnvelopeCipher;
use orders_shared::telemetry::{self, aws_calls};
use orders_shared::{Config, EnvelopeConfig, OrderStore, config};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let telemetry = telemetry::init();
    // Built once per execution environment, reused by every warm invocation: the clients, and
    // the cipher's cache of decrypted data keys (one KMS Decrypt per data key, not per order).
    let config = Config::from_env()?;
    let envelope_config = EnvelopeConfig::from_env()?;
    let aws = config::aws_sdk_config().await?;
    let store = OrderStore::new(aws_calls::dynamodb_client(&aws), &config);
    let cipher = EnvelopeCipher::for_cards(aws_calls::kms_client(&aws), &envelope_config);
    run(service_fn(|event| {
        telemetry.traced_event(event, |event| {
            fulfill_order::handler(&store, &cipher, event)
        })
    }))
    .await
}
