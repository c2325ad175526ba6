//! The template's queues, topics and subscriptions on moto: dead-letter queues first (a
//! `RedrivePolicy` names the dead-letter queue's ARN), then the topics, then each queue
//! subscribed to its topic, with its filter policy and raw delivery.
//!
//! Encryption at rest: a queue's `KmsMasterKeyId` and `KmsDataKeyReusePeriodSeconds` and a
//! topic's `KmsMasterKeyId` go to CreateQueue and CreateTopic as attributes, the key resolved
//! (`!Ref` of a key is its key id). moto 5.2.5 stores them as given and returns them from
//! GetQueueAttributes and GetTopicAttributes, but it is kinder than AWS: it checks neither that
//! the key exists nor that it is enabled, encrypts nothing, and takes any reuse period (the
//! template reader checks SQS's 60 to 86400). It also reports `SqsManagedSseEnabled: true` on
//! every queue it was not told otherwise, a key or not, where SQS reports `false` for a queue
//! with SSE-KMS: a queue with a key is created with `SqsManagedSseEnabled: false`, so that its
//! attributes read as AWS's do.

use std::collections::HashMap;

use aws_sdk_sqs::types::QueueAttributeName;

use aws_sdk_sns::types::{Subscription, Topic};

use super::{Deletion, DeployError, Deployed, Physical, failed, find_listed, incomplete};
use crate::cloudformation::Expr;
use crate::cloudformation::template::{QueueSpec, TopicSpec};

/// Dead-letter queues before the queues that redrive to them: a `RedrivePolicy` holds the
/// dead-letter queue's ARN.
pub(super) fn in_redrive_order(queues: &[QueueSpec]) -> Result<Vec<&QueueSpec>, DeployError> {
    let mut ordered: Vec<&QueueSpec> = Vec::new();
    let mut waiting: Vec<&QueueSpec> = queues.iter().collect();
    while !waiting.is_empty() {
        let (ready, blocked): (Vec<&QueueSpec>, Vec<&QueueSpec>) =
            waiting.into_iter().partition(|queue| match &queue.redrive {
                None => true,
                Some(redrive) => ordered
                    .iter()
                    .any(|done| done.logical_id == redrive.dead_letter_queue),
            });
        if ready.is_empty() {
            let cycle = blocked.iter().map(|q| q.logical_id.clone()).collect();
            return Err(DeployError::RedriveCycle(cycle));
        }
        ordered.extend(ready);
        waiting = blocked;
    }
    Ok(ordered)
}

/// The queue: found by name, or created. (CreateQueue would return an existing queue with the
/// same attributes too, but a rollback must know whether this deploy made it.)
pub(super) async fn deploy_queue(
    sqs: &aws_sdk_sqs::Client,
    queue: &QueueSpec,
    deployed: &mut Deployed,
) -> Result<Physical, DeployError> {
    let logical_id = queue.logical_id.as_str();
    let name = deployed.physical_name(logical_id);
    let mut attributes = HashMap::new();
    if let Some(seconds) = queue.visibility_timeout_seconds {
        attributes.insert(QueueAttributeName::VisibilityTimeout, seconds.to_string());
    }
    if let Some(seconds) = queue.message_retention_seconds {
        attributes.insert(
            QueueAttributeName::MessageRetentionPeriod,
            seconds.to_string(),
        );
    }
    if let Some(redrive) = &queue.redrive {
        let dead_letter_arn = deployed.resolve_for(
            logical_id,
            &Expr::GetAtt(redrive.dead_letter_queue.clone(), "Arn".into()),
        )?;
        let policy = serde_json::json!({
            "deadLetterTargetArn": dead_letter_arn,
            "maxReceiveCount": redrive.max_receive_count,
        });
        attributes.insert(QueueAttributeName::RedrivePolicy, policy.to_string());
    }
    let kms_master_key =
        deployed.resolve_optional_for(logical_id, queue.kms_master_key.as_ref())?;
    let sqs_managed_sse = queue
        .sqs_managed_sse
        .or(kms_master_key.as_ref().map(|_| false));
    if let Some(key) = kms_master_key {
        attributes.insert(QueueAttributeName::KmsMasterKeyId, key);
    }
    if let Some(seconds) = queue.kms_data_key_reuse_period_seconds {
        attributes.insert(
            QueueAttributeName::KmsDataKeyReusePeriodSeconds,
            seconds.to_string(),
        );
    }
    if let Some(enabled) = sqs_managed_sse {
        attributes.insert(
            QueueAttributeName::SqsManagedSseEnabled,
            enabled.to_string(),
        );
    }
    let existing = match sqs.get_queue_url().queue_name(&name).send().await {
        Ok(found) => found.queue_url,
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_queue_does_not_exist()) =>
        {
            None
        }
        Err(error) => return Err(failed(logical_id, "GetQueueUrl")(error)),
    };
    let url = match existing {
        Some(url) => url,
        None => {
            let url = sqs
                .create_queue()
                .queue_name(&name)
                .set_attributes((!attributes.is_empty()).then_some(attributes))
                .send()
                .await
                .map_err(failed(logical_id, "CreateQueue"))?
                .queue_url
                .ok_or(incomplete(logical_id, "CreateQueue", "QueueUrl"))?;
            let deletion = Deletion::Queue { url: url.clone() };
            deployed.created_now(logical_id, deletion);
            url
        }
    };
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(failed(logical_id, "GetQueueAttributes"))?
        .attributes
        .and_then(|mut attributes| attributes.remove(&QueueAttributeName::QueueArn))
        .ok_or(incomplete(logical_id, "GetQueueAttributes", "QueueArn"))?;
    Ok(Physical::Queue { url, arn, name })
}

