//! The Lambda entry point of `publish-events` (the table's DynamoDB stream). The handler is in
//! `lib.rs`; what `main` builds runs once per execution environment (`orders_shared::runtime`
//! says why).

use lambda_runtime::Error;
use orders_shared::messaging::EventPublisher;
use orders_shared::telemetry::{self, aws_calls};
use orders_shared::{TopicConfig, config, runtime};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let telemetry = telemetry::init();
    let config = TopicConfig::from_env()?;
    let aws = config::aws_sdk_config().await?;
    let publisher = EventPublisher::new(aws_calls::sns_client(&aws), config.topic_arn);
    runtime::serve_events(&telemetry, |event| {
        publish_events::handler(&publisher, event)
    })
    .await
}
