//! # Asynchronous invocation (`InvocationType: Event`): Lambda's queue, its retries, the on-failure destination
//!
//! Exam: **who chooses the invocation type.** A caller of the Invoke API chooses it
//! (`RequestResponse`, the default, synchronous, HTTP 200 with the result; `Event`, asynchronous,
//! HTTP 202 and no result; `DryRun`, HTTP 204, only checks the parameters and permission). An AWS
//! service as a trigger has its type predetermined: API Gateway invokes synchronously; SNS, S3 and
//! EventBridge invoke asynchronously; SQS queues and DynamoDB/Kinesis streams are read by an event
//! source mapping, which polls and invokes synchronously with batches.
//!
//! What Lambda does with an asynchronous event, as this module plays it:
//!
//! - **It queues the event and answers at once** (202); a poller of Lambda's own runs it later.
//!   The payload limit is **1 MB** for an asynchronous invocation (6 MB for a synchronous one).
//! - **A function error is retried twice** (3 attempts in all): an error the handler reports, a
//!   timeout, a crash. `MaximumRetryAttempts` (0–2) changes how many times. On AWS Lambda waits
//!   about 1 minute before the first retry and about 2 before the second; **locally the waits are
//!   [`LOCAL_ASYNC_RETRY_DELAYS`] (1 s, then 2 s)**, a setting of the local service
//!   ([`LambdaService::set_async_retry_delays`](super::LambdaService::set_async_retry_delays)).
//!   Every attempt keeps the event's request id: the handler must be idempotent.
//! - **A throttled attempt (429) is not a function error**: the event goes back to the queue and
//!   is tried again, with a wait that doubles from 1 s to at most 5 minutes, until the event is
//!   older than `MaximumEventAgeInSeconds` (60 s–6 h, default 6 h). A Lambda system error is
//!   treated the same way; locally, that is a `bootstrap` that cannot be started.
//! - **An event Lambda gives up on** (`RetriesExhausted`, or `EventAgeExceeded` when its age runs
//!   out first) goes to the function's **on-failure destination**, if it has one: Lambda sends it
//!   an *invocation record*, the event *and* what went wrong (the request context, the response
//!   context, the error payload). Without a destination (or a dead-letter queue) it is discarded;
//!   locally that is a line in the function's log. Exam: a **dead-letter queue**
//!   (`DeadLetterQueue`, an SQS queue or SNS topic) receives the original event only, with the
//!   error in message attributes; a **destination** (`EventInvokeConfig.DestinationConfig`:
//!   SQS, SNS, EventBridge, another function, S3 for failures) receives the record, and can also
//!   be told about successes (`OnSuccess`). AWS now recommends destinations.
//!
//! Locally the queue lives in memory: events still queued when the service shuts down are lost
//! (Lambda keeps them). Only an SQS on-failure destination is played; `OnSuccess` is not.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::functions::Service;
use super::invocation_record::{GivenUp, invocation_record};
use super::{InvokeError, lock};

/// Exam: Lambda's limit for an asynchronous invocation's payload (1 MB; 6 MB when synchronous).
pub const MAX_ASYNC_PAYLOAD_BYTES: usize = 1024 * 1024;
/// Exam: by default Lambda retries a failed asynchronous event twice: three attempts in all.
pub const DEFAULT_MAXIMUM_RETRY_ATTEMPTS: u32 = 2;
/// Exam: by default Lambda keeps an asynchronous event up to 6 hours (the most it allows).
pub const DEFAULT_MAXIMUM_EVENT_AGE: Duration = Duration::from_secs(6 * 60 * 60);
/// The least `MaximumEventAgeInSeconds` Lambda accepts.
pub const MINIMUM_EVENT_AGE: Duration = Duration::from_secs(60);
/// The local waits before the first and the second retry of a function error. AWS waits about 1
/// minute, then about 2; the local service waits seconds so a developer sees the outcome.
pub const LOCAL_ASYNC_RETRY_DELAYS: [Duration; 2] =
    [Duration::from_secs(1), Duration::from_secs(2)];
/// After a throttle Lambda tries again after 1 s, doubling each time up to 5 minutes.
const FIRST_THROTTLE_WAIT: Duration = Duration::from_secs(1);
const LONGEST_THROTTLE_WAIT: Duration = Duration::from_secs(5 * 60);

