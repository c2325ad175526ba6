//! `publish-events`: every change of an order, as a domain event on the `OrderEvents` topic.
//!
//! Lambda polls the table's stream and calls this function with up to `BatchSize` records, in
//! the order they were written. The loop is `messaging::stream_batch`: each order change becomes
//! an event, the events go out with `PublishBatch`, and the answer names the first record that
//! failed (it cannot be read, SNS refused its event, or the deadline came first). Lambda retries
//! the batch from there, at most `MaximumRetryAttempts` times, then sends the record's description
//! to the on-failure destination and moves on.

use aws_lambda_events::dynamodb::Event;
use aws_lambda_events::streams::DynamoDbEventResponse;
use lambda_runtime::{Error, LambdaEvent};
use orders_shared::messaging::{Deadline, EventPublisher, publish_changes};

pub async fn handler(
    publisher: &EventPublisher,
    event: LambdaEvent<Event>,
) -> Result<DynamoDbEventResponse, Error> {
    let deadline = Deadline::of(&event.context);
    Ok(publish_changes(publisher, &event.payload.records, deadline)
        .await
        .into_stream_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_mocks::mock_client;
    use orders_shared::messaging::deadline::context_expiring_in;
    use std::time::Duration;

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:orders-events";

    /// The sample stream batch (`events/publish-events.json`): two order changes, then an audit
    /// entry.
    fn sample_batch() -> Event {
        serde_json::from_str(include_str!("../../../events/publish-events.json")).unwrap()
    }

    #[tokio::test]
    async fn near_the_deadline_nothing_is_published_and_the_stream_retries_from_the_first_record() {
        // A client without rules fails the test on any call.
        let publisher = EventPublisher::new(mock_client!(aws_sdk_sns, []), TOPIC);
        let event = LambdaEvent::new(sample_batch(), context_expiring_in(Duration::from_secs(1)));
        let response = handler(&publisher, event).await.unwrap();
        let failures: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_deref())
            .collect();
        assert_eq!(failures, [Some("100000000000000000001")]);
    }
}
