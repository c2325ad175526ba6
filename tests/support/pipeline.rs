//! The event pipeline of `template.yaml` on moto, around one test's [`TestStack`]:
//!
//! ```text
//! table stream -> publish-events -> topic ─┬─ filter eventType=OrderPlaced -> fulfillment queue -> fulfill-order
//!                                          └─ (all events) ─────────────────> audit queue ───────> record-audit
//!                                             raw delivery; each queue has a DLQ after 5 receives
//! ```
//!
//! The topic, the queues, their dead-letter queues and the subscriptions are the template's own,
//! deployed with the test's stack ([`TestStack::deployed`]). The functions run in-process, called
//! through the local stack's event source mappings (`orders_local::event_source_mappings`:
//! Lambda's partial batch semantics), with the clients and handlers their `main` builds.

use std::future::Future;
use std::time::Duration;

use aws_lambda_events::dynamodb::EventRecord;
use aws_lambda_events::streams::DynamoDbEventResponse;
use lambda_runtime::{Context, LambdaEvent};
use orders_local::cloudformation::Deployed;
use orders_local::cloudformation::template::Redrive;
use orders_local::event_source_mappings::{Invocation, QueueDelivery, QueuePoller, StreamPoller};
use orders_shared::crypto::{CachePolicy, EnvelopeCipher};
use orders_shared::messaging::EventPublisher;
use orders_shared::messaging::deadline::context_expiring_in;
use orders_shared::telemetry::aws_calls;

use crate::{StackPart, TestStack, moto_sdk_config, physical};

/// One test's pipeline: the template's topic, queues and event source mappings, on its own table.
pub struct Pipeline {
    pub stack: TestStack,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
    /// The template's `OrderEventsTopic`.
    pub topic_arn: String,
    /// The publisher `publish-events` builds.
    pub publisher: EventPublisher,
    /// The cipher `fulfill-order` builds (the same key, its own cache).
    pub fulfillment_cipher: EnvelopeCipher,
    /// The event source mapping of `publish-events`: the table's stream.
    pub stream: StreamPoller,
    /// The event source mapping of `fulfill-order`: the `FulfillmentQueue`.
    pub fulfillment: QueuePoller,
    /// The event source mapping of `record-audit`: the `AuditQueue`.
    pub audit: QueuePoller,
}

impl Pipeline {
    pub async fn start() -> Self {
        let stack = TestStack::deploying(StackPart::Pipeline, CachePolicy::DEFAULT).await;
        let config = moto_sdk_config().await;
        let sns = aws_calls::sns_client(&config);
        let sqs = aws_sdk_sqs::Client::new(&config);
        let streams = aws_sdk_dynamodbstreams::Client::new(&config);

        let deployed = &stack.deployed;
        let topic_arn = physical(deployed.topic_arn("OrderEventsTopic"), "OrderEventsTopic");
        let stream_arn = physical(deployed.stream_arn("OrdersTable"), "OrdersTable's stream");
        Self {
            publisher: EventPublisher::new(sns.clone(), topic_arn.clone()),
            fulfillment_cipher: stack.fulfillment_cipher(),
            stream: StreamPoller::new(streams, stream_arn),
            fulfillment: queue_poller(deployed, &sqs, Consumer::Fulfillment),
            audit: queue_poller(deployed, &sqs, Consumer::Audit),
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

    /// The URL of `consumer`'s dead-letter queue (the template's redrive target of its queue).
    pub fn dead_letter_queue(&self, consumer: Consumer) -> String {
        let dead_letter_queue = consumer.redrive(&self.stack.deployed).dead_letter_queue;
        physical(
            self.stack.deployed.queue_url(&dead_letter_queue),
            &dead_letter_queue,
        )
    }

    /// The template's `maxReceiveCount` of `consumer`'s queue: the receive that moves a message
    /// that keeps failing to the dead-letter queue.
    pub fn max_receive_count(&self, consumer: Consumer) -> u32 {
        consumer.redrive(&self.stack.deployed).max_receive_count
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

/// The context of an invocation that has the whole [`FUNCTION_TIMEOUT`] ahead of it.
pub fn lambda_context() -> Context {
    context_expiring_in(FUNCTION_TIMEOUT)
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

impl Consumer {
    /// The logical id of the consumer's queue in `template.yaml`.
    pub fn queue(self) -> &'static str {
        match self {
            Consumer::Fulfillment => "FulfillmentQueue",
            Consumer::Audit => "AuditQueue",
        }
    }

    /// The redrive policy of the consumer's queue, as the template declares it.
    fn redrive(self, deployed: &Deployed) -> Redrive {
        deployed
            .template()
            .queues()
            .into_iter()
            .find(|queue| queue.logical_id == self.queue())
            .and_then(|queue| queue.redrive)
            .unwrap_or_else(|| panic!("template.yaml gives {} a dead-letter queue", self.queue()))
    }
}

/// An event source mapping of `consumer`'s queue, as deployed, with the poller's defaults (a test
/// sets the batch size it needs).
fn queue_poller(deployed: &Deployed, sqs: &aws_sdk_sqs::Client, consumer: Consumer) -> QueuePoller {
    let queue = consumer.queue();
    QueuePoller::new(
        sqs.clone(),
        physical(deployed.queue_url(queue), queue),
        physical(deployed.queue_arn(queue), queue),
    )
}