/// A function's `EventInvokeConfig` (`PutFunctionEventInvokeConfig`): what Lambda does with an
/// asynchronous event that fails.
#[derive(Debug, Clone)]
pub struct EventInvokeConfig {
    /// `MaximumRetryAttempts`, 0–2: retries after a function error.
    pub maximum_retry_attempts: u32,
    /// `MaximumEventAgeInSeconds`, 60 s–6 h: how long the event may wait in the queue.
    pub maximum_event_age: Duration,
    /// `DestinationConfig.OnFailure` of `Type: SQS`.
    pub on_failure: Option<FailureQueue>,
}

impl Default for EventInvokeConfig {
    fn default() -> Self {
        Self {
            maximum_retry_attempts: DEFAULT_MAXIMUM_RETRY_ATTEMPTS,
            maximum_event_age: DEFAULT_MAXIMUM_EVENT_AGE,
            on_failure: None,
        }
    }
}

/// Why Lambda refuses an `EventInvokeConfig` (`InvalidParameterValueException`).
#[derive(Debug, thiserror::Error)]
pub enum InvalidEventInvokeConfig {
    #[error("MaximumRetryAttempts is {0}; it must be between 0 and 2")]
    RetryAttempts(u32),
    #[error("MaximumEventAgeInSeconds is {0}; it must be between 60 and 21600")]
    EventAge(u64),
    #[error("no function named {0}")]
    UnknownFunction(String),
}

impl EventInvokeConfig {
    /// Lambda's bounds: 0–2 retries, 60 s–6 h of age.
    pub fn validate(&self) -> Result<(), InvalidEventInvokeConfig> {
        if self.maximum_retry_attempts > DEFAULT_MAXIMUM_RETRY_ATTEMPTS {
            return Err(InvalidEventInvokeConfig::RetryAttempts(
                self.maximum_retry_attempts,
            ));
        }
        if !(MINIMUM_EVENT_AGE..=DEFAULT_MAXIMUM_EVENT_AGE).contains(&self.maximum_event_age) {
            return Err(InvalidEventInvokeConfig::EventAge(
                self.maximum_event_age.as_secs(),
            ));
        }
        Ok(())
    }
}

/// An SQS queue that receives the invocation record of every event Lambda gives up on.
#[derive(Debug, Clone)]
pub struct FailureQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl FailureQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

/// Lambda's queue of asynchronous events: the functions' configurations and the events waiting
/// or being attempted.
pub(super) struct AsyncQueue {
    configs: Mutex<HashMap<String, EventInvokeConfig>>,
    retry_delays: Mutex<[Duration; 2]>,
    /// Events accepted and not yet done with (succeeded, given up or dropped), per function.
    pending: Mutex<HashMap<String, usize>>,
    pollers: Mutex<JoinSet<()>>,
}

impl AsyncQueue {
    pub(super) fn new() -> Self {
        Self {
            configs: Mutex::new(HashMap::new()),
            retry_delays: Mutex::new(LOCAL_ASYNC_RETRY_DELAYS),
            pending: Mutex::new(HashMap::new()),
            pollers: Mutex::new(JoinSet::new()),
        }
    }

    pub(super) fn configure(&self, name: &str, config: EventInvokeConfig) {
        lock(&self.configs).insert(name.to_owned(), config);
    }

    pub(super) fn set_retry_delays(&self, delays: [Duration; 2]) {
        *lock(&self.retry_delays) = delays;
    }

    pub(super) fn pending(&self, name: &str) -> usize {
        lock(&self.pending).get(name).copied().unwrap_or(0)
    }

    /// Drops every queued event (the local queue is in memory).
    pub(super) fn stop(&self) {
        lock(&self.pollers).abort_all();
    }

    fn config(&self, name: &str) -> EventInvokeConfig {
        lock(&self.configs).get(name).cloned().unwrap_or_default()
    }

    fn done(&self, name: &str) {
        if let Some(count) = lock(&self.pending).get_mut(name) {
            *count = count.saturating_sub(1);
        }
    }
}

/// One asynchronous event, from its arrival in the queue.
pub(super) struct QueuedEvent {
    pub(super) function: String,
    pub(super) request_id: String,
    pub(super) payload: Bytes,
    pub(super) trace_header: Option<String>,
    pub(super) received: Instant,
}

