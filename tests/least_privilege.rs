//! Least privilege, read on the template as CloudFormation deploys it (the SAM transform's output,
//! where every role exists with what it allows).
//!
//! Each function runs with an execution role of its own, written out in `template.yaml`, and
//! CodeDeploy with one too: no role carries a managed policy (what an AWS managed policy allows is
//! not in the template, and the ones SAM attaches allow data-plane actions on `"*"`), every
//! statement names the resource it is for, log writes go to the function's own log group, use of
//! the card key holds only for the card's encryption context, use of the messages key only through
//! SNS, SQS or Secrets Manager, and table access only for the partition keys the function's items
//! have (`dynamodb:LeadingKeys`). `policies/iam.guard` checks the same rules with
//! cfn-guard (`make validate`). The keys' own policies are read in `key_policies.rs`.
//!
//! Needs the project's `.venv` (the SAM CLI brings the translator): `make venv`.

use std::collections::{BTreeMap, BTreeSet};

use orders_shared::crypto::envelope::{APP, CARD_PURPOSE};
use orders_tests::translated::{
    canonical, get_att, resource, resources_of_type, strings, translated,
};
use serde_json::{Value, json};

/// The CodeDeploy PreTraffic hook: the one function that is not deployed through a canary.
const HOOK: &str = "PreTrafficCheckFunction";

/// One Allow statement, reduced to what it grants: (sorted actions, resources, condition), the
/// last two as canonical JSON so that the order things are written in does not matter.
type Grant = (Vec<String>, String, String);

fn grant(actions: &[&str], resource: Value, condition: Value) -> Grant {
    let mut actions: Vec<String> = actions.iter().map(|a| (*a).to_owned()).collect();
    actions.sort_unstable();
    let resource = match canonical(resource) {
        Value::Array(mut items) => {
            items.sort_by_key(|item| item.to_string());
            Value::Array(items)
        }
        other => other,
    };
    (
        actions,
        resource.to_string(),
        canonical(condition).to_string(),
    )
}

/// Every statement of a role's inline policies.
fn statements(role: &Value) -> Vec<Value> {
    role["Properties"]["Policies"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .flat_map(|policy| strings(&policy["PolicyDocument"]["Statement"]))
        .collect()
}

/// Every Allow statement of a role, as grants; a Deny or NotAction would need reading by hand.
fn grants_of(role_id: &str) -> BTreeSet<Grant> {
    statements(resource(translated(), role_id))
        .into_iter()
        .map(|statement| {
            assert_eq!(statement["Effect"], "Allow", "{role_id}: {statement}");
            let actions: Vec<String> = strings(&statement["Action"])
                .iter()
                .map(|a| a.as_str().expect("an action").to_owned())
                .collect();
            let actions: Vec<&str> = actions.iter().map(String::as_str).collect();
            grant(
                &actions,
                statement["Resource"].clone(),
                statement["Condition"].clone(),
            )
        })
        .collect()
}

/// The role a function runs with.
fn role_of(function: &str) -> &'static str {
    let role = &resource(translated(), function)["Properties"]["Role"]["Fn::GetAtt"];
    assert_eq!(role[1], "Arn", "{function}'s role: {role:?}");
    role[0].as_str().expect("role logical id")
}

fn functions() -> Vec<&'static str> {
    let functions: Vec<&str> = resources_of_type(translated(), "AWS::Lambda::Function")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert!(functions.len() >= 9, "{functions:?}");
    functions
}

/// `function:*` (its versions and aliases), named as a role names it: under the function's
/// condition when it has one (`!If [NotifiesMerchant, ..., !Ref AWS::NoValue]`).
fn versions_of(function: &str) -> Value {
    if_exists(
        function,
        json!({ "Fn::Sub": format!("${{{function}.Arn}}:*") }),
    )
}

/// `value`, or, for a function that exists only under a condition, `value` under it.
fn if_exists(function: &str, value: Value) -> Value {
    match resource(translated(), function).get("Condition") {
        Some(condition) => json!({"Fn::If": [condition, value, {"Ref": "AWS::NoValue"}]}),
        None => value,
    }
}

