//! Consumed capacity (scenario 5 of `concepts.md` §17): every DynamoDB call of the store asks for
//! `ReturnConsumedCapacity=TOTAL`, and the SDK interceptor records what DynamoDB reports on the
//! call's X-Ray subsegment (metadata `consumedCapacity`) and as a log line of the invocation.
//!
//! Exam: a strongly consistent read of an item costs twice the read units of an eventually
//! consistent one (a 3 KB item: 1 and 0.5). moto reports consumed capacity but does not compute
//! it: a fixed 0.5 for every GetItem whatever its size or consistency (1.0 for PutItem and Query,
//! 0.5 for UpdateItem, nothing for TransactWriteItems). So the 2:1 ratio is shown with the answer
//! DynamoDB gives (mocked with `aws-smithy-mocks`), and against moto the test checks that the
//! figure recorded is the figure the service reported.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput;
use aws_sdk_dynamodb::types::{AttributeValue, ConsumedCapacity, ReturnConsumedCapacity};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use orders_shared::crypto::Envelope;
use orders_shared::domain::CustomerId;
use orders_shared::domain::{Order, OrderId};
use orders_shared::store::capacity::{KB, Read, Write, read_units, write_units};
use orders_shared::store::idempotency::IdempotencyKey;
use orders_shared::telemetry::aws_calls::AwsCallTracing;
use orders_shared::{Config, OrderStore};
use orders_tests::observed::{Observed, by_name, trace_header};
use orders_tests::{CUSTOMER, TestStack};
use serde_json::{Value, json};

const ID: &str = "0194a3f2-7c1e-7b3a-9d2e-5f6a7b8c9d0e";

/// The figure recorded on each DynamoDB subsegment, in the order the calls were made.
fn recorded_on_subsegments(documents: &[Value]) -> Vec<(String, f64)> {
    let mut calls: Vec<&Value> = by_name(documents, "DynamoDB");
    calls.sort_by(|a, b| {
        a["start_time"]
            .as_f64()
            .partial_cmp(&b["start_time"].as_f64())
            .unwrap()
    });
    calls
        .into_iter()
        .map(|call| {
            let units = call["metadata"]["consumedCapacity"]
                .as_f64()
                .unwrap_or_else(|| panic!("consumedCapacity metadata on {call:#}"));
            (call["aws"]["operation"].as_str().unwrap().to_owned(), units)
        })
        .collect()
}

