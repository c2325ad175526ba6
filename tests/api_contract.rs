//! The HTTP contract of DESIGN.md, end to end through the handlers against moto's DynamoDB.

use lambda_http::Body;
use orders_tests::TestStack;
use serde_json::{Value, json};

/// A new order. Its customer is whoever sends it: the body never names one.
fn order_body() -> Value {
    json!({
        "items": [
            {"sku": "BOOK-1", "quantity": 2, "unitPriceCents": 1250},
            {"sku": "PEN-7", "quantity": 1, "unitPriceCents": 199}
        ],
        "payment": {"cardNumber": "4111 1111 1111 1111", "expiry": "12/35"},
        "note": "leave at the door"
    })
}

#[tokio::test]
async fn create_returns_the_order_with_location_etag_and_a_server_computed_total() {
    let stack = TestStack::start().await;
    let reply = stack.create(&order_body()).await;
    assert_eq!(reply.status, 201, "{:#}", reply.body);
    let id = reply.order_id();
    assert_eq!(
        reply.header("location"),
        Some(format!("/orders/{id}").as_str())
    );
    assert_eq!(reply.header("etag"), Some("\"1\""));
    assert_eq!(reply.body["status"], "PLACED");
    assert_eq!(reply.body["version"], 1);
    // The card is shown as its last four digits and brand, nothing more.
    assert_eq!(
        reply.body["payment"],
        json!({"cardLast4": "1111", "brand": "visa"})
    );
    assert_eq!(reply.body["totalCents"], 2 * 1250 + 199);
    assert_eq!(reply.body["customerId"], "c-1");

    // A client cannot set the total (or anything else the server owns), nor the customer: the
    // order is the signed-in caller's.
    let mut forged = order_body();
    forged["totalCents"] = json!(1);
    assert_eq!(stack.create(&forged).await.invalid_fields(), ["totalCents"]);
    let mut someone_elses = order_body();
    someone_elses["customerId"] = json!("c-2");
    assert_eq!(
        stack.create(&someone_elses).await.invalid_fields(),
        ["customerId"]
    );
}

#[tokio::test]
async fn get_returns_the_stored_order_and_its_etag() {
    let stack = TestStack::start().await;
    let created = stack.create(&order_body()).await;
    let reply = stack.get(&created.order_id()).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, created.body);
    assert_eq!(reply.header("etag"), Some("\"1\""));
}

#[tokio::test]
async fn a_missing_order_is_404_in_the_error_shape() {
    let stack = TestStack::start().await;
    stack
        .get("0194a3f2-7c1e-7b3a-9d2e-5f6a7b8c9d0e")
        .await
        .expect_error(404, "OrderNotFound");
    stack
        .get("not-an-id")
        .await
        .expect_error(404, "OrderNotFound");
    let reply = stack
        .patch(
            "0194a3f2-7c1e-7b3a-9d2e-5f6a7b8c9d0e",
            Some("\"1\""),
            &json!({"note": "x"}),
        )
        .await;
    reply.expect_error(404, "OrderNotFound");
    let reply = stack
        .cancel("0194a3f2-7c1e-7b3a-9d2e-5f6a7b8c9d0e", Some("1"))
        .await;
    reply.expect_error(404, "OrderNotFound");
}

#[tokio::test]
async fn an_update_with_the_current_version_succeeds_and_bumps_it() {
    let stack = TestStack::start().await;
    let id = stack.create(&order_body()).await.order_id();
    let reply = stack
        .patch(
            &id,
            Some("\"1\""),
            &json!({"items": [{"sku": "BOOK-1", "quantity": 3, "unitPriceCents": 1000}],
                    "note": null}),
        )
        .await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);
    assert_eq!(reply.body["version"], 2);
    assert_eq!(reply.header("etag"), Some("\"2\""));
    assert_eq!(
        reply.body["totalCents"], 3000,
        "recomputed from the new items"
    );
    assert!(reply.body.get("note").is_none(), "null removes the note");
    assert_eq!(
        stack.get(&id).await.body,
        reply.body,
        "what was returned is what is stored"
    );
}

