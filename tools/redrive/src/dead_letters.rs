//! A dead-letter queue, redriven to its source queue with SQS's message move task.
//!
//! Exam: DLQ redrive. Once the cause of a poison message is fixed (a new version deployed), its
//! messages go back to the queue they came from, to be processed again. SQS does the moving
//! itself: `StartMessageMoveTask` (source: the DLQ; destination: the source queue, or none for
//! "each message's own source queue") starts an asynchronous task, `ListMessageMoveTasks` says
//! how far it got (`RUNNING`, `COMPLETED`, `CANCELLED`, `FAILED`). This is what the console's
//! "Start DLQ redrive" button does; no message passes through this program. The messages keep
//! their ids and bodies, and their receive count starts again from zero.
//!
//! A consumer that receives a redriven event again is harmless: both consumers are idempotent on
//! the event (`eventId`, and the order's status and version).

use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_sqs::types::QueueAttributeName;

use crate::resources::DeadLetterQueue;

/// A redrive that could not be started or did not complete. Each names the queue.
#[derive(Debug, thiserror::Error)]
pub enum RedriveError {
    #[error("reading the ARN of {url}: {cause}")]
    QueueArn { url: String, cause: String },
    #[error("StartMessageMoveTask from {source_arn}: {cause}")]
    Start { source_arn: String, cause: String },
    #[error("ListMessageMoveTasks of {source_arn}: {cause}")]
    Progress { source_arn: String, cause: String },
    #[error("the move task from {source_arn} ended {status}: {reason}")]
    Ended {
        source_arn: String,
        status: String,
        reason: String,
    },
    #[error(
        "the move task from {source_arn} is still running after {waited:?}; see ListMessageMoveTasks"
    )]
    StillRunning {
        source_arn: String,
        waited: Duration,
    },
}

/// What a completed redrive moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redriven {
    pub source_arn: String,
    pub destination_arn: String,
    pub messages_moved: i64,
}

/// How long to wait for a move task, and how often to look.
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    pub poll_every: Duration,
    pub give_up_after: Duration,
}

impl Patience {
    /// SQS moves up to 500 messages a second by default: a DLQ of this app empties in seconds.
    pub const DEFAULT: Self = Self {
        poll_every: Duration::from_secs(1),
        give_up_after: Duration::from_secs(300),
    };
}

/// Moves every message of `queue`'s DLQ back to its source queue, and waits for the task to end.
pub async fn redrive(
    sqs: &Client,
    queue: &DeadLetterQueue,
    patience: Patience,
) -> Result<Redriven, RedriveError> {
    let source_arn = queue_arn(sqs, &queue.url).await?;
    let destination_arn = queue_arn(sqs, &queue.source_url).await?;
    sqs.start_message_move_task()
        .source_arn(&source_arn)
        .destination_arn(&destination_arn)
        .send()
        .await
        .map_err(|error| RedriveError::Start {
            source_arn: source_arn.clone(),
            cause: refusal(&error),
        })?;

    let mut waited = Duration::ZERO;
    loop {
        let tasks = sqs
            .list_message_move_tasks()
            .source_arn(&source_arn)
            .max_results(1)
            .send()
            .await
            .map_err(|error| RedriveError::Progress {
                source_arn: source_arn.clone(),
                cause: DisplayErrorContext(&error).to_string(),
            })?;
        // The most recent task first.
        let latest = tasks.results.unwrap_or_default().into_iter().next();
        let status = latest.as_ref().and_then(|task| task.status.as_deref());
        match (status, &latest) {
            (Some("COMPLETED"), Some(task)) => {
                return Ok(Redriven {
                    source_arn,
                    destination_arn,
                    messages_moved: task.approximate_number_of_messages_moved,
                });
            }
            (Some("RUNNING" | "CANCELLING"), _) | (None, _) => {}
            (Some(other), task) => {
                return Err(RedriveError::Ended {
                    status: other.to_owned(),
                    reason: task
                        .as_ref()
                        .and_then(|task| task.failure_reason.clone())
                        .unwrap_or_else(|| "no reason given".into()),
                    source_arn,
                });
            }
        }
        if waited >= patience.give_up_after {
            return Err(RedriveError::StillRunning { source_arn, waited });
        }
        tokio::time::sleep(patience.poll_every).await;
        waited += patience.poll_every;
    }
}