/// The `consumed capacity` log lines: (operation, units, the invocation's request id).
fn recorded_in_logs(observed: &Observed) -> Vec<(String, f64, String)> {
    observed
        .logs
        .text()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["fields"]["message"] == "consumed capacity")
        .map(|line| {
            (
                line["fields"]["operation"].as_str().unwrap().to_owned(),
                line["fields"]["consumedCapacity"].as_f64().unwrap(),
                line["span"]["requestId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

/// An order whose note is `note_bytes` long.
fn order_with_note(note_bytes: usize) -> Order {
    serde_json::from_value(json!({
        "orderId": ID, "customerId": CUSTOMER,
        "items": [{"sku": "BOOK-1", "quantity": 1, "unitPriceCents": 1250}],
        "totalCents": 1250, "status": "PLACED", "version": 1,
        "createdAt": "2026-11-30T00:00:00.000Z", "updatedAt": "2026-11-30T00:00:00.000Z",
        "note": "n".repeat(note_bytes),
        "payment": {"cardLast4": "1111", "brand": "visa"}
    }))
    .expect("an order")
}

/// An order item of about 3 KB (its note makes it so), as stored.
fn order_item_of_3_kb() -> std::collections::HashMap<String, AttributeValue> {
    let order = order_with_note(3 * KB as usize - 400);
    let mut item: std::collections::HashMap<String, AttributeValue> =
        serde_dynamo::to_item(&order).expect("an item");
    item.insert("pk".into(), AttributeValue::S(format!("ORDER#{ID}")));
    item.insert("sk".into(), AttributeValue::S("ORDER".into()));
    item
}

/// The answer DynamoDB gives a GetItem of the 3 KB item with `ReturnConsumedCapacity=TOTAL`.
fn get_item_answer(read: Read) -> GetItemOutput {
    GetItemOutput::builder()
        .set_item(Some(order_item_of_3_kb()))
        .consumed_capacity(
            ConsumedCapacity::builder()
                .table_name("orders")
                .capacity_units(read_units(3 * KB, read))
                .build(),
        )
        .build()
}

#[tokio::test]
async fn a_strongly_consistent_read_records_twice_the_units_of_an_eventually_consistent_one() {
    let asks_for_total = |consistent: bool| {
        move |req: &aws_sdk_dynamodb::operation::get_item::GetItemInput| {
            req.consistent_read() == Some(consistent)
                && req.return_consumed_capacity() == Some(&ReturnConsumedCapacity::Total)
        }
    };
    let strong = mock!(Client::get_item)
        .match_requests(asks_for_total(true))
        .then_output(|| get_item_answer(Read::Strong));
    let eventual = mock!(Client::get_item)
        .match_requests(asks_for_total(false))
        .then_output(|| get_item_answer(Read::Eventual));
    let client = mock_client!(
        aws_sdk_dynamodb,
        RuleMode::MatchAny,
        [&strong, &eventual],
        |config| config.interceptor(AwsCallTracing::default())
    );
    let config = Config::from_lookup(|name| (name == "TABLE_NAME").then(|| "orders".into()))
        .expect("a table name");
    let store = OrderStore::new(client, &config);
    let id = OrderId::parse(ID).unwrap();

    let observed = Observed::start("get-order").await;
    let (header, _, _) = trace_header(true);
    let (consistent, eventual_read) = observed
        .telemetry
        .invocation("req-cap", Some(&header), async {
            (store.get(id, true).await, store.get(id, false).await)
        })
        .await;
    assert!(consistent.unwrap().is_some() && eventual_read.unwrap().is_some());
    assert_eq!(
        (strong.num_calls(), eventual.num_calls()),
        (1, 1),
        "both asked for TOTAL"
    );

    let documents = observed.documents().await;
    assert_eq!(
        recorded_on_subsegments(&documents),
        [("GetItem".to_owned(), 1.0), ("GetItem".to_owned(), 0.5)],
        "X-Ray metadata: 1 read unit strongly consistent, 0.5 eventually consistent"
    );
    assert_eq!(
        recorded_in_logs(&observed),
        [
            ("GetItem".to_owned(), 1.0, "req-cap".to_owned()),
            ("GetItem".to_owned(), 0.5, "req-cap".to_owned())
        ],
        "one log line per call, in the invocation's span"
    );
}

#[tokio::test]
async fn the_figure_recorded_for_each_call_is_the_one_moto_reports() {
    let stack = TestStack::start().await;
    let created = stack.create(&orders_tests::one_book_order()).await;
    assert_eq!(created.status, 201, "{:#}", created.body);
    let id = OrderId::parse(&created.order_id()).unwrap();

    // What moto answers the same reads, asked directly.
    let mut reported = Vec::new();
    for consistent in [true, false] {
        let output = stack
            .dynamodb
            .get_item()
            .table_name(&stack.table)
            .key("pk", AttributeValue::S(format!("ORDER#{id}")))
            .key("sk", AttributeValue::S("ORDER".into()))
            .consistent_read(consistent)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .unwrap();
        let units = output.consumed_capacity().and_then(|c| c.capacity_units());
        reported.push((
            "GetItem".to_owned(),
            units.expect("moto reports consumed capacity"),
        ));
    }

    let observed = Observed::start("get-order").await;
    let (header, _, _) = trace_header(true);
    observed
        .telemetry
        .invocation("req-moto", Some(&header), async {
            stack.store.get(id, true).await.unwrap().expect("the order");
            stack
                .store
                .get(id, false)
                .await
                .unwrap()
                .expect("the order");
        })
        .await;
    assert_eq!(
        recorded_on_subsegments(&observed.documents().await),
        reported
    );
    let logged: Vec<(String, f64)> = recorded_in_logs(&observed)
        .into_iter()
        .map(|(operation, units, _)| (operation, units))
        .collect();
    assert_eq!(logged, reported);
}

#[tokio::test]
async fn a_transaction_records_the_units_of_every_item_it_wrote() {
    // Two items of up to 1 KB each (the order and its idempotency record), written in a
    // transaction: 2 x 2 write units, twice what the same two writes cost one by one.
    let units = 2.0 * write_units(KB, Write::Transactional);
    assert_eq!(units, 2.0 * 2.0 * write_units(KB, Write::Standard));
    let transaction = mock!(Client::transact_write_items)
        .match_requests(|req| {
            req.return_consumed_capacity() == Some(&ReturnConsumedCapacity::Total)
        })
        .then_output(move || {
            TransactWriteItemsOutput::builder()
                .consumed_capacity(
                    ConsumedCapacity::builder()
                        .table_name("orders")
                        .capacity_units(units)
                        .build(),
                )
                .build()
        });
    let client = mock_client!(
        aws_sdk_dynamodb,
        RuleMode::MatchAny,
        [&transaction],
        |config| config.interceptor(AwsCallTracing::default())
    );
    let config = Config::from_lookup(|name| (name == "TABLE_NAME").then(|| "orders".into()))
        .expect("a table name");
    let store = OrderStore::new(client, &config);
    let card = Envelope {
        v: 1,
        key_id: "k".into(),
        edk: "e".into(),
        nonce: "n".into(),
        ct: "c".into(),
    };
    let key = IdempotencyKey::parse(&CustomerId::parse(CUSTOMER).unwrap(), "k-1").unwrap();

    let observed = Observed::start("create-order").await;
    let (header, _, _) = trace_header(true);
    let written = observed
        .telemetry
        .invocation("req-tx", Some(&header), async {
            store
                .create_with_idempotency_key(&order_with_note(10), &card, &key, "f")
                .await
        })
        .await;
    assert!(matches!(written, Ok(None)), "both items written");
    assert_eq!(
        transaction.num_calls(),
        1,
        "the transaction asked for TOTAL"
    );
    assert_eq!(
        recorded_on_subsegments(&observed.documents().await),
        [("TransactWriteItems".to_owned(), 4.0)]
    );
}