#[tokio::test]
async fn a_stale_version_is_412_with_the_current_order() {
    let stack = TestStack::start().await;
    let id = stack.create(&order_body()).await.order_id();
    assert_eq!(
        stack
            .patch(&id, Some("\"1\""), &json!({"note": "first"}))
            .await
            .status,
        200
    );

    // A second client still holding version 1.
    let reply = stack
        .patch(&id, Some("\"1\""), &json!({"note": "second"}))
        .await;
    reply.expect_error(412, "VersionConflict");
    assert_eq!(reply.body["current"]["version"], 2);
    assert_eq!(reply.body["current"]["note"], "first");
    assert_eq!(reply.header("etag"), Some("\"2\""));
    assert_eq!(
        stack.get(&id).await.body["note"],
        "first",
        "the stale write changed nothing"
    );
}

#[tokio::test]
async fn if_match_is_required_and_read_as_rfc_9110_says() {
    let stack = TestStack::start().await;
    let id = stack.create(&order_body()).await.order_id();
    let patch = |if_match: &'static str| {
        let (stack, id) = (&stack, id.clone());
        async move {
            stack
                .patch(&id, Some(if_match), &json!({"note": if_match}))
                .await
        }
    };
    stack
        .patch(&id, None, &json!({"note": "x"}))
        .await
        .expect_error(428, "PreconditionRequired");
    stack
        .cancel(&id, None)
        .await
        .expect_error(428, "PreconditionRequired");
    // Not a list of entity tags at all: 400.
    for malformed in ["\"1", "abc", "W/1", "*, \"1\""] {
        patch(malformed).await.expect_error(400, "BadRequest");
    }
    // Entity tags that match no version: a failed precondition, with the current order. A weak tag
    // never matches (If-Match compares strongly); the largest number is no panic, just a version.
    for unmatched in [
        "\"one\"",
        "W/\"1\"",
        "\"18446744073709551615\"",
        "\"2\", \"3\"",
    ] {
        let reply = patch(unmatched).await;
        reply.expect_error(412, "VersionConflict");
        assert_eq!(reply.body["current"]["version"], 1, "{unmatched}");
    }
    assert_eq!(
        stack.get(&id).await.body["version"],
        1,
        "nothing was written"
    );
    // A list matches if any of its tags does; `*` matches whatever the current version.
    let listed = patch("\"7\", \"1\"").await;
    assert_eq!((listed.status, &listed.body["version"]), (200, &json!(2)));
    let any = patch("*").await;
    assert_eq!((any.status, &any.body["version"]), (200, &json!(3)));
    assert_eq!(any.header("etag"), Some("\"3\""));
    let cancelled = stack.cancel(&id, Some("*")).await;
    assert_eq!(
        cancelled.body["status"], "CANCELLED",
        "{:#}",
        cancelled.body
    );
    // `*` on an order that does not exist fails as an unknown order does.
    stack
        .cancel("0194a3f2-7c1e-7b3a-9d2e-5f6a7b8c9d0e", Some("*"))
        .await
        .expect_error(404, "OrderNotFound");
}

