//! The sample events in `events/` are the events Lambda sends: API Gateway REST proxy events
//! (`lambda_http` parses them as it does on Lambda), a DynamoDB stream batch and SQS batches of
//! raw SNS deliveries. Each handler answers its events as the HTTP contract and the pipeline's
//! rules say. The same files feed `sam local invoke -e` and `cargo lambda invoke --data-file`.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use lambda_runtime::LambdaEvent;
use orders_shared::Caller;
use orders_shared::domain::{EventType, OrderId};
use orders_tests::{
    Pipeline, Reply, SAMPLE_CUSTOMER, SAMPLE_ORDER_ID, TestStack, moto::workspace_root,
    store_sample_order,
};
use serde::de::DeserializeOwned;

/// The order id the get/update/cancel and the event pipeline's events name.
const EVENT_ORDER_ID: &str = SAMPLE_ORDER_ID;

fn event(name: &str) -> Request {
    let path = workspace_root().join("events").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    lambda_http::request::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "{} is not a proxy event lambda_http accepts: {e}",
            path.display()
        )
    })
}

#[test]
fn the_events_parse_into_the_requests_the_handlers_expect() {
    let create = event("create-order");
    assert_eq!(create.method(), "POST");
    assert_eq!(
        create.headers()["idempotency-key"],
        "3f1c2a9e-demo-key-0001"
    );
    assert!(matches!(create.body(), Body::Text(_)));

    for name in ["get-order", "update-order", "cancel-order"] {
        let request = event(name);
        let params = request.path_parameters();
        assert_eq!(params.first("orderId"), Some(EVENT_ORDER_ID), "{name}");
    }
    assert_eq!(event("update-order").headers()["if-match"], "\"1\"");
    let list = event("list-orders");
    assert_eq!(list.query_string_parameters().first("limit"), Some("10"));
    let RequestContext::ApiGatewayV1(context) = list.request_context() else {
        panic!("a REST API (v1) event")
    };
    assert_eq!(context.stage.as_deref(), Some("dev"));
    assert!(context.request_id.is_some());

    // Every API event went through the Cognito authorizer and the API key check: it carries the
    // token and the key, and the claims the authorizer passed on, all of the sample order's
    // customer.
    for name in [
        "create-order",
        "get-order",
        "update-order",
        "cancel-order",
        "list-orders",
    ] {
        let request = event(name);
        assert!(request.headers().contains_key("authorization"), "{name}");
        assert!(request.headers().contains_key("x-api-key"), "{name}");
        let caller = Caller::of(&request).unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!(caller.customer_id().as_str(), SAMPLE_CUSTOMER, "{name}");
        let RequestContext::ApiGatewayV1(context) = request.request_context() else {
            panic!("{name}: a REST API (v1) event")
        };
        let claims = &context.authorizer.fields["claims"];
        assert_eq!(claims["token_use"], "id", "{name}");
        assert!(
            claims.as_object().unwrap().values().all(|v| v.is_string()),
            "{name}: the REST API passes every claim as a string"
        );
    }
}

#[tokio::test]
async fn each_function_answers_its_sample_event() {
    let stack = TestStack::start().await;

    let created = Reply::from(
        create_order::handler(&stack.store, &stack.cipher, event("create-order")).await,
    );
    assert_eq!(created.status, 201, "{:#}", created.body);
    assert_eq!(created.body["totalCents"], 2 * 1250 + 199);
    assert_eq!(created.body["shippingAddress"]["country"], "GB");
    assert_eq!(
        created.body["payment"],
        serde_json::json!({"cardLast4": "1111", "brand": "visa"})
    );
    // The event carries an Idempotency-Key: invoking it twice is one order.
    let again = Reply::from(
        create_order::handler(&stack.store, &stack.cipher, event("create-order")).await,
    );
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.order_id(), created.order_id());

    // The other events name a fixed order id: 404 until it exists.
    let missing = Reply::from(get_order::handler(&stack.store, event("get-order")).await);
    missing.expect_error(404, "OrderNotFound");
    store_sample_order(&stack.store, &stack.cipher).await;

    let got = Reply::from(get_order::handler(&stack.store, event("get-order")).await);
    assert_eq!(got.status, 200);
    assert_eq!(got.header("etag"), Some("\"1\""));

    let updated = Reply::from(update_order::handler(&stack.store, event("update-order")).await);
    assert_eq!(updated.status, 200, "{:#}", updated.body);
    assert_eq!(updated.body["note"], "ring twice");
    assert_eq!(updated.body["version"], 2);

    // The cancel event still holds version 1: optimistic locking refuses it.
    let cancelled = Reply::from(cancel_order::handler(&stack.store, event("cancel-order")).await);
    cancelled.expect_error(412, "VersionConflict");

    let listed = Reply::from(list_orders::handler(&stack.store, event("list-orders")).await);
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 2);
}

