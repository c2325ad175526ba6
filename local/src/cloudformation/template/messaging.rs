//! The fan-out: `AWS::SNS::Topic`, `AWS::SQS::Queue` (with its dead-letter queue's
//! `RedrivePolicy`) and the `AWS::SNS::Subscription` of a queue to a topic, with its filter
//! policy and raw message delivery.
//!
//! FIFO queues are refused; a subscription of anything but a queue (`Protocol: sqs`) too.
//!
//! Exam: encryption at rest. A topic or queue with `KmsMasterKeyId` is encrypted with that KMS
//! key (SSE-KMS; `alias/aws/sns`, `alias/aws/sqs` are the AWS managed keys); a queue with
//! `SqsManagedSseEnabled` instead uses keys SQS owns (SSE-SQS), never both, and SQS's CreateQueue
//! refuses the pair, so the reader does too. `KmsDataKeyReusePeriodSeconds` (60 to 86400, 300 by
//! default) is how long SQS reuses one data key before it calls KMS again: longer means fewer
//! KMS requests (cost, throttling) for a longer use of each data key. The reader checks SQS's
//! bounds, which moto does not.
//!
//! A function's `SNS` event (SAM: a subscription of protocol `lambda`, `<Function><Event>`) is
//! read here too ([`SnsEventSpec`]): locally it declares the delivery queue
//! `<Function><Event>Queue` and the topic's subscription of that queue, with the event's filter
//! policy and SNS's JSON envelope (not raw), which the local stack turns into the function's SNS
//! event ([`crate::event_source_mappings::sns`]).

use std::ops::RangeInclusive;

use super::keys::read_key_reference;
use super::{Expr, Node, Problem, ResourceTypes, SNS_TOPIC, SQS_QUEUE, TemplateError};

/// An `AWS::SNS::Topic`.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicSpec {
    pub logical_id: String,
    /// `TopicName`; unset, the stack names it (`<stack>-<LogicalId>` locally).
    pub name: Option<Expr>,
    /// `TracingConfig: Active`.
    pub tracing_active: bool,
    /// `KmsMasterKeyId`: the key SNS encrypts messages at rest with: a key id, key ARN or alias.
    pub kms_master_key: Option<Expr>,
}

/// An `AWS::SQS::Queue`.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSpec {
    pub logical_id: String,
    pub visibility_timeout_seconds: Option<u32>,
    pub message_retention_seconds: Option<u32>,
    pub redrive: Option<Redrive>,
    /// `KmsMasterKeyId`: SSE-KMS with this key (a key id, key ARN or alias).
    pub kms_master_key: Option<Expr>,
    /// `KmsDataKeyReusePeriodSeconds`, within SQS's bounds; unset, SQS's 300.
    pub kms_data_key_reuse_period_seconds: Option<u32>,
    /// `SqsManagedSseEnabled`, as given; never `Some(true)` with a `kms_master_key`.
    pub sqs_managed_sse: Option<bool>,
}

/// SQS's bounds for `KmsDataKeyReusePeriodSeconds` (1 minute to 24 hours).
const KMS_DATA_KEY_REUSE_PERIOD_SECONDS: RangeInclusive<u32> = 60..=86_400;

/// A queue's `RedrivePolicy`: where a message goes once received `max_receive_count` times.
#[derive(Debug, Clone, PartialEq)]
pub struct Redrive {
    /// The logical id of the dead-letter queue.
    pub dead_letter_queue: String,
    pub max_receive_count: u32,
}

/// An `AWS::SNS::Subscription` of a queue to a topic.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionSpec {
    pub logical_id: String,
    /// The logical id of the topic.
    pub topic: String,
    /// The logical id of the subscribed queue.
    pub queue: String,
    /// The queue gets the message itself rather than SNS's JSON envelope around it.
    pub raw_message_delivery: bool,
    pub filter_policy: Option<serde_json::Value>,
    /// `MessageAttributes` (SNS's default) or `MessageBody`.
    pub filter_policy_scope: Option<String>,
}

pub(super) fn read_topic(
    properties: &Node,
    types: &ResourceTypes,
) -> Result<TopicSpec, TemplateError> {
    let tracing = properties.optional("TracingConfig", Node::text)?;
    Ok(TopicSpec {
        logical_id: properties.resource.to_owned(),
        name: properties.optional("TopicName", Node::expr)?,
        tracing_active: tracing.as_deref() == Some("Active"),
        kms_master_key: properties
            .optional("KmsMasterKeyId", |key| read_key_reference(key, types))?,
    })
}

