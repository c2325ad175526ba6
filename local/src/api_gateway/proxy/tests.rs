//! The proxy integration's unit tests: the event against the sample event, and the answers
//! that are, and are not, proxy responses.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use super::*;
use crate::api_gateway::access::{Admitted, UsedApiKey};
use crate::api_gateway::routes::match_route;
use crate::api_gateway::routes::tests::route;

fn context() -> Context<'static> {
    static NOBODY: Admitted = Admitted {
        claims: None,
        api_key: None,
    };
    Context {
        stage: "dev",
        api_id: "a1b2c3d4e5",
        request_id: "r",
        source_ip: "::1",
        admitted: &NOBODY,
    }
}

fn get_order_request() -> Parts {
    let (parts, ()) = axum::http::Request::builder()
        .method("GET")
        .uri("/orders/0194a3f2-7c1e-7b3a-9d2e-5f6a7b8c9d0e?consistent=true&tag=a&tag=b")
        .header("host", "127.0.0.1:3000")
        .header("user-agent", "curl/8.5.0")
        .header("accept", "application/json")
        .header("x-custom", "one")
        .header("x-custom", "two")
        .body(())
        .unwrap()
        .into_parts();
    parts
}

fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

#[test]
fn the_proxy_event_has_the_shape_of_the_sample_event() {
    let sample: Value =
        serde_json::from_str(include_str!("../../../../events/get-order.json")).unwrap();
    let route = route("get", "/orders/{orderId}", "GetOrderFunction");
    let parts = get_order_request();
    let (_, params) = match_route(std::slice::from_ref(&route), "GET", parts.uri.path()).unwrap();
    let before = chrono::Utc::now().timestamp_millis();
    let admitted = Admitted {
        claims: Some(
            json!({"sub": "7d3a6f0e-1c2b-4e5f-8a9b-0c1d2e3f4a5b", "token_use": "id"})
                .as_object()
                .unwrap()
                .clone(),
        ),
        api_key: Some(UsedApiKey {
            id: "k1".into(),
            value: "a-key-value-of-twenty-chars".into(),
        }),
    };
    let context = Context {
        request_id: "req-1",
        source_ip: "203.0.113.10",
        admitted: &admitted,
        ..context()
    };
    let event = proxy_event(&route, &params, &parts, b"", &context);

    assert_eq!(keys(&event), keys(&sample));
    assert_eq!(
        keys(&event["requestContext"]),
        keys(&sample["requestContext"])
    );
    assert_eq!(
        keys(&event["requestContext"]["identity"]),
        keys(&sample["requestContext"]["identity"])
    );

    assert_eq!(event["resource"], "/orders/{orderId}");
    assert_eq!(
        event["path"],
        "/orders/0194a3f2-7c1e-7b3a-9d2e-5f6a7b8c9d0e"
    );
    assert_eq!(event["httpMethod"], "GET");
    assert_eq!(
        event["pathParameters"],
        json!({"orderId": "0194a3f2-7c1e-7b3a-9d2e-5f6a7b8c9d0e"})
    );
    assert_eq!(event["queryStringParameters"]["consistent"], "true");
    assert_eq!(event["queryStringParameters"]["tag"], "b", "the last value");
    assert_eq!(
        event["multiValueQueryStringParameters"]["tag"],
        json!(["a", "b"])
    );
    assert_eq!(event["headers"]["x-custom"], "two", "the last value");
    assert_eq!(
        event["multiValueHeaders"]["x-custom"],
        json!(["one", "two"])
    );
    assert_eq!(event["stageVariables"], Value::Null);
    assert_eq!(event["body"], Value::Null);
    assert_eq!(event["isBase64Encoded"], false);

    let context = &event["requestContext"];
    assert_eq!(
        context["path"],
        "/dev/orders/0194a3f2-7c1e-7b3a-9d2e-5f6a7b8c9d0e"
    );
    assert_eq!(context["resourcePath"], "/orders/{orderId}");
    assert_eq!(context["stage"], "dev");
    assert_eq!(context["requestId"], "req-1");
    assert_eq!(context["protocol"], "HTTP/1.1");
    assert_eq!(context["identity"]["sourceIp"], "203.0.113.10");
    assert_eq!(context["identity"]["userAgent"], "curl/8.5.0");
    assert_eq!(context["domainName"], "127.0.0.1:3000");
    assert_eq!(context["apiId"], "a1b2c3d4e5");
    assert_eq!(context["identity"]["apiKeyId"], "k1");
    assert_eq!(
        context["authorizer"]["claims"]["sub"],
        "7d3a6f0e-1c2b-4e5f-8a9b-0c1d2e3f4a5b"
    );
    assert!(context["requestTimeEpoch"].as_i64().unwrap() >= before);
    let time = context["requestTime"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_str(time, "%d/%b/%Y:%H:%M:%S %z").is_ok(),
        "{time} is in API Gateway's format"
    );
}

