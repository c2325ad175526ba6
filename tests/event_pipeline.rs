//! The event pipeline end to end, against moto: an order created through the API handler reaches
//! the table's stream, `publish-events` publishes it to the topic, SNS fans it out to the two
//! queues (fulfillment filtered to `OrderPlaced`), and the consumers run through event source
//! mappings that behave as Lambda's do (partial batch responses, redelivery, redrive to the DLQ).

use std::time::Duration;

use aws_lambda_events::sqs::SqsEvent;
use aws_sdk_sqs::types::MessageAttributeValue;
use chrono::NaiveDate;
use lambda_runtime::LambdaEvent;
use orders_local::sample_order::store_placed_order;
use orders_shared::domain::{EventType, OrderId, PaymentCard};
use orders_shared::messaging::{Deadline, publish_changes};
use orders_shared::store::counter::FULFILLMENT_ATTEMPTS_SK;
use orders_tests::pipeline::{self, invoke};
use orders_tests::{Consumer, Pipeline};
use serde_json::{Value, json};

const CARD: &str = "4539148803436467";

fn order_body() -> Value {
    json!({
        "items": [{"sku": "BOOK-1", "quantity": 2, "unitPriceCents": 1250}],
        "payment": {"cardNumber": CARD, "expiry": "12/35"}
    })
}

/// Places an order through the API handler, as `customer`; returns its id.
pub(crate) async fn place(pipeline: &Pipeline, customer: &str) -> String {
    let reply = pipeline
        .stack
        .as_customer(customer)
        .create(&order_body())
        .await;
    assert_eq!(reply.status, 201, "{:#}", reply.body);
    reply.order_id()
}

