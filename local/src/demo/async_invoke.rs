//! The step of asynchronous invocation: an event Lambda accepts at once, retries, then gives up on
//! into the function's on-failure destination (scenario 11).

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Demo, Outcome, expect, proved};

/// The function CodeDeploy invokes asynchronously, and its `EventInvokeConfig` destination.
const HOOK: &str = "PreTrafficCheckFunction";
const HOOK_FAILURES: &str = "PreTrafficHookFailureQueue";

impl Demo<'_> {
    pub(super) async fn async_retries(&mut self) -> Outcome {
        // Exam: InvocationType Event. Lambda queues the event and answers 202 before the function
        // runs; the caller never sees the function's result or error.
        let url = format!(
            "http://{}/2015-03-31/functions/{HOOK}/invocations",
            self.stack.lambda().address()
        );
        let event = json!({"note": "not a CodeDeploy lifecycle event"});
        let accepted = self
            .http
            .post(&url)
            .header("X-Amz-Invocation-Type", "Event")
            .json(&event)
            .send()
            .await
            .map_err(|error| format!("Invoke: {error}"))?
            .status();
        let mut out = format!(
            "  aws lambda invoke --function-name {HOOK} --invocation-type Event --payload '{event}' -> {accepted}\n"
        );
        expect(accepted.as_u16() == 202, || {
            format!("an asynchronous invoke should be accepted with 202, got {accepted}")
        })?;

        // The hook fails on an event that is no CodeDeploy event: Lambda retries it twice (after
        // about 1 and 2 minutes on AWS, 1 and 2 s here), then sends its record to the queue.
        let record = self.invocation_record(HOOK_FAILURES, |_| true).await?;
        let context = &record["requestContext"];
        let _ = writeln!(
            out,
            "  {HOOK_FAILURES} received Lambda's invocation record: condition {}, approximateInvokeCount {}, error {}",
            context["condition"],
            context["approximateInvokeCount"],
            record["responsePayload"]["errorType"]
        );
        expect(
            context["condition"] == "RetriesExhausted" && context["approximateInvokeCount"] == 3,
            || format!("the record should say 3 attempts, then RetriesExhausted: {record}"),
        )?;
        expect(record["requestPayload"] == event, || {
            format!("the record should carry the event: {record}")
        })?;
        proved(
            out,
            "an asynchronous invocation is accepted before it runs (202); Lambda retries a failed event twice (3 attempts) and then sends the on-failure destination its record: the event, the error and the attempts, where a dead-letter queue would keep the event alone",
        )
    }

    /// The first invocation record in the on-failure queue `queue` (a logical id) that `wanted`
    /// accepts, waited for up to 60 s (the records Lambda sends there, as JSON).
    pub(super) async fn invocation_record(
        &self,
        queue: &str,
        wanted: impl Fn(&Value) -> bool,
    ) -> Result<Value, String> {
        let url = self
            .stack
            .deployed()
            .queue_url(queue)
            .ok_or_else(|| format!("the stack has no {queue}"))?
            .to_owned();
        let sqs = aws_sdk_sqs::Client::new(self.stack.aws());
        self.wait_for(Duration::from_secs(60), || async {
            let received = sqs
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(10)
                .send()
                .await
                .map_err(|error| format!("ReceiveMessage: {error:?}"))?;
            for message in received.messages() {
                let body = message.body().unwrap_or_default();
                let record: Value = serde_json::from_str(body)
                    .map_err(|error| format!("a record in {queue} is no JSON: {error}: {body}"))?;
                if wanted(&record) {
                    return Ok(Some(record));
                }
            }
            Ok(None)
        })
        .await
        .map_err(|error| format!("no record reached {queue}: {error}"))
    }
}
