//! The event pipeline: DynamoDB stream -> SNS topic -> SQS queues -> consumers.
//!
//! ```text
//!                      stream (NEW_AND_OLD_IMAGES)               SNS fan-out (raw delivery)
//! OrdersTable ──> publish-events ──PublishBatch──> OrderEvents ─┬─ filter eventType=OrderPlaced ─> FulfillmentQueue ─> fulfill-order
//!                 (stream_batch, stream::event_of) (publisher)  └─ every event ─────────────────> AuditQueue ───────> record-audit
//!                                                                  each queue: a DLQ after 5 receives
//! ```
//!
//! - **No dual write**: events come from the table's stream, not from the API functions, so an
//!   event exists exactly when its write happened.
//! - **Fan-out**: one topic, one queue per consumer. Each consumer gets its own copy, its own
//!   retries and its own dead-letter queue; a slow consumer never holds up another.
//! - **At least once**: SQS (and a retried stream batch) may deliver an event twice. Every consumer
//!   is idempotent: the audit entry is a conditional put on the event id, and the fulfillment
//!   transition is conditional on the order's status and version.
//! - **Partial batch responses** ([`batch`]): a failing record is retried alone, and after
//!   `maxReceiveCount` receives SQS moves it to the queue's DLQ, where an alarm sees it.
//! - **The deadline** ([`deadline`]): a batch loop stops taking records before the invocation's
//!   timeout and reports the rest, so a slow dependency never costs the whole batch.
//!
//! Both batch loops live here: [`for_each_event`] ([`batch`]) runs a consumer on each message of
//! an SQS batch; [`publish_changes`] ([`stream_batch`]) publishes the events of a stream batch
//! and reports the first record the stream must retry from.

pub mod batch;
pub mod deadline;
pub mod publisher;
pub mod stream;
pub mod stream_batch;

pub use batch::{BatchOutcome, RecordError, for_each_event};
pub use deadline::Deadline;
pub use publisher::EventPublisher;
pub use stream_batch::publish_changes;
