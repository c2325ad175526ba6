//! The Lambda entry point of `pre-traffic-check` (the CodeDeploy `PreTraffic` hook). The handler
//! is in `hook.rs`; what `main` builds runs once per execution environment
//! (`orders_shared::runtime` says why).

use lambda_runtime::Error;
use orders_shared::runtime;
use pre_traffic_check::clients;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // The hook reads no configuration of its own: the deployment it checks names everything it
    // needs.
    let (telemetry, aws) = runtime::init().await?;
    let deployments = clients::codedeploy_client(&aws);
    let functions = clients::lambda_client(&aws);
    runtime::serve_events(&telemetry, |event| {
        pre_traffic_check::handler(&deployments, &functions, event)
    })
    .await
}
