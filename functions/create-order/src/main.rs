//! The Lambda entry point of `create-order` (POST /orders). The handler is in `lib.rs`; what
//! `main` builds runs once per execution environment (`orders_shared::runtime` says why).

use lambda_http::Error;
use orders_shared::runtime;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let (telemetry, aws) = runtime::init().await?;
    let store = runtime::order_store(&aws)?;
    let cipher = runtime::card_cipher(&aws)?;
    runtime::serve_api(&telemetry, |request| {
        create_order::handler(&store, &cipher, request)
    })
    .await
}
