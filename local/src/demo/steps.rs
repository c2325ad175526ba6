//! The demo's steps: each one's name (`make demo STEP=<name>`), title, exam concept, the scenario
//! of `../shared/exam/concepts.md` §17 it shows, and the steps it builds on.

use super::{Demo, Outcome};

/// One step of the demo.
#[derive(Debug)]
pub struct Step {
    /// How `make demo STEP=<name>` and `orders-demo --step <name>` name it: the name of the
    /// `Demo` method that runs it.
    pub name: &'static str,
    pub title: &'static str,
    /// The exam concept it shows.
    pub concept: &'static str,
    /// The scenario of `concepts.md` §17 it shows, or what else it is.
    pub scenario: &'static str,
    /// The steps whose results it uses (the order of step `create`, its version 2 of `conflict`,
    /// the pipeline `fan_out` waited for): run first when the step runs alone.
    pub needs: &'static [&'static str],
}

/// Every step, in the order `make demo` runs them. `throttled` is last: it empties the token
/// bucket of `POST /orders`, which would throttle a step after it.
pub const STEPS: &[Step] = &[
    Step {
        name: "create",
        title: "Create an order",
        concept: "API Gateway REST proxy -> Lambda -> DynamoDB conditional put",
        scenario: "scenario 2",
        needs: &[],
    },
    Step {
        name: "two_customers",
        title: "Two customers, one order",
        concept: "Cognito user pool authorizer, API keys, ownership, groups",
        scenario: "the identity step",
        needs: &["create"],
    },
    Step {
        name: "cors",
        title: "A browser asks first",
        concept: "CORS with a Lambda proxy integration: the preflight and the function's header",
        scenario: "a §17 mention",
        needs: &[],
    },
    Step {
        name: "conflict",
        title: "Two clients, one version",
        concept: "optimistic locking: ConditionExpression version = :expected",
        scenario: "scenario 1",
        needs: &["create"],
    },
    Step {
        name: "idempotent_retry",
        title: "Retry with an Idempotency-Key",
        concept: "idempotency: TransactWriteItems with a condition",
        scenario: "scenario 2",
        needs: &[],
    },
    Step {
        name: "all_or_nothing",
        title: "All or nothing",
        concept: "TransactWriteItems: one failed condition cancels every write",
        scenario: "scenario 4",
        needs: &["create"],
    },
    Step {
        name: "envelope",
        title: "What the table holds",
        concept: "KMS envelope encryption: GenerateDataKey + AES-256-GCM",
        scenario: "scenario 14",
        needs: &["create"],
    },
    Step {
        name: "fan_out",
        title: "The event fans out",
        concept: "DynamoDB stream -> SNS -> SQS, subscription filter policy",
        scenario: "scenario 12",
        needs: &["create", "conflict"],
    },
    Step {
        name: "encrypted_hops",
        title: "Every hop encrypted at rest",
        concept: "SSE-KMS on SNS and SQS with a customer managed key; the key policy for SNS",
        scenario: "§4 and §5, not in §17",
        needs: &[],
    },
    Step {
        name: "confirmed",
        title: "The order is confirmed",
        concept: "an idempotent SQS consumer with a conditional update",
        scenario: "scenario 13",
        needs: &["create", "conflict", "fan_out"],
    },
    Step {
        name: "redelivered",
        title: "The same event, delivered again",
        concept: "at-least-once delivery: an idempotent consumer; an atomic counter is not idempotent",
        scenario: "scenarios 13 and 3",
        needs: &["create", "conflict", "fan_out"],
    },
    Step {
        name: "poison",
        title: "A poison message",
        concept: "partial batch responses, redrive to a dead-letter queue",
        scenario: "scenario 13",
        needs: &["create"],
    },
    Step {
        name: "trace",
        title: "The trace of one request",
        concept: "X-Ray: segments, subsegments, annotations",
        scenario: "a §17 mention",
        needs: &["create"],
    },
    Step {
        name: "expired_but_visible",
        title: "Expired, still there",
        concept: "DynamoDB TTL deletes in the background, reads still return expired items",
        scenario: "scenario 7",
        needs: &[],
    },
    Step {
        name: "capacity",
        title: "What a read costs",
        concept: "read/write capacity units, ReturnConsumedCapacity",
        scenario: "scenario 5",
        needs: &["create"],
    },
    Step {
        name: "list_pages",
        title: "A customer's orders, page by page",
        concept: "Query on a GSI (eventually consistent only), ScanIndexForward=false, Limit, LastEvaluatedKey",
        scenario: "scenario 6",
        needs: &[],
    },
    Step {
        name: "async_retries",
        title: "An event Lambda gives up on",
        concept: "asynchronous invocation: 202, two retries, the on-failure destination's record",
        scenario: "scenario 11",
        needs: &[],
    },
    Step {
        name: "merchant_webhook",
        title: "The merchant is told, or the failure is kept",
        concept: "SNS invokes Lambda asynchronously: a webhook signed with a Secrets Manager key, retries, the on-failure destination",
        scenario: "scenario 11",
        needs: &[],
    },
    Step {
        name: "integration_timeout",
        title: "Which timeout ends first",
        concept: "API Gateway integration timeout (504 INTEGRATION_TIMEOUT) vs the function's Timeout (502)",
        scenario: "scenario 9",
        needs: &[],
    },
    Step {
        name: "reserved_concurrency",
        title: "One at a time",
        concept: "Lambda reserved concurrency: 429 TooManyRequestsException, a 500 behind API Gateway, async accepted",
        scenario: "scenario 10",
        needs: &[],
    },
    Step {
        name: "throttled",
        title: "Too many at once",
        concept: "API Gateway throttling (token bucket), 429, exponential backoff with jitter",
        scenario: "scenario 8",
        needs: &[],
    },
];

