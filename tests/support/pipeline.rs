//! The event pipeline of `template.yaml` on moto, around one test's [`TestStack`]:
//!
//! ```text
//! table stream -> publish-events -> topic ─┬─ filter eventType=OrderPlaced -> fulfillment queue -> fulfill-order
//!                                          └─ (all events) ─────────────────> audit queue ───────> record-audit
//!                                             raw delivery; each queue has a DLQ after 5 receives
//! ```
//!
//! The functions run in-process, called through the local stack's event source mappings
//! (`orders_local::event_source_mappings`: Lambda's partial batch semantics), with the clients
//! and handlers their `main` builds.

use std::collections::HashMap;

use std::future::Future;
use std::time::{Duration, SystemTime};

use aws_lambda_events::dynamodb::EventRecord;
use aws_lambda_events::streams::DynamoDbEventResponse;
use aws_sdk_sqs::types::QueueAttributeName;
use lambda_runtime::{Context, LambdaEvent};
use orders_shared::crypto::EnvelopeCipher;
use orders_shared::messaging::EventPublisher;
use orders_shared::telemetry::aws_calls;

use crate::{TestStack, moto_sdk_config};
use orders_local::event_source_mappings::{Invocation, QueueDelivery, QueuePoller, StreamPoller};

/// The template's `maxReceiveCount` of both queues' redrive policies.
pub const MAX_RECEIVE_COUNT: u32 = 5;
/// The template's visibility timeout of both queues (6 x the consumers' 10 s timeout).
pub const VISIBILITY_TIMEOUT_SECONDS: u32 = 60;

/// The template's filter policy of the fulfillment subscription.
pub const FULFILLMENT_FILTER: &str = r#"{"eventType": ["OrderPlaced"]}"#;

/// One test's pipeline: its topic, queues and pollers, on its own table.
pub struct Pipeline {
    pub stack: TestStack,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub topic_arn: String,
    /// The publisher `publish-events` builds.
    pub publisher: EventPublisher,
    /// The cipher `fulfill-order` builds (the same key, its own cache).
    pub fulfillment_cipher: EnvelopeCipher,
    pub stream: StreamPoller,
    pub fulfillment: QueuePoller,
    pub fulfillment_dlq_url: String,
    pub audit: QueuePoller,
    pub audit_dlq_url: String,
}

impl Pipeline {
    pub async fn start() -> Self {
        let stack = TestStack::start().await;
        let config = moto_sdk_config().await;
        let sns = aws_calls::sns_client(&config);
        let sqs = aws_sdk_sqs::Client::new(&config);
        let streams = aws_sdk_dynamodbstreams::Client::new(&config);

        let topic_arn = sns
            .create_topic()
            .name(format!("{}-OrderEvents", stack.table))
            .attributes("TracingConfig", "Active")
            .send()
            .await
            .expect("CreateTopic")
            .topic_arn
            .expect("a topic ARN");
        let (fulfillment_url, fulfillment_arn, fulfillment_dlq_url) =
            create_queue_with_dlq(&sqs, &format!("{}-Fulfillment", stack.table)).await;
        let (audit_url, audit_arn, audit_dlq_url) =
            create_queue_with_dlq(&sqs, &format!("{}-Audit", stack.table)).await;
        subscribe(&sns, &topic_arn, &fulfillment_arn, Some(FULFILLMENT_FILTER)).await;
        subscribe(&sns, &topic_arn, &audit_arn, None).await;

        let stream_arn = stack
            .dynamodb
            .describe_table()
            .table_name(&stack.table)
            .send()
            .await
            .expect("DescribeTable")
            .table
            .and_then(|t| t.latest_stream_arn)
            .expect("the table has a stream");

        Self {
            publisher: EventPublisher::new(sns.clone(), topic_arn.clone()),
            fulfillment_cipher: stack.fulfillment_cipher(),
            stream: StreamPoller::new(streams, stream_arn),
            fulfillment: QueuePoller::new(sqs.clone(), fulfillment_url, fulfillment_arn),
            fulfillment_dlq_url,
            audit: QueuePoller::new(sqs.clone(), audit_url, audit_arn),
            audit_dlq_url,
            stack,
            sns,
            sqs,
            topic_arn,
        }
    }

    /// `publish-events` on every new stream record: the batch and the function's answer.
    pub async fn publish_changes(&mut self) -> (Vec<EventRecord>, DynamoDbEventResponse) {
        let publisher = &self.publisher;
        let delivery = self
            .stream
            .deliver(|event| invoke(|event| publish_events::handler(publisher, event), event))
            .await
            .expect("the stream can be read");
        (delivery.records, delivery.response)
    }

    /// `fulfill-order` on one batch of the fulfillment queue.
    pub async fn run_fulfillment(&mut self) -> QueueDelivery {
        let (store, cipher) = (&self.stack.store, &self.fulfillment_cipher);
        self.fulfillment
            .deliver(|event| invoke(|event| fulfill_order::handler(store, cipher, event), event))
            .await
            .expect("the queue can be read")
    }