/// Why SQS refused: its error code and message, or, when the answer holds no AWS error at all,
/// the HTTP status (an emulator without the operation answers so: plain moto 5.2.5 answers 500).
fn refusal<E, R>(error: &aws_sdk_sqs::error::SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
    aws_sdk_sqs::error::SdkError<E, R>: ProvideErrorMetadata,
{
    match (error.code(), error.as_service_error()) {
        (Some(code), _) => format!("{code}: {}", error.message().unwrap_or("no message")),
        (None, Some(_)) => format!(
            "an answer with no AWS error in it ({error}): does this endpoint implement \
             StartMessageMoveTask? (plain moto 5.2.5 does not; scripts/moto_server.py adds it)"
        ),
        (None, None) => DisplayErrorContext(error).to_string(),
    }
}

async fn queue_arn(sqs: &Client, url: &str) -> Result<String, RedriveError> {
    let failed = |cause: String| RedriveError::QueueArn {
        url: url.to_owned(),
        cause,
    };
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|error| failed(DisplayErrorContext(&error).to_string()))?
        .attributes
        .and_then(|mut attributes| attributes.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| failed("no QueueArn attribute".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesOutput;
    use aws_sdk_sqs::operation::list_message_move_tasks::ListMessageMoveTasksOutput;
    use aws_sdk_sqs::operation::start_message_move_task::StartMessageMoveTaskOutput;
    use aws_sdk_sqs::types::ListMessageMoveTasksResultEntry;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    const DLQ_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:orders-FulfillmentDeadLetterQueue-X";
    const SOURCE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:orders-FulfillmentQueue-Y";

    const DLQ_URL: &str =
        "https://sqs.us-east-1.amazonaws.com/123456789012/orders-FulfillmentDeadLetterQueue-X";
    const SOURCE_URL: &str =
        "https://sqs.us-east-1.amazonaws.com/123456789012/orders-FulfillmentQueue-Y";

    fn queue() -> DeadLetterQueue {
        DeadLetterQueue {
            name: "fulfillment",
            url: DLQ_URL.into(),
            source_url: SOURCE_URL.into(),
        }
    }

    /// SQS as the redrive sees it: both queues' ARNs resolve, and `start` and `progress` answer
    /// the move task's calls.
    fn sqs(start: &aws_smithy_mocks::Rule, progress: &aws_smithy_mocks::Rule) -> Client {
        let (dlq, source) = (arn_of(DLQ_URL, DLQ_ARN), arn_of(SOURCE_URL, SOURCE_ARN));
        mock_client!(
            aws_sdk_sqs,
            RuleMode::MatchAny,
            [&dlq, &source, start, progress]
        )
    }

    fn arn_of(url: &'static str, arn: &'static str) -> aws_smithy_mocks::Rule {
        mock!(Client::get_queue_attributes)
            .match_requests(move |request| request.queue_url() == Some(url))
            .then_output(move || {
                GetQueueAttributesOutput::builder()
                    .attributes(QueueAttributeName::QueueArn, arn)
                    .build()
            })
    }

    fn task(status: &str, moved: i64) -> ListMessageMoveTasksOutput {
        ListMessageMoveTasksOutput::builder()
            .results(
                ListMessageMoveTasksResultEntry::builder()
                    .status(status)
                    .source_arn(DLQ_ARN)
                    .approximate_number_of_messages_moved(moved)
                    .failure_reason("AccessDenied on the destination")
                    .build(),
            )
            .build()
    }

    const QUICK: Patience = Patience {
        poll_every: Duration::from_millis(1),
        give_up_after: Duration::from_secs(1),
    };

    #[tokio::test]
    async fn the_dlq_is_moved_to_its_source_queue_and_the_task_followed_to_its_end() {
        let start = mock!(Client::start_message_move_task)
            .match_requests(|request| {
                request.source_arn() == Some(DLQ_ARN)
                    && request.destination_arn() == Some(SOURCE_ARN)
            })
            .then_output(|| {
                StartMessageMoveTaskOutput::builder()
                    .task_handle("h")
                    .build()
            });
        let progress = mock!(Client::list_message_move_tasks)
            .match_requests(|request| request.source_arn() == Some(DLQ_ARN))
            .sequence()
            .output(|| task("RUNNING", 1))
            .times(2)
            .output(|| task("COMPLETED", 3))
            .build();
        let sqs = sqs(&start, &progress);
        let redriven = redrive(&sqs, &queue(), QUICK).await.unwrap();
        assert_eq!(
            redriven,
            Redriven {
                source_arn: DLQ_ARN.into(),
                destination_arn: SOURCE_ARN.into(),
                messages_moved: 3
            }
        );
        assert_eq!(start.num_calls(), 1);
        assert_eq!(progress.num_calls(), 3);
    }

    #[tokio::test]
    async fn a_failed_task_is_an_error_with_its_reason() {
        let start = mock!(Client::start_message_move_task)
            .then_output(|| StartMessageMoveTaskOutput::builder().build());
        let progress = mock!(Client::list_message_move_tasks).then_output(|| task("FAILED", 0));
        let sqs = sqs(&start, &progress);
        let error = redrive(&sqs, &queue(), QUICK).await.unwrap_err();
        assert!(
            matches!(&error, RedriveError::Ended { status, .. } if status == "FAILED"),
            "{error}"
        );
        assert!(error.to_string().contains("AccessDenied"), "{error}");
    }
}
