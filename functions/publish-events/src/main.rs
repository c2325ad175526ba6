//! The Lambda entry point of `publish-events` (the table's DynamoDB stream). The handler is in
//! `lib.rs`; what `main` builds runs once per execution environment (`orders_shared::runtime`
//! says why).

use lambda_runtime::Error;
use orders_shared::messaging::EventPublisher;
use orders_shared::telemetry::aws_calls;
use orders_shared::{TopicConfig, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let (telemetry, aws) = runtime::init().await?;
    let topic_arn = TopicConfig::from_env()?.topic_arn;
    let publisher = EventPublisher::new(aws_calls::sns_client(&aws), topic_arn);
    runtime::serve_events(&telemetry, |event| {
        publish_events::handler(&publisher, event)
    })
    .await
}
