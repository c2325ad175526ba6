//! Event source mappings: Lambda's pollers for a DynamoDB stream and an SQS queue; and the local
//! stand-in for SNS's asynchronous push to a function (`sns.rs`), which on AWS is no mapping.
//!
//! For a stream or a queue, nothing calls the function: Lambda itself polls the source, gathers a
//! batch (`BatchSize`, waiting up to `MaximumBatchingWindowInSeconds` to fill it) and invokes the
//! function synchronously with it. What happens next depends on the function's answer; with
//! `FunctionResponseTypes: [ReportBatchItemFailures]` the answer lists the records that failed:
//!
//! - [`StreamPoller`]: records of a shard are in order. Lambda checkpoints just before the first
//!   failed record (or after the batch when none failed) and reads on from there, so a failed record
//!   and every record after it come again. A function *error* fails the whole batch.
//! - [`QueuePoller`]: Lambda deletes every message not listed. The listed ones stay in flight until
//!   their visibility timeout ends, then SQS delivers them again; after `maxReceiveCount` receives
//!   SQS itself moves a message to the queue's dead-letter queue. A function error leaves the whole
//!   batch in flight.
//!
//! A **throttled** invocation (the function's reserved concurrency all in use) is a failed
//! invocation to a mapping: an SQS batch stays on the queue and comes back after its visibility
//! timeout, a stream batch is retried (its records are not lost). The difference: a throttle
//! never reached the function, so it does not count toward a stream mapping's
//! `MaximumRetryAttempts`, while each SQS receive counts toward the queue's `maxReceiveCount`.
//!
//! Polls never wait on the server (`WaitTimeSeconds = 0`): the local moto serves one request at a
//! time, and a long poll would hold it; an empty poll sleeps here instead. Lambda event filtering
//! (`FilterCriteria`) is applied to stream records before a batch is built ([`matches_pattern`]).
//! A stream record given up after its retries is described to the mapping's on-failure
//! destination ([`on_failure`]).
//!
//! | file              | what it plays                                                          |
//! |-------------------|------------------------------------------------------------------------|
//! | [`stream`]        | the DynamoDB stream poller: filter, checkpoint before the first failed record, bounded retries, and its polling loop |
//! | [`sqs`]           | the SQS poller: batching window, partial batch response, and its polling loop |
//! | [`on_failure`]    | the stream mapping's on-failure destination: Lambda's invocation record |
//! | [`sns`]           | a topic's subscription of a function: each notification handed to Lambda as an asynchronous invocation (a hidden delivery queue stands in for SNS's push) |
//!
//! [`crate::stack`] starts one polling loop per `DynamoDB`, `SQS` and `SNS` event of the
//! template; this module owns what each loop does.

pub mod on_failure;
pub mod sns;
pub mod sqs;
pub mod stream;

pub use sns::{SnsHandOff, SnsPoller};
pub use sqs::{QueueDelivery, QueuePoller};
pub use stream::{StreamDelivery, StreamPoller, matches_pattern};

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use crate::lambda::{InvokeError, LambdaService};

/// A poll or a delete failed (moto went away, say). The message names the operation.
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed: {cause}")]
pub struct PollError {
    pub operation: &'static str,
    pub cause: String,
}

fn failed<E: std::fmt::Debug>(operation: &'static str) -> impl FnOnce(E) -> PollError {
    move |error| PollError {
        operation,
        cause: format!("{error:?}"),
    }
}

/// A function's answer to a batch: its batch response, or the error of a failed invocation.
pub type Invocation<R> = Result<R, String>;

/// Invokes `function` with a batch event and reads its batch response. `throttled` is set when
/// Lambda refused the invocation for want of concurrency: the batch never reached the function.
async fn invoke<R: serde::de::DeserializeOwned, E: serde::Serialize>(
    lambda: &LambdaService,
    function: &str,
    event: E,
    throttled: &AtomicBool,
) -> Invocation<R> {
    let payload = serde_json::to_vec(&event).map_err(|error| error.to_string())?;
    let output = lambda
        .invoke(function, payload, None)
        .await
        .map_err(|error| {
            throttled.store(
                matches!(error, InvokeError::Throttled { .. }),
                Ordering::SeqCst,
            );
            error.to_string()
        })?;
    serde_json::from_slice(&output)
        .map_err(|error| format!("the function's answer is not a batch response: {error}"))
}

/// How a mapping paces its polls, until told to stop. Like Lambda's pollers, a busy mapping
/// polls again at once; an idle one (or one whose poll failed) waits `interval`.
struct PollPace {
    stopped: watch::Receiver<bool>,
    interval: Duration,
}

impl PollPace {
    fn new(stopped: watch::Receiver<bool>, interval: Duration) -> Self {
        Self { stopped, interval }
    }

    fn running(&self) -> bool {
        !*self.stopped.borrow()
    }

    /// After one round: `Ok(idle)` says whether the source was empty; an error is reported.
    async fn after(&mut self, function: &str, round: Result<bool, PollError>) {
        let idle = round.unwrap_or_else(|error| {
            eprintln!("{function}: {error}");
            true
        });
        if idle {
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = self.stopped.changed() => {}
            }
        }
    }
}
