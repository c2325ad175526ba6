//! TTL: expired but still visible (scenario 7 of `concepts.md` §17).
//!
//! Exam: DynamoDB TTL deletes an item some time after its TTL attribute (`expiresAt`, a Number of
//! epoch seconds) has passed: in the background, at no cost, typically within a few days (the
//! study notes' "within 48 hours" is out of date). Until then the item is still returned by
//! GetItem, Query and Scan, so an application must treat an expired item as absent itself.
//!
//! moto never deletes expired items at all: here that is the point, since it plays the window
//! in which AWS has not deleted them yet.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::Body;
use orders_shared::domain::{EventType, OrderEvent, OrderId};
use orders_tests::{Reply, TestStack};

fn epoch_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

fn key(pk: &str, sk: &str) -> std::collections::HashMap<String, AttributeValue> {
    [
        ("pk".to_owned(), AttributeValue::S(pk.into())),
        ("sk".to_owned(), AttributeValue::S(sk.into())),
    ]
    .into()
}

/// Moves an item's `expiresAt` a minute into the past, with a raw UpdateItem.
async fn expire(stack: &TestStack, pk: &str, sk: &str) -> u64 {
    let past = epoch_seconds() - 60;
    stack
        .dynamodb
        .update_item()
        .table_name(&stack.table)
        .set_key(Some(key(pk, sk)))
        .update_expression("SET expiresAt = :past")
        .condition_expression("attribute_exists(pk)")
        .expression_attribute_values(":past", AttributeValue::N(past.to_string()))
        .send()
        .await
        .expect("the item exists");
    past
}

/// `expiresAt` of the item as a raw, strongly consistent GetItem returns it, if it is there.
async fn raw_expires_at(stack: &TestStack, pk: &str, sk: &str) -> Option<(u64, String)> {
    let item = stack
        .dynamodb
        .get_item()
        .table_name(&stack.table)
        .set_key(Some(key(pk, sk)))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item?;
    let expires_at = item["expiresAt"].as_n().unwrap().parse().unwrap();
    let order_id = item
        .get("order")
        .and_then(|order| order.as_m().ok())
        .map(|order| order["orderId"].as_s().unwrap().clone())
        .unwrap_or_default();
    Some((expires_at, order_id))
}

#[tokio::test]
async fn an_expired_idempotency_record_is_still_read_raw_but_a_retry_places_a_new_order() {
    let stack = TestStack::start().await;
    let customer = stack.as_customer("c-ttl");
    let body = Body::from(orders_tests::one_book_order().to_string());
    let headers = [("idempotency-key", "ttl-key-1")];
    let first = customer.create_with(body.clone(), &headers).await;
    assert_eq!(first.status, 201, "{:#}", first.body);
    let record = ("IDEMPOTENCY#c-ttl#ttl-key-1", "IDEMPOTENCY");

    // Within its TTL the record replays the first order.
    let replay = customer.create_with(body.clone(), &headers).await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.order_id(), first.order_id());

    // Past its TTL, and not deleted yet: a raw read still returns it.
    let past = expire(&stack, record.0, record.1).await;
    assert_eq!(
        raw_expires_at(&stack, record.0, record.1).await,
        Some((past, first.order_id())),
        "an expired item is still returned until TTL deletes it"
    );

    // The app treats it as absent: the same key now places a new order, and its record replaces
    // the expired one (the transaction's condition `attribute_not_exists(pk) OR expiresAt < :now`).
    let retry: Reply = customer.create_with(body, &headers).await;
    assert_eq!(retry.status, 201, "{:#}", retry.body);
    assert_eq!(retry.header("idempotent-replayed"), None, "not a replay");
    assert_ne!(retry.order_id(), first.order_id());
    let (expires_at, order_id) = raw_expires_at(&stack, record.0, record.1)
        .await
        .expect("the new record");
    assert_eq!(order_id, retry.order_id());
    assert!(expires_at > epoch_seconds(), "a fresh TTL");
    let listed = customer.list(&[]).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn an_expired_audit_entry_is_still_queried_raw_but_left_out_of_the_trail() {
    let stack = TestStack::start().await;
    let created = stack.create(&orders_tests::one_book_order()).await;
    let id = OrderId::parse(&created.order_id()).unwrap();
    let order = stack.store.get(id, true).await.unwrap().expect("the order");
    for event_id in ["evt-kept", "evt-expired"] {
        let event = OrderEvent::new(event_id, EventType::OrderPlaced, order.clone());
        stack.store.record_event(&event).await.unwrap();
    }
    expire(&stack, &format!("ORDER#{id}"), "EVENT#evt-expired").await;

    // A raw query of the order's events still finds both.
    let raw = stack
        .dynamodb
        .query()
        .table_name(&stack.table)
        .key_condition_expression("pk = :pk AND begins_with(sk, :events)")
        .expression_attribute_values(":pk", AttributeValue::S(format!("ORDER#{id}")))
        .expression_attribute_values(":events", AttributeValue::S("EVENT#".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.count(), 2, "the expired entry is still there");

    // The trail leaves the expired one out.
    let trail = stack.store.audit_trail(id).await.unwrap();
    let ids: Vec<&str> = trail.iter().map(|entry| entry.event_id.as_str()).collect();
    assert_eq!(ids, ["evt-kept"]);
}
