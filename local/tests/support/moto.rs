//! One moto server for the whole test process, and the template deployed on it as a stack of a
//! test's own: the same deploy step `make dev` runs, so tests that need only resources (no
//! functions, no API) get them as the template declares them.

use std::collections::HashMap;
use std::sync::OnceLock;

use aws_config::SdkConfig;
use aws_sdk_sqs::types::QueueAttributeName;
use orders_local::cloudformation::{Deployed, Template, deploy};
use orders_local::moto::Moto;
use orders_local::stack::sdk_config;

use super::stack::workspace_root;

/// moto, started on first use on a free port by the local stack's own launcher; it stops when the
/// process exits. If it cannot start, the test fails with the command that installs it.
pub fn moto_endpoint() -> &'static str {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        let log =
            std::env::temp_dir().join(format!("orders-local-moto-{}.log", std::process::id()));
        Moto::start(workspace_root(), 0, &log).unwrap_or_else(|error| panic!("{error}"))
    })
    .endpoint()
}

/// SDK configuration for the process's moto, with its test credentials.
pub async fn moto_aws() -> SdkConfig {
    sdk_config(moto_endpoint(), "us-east-1").await
}

pub fn template() -> Template {
    Template::load(&workspace_root().join("template.yaml")).expect("template.yaml parses")
}

/// The real template, deployed on the process's moto as stack `stack_name`: a name of the
/// test's own keeps its resources apart from every other test's.
pub async fn deploy_stack(stack_name: &str) -> (Deployed, SdkConfig) {
    let aws = moto_aws().await;
    let deployed = deploy(&template(), &aws, stack_name)
        .await
        .unwrap_or_else(|e| panic!("deploy {stack_name}: {e}"));
    (deployed, aws)
}

/// The template's orders table in `deployed`: its name and its stream's ARN.
pub fn orders_table_and_stream(deployed: &Deployed) -> (&str, &str) {
    let table = deployed
        .table_name("OrdersTable")
        .expect("the template's orders table");
    let stream_arn = deployed
        .stream_arn("OrdersTable")
        .expect("the orders table's stream");
    (table, stream_arn)
}

/// Every attribute of the queue at `queue_url` (GetQueueAttributes with `All`).
pub async fn queue_attributes(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
) -> HashMap<QueueAttributeName, String> {
    sqs.get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetQueueAttributes {queue_url}: {e}"))
        .attributes
        .unwrap_or_default()
}
