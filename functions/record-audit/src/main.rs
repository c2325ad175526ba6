//! The Lambda entry point of `record-audit` (SQS `AuditQueue`). The handler is in `lib.rs`.

use lambda_runtime::{Error, run, service_fn};
use orders_shared::telemetry::{self, aws_calls};
use orders_shared::{Config, OrderStore, config};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let telemetry = telemetry::init();
    // Built once per execution environment, reused by every warm invocation.
    let config = Config::from_env()?;
    let aws = config::aws_sdk_config().await?;
    let store = OrderStore::new(aws_calls::dynamodb_client(&aws), &config);
    run(service_fn(|event| {
        telemetry.traced_event(event, |event| record_audit::handler(&store, event))
    }))
    .await
}
