//! SNS to Lambda, played by the local stack: a function's `SNS` event subscribes its delivery
//! queue to the topic (with the event's filter policy, SNS's envelope kept), and the stack's
//! poller hands each notification to the local Lambda service as an asynchronous invocation of
//! one SNS record. From there Lambda's own rules apply: the function's `EventInvokeConfig`
//! retries and its on-failure destination.
//!
//! The function is the bash runtime of `support::functions`, which writes each event it gets to a
//! file (`EVENTS_TO`) and fails an event containing `fail`. The poller's hand-off is called
//! directly (one round), as the stack's polling loop calls it.

use std::path::PathBuf;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_lambda_events::sns::SnsEvent;
use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use orders_local::cloudformation::{Deployed, Template, deploy};
use orders_local::event_source_mappings::SnsPoller;
use orders_local::lambda::{EventInvokeConfig, FailureQueue, LambdaService};
use serde_json::Value;

use crate::support::async_events::{messages, scratch, until_done};
use crate::support::functions::{bash_runtime, function, start_lambda_logging_to};
use crate::support::moto::{moto_aws, queue_attributes};

/// A topic, a function subscribed to it for two event types, and its on-failure queue: the shape
/// of notify-merchant in `template.yaml`.
const TEMPLATE: &str = r#"
Resources:
  Topic: {Type: AWS::SNS::Topic}
  Failures: {Type: AWS::SQS::Queue}
  Notify:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: notify}}
    Properties:
      Events:
        Outcomes:
          Type: SNS
          Properties:
            Topic: !Ref Topic
            FilterPolicyScope: MessageAttributes
            FilterPolicy: {eventType: [OrderConfirmed, OrderCancelled]}
      EventInvokeConfig:
        MaximumRetryAttempts: 2
        MaximumEventAgeInSeconds: 3600
        DestinationConfig: {OnFailure: {Type: SQS, Destination: !GetAtt Failures.Arn}}
"#;

/// The stack deployed, a Lambda service running `Notify` with its `EventInvokeConfig`, the poller
/// of its subscription, and the file its events are written to.
struct Notifier {
    deployed: Deployed,
    aws: SdkConfig,
    lambda: LambdaService,
    poller: SnsPoller,
    events: PathBuf,
}

async fn notifier(stack: &str) -> Notifier {
    let aws = moto_aws().await;
    let template = Template::parse(TEMPLATE).expect("the template parses");
    let stack = format!("{stack}-{}", std::process::id());
    let deployed = deploy(&template, &aws, &stack).await.expect("deploy");
    let sqs = aws_sdk_sqs::Client::new(&aws);

    let events = scratch("sns-events");
    let lambda = start_lambda_logging_to(scratch("sns-logs")).await;
    let events_to = events.display().to_string();
    let timeout = Duration::from_secs(30);
    lambda
        .add(function(
            "Notify",
            bash_runtime(),
            &[("EVENTS_TO", &events_to)],
            timeout,
        ))
        .await;
    let failures = deployed.queue_url("Failures").expect("the failure queue");
    let config = EventInvokeConfig {
        maximum_retry_attempts: 2,
        maximum_event_age: Duration::from_secs(3600),
        on_failure: Some(FailureQueue::new(sqs.clone(), failures)),
    };
    lambda.put_event_invoke_config("Notify", config).unwrap();
    // Lambda waits about 1 and 2 minutes; the test, not at all.
    lambda.set_async_retry_delays(Duration::ZERO, Duration::ZERO);

    // What the stack starts for the event (`stack::Stack::start_pollers`).
    let queue_url = deployed
        .queue_url("NotifyOutcomesQueue")
        .expect("the delivery queue");
    let subscription = deployed
        .subscription_arn("NotifyOutcomes")
        .expect("the subscription");
    let poller = SnsPoller::new(sqs, queue_url, subscription);
    Notifier {
        deployed,
        aws,
        lambda,
        poller,
        events,
    }
}

impl Notifier {
    async fn publish(&self, event_type: &str, message: &str) {
        let attribute = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(event_type)
            .build()
            .unwrap();
        aws_sdk_sns::Client::new(&self.aws)
            .publish()
            .topic_arn(self.deployed.topic_arn("Topic").unwrap())
            .subject(format!("{event_type} o-1"))
            .message(message)
            .message_attributes("eventType", attribute)
            .send()
            .await
            .expect("Publish");
    }

    /// The events the function got, one per line of its file.
    fn events(&self) -> Vec<String> {
        let written = std::fs::read_to_string(&self.events).unwrap_or_default();
        written.lines().map(str::to_owned).collect()
    }
}

