//! Every hop encrypted at rest. Exam: SSE-KMS on SNS and SQS with a customer managed key
//! (`KmsMasterKeyId`), SQS's data key reuse (`KmsDataKeyReusePeriodSeconds`), and the key policy
//! SNS needs to deliver to an encrypted queue.
//!
//! The step reads back what the local stack declared on moto: the key of the topic and of every
//! queue, told apart by the stack's two aliases. moto stores those attributes but encrypts nothing
//! and evaluates no key policy, so the step shows the declaration, not the encryption: a key
//! policy that forgot SNS would break deliveries on AWS and not here, which is why
//! `tests/key_policies.rs` checks that policy on the translated template.

use std::fmt::Write as _;

use aws_sdk_sqs::types::QueueAttributeName;

use super::{Demo, Outcome, expect, proved};
use crate::cloudformation::template::EventSpec;

/// The reuse period the template gives every queue (SQS's default, 5 minutes, said explicitly).
const REUSE_PERIOD_SECONDS: &str = "300";

impl Demo<'_> {
    pub(super) async fn encrypted_hops(&mut self) -> Outcome {
        let deployed = self.stack.deployed();
        let stack = deployed.stack_name();
        let aws = self.stack.aws();
        let kms = aws_sdk_kms::Client::new(aws);
        let (sns, sqs) = (aws_sdk_sns::Client::new(aws), aws_sdk_sqs::Client::new(aws));

        let mut out = String::new();
        let messages = key_id(&kms, &format!("alias/{stack}-messages")).await?;
        let orders = key_id(&kms, &format!("alias/{stack}-orders")).await?;
        let _ = writeln!(
            out,
            "  aws kms describe-key --key-id alias/{stack}-messages -> MessagesKey ({messages})\n  aws kms describe-key --key-id alias/{stack}-orders   -> OrdersKey ({orders})"
        );
        let name = |id: &str| {
            if id == messages {
                "MessagesKey"
            } else if id == orders {
                "OrdersKey"
            } else {
                "a key of no alias of the stack"
            }
        };

        let resources = deployed.resources();
        let of_type =
            |kind: &'static str| resources.iter().filter(move |r| r.resource_type == kind);
        // (hop, the key id it names, its reuse period if a queue)
        let mut hops: Vec<(String, String, Option<String>)> = Vec::new();
        let _ = writeln!(
            out,
            "  aws sns get-topic-attributes --topic-arn <each topic>"
        );
        for topic in of_type("AWS::SNS::Topic") {
            let attributes = sns
                .get_topic_attributes()
                .topic_arn(&topic.physical_id)
                .send()
                .await
                .map_err(|error| format!("GetTopicAttributes: {error:?}"))?
                .attributes
                .unwrap_or_default();
            let key = hop_key(&kms, &topic.logical_id, attributes.get("KmsMasterKeyId")).await?;
            let _ = writeln!(out, "  {:<32} -> {} ({key})", topic.logical_id, name(&key));
            hops.push((topic.logical_id.clone(), key, None));
        }

        let _ = writeln!(
            out,
            "  aws sqs get-queue-attributes --queue-url <each queue> --attribute-names KmsMasterKeyId KmsDataKeyReusePeriodSeconds SqsManagedSseEnabled"
        );
        // The local stack's own queue between the topic and a function it invokes (SNS pushes to
        // Lambda on AWS, and keeps nothing): not the template's, so not a hop.
        let stand_ins: Vec<String> = deployed
            .template()
            .functions()
            .into_iter()
            .flat_map(|function| function.events)
            .filter_map(|event| match event {
                EventSpec::Sns(sns) => Some(sns.delivery_queue),
                _ => None,
            })
            .collect();
        for queue in of_type("AWS::SQS::Queue").filter(|q| !stand_ins.contains(&q.logical_id)) {
            let attributes = sqs
                .get_queue_attributes()
                .queue_url(&queue.physical_id)
                .attribute_names(QueueAttributeName::KmsMasterKeyId)
                .attribute_names(QueueAttributeName::KmsDataKeyReusePeriodSeconds)
                .attribute_names(QueueAttributeName::SqsManagedSseEnabled)
                .send()
                .await
                .map_err(|error| format!("GetQueueAttributes: {error:?}"))?
                .attributes
                .unwrap_or_default();
            let attribute = |name| attributes.get(&name).map_or("-", String::as_str).to_owned();
            let key = hop_key(
                &kms,
                &queue.logical_id,
                attributes.get(&QueueAttributeName::KmsMasterKeyId),
            )
            .await?;
            let reuse = attribute(QueueAttributeName::KmsDataKeyReusePeriodSeconds);
            let sse_sqs = attribute(QueueAttributeName::SqsManagedSseEnabled);
            let _ = writeln!(
                out,
                "  {:<32} -> {} ({key}), data key reused {reuse} s, SqsManagedSseEnabled {sse_sqs}",
                queue.logical_id,
                name(&key)
            );
            expect(sse_sqs != "true", || {
                format!("{} has SSE-SQS on as well as a key", queue.logical_id)
            })?;
            hops.push((queue.logical_id.clone(), key, Some(reuse)));
        }

        if !stand_ins.is_empty() {
            let _ = writeln!(
                out,
                "  not a hop: {} (the local stand-in for SNS's push to Lambda, in no template)",
                stand_ins.join(", ")
            );
        }
        let queues = hops.iter().filter(|(_, _, reuse)| reuse.is_some()).count();
        let expected = deployed.template().queues().len() - stand_ins.len();
        expect(queues == expected && hops.len() > queues, || {
            format!(
                "expected a topic and {expected} queues, read {} hops",
                hops.len()
            )
        })?;
        for (hop, key, reuse) in &hops {
            expect(key != &orders, || {
                format!("{hop} names OrdersKey, the card key")
            })?;
            expect(key == &messages, || {
                format!("{hop} names {}, not MessagesKey ({messages})", name(key))
            })?;
            expect(
                reuse.as_ref().is_none_or(|r| r == REUSE_PERIOD_SECONDS),
                || format!("{hop} reuses a data key {reuse:?} s, not {REUSE_PERIOD_SECONDS}"),
            )?;
        }
        let _ = writeln!(
            out,
            "  moto keeps these attributes as declared; it encrypts nothing and evaluates no key policy\n  KMS calls: SNS and SQS reuse a data key for 5 minutes per principal: 8 calls per 5 minutes while orders flow (the topic 2, each subscribed queue 3), whatever the number of orders"
        );
        proved(
            out,
            &format!(
                "the local stack declares every hop, the topic and the {queues} queues, encrypted at rest with MessagesKey, as template.yaml does, and none with OrdersKey, the card key; every queue reuses a data key 300 s, so KMS calls grow with time and principals, not orders. Not proved here: that anything is encrypted, or that SNS may use the key (the key policy statement for sns.amazonaws.com with aws:SourceArn, without which deliveries to the queues fail on AWS): moto checks neither, tests/key_policies.rs checks the policy on the translated template"
            ),
        )
    }
}

/// The id of the key a hop's `KmsMasterKeyId` names (a key id, key ARN or alias, as KMS takes
/// them); a hop without one is not encrypted with a key of the stack.
async fn hop_key(
    kms: &aws_sdk_kms::Client,
    hop: &str,
    key: Option<&String>,
) -> Result<String, String> {
    let key = key.ok_or_else(|| format!("{hop} has no KmsMasterKeyId: no key of the stack"))?;
    key_id(kms, key).await
}

/// What DescribeKey gives as the id of `key`.
async fn key_id(kms: &aws_sdk_kms::Client, key: &str) -> Result<String, String> {
    kms.describe_key()
        .key_id(key)
        .send()
        .await
        .map_err(|error| format!("DescribeKey {key}: {error:?}"))?
        .key_metadata
        .map(|metadata| metadata.key_id().to_owned())
        .ok_or_else(|| format!("DescribeKey {key}: no KeyMetadata"))
}
