//! CloudFormation's rollback, played by the local deploy on a real moto server: a deploy that
//! fails at one resource deletes what it created before it (`ROLLBACK_COMPLETE`), keeps what
//! `DeletionPolicy: Retain` keeps, and, on a stack deployed before, leaves the earlier deploy's
//! resources in place (`UPDATE_ROLLBACK_COMPLETE`).
//!
//! The failure is one moto really produces, as SNS does: a subscription whose filter policy
//! compares a number with text (`Value of > must be numeric`). Subscriptions come late in the
//! deploy's order, so keys, aliases, a table, queues, a topic and another subscription exist by
//! then. Each test has a stack name of its own.

use aws_sdk_kms::types::KeyState;
use orders_local::cloudformation::{DeployError, RollbackStatus, Template, deploy};

use crate::support::moto::moto_aws;

/// The resources of a first, working deploy.
const WORKING: &str = r#"
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  Queue: {Type: AWS::SQS::Queue}
  Topic: {Type: AWS::SNS::Topic}
  Subscription:
    Type: AWS::SNS::Subscription
    Properties: {TopicArn: !Ref Topic, Protocol: sqs, Endpoint: !GetAtt Queue.Arn}
"#;

/// Two keys, one kept by `DeletionPolicy: Retain`, each with an alias.
const KEYS: &str = r#"
  KeptKey:
    Type: AWS::KMS::Key
    DeletionPolicy: Retain
    Properties:
      Description: !Sub 'rollback test: kept key (${AWS::StackName})'
  KeptKeyAlias:
    Type: AWS::KMS::Alias
    Properties: {AliasName: !Sub 'alias/${AWS::StackName}-kept', TargetKeyId: !Ref KeptKey}
  ScratchKey:
    Type: AWS::KMS::Key
    Properties:
      Description: !Sub 'rollback test: scratch key (${AWS::StackName})'
      PendingWindowInDays: 7
  ScratchKeyAlias:
    Type: AWS::KMS::Alias
    Properties: {AliasName: !Sub 'alias/${AWS::StackName}-scratch', TargetKeyId: !Ref ScratchKey}
"#;

/// A new table and queue, then the subscription SNS refuses.
const FAILING: &str = r#"
  NewTable:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
  OtherQueue: {Type: AWS::SQS::Queue}
  BadSubscription:
    Type: AWS::SNS::Subscription
    Properties:
      TopicArn: !Ref Topic
      Protocol: sqs
      Endpoint: !GetAtt OtherQueue.Arn
      FilterPolicy: {amount: [{numeric: ['>', 'abc']}]}
"#;

/// `resources` as a template file in a directory of the test's own, read back as `make dev`
/// reads `template.yaml`.
fn template_file(stack: &str, resources: &str) -> Template {
    let directory = std::env::temp_dir().join(format!(
        "orders-local-rollback-{}-{stack}",
        std::process::id()
    ));
    std::fs::create_dir_all(&directory).unwrap();
    let path = directory.join("template.yaml");
    std::fs::write(&path, resources).unwrap();
    Template::load(&path).expect("the fixture parses")
}

/// What exists on moto under the stack's names: tables, queues, topics and subscriptions,
/// sorted.
async fn stack_resources(aws: &aws_config::SdkConfig, stack: &str) -> Vec<String> {
    let prefix = format!("{stack}-");
    let dynamodb = aws_sdk_dynamodb::Client::new(aws);
    let sqs = aws_sdk_sqs::Client::new(aws);
    let sns = aws_sdk_sns::Client::new(aws);
    let mut found = Vec::new();
    let tables = dynamodb.list_tables().send().await.unwrap();
    found.extend(
        tables
            .table_names()
            .iter()
            .filter(|name| name.starts_with(&prefix))
            .map(|name| format!("table {name}")),
    );
    let queues = sqs.list_queues().queue_name_prefix(&prefix);
    let queues = queues.send().await.unwrap();
    found.extend(queues.queue_urls().iter().map(|url| {
        let name = url.rsplit('/').next().unwrap_or(url);
        format!("queue {name}")
    }));
    let topics = sns.list_topics().send().await.unwrap();
    found.extend(topics.topics().iter().filter_map(|topic| {
        let name = topic.topic_arn()?.rsplit(':').next()?;
        name.starts_with(&prefix).then(|| format!("topic {name}"))
    }));
    // Subscriptions, by the queue they deliver to.
    let subscriptions = sns.list_subscriptions().send().await.unwrap();
    found.extend(subscriptions.subscriptions().iter().filter_map(|s| {
        let queue = s.endpoint()?.rsplit(':').next()?;
        queue
            .starts_with(&prefix)
            .then(|| format!("subscription to {queue}"))
    }));
    found.sort();
    found
}

