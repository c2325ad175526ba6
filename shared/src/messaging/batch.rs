//! Partial batch responses: one bad record never makes the good ones run again.
//!
//! Lambda hands an event-source-mapped function a *batch* of records. By default a batch succeeds
//! or fails as a whole: one failing record makes Lambda retry every record of the batch, the good
//! ones included, until the bad one reaches the dead-letter queue. With
//! `FunctionResponseTypes: [ReportBatchItemFailures]` the function answers which records failed:
//!
//! ```json
//! {"batchItemFailures": [{"itemIdentifier": "<SQS message id, or stream sequence number>"}]}
//! ```
//!
//! - **SQS**: Lambda deletes every message not listed; the listed ones become visible again after
//!   the visibility timeout, and after `maxReceiveCount` receives SQS moves them to the DLQ.
//! - **DynamoDB streams**: records are ordered, so Lambda checkpoints *before the first* failed
//!   sequence number and retries from there; listing one record is enough, and records after it
//!   will be delivered again whatever the function did with them.
//!
//! A handler must therefore never fail the whole invocation for one record, and must never panic:
//! this project builds with `panic = "abort"`, and an aborted process loses the whole batch.
//! Failures are values ([`RecordError`]), collected in a [`BatchOutcome`]. Nor may it run into its
//! timeout, which loses the whole batch too: the loop stops taking records near the invocation's
//! [`Deadline`] and reports the rest as failed.

use std::future::Future;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use tracing::Instrument;

use super::deadline::Deadline;
use crate::crypto::CryptoError;
use crate::domain::OrderEvent;
use crate::error::AppError;
use crate::telemetry::metrics::{self, Metric};
use crate::telemetry::xray;

/// Why one record failed. Messages name the record and the cause, never its body (a body might
/// hold anything, card data included).
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Not an order event at all: it will fail every time (a poison message).
    #[error("the message is not an order event ({0})")]
    Unreadable(String),
    #[error(transparent)]
    Store(#[from] AppError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// The records of one batch that failed, by their item identifier.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    failed: Vec<String>,
}

impl BatchOutcome {
    /// Marks a record as failed.
    pub fn fail(&mut self, item_identifier: impl Into<String>) {
        self.failed.push(item_identifier.into());
    }

    /// The identifiers of the failed records, in the order they failed.
    pub fn failed(&self) -> &[String] {
        &self.failed
    }

    /// The answer for an SQS batch: every failed message id (Lambda deletes the others).
    pub fn into_sqs_response(self) -> SqsBatchResponse {
        metrics::count(Metric::BatchItemFailures, self.failed.len() as u64);
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = self
            .failed
            .into_iter()
            .map(|id| {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                failure
            })
            .collect();
        response
    }

    /// The answer for a stream batch: the first failed sequence number only (Lambda retries from
    /// it, so it alone decides where processing resumes).
    pub fn into_stream_response(self) -> DynamoDbEventResponse {
        metrics::count(Metric::BatchItemFailures, self.failed.len().min(1) as u64);
        let mut response = DynamoDbEventResponse::default();
        if let Some(first) = self.failed.into_iter().next() {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(first);
            response.batch_item_failures.push(failure);
        }
        response
    }
}

/// Runs `handle` on the order event of every message of an SQS batch, one after another, each in
/// its own span (an X-Ray subsegment `record`, annotated with the order, the event type and the
/// producer's trace id), and answers with the messages that failed.
///
/// Before each message it looks at `deadline`: once too little time is left for one more, every
/// message not yet started is reported as failed, untouched. SQS makes them visible again after
/// the visibility timeout (one receive more toward the DLQ, for them only), where a timed-out
/// invocation would have sent back the whole batch and counted as a function error.
pub async fn for_each_event<F, Fut>(
    batch: SqsEvent,
    deadline: Deadline,
    mut handle: F,
) -> SqsBatchResponse
where
    F: FnMut(OrderEvent) -> Fut,
    Fut: Future<Output = Result<(), RecordError>>,
{
    let mut outcome = BatchOutcome::default();
    let mut messages = batch.records.into_iter();
    while let Some(message) = messages.next() {
        let message_id = message.message_id.clone().unwrap_or_default();
        if !deadline.has_time_for_another() {
            let untouched: Vec<String> = std::iter::once(message_id)
                .chain(messages.map(|m| m.message_id.unwrap_or_default()))
                .collect();
            tracing::warn!(
                untouched = untouched.len(),
                remaining_ms = deadline.remaining().as_millis() as u64,
                "the invocation's deadline is near: the rest of the batch is left on the queue"
            );
            untouched.into_iter().for_each(|id| outcome.fail(id));
            break;
        }
        let span = xray::record_span(&message_id, producer_trace_id(&message));
        let result = async {
            let event = order_event(&message)?;
            xray::record("orderId", event.order_id.to_string());
            xray::record("eventType", event.event_type.as_str());
            handle(event).await
        }
        .instrument(span.clone());
        // Boxed: SDK futures are deeply nested types, and one more layer of nesting here would
        // exceed the compiler's type-layout depth limit in the function's `main`.
        let result = Box::pin(result).await;
        if let Err(error) = result {
            // Logged inside the record's span, so the line carries its message id.
            span.in_scope(|| tracing::warn!(%error, "record failed: it stays on the queue"));
            outcome.fail(message_id);
        }
    }
    outcome.into_sqs_response()
}