/// What every function needs: writing to its own log group, sending trace segments.
fn logs_and_traces(log_group: &str) -> [Grant; 2] {
    [
        grant(
            &["logs:CreateLogStream", "logs:PutLogEvents"],
            get_att(log_group, "Arn"),
            Value::Null,
        ),
        grant(
            &["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
            json!("*"),
            Value::Null,
        ),
    ]
}

/// `actions` on MessagesKey, only through `services` (`kms:ViaService`: `sns`, `sqs`,
/// `secretsmanager` in the stack's Region): the key serves only calls the role may make on a topic,
/// queue or secret its other statements name.
fn messages_key_through(
    actions: &[&str],
    services: &[&str],
    context: Option<(&str, Value)>,
) -> Grant {
    let via: Vec<Value> = services
        .iter()
        .map(
            |service| json!({"Fn::Sub": format!("{service}.${{AWS::Region}}.${{AWS::URLSuffix}}")}),
        )
        .collect();
    let via = match via.as_slice() {
        [one] => one.clone(),
        _ => Value::Array(via),
    };
    let mut condition = serde_json::Map::new();
    condition.insert("kms:ViaService".into(), via);
    if let Some((key, value)) = context {
        condition.insert(key.into(), value);
    }
    grant(
        actions,
        get_att("MessagesKey", "Arn"),
        json!({"StringEquals": condition}),
    )
}

/// What a sender to an encrypted queue needs (Lambda sends an on-failure record with the role).
fn encrypt_for_queues() -> Grant {
    messages_key_through(&["kms:GenerateDataKey", "kms:Decrypt"], &["sqs"], None)
}

/// What a consumer of an encrypted queue needs.
fn decrypt_from_queues() -> Grant {
    messages_key_through(&["kms:Decrypt"], &["sqs"], None)
}

/// KMS use only for a data key of the card's encryption context (the one the code sends).
fn card_context() -> Value {
    json!({"StringEquals": {
        "kms:EncryptionContext:app": APP,
        "kms:EncryptionContext:purpose": CARD_PURPOSE,
    }})
}

/// Table access only to items whose partition key matches one of `patterns`.
fn leading_keys(patterns: &[&str]) -> Value {
    json!({"ForAllValues:StringLike": {"dynamodb:LeadingKeys": patterns}})
}

#[test]
fn every_role_allows_exactly_the_calls_its_function_makes() {
    let table = || get_att("OrdersTable", "Arn");
    let key = || get_att("OrdersKey", "Arn");
    let orders = || leading_keys(&["ORDER#*"]);
    let new_versions: Vec<Value> = functions()
        .iter()
        .filter(|function| **function != HOOK)
        .map(|function| {
            let versions = json!({ "Fn::Sub": format!("${{{function}.Arn}}:*") });
            // A function that exists only under a condition is named under the same condition.
            match resource(translated(), function).get("Condition") {
                Some(condition) => {
                    json!({"Fn::If": [condition, versions, {"Ref": "AWS::NoValue"}]})
                }
                None => versions,
            }
        })
        .collect();
    let consume = |queue: &str| {
        grant(
            &[
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
            ],
            get_att(queue, "Arn"),
            Value::Null,
        )
    };
    let expected: BTreeMap<&str, (&str, Vec<Grant>)> = [
        (
            "CreateOrderFunction",
            "CreateOrderLogGroup",
            vec![
                grant(&["kms:GenerateDataKey"], key(), card_context()),
                grant(
                    &["dynamodb:PutItem", "dynamodb:GetItem"],
                    table(),
                    leading_keys(&["ORDER#*", "IDEMPOTENCY#*"]),
                ),
            ],
        ),
        (
            "GetOrderFunction",
            "GetOrderLogGroup",
            vec![grant(&["dynamodb:GetItem"], table(), orders())],
        ),
        (
            "UpdateOrderFunction",
            "UpdateOrderLogGroup",
            vec![grant(&["dynamodb:UpdateItem"], table(), orders())],
        ),
        (
            "CancelOrderFunction",
            "CancelOrderLogGroup",
            vec![grant(&["dynamodb:UpdateItem"], table(), orders())],
        ),
        (
            "ListOrdersFunction",
            "ListOrdersLogGroup",
            vec![grant(
                &["dynamodb:Query"],
                json!({"Fn::Sub": "${OrdersTable.Arn}/index/byCustomer"}),
                Value::Null,
            )],
        ),
        (
            "PublishEventsFunction",
            "PublishEventsLogGroup",
            vec![
                grant(
                    &[
                        "dynamodb:DescribeStream",
                        "dynamodb:GetRecords",
                        "dynamodb:GetShardIterator",
                    ],
                    get_att("OrdersTable", "StreamArn"),
                    Value::Null,
                ),
                grant(
                    &["dynamodb:ListStreams"],
                    json!({"Fn::Sub": "${OrdersTable.Arn}/stream/*"}),
                    Value::Null,
                ),
                grant(
                    &["sns:Publish"],
                    json!({"Ref": "OrderEventsTopic"}),
                    Value::Null,
                ),
                grant(
                    &["sqs:SendMessage"],
                    get_att("StreamFailureQueue", "Arn"),
                    Value::Null,
                ),
                messages_key_through(
                    &["kms:GenerateDataKey", "kms:Decrypt"],
                    &["sns", "sqs"],
                    None,
                ),
            ],
        ),
        (
            "FulfillOrderFunction",
            "FulfillOrderLogGroup",
            vec![
                consume("FulfillmentQueue"),
                decrypt_from_queues(),
                grant(&["kms:Decrypt"], key(), card_context()),
                grant(
                    &["dynamodb:GetItem", "dynamodb:UpdateItem"],
                    table(),
                    orders(),
                ),
            ],
        ),
        (
            "RecordAuditFunction",
            "RecordAuditLogGroup",
            vec![
                consume("AuditQueue"),
                decrypt_from_queues(),
                grant(&["dynamodb:PutItem"], table(), orders()),
            ],
        ),
        (
            "NotifyMerchantFunction",
            "NotifyMerchantLogGroup",
            vec![
                grant(
                    &["secretsmanager:GetSecretValue"],
                    json!({"Ref": "MerchantWebhookSecret"}),
                    Value::Null,
                ),
                // The secret is encrypted with MessagesKey: this secret only (its encryption
                // context names it), through Secrets Manager only.
                messages_key_through(
                    &["kms:Decrypt"],
                    &["secretsmanager"],
                    Some((
                        "kms:EncryptionContext:SecretARN",
                        json!({"Ref": "MerchantWebhookSecret"}),
                    )),
                ),
                grant(
                    &["sqs:SendMessage"],
                    get_att("MerchantNotificationFailureQueue", "Arn"),
                    Value::Null,
                ),
                encrypt_for_queues(),
            ],
        ),
        (
            HOOK,
            "PreTrafficCheckLogGroup",
            vec![
                grant(
                    &["codedeploy:GetDeployment"],
                    json!({"Fn::Sub": "arn:${AWS::Partition}:codedeploy:${AWS::Region}:${AWS::AccountId}:deploymentgroup:${ServerlessDeploymentApplication}/*"}),
                    Value::Null,
                ),
                grant(
                    &["codedeploy:PutLifecycleEventHookExecutionStatus"],
                    json!("*"),
                    Value::Null,
                ),
                grant(
                    &["lambda:InvokeFunction"],
                    Value::Array(new_versions),
                    Value::Null,
                ),
                grant(
                    &["sqs:SendMessage"],
                    get_att("PreTrafficHookFailureQueue", "Arn"),
                    Value::Null,
                ),
                encrypt_for_queues(),
            ],
        ),
    ]
    .into_iter()
    .map(|(function, log_group, grants)| (function, (log_group, grants)))
    .collect();

    let deployed: BTreeSet<&str> = functions().into_iter().collect();
    let listed: BTreeSet<&str> = expected.keys().copied().collect();
    assert_eq!(deployed, listed, "a function without its expected grants");
    for (function, (log_group, grants)) in expected {
        let mut grants: BTreeSet<Grant> = grants.into_iter().collect();
        grants.extend(logs_and_traces(log_group));
        assert_eq!(grants_of(role_of(function)), grants, "{function}'s role");
        assert_eq!(
            resource(translated(), function)["Properties"]["LoggingConfig"]["LogGroup"],
            json!({"Ref": log_group}),
            "{function} logs to the group its role may write to"
        );
    }
}

#[test]
fn no_role_carries_a_managed_policy_and_each_trusts_only_its_service() {
    let roles = resources_of_type(translated(), "AWS::IAM::Role");
    assert!(roles.len() >= 10, "{roles:?}");
    for (id, role) in roles {
        let managed = &role["Properties"]["ManagedPolicyArns"];
        assert!(
            managed.is_null() || managed == &json!([]),
            "{id} carries managed policies {managed}: what they allow is not in the template \
             (SAM's allow data-plane actions on \"*\"); write the grants out instead"
        );
        let trust = strings(&role["Properties"]["AssumeRolePolicyDocument"]["Statement"]);
        let principals: Vec<&Value> = trust.iter().map(|s| &s["Principal"]).collect();
        let service = if id == "CodeDeployRole" {
            "codedeploy.amazonaws.com"
        } else {
            "lambda.amazonaws.com"
        };
        assert_eq!(principals, [&json!({"Service": service})], "{id}'s trust");
    }
}

/// The data-plane services: their actions read or change data, so none may be granted on `"*"`.
fn is_data_plane(action: &str) -> bool {
    action == "*"
        || [
            "dynamodb:",
            "sqs:",
            "sns:",
            "kms:",
            "s3:",
            "secretsmanager:",
        ]
        .iter()
        .any(|service| action.starts_with(service))
        || action.starts_with("logs:Put")
        || action.starts_with("logs:Create")
}

#[test]
fn no_data_plane_action_is_granted_on_every_resource() {
    let template = translated();
    let mut policies: Vec<(String, Value)> = resources_of_type(template, "AWS::IAM::Role")
        .into_iter()
        .flat_map(|(id, role)| {
            statements(role)
                .into_iter()
                .map(move |s| (id.to_owned(), s))
        })
        .collect();
    for kind in ["AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"] {
        for (id, policy) in resources_of_type(template, kind) {
            for statement in strings(&policy["Properties"]["PolicyDocument"]["Statement"]) {
                policies.push((id.to_owned(), statement));
            }
        }
    }
    assert!(policies.len() > 20, "{policies:?}");
    for (id, statement) in policies {
        let data_actions: Vec<Value> = strings(&statement["Action"])
            .into_iter()
            .filter(|action| action.as_str().is_some_and(is_data_plane))
            .collect();
        if data_actions.is_empty() {
            continue;
        }
        assert!(
            !strings(&statement["Resource"]).contains(&json!("*")),
            "{id} grants {data_actions:?} on every resource"
        );
        assert!(
            !data_actions
                .iter()
                .any(|a| a.as_str().unwrap().ends_with(":*")),
            "{id} grants every action of a service: {data_actions:?}"
        );
    }
}

#[test]
fn codedeploy_moves_only_this_stacks_aliases_and_invokes_only_the_hook() {
    let template = translated();
    let groups = resources_of_type(template, "AWS::CodeDeploy::DeploymentGroup");
    assert_eq!(groups.len(), functions().len() - 1, "{groups:?}");
    for (id, group) in groups {
        assert_eq!(
            group["Properties"]["ServiceRoleArn"],
            get_att("CodeDeployRole", "Arn"),
            "{id}"
        );
    }
    let canaries: Vec<&str> = functions().into_iter().filter(|f| *f != HOOK).collect();
    let mut aliases: Vec<Value> = canaries
        .iter()
        .map(|f| if_exists(f, get_att(f, "Arn")))
        .collect();
    aliases.extend(canaries.iter().map(|f| versions_of(f)));
    let expected: BTreeSet<Grant> = [
        grant(
            &[
                "lambda:GetAlias",
                "lambda:UpdateAlias",
                "lambda:GetProvisionedConcurrencyConfig",
            ],
            Value::Array(aliases),
            Value::Null,
        ),
        grant(
            &["lambda:InvokeFunction"],
            get_att(HOOK, "Arn"),
            Value::Null,
        ),
        grant(&["cloudwatch:DescribeAlarms"], json!("*"), Value::Null),
    ]
    .into();
    assert_eq!(grants_of("CodeDeployRole"), expected);
}
