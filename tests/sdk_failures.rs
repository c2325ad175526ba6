//! What a client sees when DynamoDB fails: rare SDK errors, produced with `aws-smithy-mocks`
//! (moto cannot be made to throttle). No moto needed here.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::error::InternalServerError;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::{Response as HttpResponse, StatusCode};
use aws_smithy_types::body::SdkBody;
use lambda_http::http::Method;
use orders_shared::{Config, OrderStore};
use orders_tests::{CUSTOMER, Reply, SignedIn};
use serde_json::json;

const ID: &str = "0194a3f2-7c1e-7b3a-9d2e-5f6a7b8c9d0e";

/// The store, over a DynamoDB client whose every call gets the answer `rule` gives.
fn store_answering(rule: &Rule) -> OrderStore {
    let config =
        Config::from_lookup(|name| (name == "TABLE_NAME").then(|| "orders-secret-name".into()))
            .unwrap();
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [rule]);
    OrderStore::new(client, &config)
}

#[tokio::test]
async fn a_throttled_read_is_503_with_retry_after() {
    let throttled = mock!(Client::get_item).then_http_response(|| {
        HttpResponse::new(
            StatusCode::try_from(400).unwrap(),
            SdkBody::from(r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate exceeded"}"#),
        )
    });
    let store = store_answering(&throttled);
    let request = SignedIn::customer(CUSTOMER)
        .request(Method::GET, "/orders/x")
        .path_parameter("orderId", ID)
        .to_request();
    let reply = Reply::from(get_order::handler(&store, request).await);
    reply.expect_error(503, "ServiceUnavailable");
    assert_eq!(reply.header("retry-after"), Some("1"));
}

#[tokio::test]
async fn an_internal_failure_is_500_without_internal_details() {
    let broken = mock!(Client::update_item).then_error(|| {
        UpdateItemError::InternalServerError(
            InternalServerError::builder()
                .message("partition orders-secret-name#7 unavailable")
                .build(),
        )
    });
    let store = store_answering(&broken);
    let request = SignedIn::customer(CUSTOMER)
        .request(Method::PATCH, "/orders/x")
        .path_parameter("orderId", ID)
        .header("if-match", "\"1\"")
        .body(json!({"note": "x"}).to_string().as_bytes())
        .to_request();
    let reply = Reply::from(update_order::handler(&store, request).await);
    reply.expect_error(500, "InternalError");
    let text = reply.body.to_string();
    assert!(
        !text.contains("orders-secret-name") && !text.contains("partition"),
        "{text}"
    );
}