#[tokio::test]
async fn an_order_confirmed_notification_reaches_the_function_as_an_sns_event() {
    let notifier = notifier("sns-confirmed").await;
    // Exam: the subscription's filter policy: OrderPlaced never reaches the function.
    notifier
        .publish("OrderPlaced", r#"{"orderId":"o-1"}"#)
        .await;
    let confirmed = r#"{"eventType":"OrderConfirmed","orderId":"o-1"}"#;
    notifier.publish("OrderConfirmed", confirmed).await;

    let hand_off = notifier
        .poller
        .hand_off(&notifier.lambda, "Notify")
        .await
        .unwrap();
    assert_eq!(hand_off.received.len(), 1, "{hand_off:?}");
    assert_eq!(hand_off.accepted.len(), 1, "{hand_off:?}");
    until_done(&notifier.lambda, "Notify").await;

    let events = notifier.events();
    let [event] = events.as_slice() else {
        panic!("one event expected, got {events:#?}");
    };
    // Lambda's spelling, not the envelope's (`SigningCertURL`).
    assert!(event.contains(r#""SigningCertUrl":"#), "{event}");
    assert!(event.contains(r#""UnsubscribeUrl":"#), "{event}");
    let event: SnsEvent = serde_json::from_str(event).expect("Lambda's SNS event");
    let [record] = event.records.as_slice() else {
        panic!("one record per event, as SNS sends");
    };
    assert_eq!(record.event_source, "aws:sns");
    assert_eq!(record.event_version, "1.0");
    assert_eq!(
        Some(record.event_subscription_arn.as_str()),
        notifier.deployed.subscription_arn("NotifyOutcomes")
    );
    let sns = &record.sns;
    assert_eq!(sns.sns_message_type, "Notification");
    assert_eq!(
        Some(sns.topic_arn.as_str()),
        notifier.deployed.topic_arn("Topic")
    );
    assert_eq!(sns.message, confirmed);
    assert_eq!(sns.subject.as_deref(), Some("OrderConfirmed o-1"));
    assert_eq!(sns.message_attributes["eventType"].value, "OrderConfirmed");
    assert_eq!(sns.message_attributes["eventType"].data_type, "String");
    assert!(!sns.signature.is_empty());

    // SNS's part ended with Lambda's 202: the notification is gone from the delivery queue.
    let again = notifier
        .poller
        .hand_off(&notifier.lambda, "Notify")
        .await
        .unwrap();
    assert!(again.received.is_empty(), "{again:?}");
    notifier.lambda.shutdown().await;
}

#[tokio::test]
async fn a_notification_the_function_keeps_failing_lands_in_the_on_failure_queue() {
    let notifier = notifier("sns-failing").await;
    let cancelled = r#"{"eventType":"OrderCancelled","orderId":"o-2","fail":true}"#;
    notifier.publish("OrderCancelled", cancelled).await;

    let hand_off = notifier
        .poller
        .hand_off(&notifier.lambda, "Notify")
        .await
        .unwrap();
    assert_eq!(hand_off.accepted.len(), 1, "{hand_off:?}");
    until_done(&notifier.lambda, "Notify").await;

    // Exam: 2 retries (3 attempts), then the invocation record to the on-failure destination.
    assert_eq!(notifier.events().len(), 3, "the attempt and its 2 retries");
    let sqs = aws_sdk_sqs::Client::new(&notifier.aws);
    let failures = notifier.deployed.queue_url("Failures").unwrap();
    let records = messages(&sqs, failures, 5).await;
    let [record] = records.as_slice() else {
        panic!("one invocation record expected, got {records:#?}");
    };
    assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(
        record["requestContext"]["requestId"],
        hand_off.accepted[0].as_str()
    );
    let sns = &record["requestPayload"]["Records"][0]["Sns"];
    assert_eq!(sns["Message"], cancelled);
    assert_eq!(
        sns["MessageAttributes"]["eventType"]["Value"],
        "OrderCancelled"
    );
    assert_eq!(record["responsePayload"]["errorType"], "Boom");
    notifier.lambda.shutdown().await;
}

#[tokio::test]
async fn a_notification_lambda_does_not_accept_stays_for_a_later_try() {
    let notifier = notifier("sns-refused").await;
    notifier
        .publish("OrderConfirmed", r#"{"orderId":"o-3"}"#)
        .await;

    // No such function: Lambda refuses the hand-off, as it would a throttled one.
    let hand_off = notifier
        .poller
        .hand_off(&notifier.lambda, "Nobody")
        .await
        .unwrap();
    assert!(hand_off.accepted.is_empty(), "{hand_off:?}");
    assert_eq!(hand_off.refused.len(), 1, "{hand_off:?}");
    let sqs = aws_sdk_sqs::Client::new(&notifier.aws);
    let attributes = queue_attributes(&sqs, &notifier.poller.queue_url).await;
    // Received and not deleted: back after the queue's visibility timeout.
    let in_flight = &attributes[&QueueAttributeName::ApproximateNumberOfMessagesNotVisible];
    assert_eq!(in_flight, "1");
    notifier.lambda.shutdown().await;
}

#[tokio::test]
async fn the_delivery_queue_keeps_the_sns_envelope_and_the_events_filter_policy() {
    let notifier = notifier("sns-subscription").await;
    let sns = aws_sdk_sns::Client::new(&notifier.aws);
    let subscription = notifier
        .deployed
        .subscription_arn("NotifyOutcomes")
        .unwrap();
    let attributes = sns
        .get_subscription_attributes()
        .subscription_arn(subscription)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    assert_eq!(attributes["Protocol"], "sqs");
    assert_eq!(
        Some(attributes["Endpoint"].as_str()),
        notifier.deployed.queue_arn("NotifyOutcomesQueue")
    );
    assert_eq!(attributes["RawMessageDelivery"], "false");
    let policy: Value = serde_json::from_str(&attributes["FilterPolicy"]).unwrap();
    assert_eq!(
        policy,
        serde_json::json!({"eventType": ["OrderConfirmed", "OrderCancelled"]})
    );
    assert_eq!(attributes["FilterPolicyScope"], "MessageAttributes");
    notifier.lambda.shutdown().await;
}
