//! The stage's cache of `GET /orders/{orderId}`, on the whole stack from `template.yaml` deployed
//! with `ApiCacheEnabled=true` (as `orders-local --parameter-overrides ApiCacheEnabled=true`):
//! a hit is answered without the function (counted by its `REPORT` lines, one per invocation, in
//! its log stream); the read after a change comes from the cache until the TTL ends (the trade-off
//! the template documents); a customer's `Cache-Control: max-age=0` is ignored with a warning
//! (Cognito callers are not allowed `execute-api:InvalidateCache`); and, since the caller's token
//! is part of the cache key, another customer asking for the same order id never gets it from the
//! cache. With the default (`ApiCacheEnabled=false`) nothing is cached.
//! The TTL's end is tested in `api_gateway::cache`'s unit tests, with their own clock.

use std::path::{Path, PathBuf};

use orders_local::lambda::LogOutput;
use orders_local::stack::Stack;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support;
use crate::support::api_client::{ApiRequest, Credentials, send};

struct Answer {
    status: StatusCode,
    etag: Option<String>,
    warning: Option<String>,
    body: Value,
}

struct Caller<'a> {
    stack: &'a Stack,
    credentials: Credentials,
}

impl Caller<'_> {
    async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&'static str, &str)],
        body: Option<&Value>,
    ) -> Answer {
        let mut request = ApiRequest::new(method, path);
        for (name, value) in headers {
            request = request.header(name, *value);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let answer = send(
            &reqwest::Client::new(),
            &self.stack.api_url(),
            &self.credentials,
            &request,
        )
        .await;
        let header = |name: &str| answer.header(name).map(str::to_owned);
        Answer {
            status: answer.status,
            etag: header("etag"),
            warning: header("warning"),
            body: answer.json().unwrap_or(Value::Null),
        }
    }

    async fn get(&self, path: &str, headers: &[(&'static str, &str)]) -> Answer {
        self.call(Method::GET, path, headers, None).await
    }
}

/// How many times the function has run: Lambda writes one `REPORT` line per invocation.
fn invocations(logs: &Path, function: &str) -> usize {
    std::fs::read_to_string(logs.join(format!("{function}.log")))
        .unwrap_or_default()
        .lines()
        .filter(|line| line.starts_with("REPORT RequestId:"))
        .count()
}

async fn start(name: &str, cache: bool) -> (Stack, PathBuf) {
    let mut config = support::stack::test_stack_config(name);
    if cache {
        config.parameter_overrides = vec![("ApiCacheEnabled".into(), "true".into())];
    }
    let LogOutput::Directory(logs) = config.logs.clone() else {
        panic!("the test stack logs to a directory");
    };
    let stack = Stack::start(config)
        .await
        .unwrap_or_else(|error| panic!("the stack did not start: {error}"));
    (stack, logs)
}

async fn customer<'a>(stack: &'a Stack, email: &str) -> Caller<'a> {
    Caller {
        stack,
        credentials: support::stack::signed_in(stack, email).await,
    }
}

fn order() -> Value {
    json!({
        "items": [{"sku": "BOOK-1", "quantity": 1, "unitPriceCents": 1250}],
        "payment": {"cardNumber": "4111 1111 1111 1111", "expiry": "12/35"}
    })
}

async fn place_order(caller: &Caller<'_>) -> String {
    let created = caller
        .call(Method::POST, "/orders", &[], Some(&order()))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body["orderId"]
        .as_str()
        .expect("the new order's id")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_cache_on_a_hit_skips_the_function_and_no_customer_gets_anothers_order() {
    let (stack, logs) = start("cache", true).await;
    let ada = customer(&stack, "ada@example.com").await;
    let bob = customer(&stack, "bob@example.com").await;
    let order_id = place_order(&ada).await;
    let path = format!("/orders/{order_id}");
    let runs = || invocations(&logs, "GetOrderFunction");

    // A miss runs the function; the same request within the TTL (60 s) is a hit: it does not.
    let first = ada.get(&path, &[]).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(runs(), 1);
    let second = ada.get(&path, &[]).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(second.body, first.body, "the cached answer");
    assert_eq!(runs(), 1, "a hit is answered without the function");

    // The read mode is part of the key: another entry, another run.
    let consistent = ada.get(&format!("{path}?consistent=true"), &[]).await;
    assert_eq!(consistent.status, StatusCode::OK);
    assert_eq!(runs(), 2);

    // The security fix: Bob's token is another key, so his request for Ada's order id runs the
    // function, whose ownership check answers 404, never Ada's cached order.
    let bobs = bob.get(&path, &[]).await;
    assert_eq!(bobs.status, StatusCode::NOT_FOUND, "{}", bobs.body);
    assert_ne!(bobs.body["orderId"], order_id.as_str());
    assert_eq!(runs(), 3);
    // A 404 is not cached: asking again runs the function again.
    assert_eq!(bob.get(&path, &[]).await.status, StatusCode::NOT_FOUND);
    assert_eq!(runs(), 4);

    // The trade-off: a change is not seen through the cache until the entry expires.
    let etag = first.etag.clone().expect("GET answers an ETag");
    let patched = ada
        .call(
            Method::PATCH,
            &path,
            &[("if-match", etag.as_str())],
            Some(&json!({"note": "leave at the door"})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_ne!(patched.body["version"], first.body["version"]);
    let stale = ada.get(&path, &[]).await;
    assert_eq!(
        stale.body, first.body,
        "the cache answers before the function runs"
    );
    assert_eq!(stale.etag, first.etag, "the stale ETag too");
    assert_eq!(runs(), 4);

    // Ada's `Cache-Control: max-age=0` is ignored: she has no IAM identity, so she is not
    // allowed execute-api:InvalidateCache. API Gateway says so in a Warning header.
    let refresh = ada.get(&path, &[("cache-control", "max-age=0")]).await;
    assert_eq!(refresh.body, first.body, "still the cached answer");
    assert_eq!(
        refresh.warning.as_deref(),
        Some("199 Cache-control headers were ignored because the caller was unauthorized.")
    );
    assert_eq!(runs(), 4);
    // The change is there, read through a key not cached yet (`consistent=false` is another
    // value than no `consistent` at all; the `consistent=true` entry is as stale as the first).
    let fresh = ada.get(&format!("{path}?consistent=false"), &[]).await;
    assert_eq!(fresh.body["version"], patched.body["version"]);
    assert_eq!(runs(), 5);

    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_nothing_is_cached() {
    let (stack, logs) = start("nocache", false).await;
    let ada = customer(&stack, "ada@example.com").await;
    let order_id = place_order(&ada).await;
    let path = format!("/orders/{order_id}");
    for expected in 1..=2 {
        let answer = ada.get(&path, &[("cache-control", "max-age=0")]).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.warning, None, "no cache, no warning");
        assert_eq!(invocations(&logs, "GetOrderFunction"), expected);
    }
    stack.shutdown().await;
}
