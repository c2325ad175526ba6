//! `AWS::SecretsManager::Secret` in the local deploy, on a real moto server: a generated secret
//! is created once, with the template's rules for its value; a later deploy finds it and keeps its
//! value (the merchant holds it); a deploy that fails deletes the secret it created. And
//! `template.yaml` declares the notifier and its secret only when `MerchantWebhookUrl` is given.

use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretError;
use orders_local::cloudformation::{DeployError, Expr, RollbackStatus, Template, deploy};

use crate::support::moto::{moto_aws, template};
use crate::support::stack::workspace_root;

/// A generated signing key, as `template.yaml`'s `MerchantWebhookSecret`.
const SECRET: &str = r#"
Resources:
  SigningKey:
    Type: AWS::SecretsManager::Secret
    Properties:
      Description: !Sub 'signing key of ${AWS::StackName}'
      GenerateSecretString:
        PasswordLength: 64
        ExcludePunctuation: true
"#;

/// Then a subscription SNS refuses (a numeric filter on text), so the deploy fails after the
/// secret exists.
const FAILING: &str = r#"
  Topic: {Type: AWS::SNS::Topic}
  Queue: {Type: AWS::SQS::Queue}
  BadSubscription:
    Type: AWS::SNS::Subscription
    Properties:
      TopicArn: !Ref Topic
      Protocol: sqs
      Endpoint: !GetAtt Queue.Arn
      FilterPolicy: {amount: [{numeric: ['>', 'abc']}]}
"#;

fn stack_name(test: &str) -> String {
    format!("secret-{test}-{}", std::process::id())
}

async fn secret_value(secrets: &aws_sdk_secretsmanager::Client, arn: &str) -> String {
    let value = secrets.get_secret_value().secret_id(arn).send().await;
    value
        .expect("GetSecretValue")
        .secret_string
        .expect("a string")
}

#[tokio::test]
async fn a_generated_secret_is_created_once_and_keeps_its_value_on_the_next_deploy() {
    let aws = moto_aws().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    let stack = stack_name("twice");
    let template = Template::parse(SECRET).unwrap();

    let first = deploy(&template, &aws, &stack).await.expect("first deploy");
    let arn = first
        .secret_arn("SigningKey")
        .expect("the secret")
        .to_owned();
    // Exam: `!Ref` of a secret is its ARN.
    assert_eq!(first.resolve(&Expr::Ref("SigningKey".into())).unwrap(), arn);
    assert!(arn.starts_with("arn:aws:secretsmanager:us-east-1:123456789012:secret:"));
    let described = secrets
        .describe_secret()
        .secret_id(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        described.name(),
        Some(format!("{stack}-SigningKey").as_str())
    );
    assert_eq!(
        described.description(),
        Some(format!("signing key of {stack}").as_str())
    );
    let value = secret_value(&secrets, &arn).await;
    assert_eq!(value.len(), 64);
    assert!(value.chars().all(|c| c.is_ascii_alphanumeric()), "{value}");

    let second = deploy(&template, &aws, &stack)
        .await
        .expect("second deploy");
    assert_eq!(second.secret_arn("SigningKey"), Some(arn.as_str()));
    assert_eq!(
        secret_value(&secrets, &arn).await,
        value,
        "the value is kept"
    );
}

#[tokio::test]
async fn a_failed_deploy_deletes_the_secret_it_created() {
    let aws = moto_aws().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    let stack = stack_name("rollback");
    let template = Template::parse(&format!("{SECRET}{FAILING}")).unwrap();

    let error = deploy(&template, &aws, &stack).await.unwrap_err();
    assert_eq!(error.failed_resource(), Some("BadSubscription"), "{error}");
    let Some(rollback) = error.rollback() else {
        panic!("a rolled-back deploy: {error}");
    };
    assert!(matches!(error, DeployError::RolledBack { .. }));
    assert_eq!(
        rollback.status,
        RollbackStatus::RollbackComplete,
        "{rollback}"
    );
    assert!(
        rollback.deleted.contains(&"SigningKey".to_owned()),
        "{rollback}"
    );
    // Deleted without a recovery window: the name is free for the next deploy.
    let gone = secrets
        .describe_secret()
        .secret_id(format!("{stack}-SigningKey"))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            gone.as_service_error(),
            Some(DescribeSecretError::ResourceNotFoundException(_))
        ),
        "{gone:?}"
    );
}

#[tokio::test]
async fn the_notifier_and_its_secret_exist_only_with_a_webhook_url() {
    // The default: MerchantWebhookUrl is empty, NotifiesMerchant does not hold.
    let default = template();
    for resource in [
        "NotifyMerchantFunction",
        "MerchantWebhookSecret",
        "MerchantNotificationFailureQueue",
    ] {
        assert_eq!(default.resource_type(resource), None, "{resource}");
    }
    assert!(default.secrets().is_empty());

    let url = "http://127.0.0.1:9/webhook";
    let overrides = [("MerchantWebhookUrl".to_owned(), url.to_owned())];
    let path = workspace_root().join("template.yaml");
    let notifying = Template::load_with_overrides(&path, &overrides).expect("template.yaml");
    let function = notifying
        .functions()
        .into_iter()
        .find(|f| f.logical_id == "NotifyMerchantFunction")
        .expect("the notifier");
    let aws = moto_aws().await;
    let deployed = deploy(&notifying, &aws, &stack_name("notifier"))
        .await
        .expect("deploy");
    let environment = deployed
        .environment(&function)
        .expect("its environment resolves");
    assert_eq!(environment["MERCHANT_WEBHOOK_URL"], url);
    assert_eq!(
        Some(environment["WEBHOOK_SECRET_ARN"].as_str()),
        deployed.secret_arn("MerchantWebhookSecret")
    );
    // The SNS event's local delivery: a queue subscribed to the topic.
    let subscription = "NotifyMerchantFunctionOrderOutcomes";
    assert!(deployed.subscription_arn(subscription).is_some());
    assert!(
        deployed
            .queue_url(&format!("{subscription}Queue"))
            .is_some()
    );
}