#[tokio::test]
async fn cancel_moves_to_cancelled_and_a_second_cancel_is_409() {
    let stack = TestStack::start().await;
    let id = stack.create(&order_body()).await.order_id();
    let reply = stack.cancel(&id, Some("\"1\"")).await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);
    assert_eq!(reply.body["status"], "CANCELLED");
    assert_eq!(reply.body["version"], 2);

    let again = stack.cancel(&id, Some("\"2\"")).await;
    let error = again.expect_error(409, "InvalidStatusTransition");
    assert_eq!(error["message"], "cannot cancel an order that is CANCELLED");
    // With the old version it is the stale copy that is reported first.
    stack
        .cancel(&id, Some("\"1\""))
        .await
        .expect_error(412, "VersionConflict");
    // Items are frozen once the order is no longer PLACED; a note is not.
    let items = json!({"items": [{"sku": "A", "quantity": 1, "unitPriceCents": 1}]});
    stack
        .patch(&id, Some("\"2\""), &items)
        .await
        .expect_error(409, "InvalidStatusTransition");
    assert_eq!(
        stack
            .patch(&id, Some("\"2\""), &json!({"note": "why"}))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn list_pages_through_a_customers_orders_newest_first_without_duplicates() {
    let stack = TestStack::start().await;
    let customer = stack.as_customer("c-list");
    let mut created = Vec::new();
    for _ in 0..7 {
        created.push(customer.create(&order_body()).await.order_id());
        // Distinct createdAt values (millisecond precision), so "newest first" is one order.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    stack
        .as_customer("someone-else")
        .create(&order_body())
        .await;

    let mut seen = Vec::new();
    let mut pages = 0;
    let mut token: Option<String> = None;
    loop {
        let mut query = vec![("limit", "3")];
        if let Some(token) = &token {
            query.push(("nextToken", token));
        }
        let reply = customer.list(&query).await;
        assert_eq!(reply.status, 200, "{:#}", reply.body);
        pages += 1;
        let items = reply.body["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        seen.extend(
            items
                .iter()
                .map(|o| o["orderId"].as_str().unwrap().to_owned()),
        );
        match reply.body["nextToken"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(pages, 3);
    created.reverse();
    assert_eq!(
        seen, created,
        "every order once, newest first, none of another customer"
    );
}

#[tokio::test]
async fn an_idempotent_retry_replays_the_first_response_and_a_reused_key_is_422() {
    let stack = TestStack::start().await;
    let customer = stack.as_customer("c-idem");
    let body = Body::from(order_body().to_string());
    let key = [("idempotency-key", "key-0001")];
    let first = customer.create_with(body.clone(), &key).await;
    assert_eq!(first.status, 201);
    assert_eq!(first.header("idempotent-replayed"), None);

    // The same request again, with other spacing and key order: the same order comes back.
    let respaced = serde_json::to_string_pretty(&order_body()).unwrap();
    let retry = customer.create_with(Body::from(respaced), &key).await;
    assert_eq!(retry.status, 201);
    assert_eq!(retry.body, first.body);
    assert_eq!(retry.header("location"), first.header("location"));
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));

    // The same key with another body is a client error; nothing is created.
    let mut other = order_body();
    other["note"] = json!("another request");
    customer
        .create_with(Body::from(other.to_string()), &key)
        .await
        .expect_error(422, "IdempotencyKeyReused");

    let listed = customer.list(&[]).await;
    assert_eq!(
        listed.body["items"].as_array().unwrap().len(),
        1,
        "one order, not two"
    );

    // Another key is another order.
    let fresh = customer
        .create_with(body, &[("idempotency-key", "key-0002")])
        .await;
    assert_eq!(fresh.status, 201);
    assert_ne!(fresh.order_id(), first.order_id());
}

#[tokio::test]
async fn bad_input_is_a_4xx_in_the_error_shape_never_a_5xx() {
    let stack = TestStack::start().await;
    let raw = |text: &str| Body::from(text.to_owned());

    stack
        .create_with(raw("{\"customerId\": "), &[])
        .await
        .expect_error(400, "MalformedJson");
    stack
        .create_with(raw("not json"), &[])
        .await
        .expect_error(400, "MalformedJson");
    stack
        .create_with(Body::Empty, &[])
        .await
        .expect_error(400, "MalformedJson");

    let wrong_types = json!({"customerId": 42,
        "items": [{"sku": 1, "quantity": "2", "unitPriceCents": 1.5}],
        "payment": {"cardNumber": 4111111111111111_u64, "expiry": 1229}});
    assert_eq!(
        stack.create(&wrong_types).await.invalid_fields(),
        [
            "customerId",
            "items[0].sku",
            "items[0].quantity",
            "items[0].unitPriceCents",
            "payment.cardNumber",
            "payment.expiry"
        ]
    );

    let mut body = order_body();
    body["items"] = json!([]);
    assert_eq!(stack.create(&body).await.invalid_fields(), ["items"]);
    body["items"] = Value::Array(vec![
        json!({"sku": "A", "quantity": 1, "unitPriceCents": 1});
        101
    ]);
    assert_eq!(stack.create(&body).await.invalid_fields(), ["items"]);
    body["items"] = json!([{"sku": "A", "quantity": 0, "unitPriceCents": 1},
                           {"sku": "B", "quantity": 1, "unitPriceCents": -5}]);
    assert_eq!(
        stack.create(&body).await.invalid_fields(),
        ["items[0].quantity", "items[1].unitPriceCents"]
    );

    // Over 64 KiB: 413, whatever the content.
    let mut huge = order_body();
    huge["note"] = json!("x".repeat(70 * 1024));
    stack
        .create(&huge)
        .await
        .expect_error(413, "PayloadTooLarge");

    stack
        .create_with(
            Body::from(order_body().to_string()),
            &[("idempotency-key", "has spaces")],
        )
        .await
        .expect_error(400, "BadRequest");

    // List: a bounded limit, and only tokens this API issued.
    for limit in ["0", "101", "ten"] {
        let reply = stack.list(&[("limit", limit)]).await;
        assert_eq!(reply.invalid_fields(), ["limit"]);
    }
    for token in ["garbage", "eyJwayI6MX0", "%%%", ""] {
        let reply = stack.list(&[("nextToken", token)]).await;
        reply.expect_error(400, "BadRequest");
    }

    // Patch: unknown and server-owned fields, a body that is not an object.
    let id = stack.create(&order_body()).await.order_id();
    let reply = stack
        .patch(
            &id,
            Some("1"),
            &json!({"status": "SHIPPED", "colour": "red"}),
        )
        .await;
    assert_eq!(reply.invalid_fields(), ["colour", "status"]);
    stack
        .patch(&id, Some("1"), &json!([1, 2]))
        .await
        .expect_error(400, "ValidationFailed");
    assert_eq!(
        stack.get(&id).await.body["version"],
        1,
        "no bad request wrote anything"
    );
}

#[tokio::test]
async fn the_loser_of_an_idempotency_race_gets_the_winners_order_and_writes_nothing() {
    use orders_shared::domain::{CustomerId, NewOrder, Order};
    use orders_shared::store::idempotency::{IdempotencyKey, fingerprint};

    let stack = TestStack::start().await;
    let body = order_body();
    let customer = CustomerId::parse("c-race-idem").unwrap();
    let key = IdempotencyKey::parse(&customer, "race-key").unwrap();
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    let place = || async {
        let new_order = NewOrder::parse(&body, customer.clone(), today).unwrap();
        let (order, card) = Order::place(new_order, "2026-11-23T00:00:00.000Z");
        let sealed = stack.cipher.seal_card(&card, order.order_id).await.unwrap();
        (order, sealed)
    };

    // Both requests passed the pre-read (no record yet) and now write in a transaction.
    let ((winner, winner_card), (loser, loser_card)) = (place().await, place().await);
    let first = stack
        .store
        .create_with_idempotency_key(&winner, &winner_card, &key, &fingerprint(&body))
        .await
        .unwrap();
    assert!(first.is_none(), "the first transaction writes");
    let second = stack
        .store
        .create_with_idempotency_key(&loser, &loser_card, &key, &fingerprint(&body))
        .await
        .unwrap()
        .expect("the second transaction is cancelled and finds the record");
    assert_eq!(second.replay(&fingerprint(&body)).unwrap(), winner);
    assert!(
        stack
            .store
            .get(loser.order_id, true)
            .await
            .unwrap()
            .is_none(),
        "the transaction wrote neither item of the loser"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_attempts_with_one_key_create_one_order() {
    let stack = std::sync::Arc::new(TestStack::start().await);
    let body = order_body().to_string();
    let attempts: Vec<_> = (0..8)
        .map(|_| {
            let (stack, body) = (stack.clone(), body.clone());
            tokio::spawn(async move {
                stack
                    .as_customer("c-storm")
                    .create_with(Body::from(body), &[("idempotency-key", "storm-1")])
                    .await
            })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    let mut replays = 0;
    for attempt in attempts {
        let reply = attempt.await.unwrap();
        assert_eq!(reply.status, 201, "{:#}", reply.body);
        ids.insert(reply.order_id());
        replays += usize::from(reply.header("idempotent-replayed") == Some("true"));
    }
    assert_eq!(ids.len(), 1, "every attempt answers with the same order");
    assert_eq!(replays, 7, "all but the first are replays");
    let listed = stack.as_customer("c-storm").list(&[]).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
}
