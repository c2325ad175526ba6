//! Ownership: every route, through the handlers against moto's DynamoDB, as two customers and a
//! member of the support group (the claims API Gateway's Cognito authorizer passes on).
//!
//! The rules (`shared/src/identity.rs`): a customer reaches only their own orders; another
//! customer's order is answered exactly as an unknown one; `support` reads any order and lists
//! any customer's, and changes none; idempotency keys are the customer's own; a request without
//! claims is refused, never served as anonymous.

use lambda_http::Body;
use lambda_http::http::{self, Method};
use orders_tests::{CapturedLogs, Reply, TestStack};
use serde_json::{Value, json};

fn order_body(note: &str) -> Value {
    json!({
        "items": [{"sku": "BOOK-1", "quantity": 1, "unitPriceCents": 1250}],
        "payment": {"cardNumber": "4111 1111 1111 1111", "expiry": "12/35"},
        "note": note
    })
}

/// An order id no order has.
const UNKNOWN_ID: &str = "0194a3f2-7c1e-7b3a-9d2e-5f6a7b8c9d0e";

fn order_ids(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, 200, "{:#}", reply.body);
    reply.body["items"]
        .as_array()
        .expect("a page of orders")
        .iter()
        .map(|order| order["orderId"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn another_customers_order_is_answered_exactly_as_an_unknown_one() {
    let stack = TestStack::start().await;
    let (alice, bob) = (stack.as_customer("alice"), stack.as_customer("bob"));
    let id = alice.create(&order_body("alice's")).await.order_id();

    // What anyone gets for an id that names no order: the answer to compare with.
    let unknown = bob.get(UNKNOWN_ID).await;
    unknown.expect_error(404, "OrderNotFound");
    let unknown_patch = bob
        .patch(UNKNOWN_ID, Some("\"1\""), &json!({"note": "x"}))
        .await;
    let unknown_cancel = bob.cancel(UNKNOWN_ID, Some("\"1\"")).await;

    let read = bob.get(&id).await;
    assert_eq!((read.status, &read.body), (404, &unknown.body));
    assert_eq!(read.header("etag"), None);
    // The current version or a stale one: Bob learns nothing, not even that a version moved on
    // (a 412 would carry Alice's order).
    for version in ["\"1\"", "\"7\""] {
        let patched = bob
            .patch(&id, Some(version), &json!({"shippingAddress": null}))
            .await;
        assert_eq!(
            (patched.status, &patched.body),
            (404, &unknown_patch.body),
            "{version}"
        );
        let cancelled = bob.cancel(&id, Some(version)).await;
        assert_eq!(
            (cancelled.status, &cancelled.body),
            (404, &unknown_cancel.body),
            "{version}"
        );
    }

    let mine = alice.get(&id).await;
    assert_eq!(mine.status, 200);
    assert_eq!(
        (
            &mine.body["version"],
            &mine.body["status"],
            &mine.body["note"]
        ),
        (&json!(1), &json!("PLACED"), &json!("alice's")),
        "nothing Bob sent was written"
    );
    // Alice, with a stale version, does get the 412 and her current order.
    alice
        .patch(&id, Some("\"1\""), &json!({"note": "gift"}))
        .await;
    let stale = alice
        .patch(&id, Some("\"1\""), &json!({"note": "late"}))
        .await;
    stale.expect_error(412, "VersionConflict");
    assert_eq!(stale.body["current"]["note"], "gift");
}

#[tokio::test]
async fn a_customer_lists_only_their_own_orders() {
    let stack = TestStack::start().await;
    let (alice, bob) = (stack.as_customer("alice"), stack.as_customer("bob"));
    let mut alices = Vec::new();
    for n in 0..3 {
        alices.push(alice.create(&order_body(&format!("a{n}"))).await.order_id());
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let bobs = bob.create(&order_body("b")).await.order_id();

    alices.reverse();
    assert_eq!(order_ids(&alice.list(&[]).await), alices);
    assert_eq!(order_ids(&bob.list(&[]).await), [bobs]);

    // Naming another customer is for support only; naming oneself is no exception.
    for customer in ["alice", "bob"] {
        bob.list(&[("customerId", customer)])
            .await
            .expect_error(403, "Forbidden");
    }
    // A page token is bound to the customer it lists: Alice's next page is not Bob's to read.
    let first_page = alice.list(&[("limit", "1")]).await;
    let token = first_page.body["nextToken"].as_str().expect("more pages");
    bob.list(&[("nextToken", token)])
        .await
        .expect_error(400, "BadRequest");
}

#[tokio::test]
async fn support_reads_any_order_and_lists_any_customers_but_changes_none() {
    let stack = TestStack::start().await;
    let alice = stack.as_customer("alice");
    let support = stack.as_support("sam");
    let id = alice.create(&order_body("alice's")).await.order_id();

    let read = support.get(&id).await;
    assert_eq!(read.status, 200, "{:#}", read.body);
    assert_eq!(read.body["customerId"], "alice");
    assert_eq!(
        order_ids(&support.list(&[("customerId", "alice")]).await),
        [id.as_str()]
    );
    assert!(
        order_ids(&support.list(&[]).await).is_empty(),
        "support's own orders: none"
    );

    support
        .patch(&id, Some("\"1\""), &json!({"note": "changed by support"}))
        .await
        .expect_error(403, "Forbidden");
    support
        .cancel(&id, Some("\"1\""))
        .await
        .expect_error(403, "Forbidden");
    // An unknown order is unknown to support too.
    support
        .cancel(UNKNOWN_ID, Some("\"1\""))
        .await
        .expect_error(404, "OrderNotFound");
    let after = alice.get(&id).await;
    assert_eq!(
        (
            &after.body["version"],
            &after.body["status"],
            &after.body["note"]
        ),
        (&json!(1), &json!("PLACED"), &json!("alice's"))
    );
}

#[tokio::test]
async fn an_idempotency_key_belongs_to_the_customer_who_sent_it() {
    let stack = TestStack::start().await;
    let (alice, bob) = (stack.as_customer("alice"), stack.as_customer("bob"));
    let key = [("idempotency-key", "shared-key-1")];
    let body = order_body("same body");
    let first = alice.create_with(Body::from(body.to_string()), &key).await;
    assert_eq!(first.status, 201);

    // Bob, with Alice's key: the same body is a new order of his, not a replay of hers ...
    let bobs = bob.create_with(Body::from(body.to_string()), &key).await;
    assert_eq!(bobs.status, 201, "{:#}", bobs.body);
    assert_eq!(bobs.header("idempotent-replayed"), None);
    assert_ne!(bobs.order_id(), first.order_id());
    assert_eq!(bobs.body["customerId"], "bob");
    // ... and another body under a key someone else used is no 422: a key tells nobody
    // anything about another customer's requests.
    let bobs_second = bob
        .create_with(
            Body::from(order_body("other").to_string()),
            &[("idempotency-key", "shared-key-2")],
        )
        .await;
    assert_eq!(bobs_second.status, 201);
    let probe = alice
        .create_with(
            Body::from(order_body("probe").to_string()),
            &[("idempotency-key", "shared-key-2")],
        )
        .await;
    assert_eq!(probe.status, 201, "{:#}", probe.body);
    assert_eq!(probe.header("idempotent-replayed"), None);

    // Alice's own retry still replays her order.
    let retry = alice.create_with(Body::from(body.to_string()), &key).await;
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.order_id(), first.order_id());
    assert_eq!(order_ids(&alice.list(&[]).await).len(), 2);
}

#[tokio::test]
async fn a_request_without_claims_is_refused_and_never_served_as_anonymous() {
    let stack = TestStack::start().await;
    let id = stack.create(&order_body("mine")).await.order_id();
    // A request as API Gateway would send it with no authorizer on the method: no claims.
    let anonymous = |method: Method, path: &str, body: Body| {
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header("if-match", "\"1\"")
            .body(body)
            .unwrap();
        lambda_http::RequestExt::with_path_parameters(
            request,
            std::collections::HashMap::from([("orderId".to_owned(), id.clone())]),
        )
    };
    let body = || Body::from(order_body("anonymous").to_string());
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(move || writer.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    let replies = [
        Reply::from(
            create_order::handler(
                &stack.store,
                &stack.cipher,
                anonymous(Method::POST, "/orders", body()),
            )
            .await,
        ),
        Reply::from(
            get_order::handler(
                &stack.store,
                anonymous(Method::GET, "/orders/x", Body::Empty),
            )
            .await,
        ),
        Reply::from(
            update_order::handler(
                &stack.store,
                anonymous(Method::PATCH, "/orders/x", Body::from(r#"{"note":"x"}"#)),
            )
            .await,
        ),
        Reply::from(
            cancel_order::handler(
                &stack.store,
                anonymous(Method::POST, "/orders/x/cancel", Body::Empty),
            )
            .await,
        ),
        Reply::from(
            list_orders::handler(&stack.store, anonymous(Method::GET, "/orders", Body::Empty))
                .await,
        ),
    ];
    drop(guard);
    for reply in &replies {
        reply.expect_error(401, "Unauthorized");
    }
    // Each refusal is logged as the error it is: a method that lost its authorizer.
    let refusals = logs
        .text()
        .lines()
        .filter(|line| {
            line.contains("\"level\":\"ERROR\"") && line.contains("no authorizer claims")
        })
        .count();
    assert_eq!(refusals, replies.len(), "{}", logs.text());
    let order = stack.get(&id).await;
    assert_eq!(
        (&order.body["version"], &order.body["note"]),
        (&json!(1), &json!("mine"))
    );
    assert_eq!(
        order_ids(&stack.list(&[]).await),
        [id.as_str()],
        "no order was created"
    );
}
