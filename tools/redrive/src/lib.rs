//! `make redrive`: what failed in the event pipeline, processed again once its cause is fixed.
//!
//! Two places hold what the pipeline could not process, and each is replayed its own way:
//!
//! | where | holds | replayed by |
//! |---|---|---|
//! | `FulfillmentDeadLetterQueue`, `AuditDeadLetterQueue` | the event messages themselves, after 5 receives | SQS itself: a message move task back to the source queue ([`dead_letters`]) |
//! | `StreamFailureQueue` (the stream's on-failure destination) | only where the records are: shard and sequence numbers | reading the records back from the stream and publishing their events ([`stream_failures`], [`stream_reader`]) |
//!
//! Both are safe to repeat: the consumers are idempotent on the event (`eventId`, and the
//! order's status and version), so an event delivered once more changes nothing.
//!
//! The resources come from a deployed stack's outputs or, for `make dev`, from the local stack's
//! names ([`resources`]); the clients are the functions' own (`config::aws_sdk_config`: the same
//! timeouts, `AWS_ENDPOINT_URL` for the local stack).

pub mod dead_letters;
pub mod resources;
pub mod stream_failures;
pub mod stream_reader;

use std::fmt;

use orders_shared::messaging::EventPublisher;

use dead_letters::{Patience, RedriveError, Redriven};
use resources::Resources;
use stream_failures::{QueueError, Replay};

/// Which queue to redrive (`QUEUE=` of `make redrive`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    All,
    /// One dead-letter queue, by its name in [`resources::DeadLetterQueue`].
    DeadLetters(&'static str),
    Stream,
}

impl Selection {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "all" => Some(Self::All),
            "fulfillment" => Some(Self::DeadLetters("fulfillment")),
            "audit" => Some(Self::DeadLetters("audit")),
            "stream" => Some(Self::Stream),
            _ => None,
        }
    }
}

/// The clients a redrive uses, built once.
pub struct Clients {
    pub sqs: aws_sdk_sqs::Client,
    pub streams: aws_sdk_dynamodbstreams::Client,
    pub sns: aws_sdk_sns::Client,
}

/// What a run did, queue by queue.
#[derive(Debug, Default)]
pub struct Report {
    pub redriven: Vec<(&'static str, Result<Redriven, RedriveError>)>,
    pub replayed: Option<Result<Vec<Replay>, QueueError>>,
}

impl Report {
    /// Whether everything selected was redriven or replayed.
    pub fn succeeded(&self) -> bool {
        self.redriven.iter().all(|(_, result)| result.is_ok())
            && match &self.replayed {
                None => true,
                Some(Ok(replays)) => replays
                    .iter()
                    .all(|replay| matches!(replay, Replay::Published { .. })),
                Some(Err(_)) => false,
            }
    }
}

/// Redrives the selected dead-letter queues, then replays the stream's failures.
pub async fn run(clients: &Clients, resources: &Resources, selection: Selection) -> Report {
    let mut report = Report::default();
    for queue in &resources.dead_letter_queues {
        if matches!(selection, Selection::All) || selection == Selection::DeadLetters(queue.name) {
            let result = dead_letters::redrive(&clients.sqs, queue, Patience::DEFAULT).await;
            report.redriven.push((queue.name, result));
        }
    }
    if matches!(selection, Selection::All | Selection::Stream) {
        let publisher = EventPublisher::new(clients.sns.clone(), &resources.topic_arn);
        report.replayed = Some(
            stream_failures::replay_all(
                &clients.sqs,
                &clients.streams,
                &publisher,
                &resources.stream_failure_queue_url,
            )
            .await,
        );
    }
    report
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, result) in &self.redriven {
            match result {
                Ok(redriven) => writeln!(
                    f,
                    "{name} DLQ: {} message(s) moved back to {}",
                    redriven.messages_moved, redriven.destination_arn
                )?,
                Err(error) => writeln!(f, "{name} DLQ: not redriven: {error}")?,
            }
        }
        match &self.replayed {
            None => {}
            Some(Err(error)) => writeln!(f, "stream failures: not replayed: {error}")?,
            Some(Ok(replays)) if replays.is_empty() => {
                writeln!(f, "stream failures: none waiting")?
            }
            Some(Ok(replays)) => {
                for replay in replays {
                    match replay {
                        Replay::Published { records, events } => writeln!(
                            f,
                            "stream failure: {records} record(s) read back, {events} event(s) published, message deleted"
                        )?,
                        Replay::Kept { message_id, why } => {
                            writeln!(f, "stream failure {message_id}: kept: {why}")?
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
