//! # SNS to Lambda: the topic hands each notification to Lambda's asynchronous queue
//!
//! Exam: **SNS invokes a subscribed function asynchronously.** For each message that passes the
//! subscription's filter policy, SNS calls Lambda with `InvocationType: Event` and an SNS event
//! of *one* record (`{"Records": [{"EventSource": "aws:sns", "Sns": {...}}]}`); Lambda queues it
//! and answers 202, and SNS's part is over. What happens next is Lambda's asynchronous
//! invocation: the function's `EventInvokeConfig` (retries, maximum event age) and its on-failure
//! destination (`local/src/lambda/async_invocation.rs`). SNS retries only the hand-off itself, when
//! Lambda does not take the event (throttled, unavailable): its delivery policy for Lambda, which
//! cannot be changed, makes 100,015 attempts over 23 days (3 at once, then with growing waits,
//! then every 20 s), after which the message is discarded unless the subscription has a
//! dead-letter queue (`RedrivePolicy`, not played locally). There is no event source mapping:
//! nothing polls on AWS.
//!
//! **What is played locally, and how it differs.** moto's SNS would deliver a `lambda`
//! subscription to moto's own Lambda, which does not run the local stack's functions. So the
//! topic's subscription is played by a hidden *delivery queue*, `<stack>-<Function><Event>Queue`,
//! subscribed to the topic with protocol `sqs`, not raw, with the event's filter policy and
//! scope (moto applies them as SNS does). A [`SnsPoller`] reads that queue and, for each SNS
//! envelope it finds, builds the Lambda SNS event ([`lambda_sns_event`]), hands it to the local
//! Lambda service with [`LambdaService::invoke_async`] and deletes the message once Lambda has
//! accepted it (the 202). A refused hand-off leaves the message on the queue: it comes back after
//! the queue's visibility timeout, 20 s, SNS's wait between its later attempts (without the quick
//! first retries; and the tries end with the queue's retention period, 4 days, not after 23
//! days). The local Lambda service refuses a hand-off only for a function it does not run or
//! while it shuts down. The queue and the poll interval are the differences: on AWS SNS pushes at
//! once, and no queue exists.

use std::time::Duration;

use aws_lambda_events::sns::SnsEvent;
use aws_sdk_sqs::types::Message;
use serde_json::{Map, Value, json};
use tokio::sync::watch;

use super::{PollError, PollPace, failed};
use crate::lambda::LambdaService;

/// The notifications one subscription of a function holds: its delivery queue, read for Lambda.
pub struct SnsPoller {
    client: aws_sdk_sqs::Client,
    pub queue_url: String,
    /// The subscription's ARN: the records' `EventSubscriptionArn`.
    pub subscription_arn: String,
}

/// What one round of hand-offs did.
#[derive(Debug, Default)]
pub struct SnsHandOff {
    /// The SNS message ids received from the delivery queue.
    pub received: Vec<String>,
    /// The request ids Lambda gave the events it accepted (its 202s).
    pub accepted: Vec<String>,
    /// The message ids Lambda did not accept, with why: they stay on the queue for a later try.
    pub refused: Vec<(String, String)>,
}

impl SnsPoller {
    pub fn new(
        client: aws_sdk_sqs::Client,
        queue_url: impl Into<String>,
        subscription_arn: impl Into<String>,
    ) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
            subscription_arn: subscription_arn.into(),
        }
    }

    /// Receives what the topic delivered (up to 10 notifications, without waiting on the server)
    /// and hands each to `function` as an asynchronous invocation of its own; deletes those
    /// Lambda accepted.
    pub async fn hand_off(
        &self,
        lambda: &LambdaService,
        function: &str,
    ) -> Result<SnsHandOff, PollError> {
        let messages = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .send()
            .await
            .map_err(failed("ReceiveMessage"))?
            .messages
            .unwrap_or_default();
        let mut hand_off = SnsHandOff::default();
        for message in messages {
            let id = message.message_id().unwrap_or_default().to_owned();
            hand_off.received.push(id.clone());
            let body = message.body().unwrap_or_default();
            let event = match lambda_sns_event(body, &self.subscription_arn) {
                Ok(event) => event,
                Err(problem) => {
                    // Only SNS writes to this queue; anything else could never be delivered.
                    eprintln!(
                        "{function}: dropped a message that is no SNS notification: {problem}"
                    );
                    self.delete(&message).await?;
                    continue;
                }
            };
            let payload = event.to_string().into_bytes();
            // Exam: SNS -> Lambda is an asynchronous invocation (InvocationType Event).
            match lambda.invoke_async(function, payload, None).await {
                Ok(request_id) => {
                    hand_off.accepted.push(request_id);
                    self.delete(&message).await?;
                }
                Err(refused) => hand_off.refused.push((id, refused.to_string())),
            }
        }
        Ok(hand_off)
    }

    async fn delete(&self, message: &Message) -> Result<(), PollError> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(message.receipt_handle().unwrap_or_default())
            .send()
            .await
            .map_err(failed("DeleteMessage"))?;
        Ok(())
    }
}

