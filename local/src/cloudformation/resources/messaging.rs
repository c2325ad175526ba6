//! The template's queues and subscriptions on moto: dead-letter queues first (a `RedrivePolicy`
//! names the dead-letter queue's ARN), then each queue subscribed to its topic, with its filter
//! policy and raw delivery. (Topics, one idempotent `CreateTopic` each, are created in
//! [`deploy`](super::deploy) itself.)

use std::collections::HashMap;

use aws_sdk_sqs::types::QueueAttributeName;

use aws_sdk_sns::types::Subscription;

use super::{DeployError, Deployed, Physical, failed, find_listed, incomplete};
use crate::cloudformation::Expr;
use crate::cloudformation::template::QueueSpec;

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

/// CreateQueue is idempotent while the attributes are the same: it returns the existing queue.
pub(super) async fn deploy_queue(
    sqs: &aws_sdk_sqs::Client,
    queue: &QueueSpec,
    deployed: &Deployed,
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
    let url = sqs
        .create_queue()
        .queue_name(&name)
        .set_attributes((!attributes.is_empty()).then_some(attributes))
        .send()
        .await
        .map_err(failed(logical_id, "CreateQueue"))?
        .queue_url
        .ok_or(incomplete(logical_id, "CreateQueue", "QueueUrl"))?;
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
        let request = sns.list_subscriptions_by_topic().topic_arn(&topic_arn);
        let listed = request.into_paginator().items().send();
        let of_queue = |s: &Subscription| s.endpoint() == Some(queue_arn.as_str());
        let existing = find_listed(
            listed.collect(),
            logical_id,
            "ListSubscriptionsByTopic",
            of_queue,
        )
        .await?
        .and_then(|s| s.subscription_arn);
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
                request
                    .send()
                    .await
                    .map_err(failed(logical_id, "Subscribe"))?
                    .subscription_arn
                    .ok_or(incomplete(logical_id, "Subscribe", "SubscriptionArn"))?
            }
        };
        deployed.record(logical_id, Physical::Subscription { arn });
    }
    Ok(())
}