pub(super) fn read_queue(
    properties: &Node,
    types: &ResourceTypes,
) -> Result<QueueSpec, TemplateError> {
    if let Some(fifo) = properties.field("FifoQueue")
        && fifo.flag()?
    {
        return Err(fifo.problem(Problem::Unsupported("FIFO queues")));
    }
    let redrive = match properties.field("RedrivePolicy") {
        Some(policy) => Some(Redrive {
            dead_letter_queue: policy
                .required("deadLetterTargetArn")?
                .reference_to(SQS_QUEUE, types)?,
            max_receive_count: policy.required("maxReceiveCount")?.number()?,
        }),
        None => None,
    };
    let kms_master_key =
        properties.optional("KmsMasterKeyId", |key| read_key_reference(key, types))?;
    let sqs_managed_sse = match properties.field("SqsManagedSseEnabled") {
        Some(node) if node.flag()? && kms_master_key.is_some() => {
            return Err(node.problem(Problem::Expected(
                "absent or false when KmsMasterKeyId is set: a queue is encrypted with SSE-SQS \
                 or SSE-KMS, and CreateQueue refuses both",
            )));
        }
        Some(node) => Some(node.flag()?),
        None => None,
    };
    let reuse_period = match properties.field("KmsDataKeyReusePeriodSeconds") {
        Some(node) => {
            let seconds: u32 = node.number()?;
            if !KMS_DATA_KEY_REUSE_PERIOD_SECONDS.contains(&seconds) {
                return Err(node.problem(Problem::Expected(
                    "between 60 and 86400 seconds (SQS's bounds)",
                )));
            }
            Some(seconds)
        }
        None => None,
    };
    Ok(QueueSpec {
        logical_id: properties.resource.to_owned(),
        visibility_timeout_seconds: properties.optional("VisibilityTimeout", Node::number)?,
        message_retention_seconds: properties.optional("MessageRetentionPeriod", Node::number)?,
        redrive,
        kms_master_key,
        kms_data_key_reuse_period_seconds: reuse_period,
        sqs_managed_sse,
    })
}

pub(super) fn read_subscription(
    properties: &Node,
    types: &ResourceTypes,
) -> Result<SubscriptionSpec, TemplateError> {
    let protocol = properties.required("Protocol")?;
    if protocol.text()? != "sqs" {
        return Err(protocol.problem(Problem::Unsupported("only sqs subscriptions")));
    }
    Ok(SubscriptionSpec {
        logical_id: properties.resource.to_owned(),
        topic: properties
            .required("TopicArn")?
            .reference_to(SNS_TOPIC, types)?,
        queue: properties
            .required("Endpoint")?
            .reference_to(SQS_QUEUE, types)?,
        raw_message_delivery: properties
            .optional("RawMessageDelivery", Node::flag)?
            .unwrap_or(false),
        filter_policy: properties.optional("FilterPolicy", Node::json)?,
        filter_policy_scope: properties.optional("FilterPolicyScope", Node::text)?,
    })
}

/// SNS's wait between its later attempts to deliver to Lambda (its post-backoff phase).
const SNS_RETRY_INTERVAL_SECONDS: u32 = 20;

/// A function's `SNS` event: the topic, the filter policy, and the logical ids of the
/// subscription and of the local delivery queue it declares.
#[derive(Debug, Clone, PartialEq)]
pub struct SnsEventSpec {
    pub name: String,
    /// The logical id of the topic.
    pub topic: String,
    pub filter_policy: Option<serde_json::Value>,
    /// `MessageAttributes` (SNS's default) or `MessageBody`.
    pub filter_policy_scope: Option<String>,
    /// `<Function><Event>`, as SAM names the subscription.
    pub subscription: String,
    /// `<Function><Event>Queue`: the queue that stands in for SNS's push to Lambda.
    pub delivery_queue: String,
}

