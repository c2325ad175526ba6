//! The Lambda entry point of `publish-events` (the table's DynamoDB stream). The handler is in
//! `lib.rs`.

use lambda_runtime::{Error, run, service_fn};
use orders_shared::TopicConfig;
use orders_shared::config;
use orders_shared::messaging::EventPublisher;
use orders_shared::telemetry::{self, aws_calls};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let telemetry = telemetry::init();
    // Built once per execution environment, reused by every warm invocation.
    let config = TopicConfig::from_env()?;
    let aws = config::aws_sdk_config().await?;
    let publisher = EventPublisher::new(aws_calls::sns_client(&aws), config.topic_arn);
    run(service_fn(|event| {
        telemetry.traced_event(event, |event| publish_events::handler(&publisher, event))
    }))
    .await
}