#[test]
fn a_request_without_query_or_parameters_has_nulls_there() {
    let route = route("get", "/orders", "ListOrdersFunction");
    let (parts, ()) = axum::http::Request::builder()
        .uri("/orders")
        .body(())
        .unwrap()
        .into_parts();
    let event = proxy_event(&route, &HashMap::new(), &parts, b"", &context());
    assert_eq!(event["queryStringParameters"], Value::Null);
    assert_eq!(event["multiValueQueryStringParameters"], Value::Null);
    assert_eq!(event["pathParameters"], Value::Null);
    // Neither an authorizer nor a key on the method: nothing of either in the context.
    assert!(event["requestContext"].get("authorizer").is_none());
    assert_eq!(event["requestContext"]["identity"]["apiKey"], Value::Null);
}

#[test]
fn a_text_body_is_a_string_and_a_binary_one_is_base64() {
    let route = route("post", "/orders", "CreateOrderFunction");
    let (parts, ()) = axum::http::Request::builder()
        .method("POST")
        .uri("/orders")
        .body(())
        .unwrap()
        .into_parts();
    let text = proxy_event(&route, &HashMap::new(), &parts, br#"{"a":1}"#, &context());
    assert_eq!(text["body"], r#"{"a":1}"#);
    assert_eq!(text["isBase64Encoded"], false);

    let binary = [0xff, 0x00, 0xfe];
    let event = proxy_event(&route, &HashMap::new(), &parts, &binary, &context());
    assert_eq!(event["isBase64Encoded"], true);
    assert_eq!(
        BASE64.decode(event["body"].as_str().unwrap()).unwrap(),
        binary
    );
}

async fn body_of(response: Response) -> Vec<u8> {
    axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec()
}

#[tokio::test]
async fn a_proxy_response_becomes_the_http_response() {
    let output = json!({
        "statusCode": 201,
        "headers": {"location": "/orders/1", "etag": "\"1\"", "x-single": "ignored"},
        "multiValueHeaders": {"set-cookie": ["a=1", "b=2"], "x-single": ["kept"]},
        "body": "{\"orderId\":\"1\"}",
        "isBase64Encoded": false,
    });
    let response = http_response(output.to_string().as_bytes()).unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let headers = response.headers();
    assert_eq!(headers["location"], "/orders/1");
    assert_eq!(headers["etag"], "\"1\"");
    let cookies: Vec<_> = headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    let single: Vec<_> = headers.get_all("x-single").iter().collect();
    assert_eq!(single, ["kept"], "multiValueHeaders win over headers");
    assert_eq!(headers["content-type"], "application/json", "the default");
    assert_eq!(body_of(response).await, br#"{"orderId":"1"}"#);
}

#[tokio::test]
async fn a_base64_body_is_decoded_and_a_missing_body_is_empty() {
    let output = json!({
        "statusCode": 200,
        "headers": {"content-type": "image/png"},
        "body": BASE64.encode([0x89, 0x50, 0x4e, 0x47]),
        "isBase64Encoded": true,
    });
    let response = http_response(output.to_string().as_bytes()).unwrap();
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(body_of(response).await, [0x89, 0x50, 0x4e, 0x47]);

    let response = http_response(br#"{"statusCode": 204}"#).unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(body_of(response).await.is_empty());
}

#[test]
fn anything_but_a_proxy_response_is_malformed() {
    let malformed = |output: &str| http_response(output.as_bytes()).err();
    assert_eq!(malformed("not json"), Some(MalformedResponse::NotJson));
    assert_eq!(malformed("[1]"), Some(MalformedResponse::NotAnObject));
    assert_eq!(
        malformed(r#"{"body": "x"}"#),
        Some(MalformedResponse::MissingStatusCode)
    );
    assert_eq!(
        malformed(r#"{"statusCode": "200"}"#),
        Some(MalformedResponse::StatusCodeNotANumber)
    );
    assert_eq!(
        malformed(r#"{"statusCode": 99}"#),
        Some(MalformedResponse::InvalidStatusCode("99".into()))
    );
    assert_eq!(
        malformed(r#"{"statusCode": 200.5}"#),
        Some(MalformedResponse::InvalidStatusCode("200.5".into()))
    );
    assert_eq!(
        malformed(r#"{"statusCode": 200, "headers": {"bad name": "x"}}"#),
        Some(MalformedResponse::InvalidHeader("bad name".into()))
    );
    assert_eq!(
        malformed(r#"{"statusCode": 200, "body": {"a": 1}}"#),
        Some(MalformedResponse::BodyNotAString)
    );
    assert_eq!(
        malformed(r#"{"statusCode": 200, "body": "%%", "isBase64Encoded": true}"#),
        Some(MalformedResponse::InvalidBase64)
    );
}
