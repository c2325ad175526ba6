//! The Lambda entry point of `list-orders` (GET /orders). The handler is in `lib.rs`; what `main`
//! builds runs once per execution environment (`orders_shared::runtime` says why).

use lambda_http::Error;
use orders_shared::runtime;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let (telemetry, aws) = runtime::init().await?;
    let store = runtime::order_store(&aws)?;
    runtime::serve_api(&telemetry, |request| list_orders::handler(&store, request)).await
}