/// The topic: found by name among the account's topics, or created.
pub(super) async fn deploy_topic(
    sns: &aws_sdk_sns::Client,
    topic: &TopicSpec,
    deployed: &mut Deployed,
) -> Result<Physical, DeployError> {
    let logical_id = topic.logical_id.as_str();
    let name = deployed.name_for(logical_id, topic.name.as_ref())?;
    let kms_master_key =
        deployed.resolve_optional_for(logical_id, topic.kms_master_key.as_ref())?;
    let suffix = format!(":{name}");
    let listed = sns.list_topics().into_paginator().items().send();
    let named = |t: &Topic| t.topic_arn().is_some_and(|arn| arn.ends_with(&suffix));
    let existing = find_listed(listed.collect(), logical_id, "ListTopics", named)
        .await?
        .and_then(|t| t.topic_arn);
    let arn = match existing {
        Some(arn) => arn,
        None => {
            let mut request = sns.create_topic().name(&name);
            if topic.tracing_active {
                request = request.attributes("TracingConfig", "Active");
            }
            if let Some(key) = kms_master_key {
                request = request.attributes("KmsMasterKeyId", key);
            }
            let arn = request
                .send()
                .await
                .map_err(failed(logical_id, "CreateTopic"))?
                .topic_arn
                .ok_or(incomplete(logical_id, "CreateTopic", "TopicArn"))?;
            let deletion = Deletion::Topic { arn: arn.clone() };
            deployed.created_now(logical_id, deletion);
            arn
        }
    };
    Ok(Physical::Topic { arn, name })
}

/// Subscribes each queue to its topic, unless the topic already has a subscription for it.
pub(super) async fn deploy_subscriptions(
    sns: &aws_sdk_sns::Client,
    deployed: &mut Deployed,
) -> Result<(), DeployError> {
    for subscription in deployed.template.subscriptions() {
        let logical_id = subscription.logical_id.as_str();
        let topic_arn = deployed.resolve_for(logical_id, &Expr::Ref(subscription.topic.clone()))?;
        let queue_arn = deployed.resolve_for(
            logical_id,
            &Expr::GetAtt(subscription.queue.clone(), "Arn".into()),
        )?;
        let existing = find_subscription(sns, logical_id, &topic_arn, &queue_arn).await?;
        let arn = match existing {
            Some(arn) => arn,
            None => {
                let mut request = sns
                    .subscribe()
                    .topic_arn(&topic_arn)
                    .protocol("sqs")
                    .endpoint(&queue_arn)
                    .return_subscription_arn(true)
                    .attributes(
                        "RawMessageDelivery",
                        subscription.raw_message_delivery.to_string(),
                    );
                if let Some(policy) = &subscription.filter_policy {
                    request = request.attributes("FilterPolicy", policy.to_string());
                }
                if let Some(scope) = &subscription.filter_policy_scope {
                    request = request.attributes("FilterPolicyScope", scope);
                }
                let subscribed = match request.send().await {
                    Ok(subscribed) => subscribed,
                    Err(error) => {
                        // moto stores the subscription before it refuses a bad filter policy
                        // (SNS makes none): a half-made subscription is the rollback's to delete,
                        // as CloudFormation deletes a resource in CREATE_FAILED.
                        let left = find_subscription(sns, logical_id, &topic_arn, &queue_arn);
                        if let Ok(Some(arn)) = left.await {
                            deployed.created_now(logical_id, Deletion::Subscription { arn });
                        }
                        return Err(failed(logical_id, "Subscribe")(error));
                    }
                };
                let arn = subscribed.subscription_arn.ok_or(incomplete(
                    logical_id,
                    "Subscribe",
                    "SubscriptionArn",
                ))?;
                let deletion = Deletion::Subscription { arn: arn.clone() };
                deployed.created_now(logical_id, deletion);
                arn
            }
        };
        deployed.record(logical_id, Physical::Subscription { arn });
    }
    Ok(())
}

/// The ARN of the topic's subscription for the queue, if there is one.
async fn find_subscription(
    sns: &aws_sdk_sns::Client,
    logical_id: &str,
    topic_arn: &str,
    queue_arn: &str,
) -> Result<Option<String>, DeployError> {
    let request = sns.list_subscriptions_by_topic().topic_arn(topic_arn);
    let listed = request.into_paginator().items().send();
    let of_queue = |s: &Subscription| s.endpoint() == Some(queue_arn);
    let found = find_listed(
        listed.collect(),
        logical_id,
        "ListSubscriptionsByTopic",
        of_queue,
    );
    Ok(found.await?.and_then(|s| s.subscription_arn))
}