impl Service {
    /// Queues an event for `name` and returns its request id at once; a poller runs it.
    pub(super) fn enqueue(
        self: &Arc<Self>,
        name: &str,
        payload: Bytes,
        trace_header: Option<String>,
    ) -> String {
        let request_id = Uuid::new_v4().to_string();
        let event = QueuedEvent {
            function: name.to_owned(),
            request_id: request_id.clone(),
            payload,
            trace_header,
            received: Instant::now(),
        };
        *lock(&self.asynchronous.pending)
            .entry(name.to_owned())
            .or_default() += 1;
        let service = self.clone();
        let mut pollers = lock(&self.asynchronous.pollers);
        // Forget the pollers that have finished, so the set holds only the events in flight.
        while pollers.try_join_next().is_some() {}
        pollers.spawn(async move {
            let function = event.function.clone();
            service.attempt_until_done(event).await;
            service.asynchronous.done(&function);
        });
        request_id
    }

    /// Lambda's poller for one event: attempts, retries and, at the end, the destination.
    async fn attempt_until_done(&self, event: QueuedEvent) {
        let mut attempts: u32 = 0;
        let mut retries = Retries::default();
        loop {
            let Ok(function) = self.function(&event.function) else {
                eprintln!(
                    "lambda | {}: the function is gone; event {} dropped",
                    event.function, event.request_id
                );
                return;
            };
            attempts += 1;
            let outcome = self
                .invoke_as(
                    &function,
                    &event.request_id,
                    event.payload.clone(),
                    event.trace_header.clone(),
                )
                .await;
            let config = self.asynchronous.config(&event.function);
            let delays = *lock(&self.asynchronous.retry_delays);
            let step = retries.next_step(&outcome, &config, delays, event.received.elapsed());
            let wait = match step {
                NextStep::Done => return,
                NextStep::Drop => {
                    function.log.line(&format!(
                        "ASYNC RequestId: {} dropped: the function is shutting down",
                        event.request_id
                    ));
                    return;
                }
                NextStep::GiveUp(condition) => {
                    let given_up = GivenUp {
                        event: &event,
                        function_arn: &function.arn,
                        condition,
                        attempts,
                        last_error: outcome.as_ref().err(),
                    };
                    self.give_up(&function.log, &config, given_up).await;
                    return;
                }
                NextStep::RetryAfter(wait) => wait,
            };
            if let Err(InvokeError::Throttled { .. } | InvokeError::Spawn { .. }) = &outcome {
                function.log.line(&format!(
                    "ASYNC RequestId: {} throttled; back in the queue for {:.0} s",
                    event.request_id,
                    wait.as_secs_f64()
                ));
            }
            drop(function);
            tokio::time::sleep(wait).await;
        }
    }

    /// The event goes to the on-failure destination, or is discarded (a log line).
    async fn give_up(
        &self,
        log: &super::logs::LogSink,
        config: &EventInvokeConfig,
        given_up: GivenUp<'_>,
    ) {
        let request_id = &given_up.event.request_id;
        let condition = given_up.condition;
        let attempts = given_up.attempts;
        let Some(destination) = &config.on_failure else {
            log.line(&format!(
                "ASYNC RequestId: {request_id} discarded ({condition} after {attempts} attempts): the function has no on-failure destination"
            ));
            return;
        };
        let record = invocation_record(&given_up);
        match destination
            .client
            .send_message()
            .queue_url(&destination.queue_url)
            .message_body(record.to_string())
            .send()
            .await
        {
            Ok(_) => log.line(&format!(
                "ASYNC RequestId: {request_id} sent to the on-failure destination ({condition} after {attempts} attempts)"
            )),
            Err(error) => log.line(&format!(
                "ASYNC RequestId: {request_id} lost: the on-failure destination refused it: {}",
                aws_sdk_sqs::error::DisplayErrorContext(error)
            )),
        }
    }
}

