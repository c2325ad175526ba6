//! The Lambda entry point of `pre-traffic-check` (the CodeDeploy `PreTraffic` hook). The handler
//! is in `hook.rs`.

use lambda_runtime::{Error, run, service_fn};
use orders_shared::config;
use orders_shared::telemetry;
use pre_traffic_check::clients;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let telemetry = telemetry::init();
    // Built once per execution environment, reused by every warm invocation. The hook reads no
    // configuration of its own: the deployment it checks names everything it needs.
    let aws = config::aws_sdk_config().await?;
    let deployments = clients::codedeploy_client(&aws);
    let functions = clients::lambda_client(&aws);
    run(service_fn(|event| {
        telemetry.traced_event(event, |event| {
            pre_traffic_check::handler(&deployments, &functions, event)
        })
    }))
    .await
}
