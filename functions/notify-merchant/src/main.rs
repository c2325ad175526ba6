//! The Lambda entry point of `notify-merchant` (SNS `OrderEvents`, invoked asynchronously). The
//! handler is in `lib.rs`; what `main` builds runs once per execution environment
//! (`orders_shared::runtime` says why).

use lambda_runtime::Error;
use orders_shared::runtime;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let (telemetry, aws) = runtime::init().await?;
    // Exam: the secret is read here, at init: one GetSecretValue per execution environment, not
    // one per notification.
    let webhook = runtime::merchant_webhook(&aws).await?;
    runtime::serve_events(&telemetry, |event| {
        notify_merchant::handler(&webhook, event)
    })
    .await
}