/// The event in a message body (raw delivery: the body is the event itself, not SNS's envelope).
pub fn order_event(message: &SqsMessage) -> Result<OrderEvent, RecordError> {
    let body = message
        .body
        .as_deref()
        .ok_or_else(|| RecordError::Unreadable("no body".into()))?;
    serde_json::from_str(body).map_err(|error| {
        // serde's message may quote the input: keep only its category and position.
        RecordError::Unreadable(format!(
            "{:?} error at line {} column {}",
            error.classify(),
            error.line(),
            error.column()
        ))
    })
}

/// The trace id of the producer (`Root=` of the message's `AWSTraceHeader`): SNS with active
/// tracing passes the publisher's trace header on to SQS, which keeps it with the message.
pub fn producer_trace_id(message: &SqsMessage) -> Option<&str> {
    message
        .attributes
        .get("AWSTraceHeader")?
        .split(';')
        .find_map(|part| part.strip_prefix("Root="))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventType;
    use crate::store::tests::sample_order;
    use serde_json::json;

    fn message(id: &str, body: &str) -> serde_json::Value {
        json!({
            "messageId": id,
            "receiptHandle": format!("handle-{id}"),
            "body": body,
            "attributes": {
                "ApproximateReceiveCount": "1",
                "AWSTraceHeader": "Root=1-6741a3f2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1"
            },
            "messageAttributes": {},
            "eventSource": "aws:sqs"
        })
    }

    fn batch(bodies: &[&str]) -> SqsEvent {
        let records: Vec<_> = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| message(&format!("m{i}"), body))
            .collect();
        serde_json::from_value(json!({ "Records": records })).unwrap()
    }

    fn good(event_id: &str) -> String {
        serde_json::to_string(&OrderEvent::new(
            event_id,
            EventType::OrderPlaced,
            sample_order(),
        ))
        .unwrap()
    }

    /// A deadline `seconds` from now, with the functions' reserve.
    fn deadline_in(seconds: u64) -> Deadline {
        Deadline::at(
            std::time::SystemTime::now() + std::time::Duration::from_secs(seconds),
            super::super::deadline::RECORD_RESERVE,
        )
    }

    fn failed_ids(response: &SqsBatchResponse) -> Vec<&str> {
        response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    #[tokio::test]
    async fn only_the_failed_messages_are_reported() {
        let bodies = [
            good("a"),
            "{not json".into(),
            good("b"),
            good("fail"),
            good("c"),
        ];
        let bodies: Vec<&str> = bodies.iter().map(String::as_str).collect();
        let mut handled = Vec::new();
        let response = for_each_event(batch(&bodies), deadline_in(10), |event| {
            handled.push(event.event_id.clone());
            async move {
                if event.event_id == "fail" {
                    Err(RecordError::Store(AppError::Throttled))
                } else {
                    Ok(())
                }
            }
        })
        .await;
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, ["m1", "m3"]);
        assert_eq!(
            handled,
            ["a", "b", "fail", "c"],
            "one failure stops nothing"
        );
    }

    #[tokio::test]
    async fn near_the_deadline_nothing_is_processed_and_everything_is_reported() {
        let bodies = [good("a"), good("b"), good("c")];
        let bodies: Vec<&str> = bodies.iter().map(String::as_str).collect();
        let mut handled = 0;
        let response = for_each_event(batch(&bodies), deadline_in(1), |_| {
            handled += 1;
            async { Ok(()) }
        })
        .await;
        assert_eq!(
            handled, 0,
            "no record is started without the time to finish it"
        );
        assert_eq!(failed_ids(&response), ["m0", "m1", "m2"]);
    }

    #[tokio::test]
    async fn a_deadline_reached_mid_batch_reports_the_untouched_messages() {
        // The reserve is 4 s of a 5.5 s deadline: the second record takes 2 s, after which no
        // record may start.
        let bodies = [good("a"), good("slow"), good("c"), good("fail"), good("e")];
        let bodies: Vec<&str> = bodies.iter().map(String::as_str).collect();
        let deadline = Deadline::at(
            std::time::SystemTime::now() + std::time::Duration::from_millis(5_500),
            super::super::deadline::RECORD_RESERVE,
        );
        let mut handled = Vec::new();
        let response = for_each_event(batch(&bodies), deadline, |event| {
            handled.push(event.event_id.clone());
            async move {
                if event.event_id == "slow" {
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                }
                Ok(())
            }
        })
        .await;
        assert_eq!(handled, ["a", "slow"]);
        assert_eq!(
            failed_ids(&response),
            ["m2", "m3", "m4"],
            "every message not started, and none that succeeded"
        );
    }

    #[test]
    fn a_poison_body_is_unreadable_without_quoting_it() {
        let event = batch(&[r#"{"eventId": "4111111111111111"}"#]);
        let error = order_event(&event.records[0]).unwrap_err();
        assert!(matches!(error, RecordError::Unreadable(_)));
        assert!(!error.to_string().contains("4111"), "{error}");
    }

    #[test]
    fn the_producer_trace_id_comes_from_the_trace_header() {
        let event = batch(&["{}"]);
        assert_eq!(
            producer_trace_id(&event.records[0]),
            Some("1-6741a3f2-0123456789abcdef01234567")
        );
    }

    #[test]
    fn a_stream_batch_reports_its_first_failure_only() {
        let mut outcome = BatchOutcome::default();
        outcome.fail("300");
        outcome.fail("400");
        let response = outcome.into_stream_response();
        assert_eq!(response.batch_item_failures.len(), 1);
        assert_eq!(
            response.batch_item_failures[0].item_identifier.as_deref(),
            Some("300")
        );
        assert!(
            BatchOutcome::default()
                .into_stream_response()
                .batch_item_failures
                .is_empty()
        );
    }
}