/// The event types in a batch, checking on the way that no body holds card data.
fn event_types(event: &SqsEvent) -> Vec<String> {
    event
        .records
        .iter()
        .map(|record| {
            let body = record.body.as_deref().unwrap_or_default();
            assert!(
                !body.contains("encryptedPayment") && !body.contains(&CARD[..6]),
                "an event carries no card data: {body}"
            );
            let event: Value = serde_json::from_str(body).expect("an event body is JSON");
            let attribute = record.message_attributes["eventType"].string_value.clone();
            assert_eq!(
                attribute.as_deref(),
                event["eventType"].as_str(),
                "attribute = body"
            );
            event["eventType"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// Runs `consumer` on one batch and asserts that it was given events of these types, in order.
async fn assert_next_batch(pipeline: &mut Pipeline, consumer: Consumer, event_types: &[&str]) {
    let seen = run_and_see(pipeline, consumer).await;
    assert_eq!(seen, event_types, "the batch {consumer:?} was given");
}

/// Runs `consumer` on one batch and returns the event types it was given.
async fn run_and_see(pipeline: &mut Pipeline, consumer: Consumer) -> Vec<String> {
    let mut seen = Vec::new();
    let store = &pipeline.stack.store;
    let cipher = &pipeline.fulfillment_cipher;
    match consumer {
        Consumer::Fulfillment => {
            pipeline
                .fulfillment
                .deliver(|event| {
                    seen = event_types(&event);
                    invoke(|event| fulfill_order::handler(store, cipher, event), event)
                })
                .await
        }
        Consumer::Audit => {
            pipeline
                .audit
                .deliver(|event| {
                    seen = event_types(&event);
                    invoke(|event| record_audit::handler(store, event), event)
                })
                .await
        }
    }
    .expect("the queue can be read");
    seen
}

/// The order's status and version, as the support group reads any customer's order.
async fn status_and_version(pipeline: &Pipeline, id: &str) -> (String, u64) {
    let reply = pipeline.stack.as_support("ops").get(id).await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);
    (
        reply.body["status"].as_str().unwrap().to_owned(),
        reply.body["version"].as_u64().unwrap(),
    )
}

async fn trail(pipeline: &Pipeline, id: &str) -> Vec<(EventType, u64)> {
    pipeline
        .stack
        .store
        .audit_trail(OrderId::parse(id).unwrap())
        .await
        .unwrap()
        .into_iter()
        .map(|entry| (entry.event_type, entry.version))
        .collect()
}

#[tokio::test]
async fn an_order_flows_from_the_api_through_the_topic_to_fulfillment_and_the_audit_trail() {
    let mut pipeline = Pipeline::start().await;
    let id = place(&pipeline, "c-flow").await;

    // The insert is on the stream; publish-events turns it into OrderPlaced.
    let (records, response) = pipeline.publish_changes().await;
    assert_eq!(records.len(), 1);
    assert!(response.batch_item_failures.is_empty(), "{response:?}");

    // Fan-out: each queue has its own copy.
    assert_next_batch(&mut pipeline, Consumer::Fulfillment, &["OrderPlaced"]).await;
    assert_eq!(
        status_and_version(&pipeline, &id).await,
        ("CONFIRMED".into(), 2)
    );
    assert_next_batch(&mut pipeline, Consumer::Audit, &["OrderPlaced"]).await;

    // The confirmation is a change of the order too: OrderConfirmed, which the fulfillment
    // subscription's filter policy keeps from its queue.
    let (records, _) = pipeline.publish_changes().await;
    // Fulfillment also created the order's attempt counter (`store::counter`). Its sort key is
    // not ORDER: in AWS the stream's filter criteria drop its records, and publish-events makes no
    // event of them (this test's stream mapping has no filter). moto records its creation twice
    // (an UpdateItem that creates an item is, in moto, a put of the key and then the update);
    // DynamoDB records one INSERT.
    let (counter, changes): (Vec<_>, Vec<_>) = records.iter().partition(|record| {
        record.change.keys.get("sk")
            == Some(&serde_dynamo::AttributeValue::S(
                FULFILLMENT_ATTEMPTS_SK.into(),
            ))
    });
    assert_eq!(
        changes.len(),
        2,
        "the order's MODIFY and the audit entry's INSERT"
    );
    assert!(!counter.is_empty() && counter.iter().all(|r| r.event_name == "INSERT"));
    assert_next_batch(&mut pipeline, Consumer::Fulfillment, &[]).await;
    assert_next_batch(&mut pipeline, Consumer::Audit, &["OrderConfirmed"]).await;

    // The last audit entry's INSERT makes no event: the pipeline is at rest.
    pipeline.run_until_quiet().await;
    assert_eq!(
        trail(&pipeline, &id).await,
        [(EventType::OrderPlaced, 1), (EventType::OrderConfirmed, 2)]
    );
    assert_eq!(pipeline.stack.kms_calls.count("Decrypt"), 1);
}

/// An order placed long ago with a card that was valid then: stored as create-order stores one.
async fn place_with_card_that_has_expired_since(pipeline: &Pipeline) -> String {
    let placed_on = NaiveDate::from_ymd_opt(2019, 12, 1).unwrap();
    let card = PaymentCard::parse("4111 1111 1111 1111", "01/20", placed_on).unwrap();
    let id = OrderId::new();
    let stack = &pipeline.stack;
    store_placed_order(&stack.store, &stack.cipher, id, "c-expired", &card)
        .await
        .expect("storing the order");
    id.to_string()
}

#[tokio::test]
async fn a_card_that_has_expired_by_processing_time_ends_payment_failed() {
    let mut pipeline = Pipeline::start().await;
    let id = place_with_card_that_has_expired_since(&pipeline).await;
    pipeline.run_until_quiet().await;
    assert_eq!(
        status_and_version(&pipeline, &id).await,
        ("PAYMENT_FAILED".into(), 2)
    );
    assert_eq!(
        trail(&pipeline, &id).await,
        [(EventType::OrderPlaced, 1), (EventType::PaymentFailed, 2)]
    );
}

/// Sends a message no publisher of this application would: a poison message.
async fn send_poison(pipeline: &mut Pipeline, consumer: Consumer) -> String {
    let url = pipeline.queue(consumer).queue_url.clone();
    pipeline
        .sqs
        .send_message()
        .queue_url(url)
        .message_body(r#"{"eventType": "OrderPlaced", "orderId": 42}"#)
        .message_attributes(
            "eventType",
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value("OrderPlaced")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("SendMessage")
        .message_id
        .expect("a message id")
}

/// The good messages of a batch were processed exactly once: fulfillment confirmed each order
/// (version 2), the audit trail holds its one `OrderPlaced` entry.
async fn assert_processed_once(pipeline: &Pipeline, consumer: Consumer, ids: &[String]) {
    for id in ids {
        match consumer {
            Consumer::Fulfillment => assert_eq!(
                status_and_version(pipeline, id).await,
                ("CONFIRMED".into(), 2),
                "{id}"
            ),
            Consumer::Audit => assert_eq!(
                trail(pipeline, id).await,
                [(EventType::OrderPlaced, 1)],
                "{id}"
            ),
        }
    }
}

async fn one_poison_message_in_a_batch_of_five(consumer: Consumer) {
    let mut pipeline = Pipeline::start().await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(place(&pipeline, &format!("c-batch-{i}")).await);
    }
    pipeline.publish_changes().await;
    let poison = send_poison(&mut pipeline, consumer).await;

    // One batch of five: only the poison message is reported, the four others are done.
    let first = pipeline.run(consumer).await;
    assert_eq!(first.received.len(), 5, "{first:?}");
    assert_eq!(first.failed, [poison.as_str()]);
    assert_processed_once(&pipeline, consumer, &ids).await;

    // Lambda's redrive semantics: after each visibility timeout only the poison message comes
    // back, until its receive count reaches maxReceiveCount; then SQS moves it to the DLQ.
    for receive in 2..=pipeline.max_receive_count(consumer) {
        pipeline
            .queue(consumer)
            .let_visibility_timeout_pass()
            .await
            .unwrap();
        let again = pipeline.run(consumer).await;
        assert_eq!(again.received, [poison.as_str()], "receive {receive}");
        assert_eq!(again.failed, [poison.as_str()]);
    }
    pipeline
        .queue(consumer)
        .let_visibility_timeout_pass()
        .await
        .unwrap();
    assert!(pipeline.run(consumer).await.received.is_empty());

    let dead = pipeline
        .sqs
        .receive_message()
        .queue_url(pipeline.dead_letter_queue(consumer))
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    let dead: Vec<&str> = dead.iter().filter_map(|m| m.message_id()).collect();
    assert_eq!(
        dead,
        [poison.as_str()],
        "the DLQ has the poison message, same id"
    );

    // The good ones were processed once and never again.
    assert_processed_once(&pipeline, consumer, &ids).await;
}

#[tokio::test]
async fn fulfillment_reports_only_the_poison_message_which_ends_in_its_dlq() {
    one_poison_message_in_a_batch_of_five(Consumer::Fulfillment).await;
}

#[tokio::test]
async fn audit_reports_only_the_poison_message_which_ends_in_its_dlq() {
    one_poison_message_in_a_batch_of_five(Consumer::Audit).await;
}

#[tokio::test]
async fn the_same_event_delivered_twice_makes_one_audit_entry_and_one_transition() {
    let mut pipeline = Pipeline::start().await;
    let id = place(&pipeline, "c-twice").await;
    // The stream batch is published, then published again, as after a retried stream batch.
    let (records, _) = pipeline.publish_changes().await;
    let deadline = Deadline::of(&pipeline::lambda_context());
    let again = publish_changes(&pipeline.publisher, &records, deadline).await;
    assert!(again.failed().is_empty());

    assert_next_batch(
        &mut pipeline,
        Consumer::Fulfillment,
        &["OrderPlaced", "OrderPlaced"],
    )
    .await;
    assert_eq!(
        status_and_version(&pipeline, &id).await,
        ("CONFIRMED".into(), 2),
        "one transition"
    );
    assert_eq!(
        pipeline.stack.kms_calls.count("Decrypt"),
        1,
        "the redelivery found the order settled and opened no card"
    );
    // The audit consumer gets the copies one at a time: the second writes nothing at all.
    pipeline.audit.batch_size = 1;
    let order_id = OrderId::parse(&id).unwrap();
    assert_next_batch(&mut pipeline, Consumer::Audit, &["OrderPlaced"]).await;
    let first = pipeline.stack.store.audit_trail(order_id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_next_batch(&mut pipeline, Consumer::Audit, &["OrderPlaced"]).await;
    let second = pipeline.stack.store.audit_trail(order_id).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(
        first, second,
        "the redelivery did not overwrite the entry (recordedAt)"
    );
    pipeline.audit.batch_size = 10;

    pipeline.run_until_quiet().await;
    assert_eq!(
        trail(&pipeline, &id).await,
        [(EventType::OrderPlaced, 1), (EventType::OrderConfirmed, 2)]
    );
}

#[tokio::test]
async fn a_cancel_racing_with_fulfillment_leaves_one_winner_and_loses_no_update() {
    let mut pipeline = Pipeline::start().await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(place(&pipeline, "c-race").await);
    }
    pipeline.publish_changes().await;
    pipeline.fulfillment.batch_size = 1;

    // Per order: fulfillment settles it (receive, read, decrypt, write) while the client cancels
    // it (If-Match "1"), the cancel starting a little later each time, so it lands before, during
    // and after fulfillment's read-decide-write.
    let mut outcomes = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let (stack, cipher) = (&pipeline.stack, &pipeline.fulfillment_cipher);
        let cancel = async {
            tokio::time::sleep(Duration::from_millis(4 * i as u64)).await;
            stack
                .as_customer("c-race")
                .cancel(id, Some("\"1\""))
                .await
                .status
        };
        let fulfillment = pipeline
            .fulfillment
            .deliver(|event| invoke(|e| fulfill_order::handler(&stack.store, cipher, e), event));
        let (cancel, delivery) = tokio::join!(cancel, fulfillment);
        let delivery = delivery.unwrap();
        assert!(delivery.failed.is_empty(), "{delivery:?}");
        outcomes.push(cancel);
    }

    for (id, cancel) in ids.iter().zip(&outcomes) {
        let (status, version) = status_and_version(&pipeline, id).await;
        // Exactly one of the two writes at version 1 won; the other changed nothing.
        match cancel {
            200 => assert_eq!((status.as_str(), version), ("CANCELLED", 2), "{id}"),
            412 => assert_eq!((status.as_str(), version), ("CONFIRMED", 2), "{id}"),
            other => panic!("cancel answered {other}"),
        }
    }
    // Every write that happened is in the audit trail, once, in version order.
    pipeline.run_until_quiet().await;
    for id in &ids {
        let trail = trail(&pipeline, id).await;
        assert_eq!(trail.len(), 2, "{id}: {trail:?}");
        assert_eq!(trail[0], (EventType::OrderPlaced, 1));
        assert!(
            trail[1] == (EventType::OrderCancelled, 2)
                || trail[1] == (EventType::OrderConfirmed, 2),
            "{trail:?}"
        );
    }
    println!("cancel outcomes: {outcomes:?}");
}

#[tokio::test]
async fn a_record_that_is_not_an_order_holds_the_stream_at_its_sequence_number() {
    let mut pipeline = Pipeline::start().await;
    let id = place(&pipeline, "c-stream").await;
    // An order item that is not an order (written around the application).
    pipeline
        .stack
        .dynamodb
        .put_item()
        .table_name(&pipeline.stack.table)
        .item(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("ORDER#broken".into()),
        )
        .item(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("ORDER".into()),
        )
        .send()
        .await
        .unwrap();

    let (records, response) = pipeline.publish_changes().await;
    assert_eq!(records.len(), 2);
    let broken = records[1].change.sequence_number.clone();
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(response.batch_item_failures[0].item_identifier, broken);
    // The good record before it was published ...
    assert_next_batch(&mut pipeline, Consumer::Audit, &["OrderPlaced"]).await;
    // ... and the stream resumes at the broken record, not before it: Lambda retries it (up to
    // MaximumRetryAttempts, then hands it to the on-failure destination).
    let (retried, response) = pipeline.publish_changes().await;
    assert_eq!(
        retried.len(),
        2,
        "the broken record, then the audit entry written since"
    );
    assert_eq!(retried[0].change.sequence_number, broken);
    assert_eq!(response.batch_item_failures[0].item_identifier, broken);
    assert_eq!(trail(&pipeline, &id).await, [(EventType::OrderPlaced, 1)]);
}

#[tokio::test]
async fn a_consumer_near_its_deadline_touches_nothing_and_leaves_its_batch_on_the_queue() {
    let mut pipeline = Pipeline::start().await;
    let ids = [
        place(&pipeline, "c-late-1").await,
        place(&pipeline, "c-late-2").await,
    ];
    pipeline.publish_changes().await;

    // An invocation with 1 s left (less than one record's reserve): fulfill-order starts no record
    // and reports both messages, so nothing is deleted and no order moves.
    let (store, cipher) = (&pipeline.stack.store, &pipeline.fulfillment_cipher);
    let late = pipeline
        .fulfillment
        .deliver(|event| async {
            let context =
                orders_shared::messaging::deadline::context_expiring_in(Duration::from_secs(1));
            fulfill_order::handler(store, cipher, LambdaEvent::new(event, context))
                .await
                .map_err(|error| error.to_string())
        })
        .await
        .unwrap();
    assert_eq!(late.received.len(), 2);
    assert_eq!(
        late.failed, late.received,
        "every untouched message is reported"
    );
    assert_eq!(
        late.error, None,
        "the invocation answered: no function error"
    );
    for id in &ids {
        assert_eq!(
            status_and_version(&pipeline, id).await,
            ("PLACED".into(), 1)
        );
    }

    // They come back after the visibility timeout, and an invocation with its time settles them.
    pipeline
        .fulfillment
        .let_visibility_timeout_pass()
        .await
        .unwrap();
    let on_time = pipeline.run_fulfillment().await;
    assert_eq!(on_time.received.len(), 2);
    assert!(on_time.failed.is_empty(), "{on_time:?}");
    for id in &ids {
        assert_eq!(
            status_and_version(&pipeline, id).await,
            ("CONFIRMED".into(), 2)
        );
    }
}