/// Lambda's SNS event for one notification: `envelope` is SNS's JSON as a non-raw SQS
/// subscription receives it. The record carries the same fields, except that Lambda spells
/// `SigningCertUrl` and `UnsubscribeUrl` where the envelope has `...URL`, and a message without
/// a subject has `"Subject": null`.
pub fn lambda_sns_event(envelope: &str, subscription_arn: &str) -> Result<Value, String> {
    let envelope: Map<String, Value> =
        serde_json::from_str(envelope).map_err(|error| format!("not JSON: {error}"))?;
    let field = |name: &str| envelope.get(name).cloned().unwrap_or(Value::Null);
    let region = subscription_arn.split(':').nth(3).unwrap_or("us-east-1");
    let sns = json!({
        "Type": field("Type"),
        "MessageId": field("MessageId"),
        "TopicArn": field("TopicArn"),
        "Subject": field("Subject"),
        "Message": field("Message"),
        "Timestamp": field("Timestamp"),
        "SignatureVersion": field("SignatureVersion"),
        "Signature": field("Signature"),
        "SigningCertUrl": field("SigningCertURL"),
        "UnsubscribeUrl": format!(
            "https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={subscription_arn}"
        ),
        "MessageAttributes": envelope.get("MessageAttributes").cloned().unwrap_or(json!({})),
    });
    let event = json!({
        "Records": [{
            "EventSource": "aws:sns",
            "EventVersion": "1.0",
            "EventSubscriptionArn": subscription_arn,
            "Sns": sns,
        }]
    });
    // The shape Lambda's SNS event has (a function reads it as `SnsEvent`).
    serde_json::from_value::<SnsEvent>(event.clone())
        .map_err(|error| format!("not an SNS notification: {error}"))?;
    Ok(event)
}

/// The local stand-in for a topic's subscription of `function`, until told to stop.
pub(crate) async fn poll_subscription(
    poller: SnsPoller,
    function: String,
    lambda: LambdaService,
    stopped: watch::Receiver<bool>,
    interval: Duration,
) {
    let mut pace = PollPace::new(stopped, interval);
    while pace.running() {
        let round = poller.hand_off(&lambda, &function).await.map(|hand_off| {
            for (message_id, refused) in &hand_off.refused {
                println!(
                    "{function}: SNS message {message_id} not accepted by Lambda ({refused}); tried again later"
                );
            }
            hand_off.received.is_empty()
        });
        pace.after(&function, round).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What moto's SNS sends a non-raw SQS subscription (as SNS does).
    const ENVELOPE: &str = r#"{
      "Type": "Notification",
      "MessageId": "5f1c-1",
      "TopicArn": "arn:aws:sns:us-east-1:123456789012:orders-OrderEventsTopic",
      "Message": "{\"eventType\":\"OrderConfirmed\"}",
      "Timestamp": "2026-11-30T06:00:00.123Z",
      "SignatureVersion": "2",
      "Signature": "c2lnbmVk",
      "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",
      "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
      "MessageAttributes": {"eventType": {"Type": "String", "Value": "OrderConfirmed"}}
    }"#;

    const SUBSCRIPTION: &str = "arn:aws:sns:us-east-1:123456789012:orders-OrderEventsTopic:42";

    #[test]
    fn an_envelope_becomes_lambdas_sns_event_of_one_record() {
        let event = lambda_sns_event(ENVELOPE, SUBSCRIPTION).unwrap();
        let record = &event["Records"][0];
        assert_eq!(event["Records"].as_array().map(Vec::len), Some(1));
        assert_eq!(record["EventSource"], "aws:sns");
        assert_eq!(record["EventSubscriptionArn"], SUBSCRIPTION);
        let sns = &record["Sns"];
        assert_eq!(sns["Subject"], Value::Null);
        assert!(sns.get("SigningCertURL").is_none());
        assert_eq!(
            sns["SigningCertUrl"],
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem"
        );
        assert!(
            sns["UnsubscribeUrl"]
                .as_str()
                .unwrap()
                .ends_with(SUBSCRIPTION)
        );

        let typed: SnsEvent = serde_json::from_value(event).unwrap();
        let message = &typed.records[0].sns;
        assert_eq!(message.message, r#"{"eventType":"OrderConfirmed"}"#);
        assert_eq!(
            message.message_attributes["eventType"].value,
            "OrderConfirmed"
        );
        assert_eq!(message.message_attributes["eventType"].data_type, "String");
    }

    #[test]
    fn a_body_that_is_no_notification_is_refused() {
        assert!(lambda_sns_event("not json", SUBSCRIPTION).is_err());
        assert!(lambda_sns_event(r#"{"eventType":"OrderConfirmed"}"#, SUBSCRIPTION).is_err());
    }
}
