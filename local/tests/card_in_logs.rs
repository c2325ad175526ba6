//! The rule that no card number, token or API key reaches a function's logs, at any level, tested
//! where the risk lives: the real `create-order` binary under the local Runtime API at `TRACE`,
//! where `lambda_runtime` itself would log every raw event it receives.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support;
use crate::support::functions::{as_json, function, function_binary, start_lambda_logging_to};

/// A card number whose digits do not repeat much, so any run of six of them is easy to spot.
const CARD: &str = "4539148803436467";

#[tokio::test]
async fn create_order_at_the_trace_log_level_prints_no_card_token_or_api_key() {
    // The real binary under the Runtime API, as Lambda runs it with ApplicationLogLevel TRACE (the
    // most the template's LogLevel allows): everything it prints goes to one file.
    let logs = std::env::temp_dir().join(format!("orders-trace-logs-{}", std::process::id()));
    std::fs::create_dir_all(&logs).unwrap();
    let lambda = start_lambda_logging_to(logs.clone()).await;
    lambda
        .add(function(
            "CreateOrderFunction",
            function_binary("create-order"),
            &[
                ("TABLE_NAME", "orders"),
                ("PAYMENT_KEY_ID", "alias/orders-local"),
                ("AWS_LAMBDA_LOG_LEVEL", "TRACE"),
                ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
                // Nothing listens there: the KMS call fails, and the failure is logged too.
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
                ("AWS_REGION", "us-east-1"),
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", "testing"),
                ("AWS_EC2_METADATA_DISABLED", "true"),
            ],
            Duration::from_secs(30),
        ))
        .await;
    // The sample event as API Gateway sends it: the token, the key, and a card in the body.
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(support::stack::workspace_root().join("events/create-order.json"))
            .unwrap(),
    )
    .unwrap();
    let token = event["headers"]["Authorization"]
        .as_str()
        .unwrap()
        .to_owned();
    let api_key = event["headers"]["x-api-key"].as_str().unwrap().to_owned();
    event["body"] = json!(
        event["body"]
            .as_str()
            .unwrap()
            .replace("4111 1111 1111 1111", CARD)
    );
    event["headers"]
        .as_object_mut()
        .unwrap()
        .remove("Idempotency-Key");
    event["multiValueHeaders"]
        .as_object_mut()
        .unwrap()
        .remove("Idempotency-Key");
    let answer = lambda
        .invoke("CreateOrderFunction", event.to_string().into_bytes(), None)
        .await
        .expect("create-order answers");
    let status = as_json(&answer)["statusCode"].as_u64();
    assert!(
        status.is_some_and(|status| status >= 500),
        "KMS is unreachable: {}",
        String::from_utf8_lossy(&answer)
    );
    lambda.shutdown().await;

    let printed = std::fs::read_to_string(logs.join("CreateOrderFunction.log")).unwrap();
    assert!(
        printed.contains("\"level\":\"TRACE\""),
        "the function logged at TRACE:\n{printed}"
    );
    for window in CARD.as_bytes().windows(6) {
        let run = std::str::from_utf8(window).unwrap();
        assert!(!printed.contains(run), "card digits {run} in the logs");
    }
    for (secret, what) in [
        (token.as_str(), "the ID token"),
        (api_key.as_str(), "the API key"),
    ] {
        assert!(!printed.contains(secret), "{what} in the logs");
    }
}
