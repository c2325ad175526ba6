//! Which queues and topic to work on: a deployed stack's, or the local stack's (`make dev`).
//!
//! A deployed stack names its resources in its outputs (`template.yaml`'s `Outputs`:
//! `FulfillmentDeadLetterQueueUrl`, `StreamFailureQueueUrl`, `OrderEventsTopicArn`, ...), which
//! `sam list stack-outputs --output json` prints: CloudFormation adds a random suffix to every
//! physical name, so the outputs are the only stable way to find them. The local stack names
//! each resource `<stack>-<LogicalId>` (`orders-local-FulfillmentDeadLetterQueue`, see
//! `local/src/cloudformation/resources/`), so there they are looked up by name.

use std::collections::HashMap;

use serde::Deserialize;

/// A dead-letter queue and the queue its messages came from (its redrive policy's source).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterQueue {
    /// What the user calls it: `fulfillment`, `audit`.
    pub name: &'static str,
    pub url: String,
    pub source_url: String,
}

/// Everything `make redrive` works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    pub dead_letter_queues: Vec<DeadLetterQueue>,
    /// The stream's on-failure destination.
    pub stream_failure_queue_url: String,
    /// Where replayed events are published (`OrderEvents`).
    pub topic_arn: String,
}

/// The resources could not be found.
#[derive(Debug, thiserror::Error)]
pub enum ResourcesError {
    #[error("the stack outputs are not `sam list stack-outputs --output json`: {0}")]
    Unreadable(String),
    #[error("the stack has no output {0} (is it this project's template?)")]
    MissingOutput(&'static str),
    #[error("no queue {name} on this endpoint (is the local stack running? `make dev`): {cause}")]
    NoQueue { name: String, cause: String },
    #[error("no topic named {0} on this endpoint (is the local stack running? `make dev`)")]
    NoTopic(String),
    #[error("listing the topics: {0}")]
    ListTopics(String),
}

/// One output of `sam list stack-outputs --output json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StackOutput {
    output_key: String,
    output_value: String,
}

/// The (user's name, queue output, source queue output) of each dead-letter queue.
const DEAD_LETTER_QUEUES: [(&str, &str, &str); 2] = [
    (
        "fulfillment",
        "FulfillmentDeadLetterQueueUrl",
        "FulfillmentQueueUrl",
    ),
    ("audit", "AuditDeadLetterQueueUrl", "AuditQueueUrl"),
];

impl Resources {
    /// From a deployed stack's outputs, as `sam list stack-outputs --output json` prints them.
    pub fn from_stack_outputs(json: &str) -> Result<Self, ResourcesError> {
        let outputs: Vec<StackOutput> = serde_json::from_str(json)
            .map_err(|error| ResourcesError::Unreadable(error.to_string()))?;
        let outputs: HashMap<String, String> = outputs
            .into_iter()
            .map(|output| (output.output_key, output.output_value))
            .collect();
        let output = |key: &'static str| {
            outputs
                .get(key)
                .cloned()
                .ok_or(ResourcesError::MissingOutput(key))
        };
        let mut dead_letter_queues = Vec::new();
        for (name, dlq, source) in DEAD_LETTER_QUEUES {
            dead_letter_queues.push(DeadLetterQueue {
                name,
                url: output(dlq)?,
                source_url: output(source)?,
            });
        }
        Ok(Self {
            dead_letter_queues,
            stream_failure_queue_url: output("StreamFailureQueueUrl")?,
            topic_arn: output("OrderEventsTopicArn")?,
        })
    }

    /// The local stack's (`make dev`), named `<stack>-<LogicalId>`.
    pub async fn of_local_stack(
        sqs: &aws_sdk_sqs::Client,
        sns: &aws_sdk_sns::Client,
        stack: &str,
    ) -> Result<Self, ResourcesError> {
        let queue_url = |logical_id: &str| {
            let name = format!("{stack}-{logical_id}");
            async move {
                sqs.get_queue_url()
                    .queue_name(&name)
                    .send()
                    .await
                    .map_err(|error| ResourcesError::NoQueue {
                        name: name.clone(),
                        cause: aws_sdk_sqs::error::DisplayErrorContext(&error).to_string(),
                    })?
                    .queue_url
                    .ok_or(ResourcesError::NoQueue {
                        name,
                        cause: "no URL".into(),
                    })
            }
        };
        let mut dead_letter_queues = Vec::new();
        for (name, dlq, source) in DEAD_LETTER_QUEUES {
            // The outputs' keys are the logical ids plus `Url`.
            dead_letter_queues.push(DeadLetterQueue {
                name,
                url: queue_url(dlq.trim_end_matches("Url")).await?,
                source_url: queue_url(source.trim_end_matches("Url")).await?,
            });
        }
        // The template names the topic itself (`TopicName: ${AWS::StackName}-order-events`: the
        // messages key's policy names it), so it is not `<stack>-<LogicalId>` like the queues.
        let topic_name = format!("{stack}-order-events");
        let mut topics = sns.list_topics().into_paginator().items().send();
        let mut topic_arn = None;
        while let Some(topic) = topics.next().await {
            let topic = topic.map_err(|error| ResourcesError::ListTopics(format!("{error:?}")))?;
            if let Some(arn) = topic.topic_arn
                && arn.rsplit(':').next() == Some(topic_name.as_str())
            {
                topic_arn = Some(arn);
                break;
            }
        }
        Ok(Self {
            dead_letter_queues,
            stream_failure_queue_url: queue_url("StreamFailureQueue").await?,
            topic_arn: topic_arn.ok_or(ResourcesError::NoTopic(topic_name))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deployed_stack_is_read_from_its_outputs() {
        let outputs = r#"[
          {"OutputKey": "FulfillmentQueueUrl", "OutputValue": "https://sqs/1/f", "Description": "-"},
          {"OutputKey": "FulfillmentDeadLetterQueueUrl", "OutputValue": "https://sqs/1/fd", "Description": "-"},
          {"OutputKey": "AuditQueueUrl", "OutputValue": "https://sqs/1/a", "Description": "-"},
          {"OutputKey": "AuditDeadLetterQueueUrl", "OutputValue": "https://sqs/1/ad", "Description": "-"},
          {"OutputKey": "StreamFailureQueueUrl", "OutputValue": "https://sqs/1/s", "Description": "-"},
          {"OutputKey": "OrderEventsTopicArn", "OutputValue": "arn:aws:sns:us-east-1:1:t", "Description": "-"}
        ]"#;
        let resources = Resources::from_stack_outputs(outputs).unwrap();
        assert_eq!(
            resources.dead_letter_queues[0],
            DeadLetterQueue {
                name: "fulfillment",
                url: "https://sqs/1/fd".into(),
                source_url: "https://sqs/1/f".into()
            }
        );
        assert_eq!(resources.dead_letter_queues[1].url, "https://sqs/1/ad");
        assert_eq!(resources.stream_failure_queue_url, "https://sqs/1/s");
        assert_eq!(resources.topic_arn, "arn:aws:sns:us-east-1:1:t");

        let error = Resources::from_stack_outputs("[]").unwrap_err();
        assert!(matches!(error, ResourcesError::MissingOutput(_)), "{error}");
    }
}
