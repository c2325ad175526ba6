//! Encryption at rest with a customer managed key, in the local deploy on a real moto server: a
//! topic, queues and a secret that name a key of the template are created with it, and report
//! the key's id (what `!Ref` of a key gives) as AWS's would. And `template.yaml`'s topic and every
//! queue carry its `MessagesKey`.
//!
//! moto stores the key as given and checks nothing about it (`resources/messaging.rs` and
//! `resources/secrets.rs` in the crate say so): these tests show that the template's key reaches
//! the service, not that anything is encrypted.

use aws_sdk_sns::types::Topic;
use aws_sdk_sqs::types::QueueAttributeName;
use orders_local::cloudformation::{Deployed, Expr, Template, deploy};

use crate::support::moto::{deploy_stack, moto_aws, queue_attributes};

/// A key; a topic named by `TopicName` and encrypted with it; a queue with SSE-KMS and SQS's
/// default reuse period, said explicitly; a queue with the AWS managed key and a reuse period of
/// its own (an hour: not moto's default of 300, so that passing it is seen); a secret with the
/// key.
const ENCRYPTED: &str = r#"
Resources:
  Key:
    Type: AWS::KMS::Key
    Properties:
      Description: !Sub 'encryption test (${AWS::StackName})'
  Events:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: !Sub '${AWS::StackName}-events'
      KmsMasterKeyId: !Ref Key
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      KmsMasterKeyId: !Ref Key
      KmsDataKeyReusePeriodSeconds: 300
  ManagedKeyQueue:
    Type: AWS::SQS::Queue
    Properties:
      KmsMasterKeyId: alias/aws/sqs
      KmsDataKeyReusePeriodSeconds: 3600
  Secret:
    Type: AWS::SecretsManager::Secret
    Properties:
      KmsKeyId: !Ref Key
      SecretString: not a real secret
"#;

/// What `!Ref <key>` gives in `deployed`: the key's id.
fn key_id(deployed: &Deployed, key: &str) -> String {
    let id = deployed.resolve(&Expr::Ref(key.into()));
    id.unwrap_or_else(|e| panic!("!Ref {key}: {e}"))
}

async fn topic_key(sns: &aws_sdk_sns::Client, topic_arn: &str) -> Option<String> {
    let attributes = sns
        .get_topic_attributes()
        .topic_arn(topic_arn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetTopicAttributes {topic_arn}: {e}"))
        .attributes
        .unwrap_or_default();
    attributes.get("KmsMasterKeyId").cloned()
}

#[tokio::test]
async fn the_topic_queues_and_secret_are_created_with_the_templates_key() {
    let aws = moto_aws().await;
    let stack = format!("encryption-{}", std::process::id());
    let template = Template::parse(ENCRYPTED).expect("the fixture parses");
    let deployed = deploy(&template, &aws, &stack).await.expect("deploy");
    let key = key_id(&deployed, "Key");
    // Exam: `!Ref` of a key is its id, not its ARN.
    assert!(!key.starts_with("arn:"), "{key}");
    assert_eq!(
        deployed
            .key_arn("Key")
            .map(|arn| arn.ends_with(&format!("/{key}"))),
        Some(true)
    );

    let sqs = aws_sdk_sqs::Client::new(&aws);
    let queue = queue_attributes(&sqs, deployed.queue_url("Queue").unwrap()).await;
    assert_eq!(queue.get(&QueueAttributeName::KmsMasterKeyId), Some(&key));
    assert_eq!(
        queue.get(&QueueAttributeName::KmsDataKeyReusePeriodSeconds),
        Some(&"300".to_owned())
    );
    // SSE-KMS, not SSE-SQS, as SQS reports a queue with a key.
    assert_eq!(
        queue.get(&QueueAttributeName::SqsManagedSseEnabled),
        Some(&"false".to_owned())
    );
    let managed = queue_attributes(&sqs, deployed.queue_url("ManagedKeyQueue").unwrap()).await;
    assert_eq!(
        managed.get(&QueueAttributeName::KmsMasterKeyId),
        Some(&"alias/aws/sqs".to_owned())
    );
    assert_eq!(
        managed.get(&QueueAttributeName::KmsDataKeyReusePeriodSeconds),
        Some(&"3600".to_owned())
    );

    let sns = aws_sdk_sns::Client::new(&aws);
    let topic_name = format!("{stack}-events");
    let topic_arn = deployed.topic_arn("Events").expect("the topic");
    assert_eq!(
        topic_arn,
        format!("arn:aws:sns:us-east-1:123456789012:{topic_name}")
    );
    assert_eq!(
        deployed.resolve(&Expr::GetAtt("Events".into(), "TopicName".into())),
        Ok(topic_name.clone())
    );
    let listed: Vec<Topic> = sns
        .list_topics()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<_, _>>()
        .await
        .expect("ListTopics");
    let named = |t: &Topic| {
        t.topic_arn()
            .is_some_and(|arn| arn.ends_with(&format!(":{topic_name}")))
    };
    assert_eq!(listed.iter().filter(|t| named(t)).count(), 1);
    assert!(
        !listed.iter().any(|t| t
            .topic_arn()
            .is_some_and(|arn| arn.ends_with(&format!(":{stack}-Events")))),
        "TopicName, not the stack's name for the topic"
    );
    assert_eq!(topic_key(&sns, topic_arn).await, Some(key.clone()));

    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    let secret = secrets
        .describe_secret()
        .secret_id(deployed.secret_arn("Secret").unwrap())
        .send()
        .await
        .expect("DescribeSecret");
    assert_eq!(secret.kms_key_id(), Some(key.as_str()));
}

#[tokio::test]
async fn the_templates_topic_and_every_queue_carry_the_messages_key() {
    let (deployed, aws) = deploy_stack("encrypted").await;
    let key = key_id(&deployed, "MessagesKey");
    assert_ne!(key, key_id(&deployed, "OrdersKey"), "a key of their own");

    let sns = aws_sdk_sns::Client::new(&aws);
    let topic_arn = deployed.topic_arn("OrderEventsTopic").unwrap();
    assert!(
        topic_arn.ends_with(":encrypted-order-events"),
        "{topic_arn}"
    );
    assert_eq!(topic_key(&sns, topic_arn).await, Some(key.clone()));

    let sqs = aws_sdk_sqs::Client::new(&aws);
    let queues: Vec<_> = deployed
        .resources()
        .into_iter()
        .filter(|r| r.resource_type == "AWS::SQS::Queue")
        .collect();
    // Fulfillment and audit with their dead-letter queues, the stream's and the hook's failure
    // queues. (No SNS event's delivery queue: the default template has no notifier.)
    assert_eq!(queues.len(), 6, "{queues:?}");
    for queue in queues {
        let attributes = queue_attributes(&sqs, &queue.physical_id).await;
        assert_eq!(
            attributes.get(&QueueAttributeName::KmsMasterKeyId),
            Some(&key),
            "{}",
            queue.logical_id
        );
        assert_eq!(
            attributes.get(&QueueAttributeName::KmsDataKeyReusePeriodSeconds),
            Some(&"300".to_owned()),
            "{}",
            queue.logical_id
        );
    }
}