/// What the poller does after an attempt.
#[derive(Debug, PartialEq, Eq)]
enum NextStep {
    /// The function succeeded.
    Done,
    /// The service or the function is going away: the event is dropped.
    Drop,
    /// Back in the queue for this long.
    RetryAfter(Duration),
    /// `RetriesExhausted` or `EventAgeExceeded`: to the on-failure destination.
    GiveUp(&'static str),
}

/// One event's retries so far.
#[derive(Debug)]
struct Retries {
    function_errors: u32,
    throttle_wait: Duration,
}

impl Default for Retries {
    fn default() -> Self {
        Self {
            function_errors: 0,
            throttle_wait: FIRST_THROTTLE_WAIT,
        }
    }
}

impl Retries {
    /// Lambda's rule after an attempt whose `outcome` came when the event was `age` old.
    fn next_step(
        &mut self,
        outcome: &Result<Vec<u8>, InvokeError>,
        config: &EventInvokeConfig,
        retry_delays: [Duration; 2],
        age: Duration,
    ) -> NextStep {
        let wait = match outcome {
            Ok(_) => return NextStep::Done,
            Err(InvokeError::ShuttingDown | InvokeError::UnknownFunction(_)) => {
                return NextStep::Drop;
            }
            // Exam: a throttle (or a system error) is retried until the event is too old; it
            // does not count against MaximumRetryAttempts.
            Err(InvokeError::Throttled { .. } | InvokeError::Spawn { .. }) => {
                let wait = self.throttle_wait;
                self.throttle_wait = (wait * 2).min(LONGEST_THROTTLE_WAIT);
                wait
            }
            // Exam: a function error (reported, timeout, crash) is retried MaximumRetryAttempts
            // times (2 by default): 3 attempts in all.
            Err(_) => {
                self.function_errors += 1;
                if self.function_errors > config.maximum_retry_attempts {
                    return NextStep::GiveUp("RetriesExhausted");
                }
                retry_delays[(self.function_errors as usize - 1).min(1)]
            }
        };
        // Exam: MaximumEventAgeInSeconds: an event whose next attempt would come too late is
        // given up on.
        if age + wait > config.maximum_event_age {
            NextStep::GiveUp("EventAgeExceeded")
        } else {
            NextStep::RetryAfter(wait)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_refuses_retries_over_2_and_ages_outside_60_s_to_6_h() {
        let config = |retries, age| EventInvokeConfig {
            maximum_retry_attempts: retries,
            maximum_event_age: Duration::from_secs(age),
            on_failure: None,
        };
        assert!(config(0, 60).validate().is_ok());
        assert!(config(2, 21_600).validate().is_ok());
        assert!(config(3, 60).validate().is_err());
        assert!(config(2, 59).validate().is_err());
        assert!(config(2, 21_601).validate().is_err());
        assert!(EventInvokeConfig::default().validate().is_ok());
    }

    fn function_error() -> Result<Vec<u8>, InvokeError> {
        Err(InvokeError::FunctionError {
            error_type: "Boom".into(),
            error_message: "it failed".into(),
        })
    }

    const DELAYS: [Duration; 2] = [Duration::from_secs(60), Duration::from_secs(120)];

    #[test]
    fn a_function_error_is_retried_after_the_delays_then_given_up() {
        let config = EventInvokeConfig::default();
        let mut retries = Retries::default();
        let age = Duration::ZERO;
        let mut step = || retries.next_step(&function_error(), &config, DELAYS, age);
        assert_eq!(step(), NextStep::RetryAfter(DELAYS[0]));
        assert_eq!(step(), NextStep::RetryAfter(DELAYS[1]));
        assert_eq!(step(), NextStep::GiveUp("RetriesExhausted"));
    }

    #[test]
    fn a_throttle_is_retried_with_a_doubling_wait_until_the_event_is_too_old() {
        let config = EventInvokeConfig {
            maximum_event_age: Duration::from_secs(60),
            ..EventInvokeConfig::default()
        };
        let throttled = Err(InvokeError::Throttled { reserved: 1 });
        let mut retries = Retries::default();
        let waits: Vec<NextStep> = (0..4)
            .map(|_| retries.next_step(&throttled, &config, DELAYS, Duration::ZERO))
            .collect();
        let seconds = |s| NextStep::RetryAfter(Duration::from_secs(s));
        assert_eq!(waits, [seconds(1), seconds(2), seconds(4), seconds(8)]);
        assert_eq!(
            retries.function_errors, 0,
            "a throttle is no function error"
        );
        // 55 s old, the next wait (16 s) would take it past 60 s.
        let late = retries.next_step(&throttled, &config, DELAYS, Duration::from_secs(55));
        assert_eq!(late, NextStep::GiveUp("EventAgeExceeded"));
    }

    #[test]
    fn a_success_is_done_and_a_shutdown_drops_the_event() {
        let config = EventInvokeConfig::default();
        let mut retries = Retries::default();
        let ok = retries.next_step(&Ok(Vec::new()), &config, DELAYS, Duration::ZERO);
        assert_eq!(ok, NextStep::Done);
        let gone = Err(InvokeError::ShuttingDown);
        assert_eq!(
            retries.next_step(&gone, &config, DELAYS, Duration::ZERO),
            NextStep::Drop
        );
    }
}