/// The state of the key an alias of the stack pointed at, found by the key's description.
async fn key_state(aws: &aws_config::SdkConfig, description: &str) -> Option<KeyState> {
    let kms = aws_sdk_kms::Client::new(aws);
    for key in kms.list_keys().send().await.unwrap().keys() {
        let described = kms.describe_key().key_id(key.key_id().unwrap());
        let metadata = described.send().await.unwrap().key_metadata.unwrap();
        if metadata.description() == Some(description) {
            return metadata.key_state;
        }
    }
    None
}

async fn alias_names(aws: &aws_config::SdkConfig, stack: &str) -> Vec<String> {
    let kms = aws_sdk_kms::Client::new(aws);
    let aliases = kms.list_aliases().send().await.unwrap();
    let prefix = format!("alias/{stack}-");
    let names = aliases.aliases().iter().filter_map(|a| a.alias_name());
    names
        .filter(|name| name.starts_with(&prefix))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn a_failed_create_deletes_everything_it_created_but_a_retained_key() {
    let stack = "rollback-create";
    let aws = moto_aws().await;
    let template = template_file(stack, &format!("{WORKING}{KEYS}{FAILING}"));

    let error = deploy(&template, &aws, stack)
        .await
        .expect_err("the subscription's filter policy is refused");

    // CloudFormation's events: the resource that failed and why, then the stack's status.
    assert_eq!(error.failed_resource(), Some("BadSubscription"));
    let message = error.to_string();
    assert!(message.starts_with("CREATE_FAILED BadSubscription: Subscribe failed"));
    assert!(message.contains("must be numeric"), "{message}");
    assert!(message.contains("ROLLBACK_COMPLETE"), "{message}");
    let rollback = error.rollback().expect("a rollback");
    assert_eq!(rollback.status, RollbackStatus::RollbackComplete);
    assert!(rollback.not_deleted.is_empty());
    // Newest first: the reverse of the creation order.
    assert_eq!(
        rollback.deleted,
        [
            "BadSubscription",
            "Subscription",
            "Topic",
            "OtherQueue",
            "Queue",
            "NewTable",
            "Table",
            "ScratchKeyAlias",
            "KeptKeyAlias",
            "ScratchKey",
        ]
    );
    assert_eq!(rollback.retained, ["KeptKey"]);

    assert_eq!(stack_resources(&aws, stack).await, Vec::<String>::new());
    assert_eq!(alias_names(&aws, stack).await, Vec::<String>::new());
    let kept = format!("rollback test: kept key ({stack})");
    assert_eq!(key_state(&aws, &kept).await, Some(KeyState::Enabled));
    // A KMS key is not deleted at once: its deletion is scheduled.
    let scratch = format!("rollback test: scratch key ({stack})");
    assert_eq!(
        key_state(&aws, &scratch).await,
        Some(KeyState::PendingDeletion)
    );

    // Nothing is left: once the template is fixed, the stack deploys from scratch.
    let fixed = template_file(stack, WORKING);
    let deployed = deploy(&fixed, &aws, stack).await.expect("the fixed deploy");
    assert_eq!(deployed.resources().len(), 4);
}

#[tokio::test]
async fn a_failed_update_leaves_the_earlier_deploys_resources_in_place() {
    let stack = "rollback-update";
    let aws = moto_aws().await;
    let first = deploy(&template_file(stack, WORKING), &aws, stack)
        .await
        .expect("the first deploy");
    let before = stack_resources(&aws, stack).await;
    assert_eq!(before.len(), 4, "{before:?}");

    let updated = template_file(stack, &format!("{WORKING}{FAILING}"));
    let error = deploy(&updated, &aws, stack)
        .await
        .expect_err("the subscription's filter policy is refused");

    let Some(rollback) = error.rollback() else {
        panic!("no rollback: {error}")
    };
    assert_eq!(rollback.status, RollbackStatus::UpdateRollbackComplete);
    assert_eq!(
        rollback.deleted,
        ["BadSubscription", "OtherQueue", "NewTable"]
    );
    assert!(error.to_string().contains("UPDATE_ROLLBACK_COMPLETE"));
    assert!(matches!(error, DeployError::RolledBack { .. }));

    // The earlier table, queue, topic and subscription are as they were.
    assert_eq!(stack_resources(&aws, stack).await, before);
    let sns = aws_sdk_sns::Client::new(&aws);
    let subscriptions = sns
        .list_subscriptions_by_topic()
        .topic_arn(first.topic_arn("Topic").unwrap())
        .send()
        .await
        .unwrap();
    let endpoints: Vec<_> = subscriptions
        .subscriptions()
        .iter()
        .filter_map(|s| s.endpoint())
        .collect();
    assert_eq!(endpoints, [first.queue_arn("Queue").unwrap()]);

    // The stack still works: the earlier template deploys onto what is there, creating nothing.
    let again = deploy(&template_file(stack, WORKING), &aws, stack)
        .await
        .expect("the earlier template again");
    assert_eq!(again.resources(), first.resources());
}
