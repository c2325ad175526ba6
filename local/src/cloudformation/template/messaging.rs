//! The fan-out: `AWS::SNS::Topic`, `AWS::SQS::Queue` (with its dead-letter queue's
//! `RedrivePolicy`) and the `AWS::SNS::Subscription` of a queue to a topic, with its filter
//! policy and raw message delivery.
//!
//! FIFO queues are refused; a subscription of anything but a queue (`Protocol: sqs`) too.
//!
//! A function's `SNS` event (SAM: a subscription of protocol `lambda`, `<Function><Event>`) is
//! read here too ([`SnsEventSpec`]): locally it declares the delivery queue
//! `<Function><Event>Queue` and the topic's subscription of that queue, with the event's filter
//! policy and SNS's JSON envelope (not raw), which the local stack turns into the function's SNS
//! event ([`crate::event_source_mappings::sns`]).

use super::{Node, Problem, ResourceTypes, SNS_TOPIC, SQS_QUEUE, TemplateError};

/// An `AWS::SNS::Topic`.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicSpec {
    pub logical_id: String,
    /// `TracingConfig: Active`.
    pub tracing_active: bool,
}

/// An `AWS::SQS::Queue`.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSpec {
    pub logical_id: String,
    pub visibility_timeout_seconds: Option<u32>,
    pub message_retention_seconds: Option<u32>,
    pub redrive: Option<Redrive>,
}

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

pub(super) fn read_topic(properties: &Node) -> Result<TopicSpec, TemplateError> {
    let tracing = properties.optional("TracingConfig", Node::text)?;
    Ok(TopicSpec {
        logical_id: properties.resource.to_owned(),
        tracing_active: tracing.as_deref() == Some("Active"),
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
    Ok(QueueSpec {
        logical_id: properties.resource.to_owned(),
        visibility_timeout_seconds: properties.optional("VisibilityTimeout", Node::number)?,
        message_retention_seconds: properties.optional("MessageRetentionPeriod", Node::number)?,
        redrive,
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
    use super::super::{EventSpec, Template};

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
