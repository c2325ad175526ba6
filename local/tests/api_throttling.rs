//! API Gateway's own refusals at run time, from the template: the token buckets of the stage, of
//! `POST /orders` and of the usage plan's API key (`429`, `THROTTLED`), and the usage plan's quota
//! (`429`, `QUOTA_EXCEEDED`), each before any function runs and after the authorizer (401) and
//! the API key (403); and what a function that Lambda throttles gives instead (a 500). The
//! buckets and the quota count themselves are unit-tested with a clock the tests set
//! (`api_gateway::throttling`, `api_gateway::quota`); here they run in the stage.

use crate::support;

use std::collections::BTreeSet;
use std::time::Duration;

use orders_local::api_gateway::{
    Access, ApiGateway, ApiKeys, ApiSettings, INTEGRATION_TIMEOUT, Quota, QuotaPeriod, RateLimit,
    Route, ThrottleSettings,
};
use orders_local::lambda::FunctionProcess;
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::api_client::{ApiRequest, send, send_retrying_throttled};
use support::functions::{ANY_PORT, as_json, bash_function, http_get, start_lambda_with};

/// More than `POST /orders`' burst (20) at once.
const CREATES: usize = 45;

fn create(n: usize) -> ApiRequest {
    let body = json!({
        "items": [{"sku": "BOOK-1", "quantity": n + 1, "unitPriceCents": 1250}],
        "payment": {"cardNumber": "4539 1488 0343 6467", "expiry": "12/35"},
    });
    ApiRequest::new(Method::POST, "/orders")
        .header("content-type", "application/json")
        .header("idempotency-key", format!("throttled-{n}"))
        .body(body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_over_the_methods_burst_get_the_templates_429_and_create_nothing() {
    let stack = support::stack::start("throttling").await;
    let ada = support::stack::signed_in(&stack, "ada@example.com").await;
    let client = reqwest::Client::new();
    let base = stack.api_url();

    // All at once: the method's bucket (10/s, burst 20) lets about its burst through.
    let sent = (0..CREATES).map(|n| {
        let (client, base, ada) = (client.clone(), base.clone(), ada.clone());
        tokio::spawn(async move { send(&client, &base, &ada, &create(n)).await })
    });
    let mut answers = Vec::new();
    for answer in sent.collect::<Vec<_>>() {
        answers.push(answer.await.expect("the request task"));
    }
    let created: Vec<usize> = (0..CREATES)
        .filter(|&n| answers[n].status == StatusCode::CREATED)
        .collect();
    let throttled: Vec<usize> = (0..CREATES)
        .filter(|&n| answers[n].status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    println!(
        "throttling: {CREATES} creates at once, {} created, {} throttled",
        created.len(),
        throttled.len()
    );
    let others: Vec<String> = answers
        .iter()
        .filter(|a| ![StatusCode::CREATED, StatusCode::TOO_MANY_REQUESTS].contains(&a.status))
        .map(|a| a.describe())
        .collect();
    assert!(others.is_empty(), "neither 201 nor 429: {others:?}");
    assert!(
        !created.is_empty(),
        "the bucket starts full: some creates pass"
    );
    assert!(
        !throttled.is_empty(),
        "{CREATES} at once is over the burst of 20"
    );
    for &n in &throttled {
        let answer = &answers[n];
        assert_eq!(
            answer.json(),
            Some(json!({"error": {"code": "TooManyRequests", "message": "Too Many Requests"}})),
            "the template's THROTTLED response"
        );
        assert_eq!(answer.header("content-type"), Some("application/json"));
        assert!(
            answer.header("access-control-allow-origin").is_some(),
            "a browser can read the 429"
        );
    }

    // No order, no idempotency record for a refused request: sent again (as a throttled client
    // does, backing off), each is created afresh, not replayed.
    let mut order_ids: BTreeSet<String> = created
        .iter()
        .map(|&n| {
            answers[n].json().unwrap()["orderId"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    for &n in &throttled {
        let (answer, _) = send_retrying_throttled(&client, &base, &ada, &create(n)).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.describe());
        assert_eq!(
            answer.header("idempotent-replayed"),
            None,
            "request {n} was refused, yet its key had been used"
        );
        let id = answer.json().unwrap()["orderId"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(order_ids.insert(id), "a new order");
    }
    let list = ApiRequest::new(Method::GET, "/orders?limit=100");
    let (answer, _) = send_retrying_throttled(&client, &base, &ada, &list).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.describe());
    let listed: BTreeSet<String> = answer.json().unwrap()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|order| order["orderId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, order_ids, "one order per create that was let in");
    stack.shutdown().await;
}

/// A stage with one method that needs a token and an API key, a quota of `quota` requests a day
/// for the key, and API Gateway's default answers.
async fn stage_with_a_quota(quota: u64) -> (ApiGateway, orders_local::lambda::LambdaService) {
    // The bash runtime echoes the event back: not a proxy response, so a request that reached
    // the function is a 502, one API Gateway refused never is.
    let lambda = start_lambda_with(bash_function("EchoFunction", Duration::from_secs(5))).await;
    let route = Route {
        method: "GET".to_owned(),
        path: "/echo".to_owned(),
        function: "EchoFunction".to_owned(),
        integration_timeout: INTEGRATION_TIMEOUT,
        access: Access {
            authorizer: Some(support::tokens::test_authorizer()),
            api_key_required: true,
        },
    };
    let settings = ApiSettings {
        api_keys: ApiKeys::new([("key-id-1".to_owned(), KEY.to_owned())]),
        throttling: ThrottleSettings {
            per_key: Some(RateLimit {
                rate_per_second: 25.0,
                burst: 50,
            }),
            quota: Some(Quota {
                limit: quota,
                period: QuotaPeriod::Day,
            }),
            ..ThrottleSettings::default()
        },
        ..ApiSettings::open("OrdersApi", "dev", vec![route])
    };
    let api = ApiGateway::serve(ANY_PORT.parse().unwrap(), settings, lambda.clone(), None)
        .await
        .expect("the API listens");
    (api, lambda)
}

const KEY: &str = "a-valid-api-key-value-0001";

#[tokio::test]
async fn the_request_over_the_keys_quota_is_a_429_after_the_token_and_key_checks() {
    let (api, lambda) = stage_with_a_quota(3).await;
    let token = support::tokens::id_token("c-1");
    let both = [("Authorization", token.as_str()), ("x-api-key", KEY)];
    for n in 0..3 {
        let (status, _, _) = http_get(api.address(), "/echo", &both).await;
        assert_eq!(
            status, 502,
            "request {n} is within the quota: the function runs"
        );
    }
    let (status, _, body) = http_get(api.address(), "/echo", &both).await;
    assert_eq!(
        (status, as_json(&body)),
        (429, json!({"message": "Limit Exceeded"})),
        "QUOTA_EXCEEDED, API Gateway's default"
    );
    // The checks before the quota still answer first: the authorizer's 401, the key's 403.
    let (status, _, _) = http_get(api.address(), "/echo", &[("x-api-key", KEY)]).await;
    assert_eq!(status, 401);
    let authorization = [("Authorization", token.as_str())];
    let (status, _, _) = http_get(api.address(), "/echo", &authorization).await;
    assert_eq!(status, 403);
    api.shutdown().await;
    lambda.shutdown().await;
}

#[tokio::test]
async fn a_function_that_lambda_throttles_is_a_500_for_the_client_not_a_429() {
    // Reserved concurrency 0: Lambda refuses every invocation (TooManyRequestsException).
    let function = FunctionProcess {
        reserved_concurrency: Some(0),
        ..bash_function("EchoFunction", Duration::from_secs(5))
    };
    let lambda = start_lambda_with(function).await;
    let route = Route {
        method: "GET".to_owned(),
        path: "/echo".to_owned(),
        function: "EchoFunction".to_owned(),
        integration_timeout: INTEGRATION_TIMEOUT,
        access: Access::default(),
    };
    let api = ApiGateway::serve(
        ANY_PORT.parse().unwrap(),
        ApiSettings::open("OrdersApi", "dev", vec![route]),
        lambda.clone(),
        None,
    )
    .await
    .expect("the API listens");
    let (status, _, body) = http_get(api.address(), "/echo", &[]).await;
    assert_eq!(
        (status, as_json(&body)),
        (500, json!({"message": "Internal server error"})),
        "INTEGRATION_FAILURE: only API Gateway's own limits answer 429"
    );
    api.shutdown().await;
    lambda.shutdown().await;
}
