//! `cloudformation::deploy` against a real moto server: the template's resources exist and behave as
//! the template says (index, stream, TTL, redrive, fan-out with filter policy and raw delivery,
//! the key behind its alias, the user pool's password policy and tokens, the API's usage plan and
//! key), and a second deploy finds them all instead of creating new ones.
//!
//! One moto server serves every test of this process; each test deploys its own stack (a stack
//! name of its own), so the tests run in parallel without sharing a resource.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{ProjectionType, StreamViewType, TimeToLiveStatus};
use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use orders_local::cloudformation::deploy;

use crate::support::moto::{deploy_stack, moto_endpoint, queue_attributes, template};

/// Topics, queues and secrets encrypted with the template's key.
mod encryption;
/// A failed deploy rolls back, as CloudFormation does.
mod rollback;
/// Secrets Manager secrets: generated once, kept, rolled back.
mod secret;

#[tokio::test]
async fn deploying_twice_creates_nothing_new() {
    let stack = "twice";
    let (first, aws) = deploy_stack(stack).await;
    let kms = aws_sdk_kms::Client::new(&aws);
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let sns = aws_sdk_sns::Client::new(&aws);
    // Other tests create keys at the same time: count this stack's own, by their description.
    let own_keys = || async {
        let mut own = 0;
        for key in kms.list_keys().send().await.unwrap().keys() {
            let key_id = key.key_id().unwrap();
            let described = kms.describe_key().key_id(key_id).send().await.unwrap();
            let description = described.key_metadata().and_then(|k| k.description());
            if description.is_some_and(|d| d.contains(&format!("({stack})"))) {
                own += 1;
            }
        }
        own
    };
    // The card key and the messages key.
    assert_eq!(own_keys().await, 2);

    let second = deploy(&template(), &aws, stack)
        .await
        .expect("second deploy");

    assert_eq!(first.resources(), second.resources());
    assert_eq!(own_keys().await, 2);
    let queues = sqs
        .list_queues()
        .queue_name_prefix(format!("{stack}-"))
        .send()
        .await
        .unwrap();
    // Fulfillment and audit with their dead-letter queues, the stream's and the hook's failure
    // queues: each once.
    assert_eq!(queues.queue_urls().len(), 6);
    let topic_arn = second.topic_arn("OrderEventsTopic").unwrap();
    let subscriptions = sns
        .list_subscriptions_by_topic()
        .topic_arn(topic_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(subscriptions.subscriptions().len(), 2);

    // In creation order: the key before everything that may name it.
    let resources = first.resources();
    assert_eq!(resources[0].logical_id, "OrdersKey");
    assert_eq!(resources[0].resource_type, "AWS::KMS::Key");
    assert!(
        resources
            .iter()
            .any(|r| r.resource_type == "AWS::SNS::Subscription")
    );
}

#[tokio::test]
async fn the_table_has_the_templates_keys_index_stream_and_ttl() {
    let (deployed, aws) = deploy_stack("table").await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let name = deployed.table_name("OrdersTable").unwrap();
    assert_eq!(name, "table-OrdersTable");

    let table = dynamodb
        .describe_table()
        .table_name(name)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let keys: Vec<&str> = table
        .key_schema()
        .iter()
        .map(|k| k.attribute_name())
        .collect();
    assert_eq!(keys, ["pk", "sk"]);
    let index = &table.global_secondary_indexes()[0];
    assert_eq!(index.index_name(), Some("byCustomer"));
    let projection = index.projection().unwrap();
    assert_eq!(projection.projection_type(), Some(&ProjectionType::Include));
    assert!(
        projection
            .non_key_attributes()
            .contains(&"status".to_owned())
    );
    let stream = table.stream_specification().unwrap();
    assert!(stream.stream_enabled());
    assert_eq!(
        stream.stream_view_type(),
        Some(&StreamViewType::NewAndOldImages)
    );
    assert_eq!(
        table.latest_stream_arn(),
        deployed.stream_arn("OrdersTable")
    );

    let ttl = dynamodb
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .unwrap()
        .time_to_live_description
        .unwrap();
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
    assert_eq!(ttl.attribute_name(), Some("expiresAt"));
}

#[tokio::test]
async fn the_fulfillment_queue_redrives_to_its_dlq_after_five_receives() {
    let (deployed, aws) = deploy_stack("redrive").await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let queue_url = deployed.queue_url("FulfillmentQueue").unwrap();
    let attributes = queue_attributes(&sqs, queue_url).await;
    let policy: serde_json::Value =
        serde_json::from_str(&attributes[&QueueAttributeName::RedrivePolicy]).unwrap();
    assert_eq!(
        policy["deadLetterTargetArn"],
        deployed.queue_arn("FulfillmentDeadLetterQueue").unwrap()
    );
    assert_eq!(policy["maxReceiveCount"].as_u64(), Some(5));
    assert_eq!(attributes[&QueueAttributeName::VisibilityTimeout], "60");
    assert_eq!(
        attributes[&QueueAttributeName::MessageRetentionPeriod],
        "345600"
    );
}

#[tokio::test]
async fn order_events_reach_the_queues_their_subscriptions_filter_for() {
    let (deployed, aws) = deploy_stack("fanout").await;
    let sns = aws_sdk_sns::Client::new(&aws);
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let topic = deployed.topic_arn("OrderEventsTopic").unwrap();
    let publish = |event_type: &'static str, body: &'static str| {
        let request = sns
            .publish()
            .topic_arn(topic)
            .message(body)
            .message_attributes(
                "eventType",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(event_type)
                    .build()
                    .unwrap(),
            );
        async move { request.send().await.unwrap() }
    };
    // moto delivers to the queues within the Publish call.
    publish("OrderPlaced", r#"{"eventType":"OrderPlaced"}"#).await;
    publish("OrderUpdated", r#"{"eventType":"OrderUpdated"}"#).await;

    let bodies = |queue: &'static str| {
        let request = sqs
            .receive_message()
            .queue_url(deployed.queue_url(queue).unwrap())
            .max_number_of_messages(10);
        async move {
            let mut bodies: Vec<String> = request
                .send()
                .await
                .unwrap()
                .messages()
                .iter()
                .map(|m| m.body().unwrap_or_default().to_owned())
                .collect();
            bodies.sort();
            bodies
        }
    };
    // Raw delivery: the bodies are the published messages, not SNS envelopes.
    assert_eq!(
        bodies("FulfillmentQueue").await,
        [r#"{"eventType":"OrderPlaced"}"#]
    );
    assert_eq!(
        bodies("AuditQueue").await,
        [
            r#"{"eventType":"OrderPlaced"}"#,
            r#"{"eventType":"OrderUpdated"}"#
        ]
    );
}

#[tokio::test]
async fn the_alias_names_the_key() {
    let (deployed, aws) = deploy_stack("alias").await;
    let kms = aws_sdk_kms::Client::new(&aws);
    let alias = deployed
        .resolve(&orders_local::cloudformation::Expr::Ref(
            "OrdersKeyAlias".into(),
        ))
        .unwrap();
    assert_eq!(alias, "alias/alias-orders");
    let key = kms
        .describe_key()
        .key_id(&alias)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(key.arn(), deployed.key_arn("OrdersKey"));
    assert_eq!(
        key.description(),
        Some("Orders on Lambda (alias): card data envelope keys and table encryption")
    );
}

#[tokio::test]
async fn functions_get_the_physical_ids_in_their_environment() {
    let (deployed, _) = deploy_stack("environment").await;
    let functions: HashMap<String, _> = template()
        .functions()
        .into_iter()
        .map(|f| (f.logical_id.clone(), f))
        .collect();

    let create_order = deployed
        .environment(&functions["CreateOrderFunction"])
        .unwrap();
    assert_eq!(create_order["TABLE_NAME"], "environment-OrdersTable");
    assert_eq!(
        Some(create_order["PAYMENT_KEY_ID"].as_str()),
        deployed.key_arn("OrdersKey")
    );
    assert!(create_order["PAYMENT_KEY_ID"].starts_with("arn:aws:kms:us-east-1:123456789012:key/"));

    let publish_events = deployed
        .environment(&functions["PublishEventsFunction"])
        .unwrap();
    assert_eq!(
        Some(publish_events["TOPIC_ARN"].as_str()),
        deployed.topic_arn("OrderEventsTopic")
    );
    assert_eq!(
        publish_events["TOPIC_ARN"], "arn:aws:sns:us-east-1:123456789012:environment-order-events",
        "the template's TopicName"
    );
    assert_eq!(publish_events["TABLE_NAME"], "environment-OrdersTable");
}

#[tokio::test]
async fn the_user_pool_keeps_its_password_policy_and_issues_rs256_id_tokens_its_jwks_verifies() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use orders_local::sign_in::{LOCAL_PASSWORD, UserPool, sign_in};

    let (deployed, aws) = deploy_stack("identity").await;
    let pool = UserPool::of(&deployed).expect("the template's pool and client");
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&aws);

    // The template's policy: 12 characters at least.
    let weak = cognito
        .sign_up()
        .client_id(&pool.client_id)
        .username("weak@example.com")
        .password("Short1a")
        .send()
        .await
        .expect_err("a password under the policy is refused");
    assert!(
        weak.as_service_error()
            .is_some_and(|e| e.is_invalid_password_exception()),
        "{weak:?}"
    );

    let tokens = sign_in(
        &cognito,
        &pool,
        "ada@example.com",
        LOCAL_PASSWORD,
        Some("support"),
    )
    .await
    .expect("sign-up, confirmation, group and sign-in");
    let part = |token: &str, index: usize| -> serde_json::Value {
        let encoded = token.split('.').nth(index).expect("a JWT");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(encoded).unwrap()).unwrap()
    };
    let (header, claims) = (part(&tokens.id_token, 0), part(&tokens.id_token, 1));
    assert_eq!(header["alg"], "RS256");
    assert_eq!(
        claims["iss"],
        format!(
            "https://cognito-idp.us-east-1.amazonaws.com/{}",
            pool.pool_id
        )
    );
    assert_eq!(claims["aud"], pool.client_id.as_str());
    assert_eq!(claims["token_use"], "id");
    assert_eq!(claims["cognito:groups"], serde_json::json!(["support"]));
    assert_eq!(part(&tokens.access_token, 1)["token_use"], "access");

    // The pool's JWKS, where the local authorizer fetches it, names the token's key.
    let jwks: serde_json::Value = reqwest::get(format!(
        "{}/{}/.well-known/jwks.json",
        moto_endpoint(),
        pool.pool_id
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|key| key["kid"] == header["kid"]),
        "{jwks}"
    );

    // The usage plan holds the API key the local API Gateway checks.
    let apigateway = aws_sdk_apigateway::Client::new(&aws);
    let plans = apigateway.get_usage_plans().send().await.unwrap();
    let plan = plans
        .items()
        .iter()
        .find(|plan| plan.name() == Some("identity-OrdersApiUsagePlan"))
        .expect("the API's usage plan");
    assert_eq!(plan.quota().map(|q| q.limit()), Some(10000));
    let keys = apigateway
        .get_usage_plan_keys()
        .usage_plan_id(plan.id().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        keys.items()
            .iter()
            .filter_map(|key| key.value())
            .collect::<Vec<_>>(),
        [orders_local::sign_in::api_key(&deployed).unwrap()]
    );
}
