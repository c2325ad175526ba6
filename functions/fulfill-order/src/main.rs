//! The Lambda entry point of `fulfill-order` (SQS `FulfillmentQueue`). The handler is in `lib.rs`;
//! what `main` builds runs once per execution environment (`orders_shared::runtime` says why).

use lambda_runtime::Error;
use orders_shared::runtime;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let (telemetry, aws) = runtime::init().await?;
    let store = runtime::order_store(&aws)?;
    // The cipher's cache of decrypted data keys outlives the invocation: one KMS Decrypt per
    // data key, not per order.
    let cipher = runtime::card_cipher(&aws)?;
    runtime::serve_events(&telemetry, |event| {
        fulfill_order::handler(&store, &cipher, event)
    })
    .await
}