/// A step name that is not one of [`STEPS`].
#[derive(Debug, thiserror::Error)]
#[error("no demo step `{name}`; the steps are: {}", step_names())]
pub struct UnknownStep {
    pub name: String,
}

fn step_names() -> String {
    STEPS
        .iter()
        .map(|step| step.name)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Step {
    /// The step named `name`.
    pub fn named(name: &str) -> Result<&'static Step, UnknownStep> {
        STEPS
            .iter()
            .find(|step| step.name == name)
            .ok_or_else(|| UnknownStep {
                name: name.to_owned(),
            })
    }

    /// The steps to run before this one when it runs alone, in the demo's order.
    pub fn set_up(&self) -> Vec<&'static Step> {
        STEPS
            .iter()
            .filter(|step| self.needs.contains(&step.name))
            .collect()
    }

    /// One line of `orders-demo --list`.
    pub fn describe(&self) -> String {
        format!(
            "{:<20} {:<28} {} (exam: {})",
            self.name, self.scenario, self.title, self.concept
        )
    }
}

impl Demo<'_> {
    /// Runs the step named `name` (one of [`STEPS`]).
    pub(super) async fn perform(&mut self, name: &str) -> Outcome {
        match name {
            "create" => self.create().await,
            "two_customers" => self.two_customers().await,
            "cors" => self.cors().await,
            "conflict" => self.conflict().await,
            "idempotent_retry" => self.idempotent_retry().await,
            "all_or_nothing" => self.all_or_nothing().await,
            "envelope" => self.envelope().await,
            "fan_out" => self.fan_out().await,
            "encrypted_hops" => self.encrypted_hops().await,
            "confirmed" => self.confirmed().await,
            "redelivered" => self.redelivered().await,
            "poison" => self.poison().await,
            "trace" => self.trace().await,
            "expired_but_visible" => self.expired_but_visible().await,
            "capacity" => self.capacity().await,
            "list_pages" => self.list_pages().await,
            "async_retries" => self.async_retries().await,
            "merchant_webhook" => self.merchant_webhook().await,
            "integration_timeout" => self.integration_timeout().await,
            "reserved_concurrency" => self.reserved_concurrency().await,
            "throttled" => self.throttled().await,
            other => Err(UnknownStep {
                name: other.to_owned(),
            }
            .to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_needs_only_steps_that_run_before_it() {
        for (index, step) in STEPS.iter().enumerate() {
            for need in step.needs {
                let position = STEPS.iter().position(|s| s.name == *need);
                assert!(
                    position.is_some_and(|p| p < index),
                    "{} needs {need}",
                    step.name
                );
                // What a step needs, it needs with what that needs: the list is closed.
                let needed = Step::named(need).unwrap();
                for further in needed.needs {
                    assert!(
                        step.needs.contains(further),
                        "{} needs {further}",
                        step.name
                    );
                }
            }
        }
    }

    #[test]
    fn an_unknown_name_is_refused_with_the_list_of_steps() {
        let error = Step::named("nope").unwrap_err().to_string();
        assert!(error.contains("no demo step `nope`"), "{error}");
        for step in STEPS {
            assert!(error.contains(step.name), "{error}");
        }
    }
}
