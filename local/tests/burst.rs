//! A burst of 64 concurrent `POST /orders` from one signed-in customer, each with its own
//! `Idempotency-Key` (so each is a TransactWriteItems), against the whole local stack.
//!
//! `POST /orders` is throttled (template: 10 requests a second, a burst of 20): API Gateway
//! answers the creates over its bucket `429` before any function runs, and the client sends each
//! of those again after a backoff, as AWS SDKs do (safe: a 429 created nothing, and each create has
//! its `Idempotency-Key` anyway). Every create must end as a 201: no 5xx, no function timeout (a
//! 502), no lost order. How many were throttled, and how long they took, is printed, never
//! asserted (a timed test fails on a busy machine, not on a bug). The local stack runs at most a
//! few execution environments per function and a moto that serves one request at a time, so the
//! creates queue: the slowest answer waits for the others, and what makes it bearable
//! is that a transaction costs what its items cost (`scripts/moto_server.py`).
//!
//! `BURST_TABLE_ITEMS=5000` first fills the table with that many other items of about an order's
//! size (`sk = FILLER`: they make no events), to see the burst once the table has grown.

use crate::support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};

use orders_local::stack::Stack;
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::api_client::{ApiRequest, send_retrying_throttled};

const CREATES: usize = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_64_concurrent_creates_is_answered_201_every_one() {
    let stack = support::stack::start("burst").await;
    let ada = support::stack::signed_in(&stack, "ada@example.com").await;
    let filler: usize = std::env::var("BURST_TABLE_ITEMS").map_or(0, |n| n.parse().unwrap());
    fill_table(&stack, filler).await;
    let client = reqwest::Client::new();
    let base = stack.api_url();

    let started = Instant::now();
    let creates = (0..CREATES).map(|n| {
        let body = json!({
            "items": [{"sku": "BOOK-1", "quantity": n + 1, "unitPriceCents": 1250}],
            "payment": {"cardNumber": "4539 1488 0343 6467", "expiry": "12/35"},
        });
        let request = ApiRequest::new(Method::POST, "/orders")
            .header("content-type", "application/json")
            .header("idempotency-key", format!("burst-{n}"))
            .body(body.to_string());
        let (client, base, ada) = (client.clone(), base.clone(), ada.clone());
        tokio::spawn(async move {
            let sent = Instant::now();
            let (answer, throttled) = send_retrying_throttled(&client, &base, &ada, &request).await;
            (answer, sent.elapsed(), throttled)
        })
    });
    let mut answers = Vec::new();
    for create in creates.collect::<Vec<_>>() {
        answers.push(create.await.expect("the request task"));
    }
    let burst = started.elapsed();

    let mut times: Vec<Duration> = answers.iter().map(|(_, time, _)| *time).collect();
    times.sort();
    let throttled: usize = answers.iter().map(|(_, _, throttled)| throttled).sum();
    println!(
        "burst: {CREATES} concurrent creates, {filler} other items in the table, in {:.2} s \
         ({throttled} 429s sent again); slowest answer {:.0} ms, p50 {:.0} ms",
        burst.as_secs_f64(),
        times[CREATES - 1].as_secs_f64() * 1000.0,
        times[CREATES / 2 - 1].as_secs_f64() * 1000.0,
    );
    let refused: Vec<String> = answers
        .iter()
        .filter(|(answer, ..)| answer.status != StatusCode::CREATED)
        .map(|(answer, ..)| answer.describe())
        .collect();
    assert!(refused.is_empty(), "not every create is a 201: {refused:?}");
    let mut ids: Vec<&str> = Vec::new();
    let bodies: Vec<_> = answers.iter().map(|(answer, ..)| answer.json()).collect();
    for body in &bodies {
        ids.push(body.as_ref().and_then(|o| o["orderId"].as_str()).unwrap());
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), CREATES, "one order per create");
    stack.shutdown().await;
}

/// Puts `count` items of about 1.5 KB into the orders table (`BatchWriteItem`, 25 at a time).
async fn fill_table(stack: &Stack, count: usize) {
    let table = stack
        .deployed()
        .table_name("OrdersTable")
        .expect("the template's table");
    let dynamodb = aws_sdk_dynamodb::Client::new(stack.aws());
    let text = |value: String| AttributeValue::S(value);
    for start in (0..count).step_by(25) {
        let requests = (start..count.min(start + 25)).map(|n| {
            let item = HashMap::from([
                ("pk".to_owned(), text(format!("FILLER#{n}"))),
                ("sk".to_owned(), text("FILLER".into())),
                ("padding".to_owned(), text("x".repeat(1500))),
            ]);
            let put = PutRequest::builder().set_item(Some(item)).build().unwrap();
            WriteRequest::builder().put_request(put).build()
        });
        dynamodb
            .batch_write_item()
            .request_items(table, requests.collect())
            .send()
            .await
            .expect("moto takes the items");
    }
}