    /// `record-audit` on one batch of the audit queue.
    pub async fn run_audit(&mut self) -> QueueDelivery {
        let store = &self.stack.store;
        self.audit
            .deliver(|event| invoke(|event| record_audit::handler(store, event), event))
            .await
            .expect("the queue can be read")
    }

    /// One batch of `consumer`'s queue, through its function.
    pub async fn run(&mut self, consumer: Consumer) -> QueueDelivery {
        match consumer {
            Consumer::Fulfillment => self.run_fulfillment().await,
            Consumer::Audit => self.run_audit().await,
        }
    }

    /// The event source mapping of `consumer`'s queue.
    pub fn queue(&mut self, consumer: Consumer) -> &mut QueuePoller {
        match consumer {
            Consumer::Fulfillment => &mut self.fulfillment,
            Consumer::Audit => &mut self.audit,
        }
    }

    /// The URL of `consumer`'s dead-letter queue.
    pub fn dead_letter_queue(&self, consumer: Consumer) -> &str {
        match consumer {
            Consumer::Fulfillment => &self.fulfillment_dlq_url,
            Consumer::Audit => &self.audit_dlq_url,
        }
    }

    /// Runs every stage until nothing moves: publish the changes, run both consumers, publish
    /// the changes they made, and so on.
    pub async fn run_until_quiet(&mut self) {
        for _ in 0..20 {
            let (published, _) = self.publish_changes().await;
            let fulfilled = self.run_fulfillment().await;
            let audited = self.run_audit().await;
            if published.is_empty() && fulfilled.received.is_empty() && audited.received.is_empty()
            {
                return;
            }
        }
        panic!("the pipeline did not come to rest in 20 rounds");
    }
}

/// The template's `Timeout` of the functions (`Globals.Function.Timeout`).
pub const FUNCTION_TIMEOUT: Duration = Duration::from_secs(10);

/// The context Lambda passes with an invocation: its deadline is `timeout` from now (Lambda's
/// `Lambda-Runtime-Deadline-Ms`, epoch milliseconds).
pub fn lambda_context_with_timeout(timeout: Duration) -> Context {
    let deadline = SystemTime::now() + timeout;
    let mut context = Context::default();
    context.deadline = deadline
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64;
    context
}

/// The context of an invocation that has the whole [`FUNCTION_TIMEOUT`] ahead of it.
pub fn lambda_context() -> Context {
    lambda_context_with_timeout(FUNCTION_TIMEOUT)
}

/// Calls a handler as Lambda does, in-process: the event with a fresh context; an error of the
/// handler is the invocation's error.
pub async fn invoke<T, R, F, Fut>(handler: F, event: T) -> Invocation<R>
where
    F: FnOnce(LambdaEvent<T>) -> Fut,
    Fut: Future<Output = Result<R, lambda_runtime::Error>>,
{
    handler(LambdaEvent::new(event, lambda_context()))
        .await
        .map_err(|error| error.to_string())
}

/// The two queue consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumer {
    Fulfillment,
    Audit,
}

/// A queue and its dead-letter queue, as the template declares them: returns the queue's URL and
/// ARN, and the DLQ's URL.
pub async fn create_queue_with_dlq(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
) -> (String, String, String) {
    let dlq_url = create_queue(sqs, &format!("{name}-DLQ"), HashMap::new()).await;
    let dlq_arn = queue_arn(sqs, &dlq_url).await;
    let redrive = format!(
        r#"{{"deadLetterTargetArn": "{dlq_arn}", "maxReceiveCount": {MAX_RECEIVE_COUNT}}}"#
    );
    let url = create_queue(
        sqs,
        name,
        HashMap::from([
            (QueueAttributeName::RedrivePolicy, redrive),
            (
                QueueAttributeName::VisibilityTimeout,
                VISIBILITY_TIMEOUT_SECONDS.to_string(),
            ),
        ]),
    )
    .await;
    let arn = queue_arn(sqs, &url).await;
    (url, arn, dlq_url)
}

async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attributes: HashMap<QueueAttributeName, String>,
) -> String {
    sqs.create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes))
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateQueue {name}: {e:?}"))
        .queue_url
        .expect("a queue URL")
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("GetQueueAttributes")
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .expect("a queue ARN")
}

/// An SQS subscription with raw delivery and, if given, a filter policy on message attributes.
/// (The template's `FulfillmentSubscription` has `{"eventType": ["OrderPlaced"]}`.)
pub async fn subscribe(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    queue_arn: &str,
    filter_policy: Option<&str>,
) {
    let mut request = sns
        .subscribe()
        .topic_arn(topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .attributes("RawMessageDelivery", "true");
    if let Some(policy) = filter_policy {
        request = request
            .attributes("FilterPolicyScope", "MessageAttributes")
            .attributes("FilterPolicy", policy);
    }
    request.send().await.expect("Subscribe");
}
