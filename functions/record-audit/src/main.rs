//! The Lambda entry point of `record-audit` (SQS `AuditQueue`). The handler is in `lib.rs`; what
//! `main` builds runs once per execution environment (`orders_shared::runtime` says why).

use lambda_runtime::Error;
use orders_shared::runtime;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let (telemetry, aws) = runtime::init().await?;
    let store = runtime::order_store(&aws)?;
    runtime::serve_events(&telemetry, |event| record_audit::handler(&store, event)).await
}
