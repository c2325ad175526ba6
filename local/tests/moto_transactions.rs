//! TransactWriteItems on the local moto is all or nothing, as on DynamoDB, although
//! `scripts/moto_server.py` saves only the items a transaction names (moto itself copies whole
//! tables, which made each transaction cost seconds once the table held thousands of orders).
//! A cancelled transaction leaves every item as it was and writes no stream record; its
//! `CancellationReasons` are moto's, the old item included with
//! `ReturnValuesOnConditionCheckFailure=ALL_OLD`.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use aws_sdk_dynamodbstreams::types::ShardIteratorType;

use crate::support::moto::{deploy_stack, orders_table_and_stream};

fn key(pk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk.into())),
        ("sk".to_owned(), AttributeValue::S("ORDER".into())),
    ])
}

fn item(pk: &str, version: u32) -> HashMap<String, AttributeValue> {
    let mut item = key(pk);
    item.insert("version".into(), AttributeValue::N(version.to_string()));
    item
}

/// The template's orders table (keyed `pk`, `sk`, with a stream of new and old images), in a
/// stack of the test's own; returns its name and its stream's ARN.
async fn orders_table(stack_name: &str) -> (String, String, aws_config::SdkConfig) {
    let (deployed, aws) = deploy_stack(stack_name).await;
    let (table, stream_arn) = orders_table_and_stream(&deployed);
    (table.to_owned(), stream_arn.to_owned(), aws)
}

/// Every record so far on the stream `stream_arn`, as (event name, key `pk`).
async fn stream_records(config: &aws_config::SdkConfig, stream_arn: &str) -> Vec<(String, String)> {
    let streams = aws_sdk_dynamodbstreams::Client::new(config);
    let stream = streams
        .describe_stream()
        .stream_arn(stream_arn)
        .send()
        .await
        .unwrap();
    let shard = &stream.stream_description().unwrap().shards()[0];
    let iterator = streams
        .get_shard_iterator()
        .stream_arn(stream_arn)
        .shard_id(shard.shard_id().unwrap())
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap();
    let records = streams
        .get_records()
        .shard_iterator(iterator.shard_iterator().unwrap())
        .send()
        .await
        .unwrap();
    records
        .records()
        .iter()
        .map(|record| {
            let change = record.dynamodb().unwrap();
            let pk = change.keys().unwrap()["pk"].as_s().unwrap().clone();
            (record.event_name().unwrap().as_str().to_owned(), pk)
        })
        .collect()
}

async fn version_of(dynamodb: &Client, table: &str, pk: &str) -> Option<String> {
    let read = dynamodb
        .get_item()
        .table_name(table)
        .set_key(Some(key(pk)))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    read.item()
        .map(|item| item["version"].as_n().unwrap().clone())
}

fn put_new(table: &str, pk: &str, version: u32) -> TransactWriteItem {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item(pk, version)))
        .condition_expression("attribute_not_exists(pk)")
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .unwrap();
    TransactWriteItem::builder().put(put).build()
}

fn bump_version(table: &str, pk: &str) -> TransactWriteItem {
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(key(pk)))
        .update_expression("SET version = version + :one")
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .build()
        .unwrap();
    TransactWriteItem::builder().update(update).build()
}

#[tokio::test]
async fn a_cancelled_transaction_writes_nothing_and_says_why_item_by_item() {
    let (table, stream_arn, config) = orders_table("transactions-cancelled").await;
    let table = table.as_str();
    let dynamodb = Client::new(&config);
    for pk in ["existing", "taken"] {
        dynamodb
            .put_item()
            .table_name(table)
            .set_item(Some(item(pk, 1)))
            .send()
            .await
            .unwrap();
    }

    // A new item, an update of an existing one, then a create whose condition fails: moto
    // applies the first two before it reaches the third; all three must be undone.
    let cancelled = dynamodb
        .transact_write_items()
        .transact_items(put_new(table, "new", 1))
        .transact_items(bump_version(table, "existing"))
        .transact_items(put_new(table, "taken", 7))
        .send()
        .await
        .expect_err("the last condition fails");
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        cancelled.as_service_error()
    else {
        panic!("{cancelled:?}");
    };
    let reasons = cancelled.cancellation_reasons();
    let codes: Vec<Option<&str>> = reasons.iter().map(|reason| reason.code()).collect();
    assert_eq!(
        codes,
        [Some("None"), Some("None"), Some("ConditionalCheckFailed")]
    );
    let old = reasons[2].item().expect("ALL_OLD returns the item");
    assert_eq!(old["version"].as_n().unwrap(), "1");

    for (pk, version) in [("new", None), ("existing", Some("1")), ("taken", Some("1"))] {
        assert_eq!(
            version_of(&dynamodb, table, pk).await.as_deref(),
            version,
            "{pk} after the cancelled transaction"
        );
    }
    let inserted = |pk: &str| ("INSERT".to_owned(), pk.to_owned());
    assert_eq!(
        stream_records(&config, &stream_arn).await,
        [inserted("existing"), inserted("taken")],
        "a cancelled transaction writes no stream record"
    );

    // The same transaction without the failing create is applied whole, with its records.
    dynamodb
        .transact_write_items()
        .transact_items(put_new(table, "new", 1))
        .transact_items(bump_version(table, "existing"))
        .send()
        .await
        .unwrap();
    for (pk, version) in [("new", "1"), ("existing", "2")] {
        assert_eq!(
            version_of(&dynamodb, table, pk).await.as_deref(),
            Some(version),
            "{pk} after the applied transaction"
        );
    }
    let records = stream_records(&config, &stream_arn).await;
    assert_eq!(
        records[2..],
        [inserted("new"), ("MODIFY".into(), "existing".into())]
    );
}

#[tokio::test]
async fn a_transaction_moto_refuses_before_the_end_leaves_no_write_behind() {
    let (table, stream_arn, config) = orders_table("transactions-refused").await;
    let table = table.as_str();
    let dynamodb = Client::new(&config);

    // Two operations on one item: DynamoDB refuses the whole request (ValidationException);
    // moto notices only at the second, after it wrote the first.
    let refused = dynamodb
        .transact_write_items()
        .transact_items(put_new(table, "twice", 1))
        .transact_items(bump_version(table, "twice"))
        .send()
        .await
        .expect_err("two operations on one item");
    assert_eq!(
        refused.as_service_error().and_then(|e| e.meta().code()),
        Some("ValidationException"),
        "{refused:?}"
    );
    assert_eq!(version_of(&dynamodb, table, "twice").await, None);
    assert!(stream_records(&config, &stream_arn).await.is_empty());
}
