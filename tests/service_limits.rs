//! Service limits the application stays within, checked against moto and the deployed template:
//! DynamoDB's 400 KB item, SQS's 1 MiB message and Lambda's 4 KB of environment variables. (KMS's 4,096-byte
//! `Encrypt` is in `card_data.rs`, next to the envelope encryption it calls for.)

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use orders_local::cloudformation::Template;
use orders_shared::api::MAX_BODY_BYTES;
use orders_shared::crypto::CachePolicy;
use orders_tests::moto::workspace_root;
use orders_tests::{StackPart, TestStack};

/// DynamoDB's item limit: 400 KB, attribute names and values together (409,600 bytes).
const ITEM_LIMIT_BYTES: usize = 400 * 1024;
/// SQS's largest message (and a queue's default `MaximumMessageSize`): 1 MiB since 2025, 256 KiB
/// before.
const MESSAGE_LIMIT_BYTES: usize = 1024 * 1024;
/// Lambda's limit on a function's environment variables: 4 KB in total.
const ENVIRONMENT_LIMIT_BYTES: usize = 4 * 1024;

/// An item of the key and one string attribute `blob` of `bytes` ASCII characters.
fn item_with_blob(id: &str, bytes: usize) -> std::collections::HashMap<String, AttributeValue> {
    std::collections::HashMap::from([
        ("pk".to_owned(), AttributeValue::S(format!("LIMIT#{id}"))),
        ("sk".to_owned(), AttributeValue::S("LIMIT".into())),
        ("blob".to_owned(), AttributeValue::S("x".repeat(bytes))),
    ])
}

/// Exam: an item is at most 400 KB, names and values counted; a bigger write is refused
/// (`ValidationException`), so large payloads go to S3 with a pointer in the item. An order never
/// comes near: the API reads a body of at most 64 KiB, and the item holds the order parsed from it
/// plus well under 1 KB (its keys, status, timestamps and the sealed card).
///
/// moto refuses an item above 405,000 bytes; DynamoDB at 409,600. Both sizes here are clear of
/// the gap.
#[tokio::test]
async fn dynamodb_refuses_an_item_over_400_kb_far_above_an_orders_size() {
    let stack = TestStack::start().await;
    let put = |id: &str, bytes: usize| {
        stack
            .dynamodb
            .put_item()
            .table_name(&stack.table)
            .set_item(Some(item_with_blob(id, bytes)))
            .send()
    };

    put("body-sized", MAX_BODY_BYTES)
        .await
        .expect("an item the size of the largest body is stored");

    let refused = put("too-big", ITEM_LIMIT_BYTES + 1024)
        .await
        .expect_err("an item over 400 KB is refused");
    assert_eq!(refused.code(), Some("ValidationException"), "{refused:?}");
    let stored = stack
        .dynamodb
        .get_item()
        .table_name(&stack.table)
        .key("pk", AttributeValue::S("LIMIT#too-big".into()))
        .key("sk", AttributeValue::S("LIMIT".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert!(
        stored.item.is_none(),
        "nothing of a refused write is stored"
    );
}

/// Exam: a function's environment variables are at most 4 KB in total. Lambda counts the whole
/// set a function has (every name and value, however set), so this measures the variables the
/// template gives each function, resolved as the deploy resolves them (parameters at their
/// defaults; the table's name, the key's and the topic's ARNs). The local stack's names are short: on AWS the stack name (up to
/// 128 characters) and CloudFormation's suffixes make them longer, hence the margin of half.
#[tokio::test]
async fn every_functions_environment_stays_well_under_lambdas_4_kb() {
    let stack = TestStack::deploying(StackPart::Pipeline, CachePolicy::DEFAULT).await;
    let template = Template::load(&workspace_root().join("template.yaml")).expect("template.yaml");
    let functions = template.functions();
    assert!(functions.len() >= 9, "{functions:?}");
    for function in functions {
        let environment = stack
            .deployed
            .environment(&function)
            .unwrap_or_else(|error| panic!("{}: {error}", function.logical_id));
        assert!(
            environment.contains_key("TABLE_NAME"),
            "{}: {environment:?}",
            function.logical_id
        );
        let bytes: usize = environment
            .iter()
            .map(|(name, value)| name.len() + value.len())
            .sum();
        assert!(
            bytes <= ENVIRONMENT_LIMIT_BYTES / 2,
            "{}: {bytes} bytes of environment: {environment:?}",
            function.logical_id
        );
    }
}

/// Exam: an SQS message is 1 byte to 1 MiB (256 KiB until 2025); a bigger payload goes to S3 with
/// a pointer in the message (the Extended Client pattern). The template's queues keep the default
/// maximum, and an order's event never comes near it: the API reads a body of at most 64 KiB, and
/// the event holds the order parsed from it, without the card.
#[tokio::test]
async fn the_fulfillment_queue_takes_a_1_mib_message_and_refuses_a_byte_more() {
    let stack = TestStack::deploying(StackPart::Pipeline, CachePolicy::DEFAULT).await;
    let queue = stack
        .deployed
        .queue_url("FulfillmentQueue")
        .expect("the template's fulfillment queue");
    let sqs = aws_sdk_sqs::Client::new(&orders_tests::moto_sdk_config().await);
    let send = |bytes: usize| {
        sqs.send_message()
            .queue_url(queue)
            .message_body("x".repeat(bytes))
            .send()
    };
    send(MESSAGE_LIMIT_BYTES)
        .await
        .expect("a message of exactly 1 MiB is accepted");
    let refused = send(MESSAGE_LIMIT_BYTES + 1)
        .await
        .expect_err("a message over 1 MiB is refused");
    assert_eq!(refused.code(), Some("InvalidParameterValue"), "{refused:?}");
    // An order's event is far smaller than the limit, checked when this compiles.
    const { assert!(MAX_BODY_BYTES * 4 < MESSAGE_LIMIT_BYTES) };
}
