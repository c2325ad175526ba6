//! The key policies, the root of access to each KMS key (read on the translated template, as
//! CloudFormation deploys them): `OrdersKey`, the card key, which delegates to IAM and lets the
//! account use it through DynamoDB; `MessagesKey`, which also lets SNS use it for the stack's topic
//! and CloudWatch Logs for the stack's log groups. Who else uses either key is each role's
//! policy, in `least_privilege.rs`.
//!
//! Needs the project's `.venv` (the SAM CLI brings the translator): `make venv`.

use std::collections::{BTreeMap, BTreeSet};

use orders_tests::translated::{
    canonical, get_att, resource, resources_of_type, strings, translated,
};
use serde_json::{Value, json};

/// Exam: every KMS key has a key policy, the root of access to it. A statement giving the account
/// root `kms:*` (what the default key policy does) delegates to IAM: any principal of the account
/// whose IAM policy allows an action on the key may perform it, so among this stack's roles the
/// ones above decide who uses the card key. The policy adds two grants, no more: any principal of
/// the account may use the key through DynamoDB (the table's encryption at rest; no direct call),
/// and DynamoDB may describe it.
#[test]
fn the_key_policy_delegates_to_iam_and_lets_the_account_use_the_key_through_dynamodb() {
    let policy = &resource(translated(), "OrdersKey")["Properties"]["KeyPolicy"];
    let statements: BTreeSet<String> = strings(&policy["Statement"])
        .into_iter()
        .map(|statement| {
            assert_eq!(statement["Effect"], "Allow", "{statement}");
            let mut actions = strings(&statement["Action"]);
            actions.sort_by_key(Value::to_string);
            canonical(json!({
                "Principal": statement["Principal"],
                "Action": actions,
                "Resource": statement["Resource"],
                "Condition": statement["Condition"],
            }))
            .to_string()
        })
        .collect();

    let account_root = json!({"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"});
    let expected: BTreeSet<String> = [
        json!({
            "Principal": {"AWS": account_root},
            "Action": ["kms:*"],
            "Resource": "*",
            "Condition": null,
        }),
        json!({
            "Principal": {"AWS": "*"},
            "Action": ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt",
                       "kms:GenerateDataKey*", "kms:ReEncrypt*"],
            "Resource": "*",
            // Through DynamoDB only, for callers of this account: no direct call.
            "Condition": {"StringEquals": {
                "kms:CallerAccount": {"Ref": "AWS::AccountId"},
                "kms:ViaService": {"Fn::Sub": "dynamodb.${AWS::Region}.${AWS::URLSuffix}"},
            }},
        }),
        json!({
            "Principal": {"Service": "dynamodb.amazonaws.com"},
            "Action": ["kms:Describe*", "kms:Get*", "kms:List*"],
            "Resource": "*",
            "Condition": null,
        }),
    ]
    .into_iter()
    .map(|statement| canonical(statement).to_string())
    .collect();
    assert_eq!(statements, expected);
}

/// Exam: a service that encrypts for us needs the key policy's leave. MessagesKey's policy adds two
/// service statements to the account's: SNS may make and open data keys only for this stack's
/// topic (`aws:SourceArn`, spelt out from the topic's name), as it must to deliver into an
/// encrypted queue; CloudWatch Logs may use the key only for this stack's log groups (the
/// `aws:logs:arn` encryption context), each spelt out from its `LogGroupName`. A group added or
/// renamed without its line here would fail to create at deploy time: this test fails first.
#[test]
fn the_messages_key_lets_sns_use_it_for_the_topic_and_logs_for_the_stacks_log_groups() {
    let template = translated();
    let policy = &resource(template, "MessagesKey")["Properties"]["KeyPolicy"];
    let by_principal: BTreeMap<String, Value> = strings(&policy["Statement"])
        .into_iter()
        .map(|statement| {
            assert_eq!(statement["Effect"], "Allow", "{statement}");
            assert_eq!(statement["Resource"], "*", "{statement}");
            (
                canonical(statement["Principal"].clone()).to_string(),
                statement,
            )
        })
        .collect();
    let principal = |p: Value| canonical(p).to_string();
    let account_root =
        json!({"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}});
    let sns = json!({"Service": "sns.amazonaws.com"});
    let logs = json!({"Service": {"Fn::Sub": "logs.${AWS::Region}.${AWS::URLSuffix}"}});
    let expected: BTreeSet<String> = [&account_root, &sns, &logs]
        .into_iter()
        .map(|p| principal(p.clone()))
        .collect();
    assert_eq!(
        by_principal.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "MessagesKey's principals"
    );

    let root = &by_principal[&principal(account_root)];
    assert_eq!(root["Action"], "kms:*");
    assert!(root.get("Condition").is_none(), "{root}");

    // SNS: data keys for this stack's topic only, which is named so the policy can name it.
    let topic_name = &resource(template, "OrderEventsTopic")["Properties"]["TopicName"]["Fn::Sub"];
    let topic_name = topic_name
        .as_str()
        .expect("OrderEventsTopic has a TopicName");
    let sns = &by_principal[&principal(sns)];
    let mut actions = strings(&sns["Action"]);
    actions.sort_by_key(Value::to_string);
    assert_eq!(
        actions,
        [json!("kms:Decrypt"), json!("kms:GenerateDataKey*")]
    );
    assert_eq!(
        sns["Condition"],
        json!({"ArnEquals": {"aws:SourceArn": {"Fn::Sub": format!(
            "arn:${{AWS::Partition}}:sns:${{AWS::Region}}:${{AWS::AccountId}}:{topic_name}"
        )}}})
    );

    // CloudWatch Logs: exactly the stack's log groups, every one of which uses the key.
    let log_groups = resources_of_type(template, "AWS::Logs::LogGroup");
    let group_arns: BTreeSet<String> = log_groups
        .iter()
        .map(|(id, group)| {
            assert_eq!(
                group["Properties"]["KmsKeyId"],
                get_att("MessagesKey", "Arn"),
                "{id} is encrypted with MessagesKey"
            );
            let name = group["Properties"]["LogGroupName"]["Fn::Sub"]
                .as_str()
                .unwrap_or_else(|| panic!("{id}'s LogGroupName is a !Sub"));
            json!({"Fn::Sub": format!(
                "arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:{name}"
            )})
            .to_string()
        })
        .collect();
    assert!(group_arns.len() >= 11, "{group_arns:?}");
    let logs = &by_principal[&principal(logs)];
    let allowed: BTreeSet<String> =
        strings(&logs["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"])
            .iter()
            .map(Value::to_string)
            .collect();
    assert_eq!(
        allowed, group_arns,
        "the log groups CloudWatch Logs may encrypt"
    );
}
