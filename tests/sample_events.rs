//! The sample events in `events/` are real API Gateway REST proxy events: `lambda_http` parses
//! them (as it does on Lambda) and each handler answers them as the HTTP contract says.
//! The same files feed `sam local invoke -e` and `cargo lambda invoke --data-file`.

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use orders_shared::domain::order::now_timestamp;
use orders_shared::domain::{CustomerId, Order, OrderId, OrderStatus, PaymentCard};
use orders_tests::{Reply, TestStack, moto::workspace_root};

/// The order id the get/update/cancel events name.
const EVENT_ORDER_ID: &str = "0194a3f2-7c1e-7b3a-9d2e-5f6a7b8c9d0e";

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

/// Stores the order the events refer to, as create-order would have: its card sealed.
async fn seed_event_order(stack: &TestStack) {
    let today = chrono::Utc::now().date_naive();
    let card = PaymentCard::parse("4111 1111 1111 1111", "12/35", today).unwrap();
    let now = now_timestamp();
    let order = Order {
        order_id: OrderId::parse(EVENT_ORDER_ID).unwrap(),
        customer_id: CustomerId::parse("c-1").unwrap(),
        items: vec![],
        total_cents: 0,
        status: OrderStatus::Placed,
        version: 1,
        created_at: now.clone(),
        updated_at: now,
        note: None,
        shipping_address: None,
        payment: card.summary(),
    };
    let sealed = stack.cipher.seal_card(&card, order.order_id).await.unwrap();
    stack.store.create(&order, &sealed).await.unwrap();
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
    assert_eq!(
        list.query_string_parameters().first("customerId"),
        Some("c-1")
    );
    let RequestContext::ApiGatewayV1(context) = list.request_context() else {
        panic!("a REST API (v1) event")
    };
    assert_eq!(context.stage.as_deref(), Some("dev"));
    assert!(context.request_id.is_some());
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
    seed_event_order(&stack).await;

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