/// A non-HTTP sample event, as the function's runtime deserialises it.
fn lambda_event<T: DeserializeOwned>(name: &str) -> LambdaEvent<T> {
    let path = workspace_root().join("events").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let payload = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not the event Lambda sends: {e}", path.display()));
    LambdaEvent::new(payload, orders_tests::pipeline::lambda_context())
}

/// The message ids a consumer reported as failed.
fn failed(response: SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .into_iter()
        .map(|failure| failure.item_identifier)
        .collect()
}

fn event_types(event: &SqsEvent) -> Vec<String> {
    let mut types: Vec<String> = event
        .records
        .iter()
        .map(|record| {
            record.message_attributes["eventType"]
                .string_value
                .clone()
                .unwrap()
        })
        .collect();
    types.sort();
    types
}

#[tokio::test]
async fn publish_events_turns_its_sample_stream_batch_into_two_events() {
    let pipeline = Pipeline::start().await;
    let response = publish_events::handler(&pipeline.publisher, lambda_event("publish-events"))
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty(), "{response:?}");

    // The insert and the confirmation make events; the audit entry's insert makes none.
    let (fulfillment, _) = pipeline.fulfillment.receive().await.unwrap();
    assert_eq!(event_types(&fulfillment), ["OrderPlaced"]);
    let (audit, _) = pipeline.audit.receive().await.unwrap();
    assert_eq!(event_types(&audit), ["OrderConfirmed", "OrderPlaced"]);
    for record in audit.records.iter().chain(&fulfillment.records) {
        let body = record.body.as_deref().unwrap();
        assert!(
            !body.contains("encryptedPayment") && !body.contains("c2FtcGxl"),
            "the sealed card in the stream image stays out of the event: {body}"
        );
    }
}

#[tokio::test]
async fn the_consumers_answer_their_sample_events_and_report_the_poison_messages() {
    let stack = TestStack::start().await;
    store_sample_order(&stack.store, &stack.cipher).await;
    let cipher = stack.fulfillment_cipher();
    let id = OrderId::parse(EVENT_ORDER_ID).unwrap();

    let response = fulfill_order::handler(&stack.store, &cipher, lambda_event("fulfill-order"))
        .await
        .unwrap();
    assert_eq!(failed(response), Vec::<String>::new());
    let order = stack.store.get(id, true).await.unwrap().unwrap();
    assert_eq!(order.status.as_str(), "CONFIRMED");

    // The batch repeats that message (now a no-op) and adds a poison message.
    let response =
        fulfill_order::handler(&stack.store, &cipher, lambda_event("fulfill-order-batch"))
            .await
            .unwrap();
    assert_eq!(failed(response), ["9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"]);
    assert_eq!(stack.store.get(id, true).await.unwrap().unwrap().version, 2);

    let response = record_audit::handler(&stack.store, lambda_event("record-audit"))
        .await
        .unwrap();
    assert_eq!(failed(response), Vec::<String>::new());
    let response = record_audit::handler(&stack.store, lambda_event("record-audit-batch"))
        .await
        .unwrap();
    assert_eq!(failed(response), ["9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6c"]);
    let trail: Vec<EventType> = stack
        .store
        .audit_trail(id)
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.event_type)
        .collect();
    assert_eq!(trail, [EventType::OrderPlaced, EventType::OrderConfirmed]);
}

/// The SNS event of `notify-merchant`: Lambda's shape for a topic's message (`Sns.Message`, the
/// `eventType` attribute as `{Type, Value}`), carrying an `OrderConfirmed` of the sample order,
/// which its subscription's filter policy passes.
#[test]
fn the_notifier_event_is_an_sns_delivery_of_a_confirmed_sample_order() {
    let path = workspace_root().join("events/notify-merchant.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let event: aws_lambda_events::sns::SnsEvent = serde_json::from_str(&text).unwrap();
    assert_eq!(event.records.len(), 1, "SNS invokes with one message");
    let record = &event.records[0];
    assert_eq!(record.event_source, "aws:sns");
    let order_event: orders_shared::domain::OrderEvent =
        serde_json::from_str(&record.sns.message).unwrap();
    assert_eq!(order_event.event_type, EventType::OrderConfirmed);
    assert_eq!(
        order_event.order_id,
        OrderId::parse(EVENT_ORDER_ID).unwrap()
    );
    let attribute = &record.sns.message_attributes["eventType"];
    assert_eq!(
        (attribute.data_type.as_str(), attribute.value.as_str()),
        ("String", "OrderConfirmed")
    );
}
