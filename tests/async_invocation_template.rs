//! `template.yaml`'s asynchronous invocations: the two functions AWS services invoke with
//! `InvocationType: Event` (CodeDeploy the pre-traffic hook, SNS the merchant notifier), each with
//! its retries, its maximum event age and an on-failure queue of its own. (The local stack plays
//! what these settings do: `local/tests/lambda_async.rs`, `local/tests/sns_to_lambda.rs`.)

use orders_tests::template_yaml::{
    get_att_resource, intrinsic, resource, resources_of_type, template,
};
use serde_norway::Value;

/// Exam: asynchronous invocation. CodeDeploy invokes the pre-traffic hook asynchronously: Lambda
/// retries a failed invocation twice (3 attempts), keeps an event at most 6 hours, and sends what
/// it gives up on to the on-failure destination, a queue of the hook's own.
#[test]
fn the_hook_is_retried_twice_then_its_failures_go_to_a_queue_of_its_own() {
    let template = template();
    let config = &resource(&template, "PreTrafficCheckFunction")["EventInvokeConfig"];
    assert_eq!(config["MaximumRetryAttempts"], 2);
    let age = config["MaximumEventAgeInSeconds"].as_u64().unwrap();
    assert!((60..=21_600).contains(&age), "{age} s");
    let on_failure = &config["DestinationConfig"]["OnFailure"];
    assert_eq!(on_failure["Type"], "SQS");
    assert_eq!(
        get_att_resource(&on_failure["Destination"], "Arn"),
        "PreTrafficHookFailureQueue"
    );
    assert!(
        resources_of_type(&template, "AWS::SQS::Queue")
            .iter()
            .any(|(name, _)| name == "PreTrafficHookFailureQueue")
    );
}

/// Exam: SNS invokes a function asynchronously. notify-merchant is subscribed to the topic for
/// two outcomes only; Lambda retries it twice and sends what it gives up on to a queue of its own
/// (watched by an alarm); its signing key is referenced by ARN, never put in its environment.
/// It exists only when the stack is given a webhook URL.
#[test]
fn the_merchant_notifier_is_invoked_by_the_topic_retried_then_dead_lettered() {
    let template = template();
    let function = resource(&template, "NotifyMerchantFunction");
    let event = &function["Events"]["OrderOutcomes"];
    assert_eq!(event["Type"], "SNS");
    let properties = &event["Properties"];
    assert_eq!(
        intrinsic(&properties["Topic"]),
        ("Ref".into(), "OrderEventsTopic".into())
    );
    let outcomes: Value =
        serde_norway::from_str("eventType: [OrderConfirmed, OrderCancelled]").unwrap();
    assert_eq!(properties["FilterPolicy"], outcomes);
    assert_eq!(properties["FilterPolicyScope"], "MessageAttributes");

    let config = &function["EventInvokeConfig"];
    assert_eq!(config["MaximumRetryAttempts"], 2);
    let age = config["MaximumEventAgeInSeconds"].as_u64().unwrap();
    assert!((60..=21_600).contains(&age), "{age} s");
    let on_failure = &config["DestinationConfig"]["OnFailure"];
    assert_eq!(on_failure["Type"], "SQS");
    let queue = get_att_resource(&on_failure["Destination"], "Arn");
    assert_eq!(queue, "MerchantNotificationFailureQueue");
    let watched = resources_of_type(&template, "AWS::CloudWatch::Alarm")
        .into_iter()
        .any(|(_, alarm)| {
            alarm["Namespace"] == "AWS/SQS"
                && alarm["Dimensions"].as_sequence().is_some_and(|dimensions| {
                    dimensions
                        .iter()
                        .any(|d| get_att_resource(&d["Value"], "QueueName") == queue)
                })
        });
    assert!(watched, "no alarm on {queue}");

    let variables = &function["Environment"]["Variables"];
    assert_eq!(
        intrinsic(&variables["WEBHOOK_SECRET_ARN"]),
        ("Ref".into(), "MerchantWebhookSecret".into())
    );
    let environment = serde_norway::to_string(variables).unwrap();
    assert!(
        !environment.contains("resolve:secretsmanager"),
        "{environment}"
    );

    assert_eq!(template["Parameters"]["MerchantWebhookUrl"]["Default"], "");
    for name in [
        "NotifyMerchantFunction",
        "NotifyMerchantFunctionRole",
        "NotifyMerchantLogGroup",
        "NotifyMerchantAliasErrorsAlarm",
        "MerchantWebhookSecret",
        "MerchantNotificationFailureQueue",
        "MerchantNotificationFailureAlarm",
    ] {
        assert_eq!(
            template["Resources"][name]["Condition"], "NotifiesMerchant",
            "{name}"
        );
    }
}