impl SnsEventSpec {
    /// The queue and the subscription the event declares locally, with their `Type`s.
    pub(super) fn delivery_resources(&self) -> [(String, &'static str); 2] {
        [
            (self.delivery_queue.clone(), SQS_QUEUE),
            (self.subscription.clone(), "AWS::SNS::Subscription"),
        ]
    }

    pub(super) fn delivery_queue_spec(&self) -> QueueSpec {
        QueueSpec {
            logical_id: self.delivery_queue.clone(),
            // A notification Lambda did not accept comes back after 20 s, as SNS retries a
            // Lambda delivery every 20 s once its first quick retries are spent.
            visibility_timeout_seconds: Some(SNS_RETRY_INTERVAL_SECONDS),
            message_retention_seconds: None,
            redrive: None,
            // Not the template's: it stands in for SNS's push to Lambda, which stores nothing.
            kms_master_key: None,
            kms_data_key_reuse_period_seconds: None,
            sqs_managed_sse: None,
        }
    }

    /// Not raw: the queue receives SNS's envelope (Type, MessageId, TopicArn, Subject, Message,
    /// Timestamp, signature fields, MessageAttributes), all a Lambda SNS record carries.
    pub(super) fn subscription_spec(&self) -> SubscriptionSpec {
        SubscriptionSpec {
            logical_id: self.subscription.clone(),
            topic: self.topic.clone(),
            queue: self.delivery_queue.clone(),
            raw_message_delivery: false,
            filter_policy: self.filter_policy.clone(),
            filter_policy_scope: self.filter_policy_scope.clone(),
        }
    }
}

/// The `Properties` of a function's `SNS` event `name`. SAM's `SqsSubscription` (a queue of its
/// own between topic and function), `RedrivePolicy` and `Region` are refused.
pub(super) fn read_sns_event(
    name: String,
    function: &str,
    properties: &Node,
    types: &ResourceTypes,
) -> Result<SnsEventSpec, TemplateError> {
    for unsupported in ["SqsSubscription", "RedrivePolicy", "Region"] {
        if let Some(node) = properties.field(unsupported) {
            let problem = Problem::Unsupported("SNS events go straight to the function");
            return Err(node.problem(problem));
        }
    }
    let subscription = format!("{function}{name}");
    let delivery_queue = format!("{subscription}Queue");
    if types.contains_key(&subscription) || types.contains_key(&delivery_queue) {
        return Err(properties.problem(Problem::Expected(
            "an event whose <Function><Event> and <Function><Event>Queue name no resource of \
             the template",
        )));
    }
    Ok(SnsEventSpec {
        topic: properties
            .required("Topic")?
            .reference_to(SNS_TOPIC, types)?,
        filter_policy: properties.optional("FilterPolicy", Node::json)?,
        filter_policy_scope: properties.optional("FilterPolicyScope", Node::text)?,
        name,
        subscription,
        delivery_queue,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{EventSpec, Expr, Template};
    use super::{QueueSpec, TopicSpec};

    /// A key `Key` and a queue `Q` with `properties`, each line indented six spaces.
    fn queue(properties: &str) -> Result<QueueSpec, super::TemplateError> {
        let yaml = format!(
            "Resources:\n  Key: {{Type: AWS::KMS::Key}}\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n{properties}"
        );
        Ok(Template::parse(&yaml)?.queues().remove(0))
    }

    #[test]
    fn a_queue_with_sse_kms_keeps_its_key_and_data_key_reuse_period() {
        let spec = queue(
            "      KmsMasterKeyId: !Ref Key\n      KmsDataKeyReusePeriodSeconds: 300\n      SqsManagedSseEnabled: false\n",
        )
        .unwrap();
        assert_eq!(spec.kms_master_key, Some(Expr::Ref("Key".into())));
        assert_eq!(spec.kms_data_key_reuse_period_seconds, Some(300));
        assert_eq!(spec.sqs_managed_sse, Some(false));
        // The key's ARN and an AWS managed key by its alias are keys too.
        let by_arn = queue("      KmsMasterKeyId: !GetAtt Key.Arn\n").unwrap();
        assert_eq!(
            by_arn.kms_master_key,
            Some(Expr::GetAtt("Key".into(), "Arn".into()))
        );
        let managed = queue("      KmsMasterKeyId: alias/aws/sqs\n").unwrap();
        assert_eq!(
            managed.kms_master_key,
            Some(Expr::Literal("alias/aws/sqs".into()))
        );
        assert_eq!(managed.kms_data_key_reuse_period_seconds, None);
        let sse_sqs = queue("      SqsManagedSseEnabled: true\n").unwrap();
        assert_eq!(sse_sqs.sqs_managed_sse, Some(true));
        assert_eq!(sse_sqs.kms_master_key, None);
    }

    #[test]
    fn a_data_key_reuse_period_outside_sqss_bounds_is_refused() {
        for seconds in [30, 59, 86_401, 90_000] {
            let error = queue(&format!(
                "      KmsMasterKeyId: !Ref Key\n      KmsDataKeyReusePeriodSeconds: {seconds}\n"
            ))
            .unwrap_err();
            assert_eq!(
                error.to_string(),
                "Q: Properties.KmsDataKeyReusePeriodSeconds should be between 60 and 86400 \
                 seconds (SQS's bounds)",
                "{seconds}"
            );
        }
        for seconds in [60, 86_400] {
            let spec = queue(&format!("      KmsDataKeyReusePeriodSeconds: {seconds}\n"));
            assert_eq!(
                spec.unwrap().kms_data_key_reuse_period_seconds,
                Some(seconds)
            );
        }
    }

    #[test]
    fn sse_sqs_and_sse_kms_together_are_refused() {
        let error = queue("      SqsManagedSseEnabled: true\n      KmsMasterKeyId: !Ref Key\n")
            .unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with("Q: Properties.SqsManagedSseEnabled should be absent or false"),
            "{message}"
        );
        assert!(message.contains("KmsMasterKeyId"), "{message}");
    }

    #[test]
    fn a_key_that_names_another_kind_of_resource_is_refused() {
        let yaml = "Resources:\n  Other: {Type: AWS::SQS::Queue}\n  Q:\n    Type: AWS::SQS::Queue\n    Properties: {KmsMasterKeyId: !Ref Other}\n";
        let error = Template::parse(yaml).unwrap_err();
        assert_eq!(
            error.to_string(),
            "Q: Properties.KmsMasterKeyId names Other, which is not an AWS::KMS::Key or \
             AWS::KMS::Alias of this template"
        );
        let yaml = "Resources:\n  T:\n    Type: AWS::SNS::Topic\n    Properties: {KmsMasterKeyId: !GetAtt Missing.Arn}\n";
        let error = Template::parse(yaml).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("Missing, which is not an AWS::KMS::Key"),
            "{error}"
        );
    }

    #[test]
    fn a_topic_keeps_its_name_and_key() {
        let template = Template::parse(
            "Resources:\n  Key: {Type: AWS::KMS::Key}\n  Events:\n    Type: AWS::SNS::Topic\n    Properties:\n      TopicName: !Sub '${AWS::StackName}-events'\n      KmsMasterKeyId: !Ref Key\n      TracingConfig: Active\n",
        )
        .unwrap();
        assert_eq!(
            template.topics(),
            [TopicSpec {
                logical_id: "Events".into(),
                name: Some(Expr::Sub("${AWS::StackName}-events".into())),
                tracing_active: true,
                kms_master_key: Some(Expr::Ref("Key".into())),
            }]
        );
        let plain = Template::parse("Resources:\n  Events: {Type: AWS::SNS::Topic}\n").unwrap();
        let [topic] = plain.topics().try_into().unwrap();
        assert_eq!((topic.name, topic.kms_master_key), (None, None));
    }

    /// A topic and a function `Notify` with the SNS event `Outcomes` of `properties`.
    fn sns_event(properties: &str) -> Result<Template, super::TemplateError> {
        Template::parse(&format!(
            "Resources:\n  Topic: {{Type: AWS::SNS::Topic}}\n  Notify:\n    Type: AWS::Serverless::Function\n    Metadata: {{BuildProperties: {{Binary: n}}}}\n    Properties:\n      Events:\n        Outcomes:\n          Type: SNS\n          Properties:\n            Topic: !Ref Topic\n{properties}"
        ))
    }

    #[test]
    fn an_sns_event_declares_its_delivery_queue_and_subscription() {
        let template = sns_event(
            "            FilterPolicy: {eventType: [OrderConfirmed]}\n            FilterPolicyScope: MessageAttributes\n",
        )
        .unwrap();
        let function = template.functions().remove(0);
        let [EventSpec::Sns(event)] = function.events.as_slice() else {
            panic!("one SNS event: {:?}", function.events);
        };
        assert_eq!(event.topic, "Topic");
        assert_eq!(event.subscription, "NotifyOutcomes");
        assert_eq!(event.delivery_queue, "NotifyOutcomesQueue");
        let queue = &template.queues()[0];
        assert_eq!(queue.logical_id, "NotifyOutcomesQueue");
        assert_eq!(queue.visibility_timeout_seconds, Some(20));
        let subscription = &template.subscriptions()[0];
        assert_eq!(subscription.queue, "NotifyOutcomesQueue");
        assert!(!subscription.raw_message_delivery, "SNS's envelope is kept");
        assert_eq!(
            subscription.filter_policy,
            Some(serde_json::json!({"eventType": ["OrderConfirmed"]}))
        );
        assert_eq!(
            template.resource_type("NotifyOutcomes"),
            Some("AWS::SNS::Subscription")
        );
        assert_eq!(
            template.resource_type("NotifyOutcomesQueue"),
            Some("AWS::SQS::Queue")
        );
    }

    #[test]
    fn sams_queue_between_topic_and_function_is_refused() {
        let error = sns_event("            SqsSubscription: true\n").unwrap_err();
        assert!(error.to_string().contains("SqsSubscription"), "{error}");
        assert!(error.to_string().contains("not supported"), "{error}");
    }
}
