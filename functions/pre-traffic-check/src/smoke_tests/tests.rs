//! The choice of smoke test by function name, the checks of an answer, the requests' ids, and
//! the API requests' shape as `lambda_http` parses it. (Each request against the real handler it
//! is meant for: `tests/smoke_requests.rs`, where the function crates are linked.)

use std::path::Path;

use super::*;

#[test]
fn a_function_is_known_by_the_end_of_its_name() {
    let binary = |name| SmokeTest::for_function(name).map(|test| test.binary);
    assert_eq!(binary("orders-on-lambda-get-order"), Some("get-order"));
    assert_eq!(
        binary("orders-on-lambda-update-order"),
        Some("update-order")
    );
    assert_eq!(binary("prod-list-orders"), Some("list-orders"));
    assert_eq!(
        binary("arn:aws:lambda:us-east-1:123456789012:function:orders-on-lambda-record-audit"),
        Some("record-audit")
    );
    assert_eq!(binary("record-audit"), Some("record-audit"));
    // A suffix counts only at a `-`: `target-order` is not `get-order`.
    assert_eq!(binary("orders-on-lambda-target-order"), None);
    assert_eq!(binary("orders-on-lambda-pre-traffic-check"), None);
}

#[test]
fn no_binary_ends_with_another() {
    for a in SMOKE_TESTS {
        for b in SMOKE_TESTS {
            if a.binary != b.binary {
                assert!(
                    !a.binary.ends_with(&format!("-{}", b.binary)),
                    "{} would be taken for {}",
                    a.binary,
                    b.binary
                );
            }
        }
        assert_eq!(
            SmokeTest::for_function(&format!("stack-{}", a.binary)).map(|t| t.binary),
            Some(a.binary)
        );
    }
}

fn test_of(binary: &str) -> &'static SmokeTest {
    SmokeTest::for_function(binary).unwrap()
}

fn proxy_answer(status: u16, body: Value) -> Vec<u8> {
    json!({"statusCode": status, "headers": {}, "multiValueHeaders": {}, "body": body.to_string(), "isBase64Encoded": false})
        .to_string()
        .into_bytes()
}

#[test]
fn an_api_check_needs_the_status_and_the_error_code() {
    let test = test_of("get-order");
    let not_found = json!({"error": {"code": "OrderNotFound", "message": "no such order"}});
    assert_eq!(test.check(&proxy_answer(404, not_found.clone())), Ok(()));

    let failures = [
        (
            proxy_answer(200, json!({"orderId": "x"})),
            "200 (no error code)",
        ),
        (
            proxy_answer(500, json!({"error": {"code": "InternalError"}})),
            "500 InternalError",
        ),
        (
            proxy_answer(404, json!({"error": {"code": "NotFound"}})),
            "404 NotFound",
        ),
        (
            b"{\"Records\": []}".to_vec(),
            "an answer that is not a proxy response",
        ),
    ];
    for (payload, got) in failures {
        assert_eq!(
            test.check(&payload),
            Err(CheckFailed::UnexpectedAnswer {
                expected: "404 OrderNotFound".into(),
                got: got.into()
            })
        );
    }
}

#[test]
fn a_consumer_check_needs_exactly_an_empty_batch_response() {
    let test = test_of("fulfill-order");
    assert_eq!(test.check(br#"{"batchItemFailures": []}"#), Ok(()));
    let failures = [
        (
            &br#"{"batchItemFailures": [{"itemIdentifier": "m1"}]}"#[..],
            "1 batch item failures",
        ),
        (b"null", "an answer that is not a partial batch response"),
        (b"{}", "an answer that is not a partial batch response"),
        (b"not json", "an answer that is not JSON"),
    ];
    for (payload, got) in failures {
        assert_eq!(
            test.check(payload),
            Err(CheckFailed::UnexpectedAnswer {
                expected: "no batch item failures".into(),
                got: got.into()
            })
        );
    }
}

#[test]
fn the_notifier_check_needs_exactly_null() {
    let test = test_of("notify-merchant");
    assert_eq!(test.request(), serde_json::json!({"Records": []}));
    assert_eq!(test.check(b"null"), Ok(()));
    for (payload, got) in [
        (&b"{}"[..], "{}"),
        (b"\"ok\"", "\"ok\""),
        (b"not json", "an answer that is not JSON"),
    ] {
        assert_eq!(
            test.check(payload),
            Err(CheckFailed::UnexpectedAnswer {
                expected: "null".into(),
                got: got.into()
            })
        );
    }
}

#[test]
fn each_request_has_a_fresh_order_id() {
    let test = test_of("cancel-order");
    let (a, b) = (test.request(), test.request());
    assert_ne!(
        a["pathParameters"]["orderId"],
        b["pathParameters"]["orderId"]
    );
    let id = a["pathParameters"]["orderId"].as_str().unwrap();
    assert_eq!(a["path"], format!("/orders/{id}/cancel"));
    assert_eq!(
        uuid_version(id),
        Some(7),
        "a time-ordered id, as the app's own"
    );
}

fn uuid_version(id: &str) -> Option<u32> {
    // xxxxxxxx-xxxx-Vxxx-...: the version is the first digit of the third group.
    id.split('-').nth(2)?.chars().next()?.to_digit(16)
}

#[test]
fn checks_are_named_for_the_logs() {
    assert_eq!(
        test_of("update-order").to_string(),
        "PATCH /orders/{orderId} -> 404 OrderNotFound"
    );
    assert_eq!(
        test_of("publish-events").to_string(),
        "no records -> no batch item failures"
    );
}

#[test]
fn the_api_smoke_requests_are_proxy_events_with_their_route() {
    let routes = [
        ("get-order", "GET", "/orders/{orderId}", true, None, None),
        (
            "update-order",
            "PATCH",
            "/orders/{orderId}",
            true,
            Some("\"1\""),
            None,
        ),
        (
            "cancel-order",
            "POST",
            "/orders/{orderId}/cancel",
            true,
            Some("\"1\""),
            None,
        ),
        ("create-order", "POST", "/orders", false, None, None),
        ("list-orders", "GET", "/orders", false, None, Some("0")),
    ];
    for (binary, method, resource, has_id, if_match, limit) in routes {
        let event = test_of(binary).request();
        let request = lambda_http::request::from_str(&event.to_string())
            .unwrap_or_else(|error| panic!("{binary}: {error}"));
        assert_eq!(request.method(), method, "{binary}");
        assert_eq!(event["resource"], resource, "{binary}");
        let id = lambda_http::RequestExt::path_parameters_ref(&request)
            .and_then(|parameters| parameters.first("orderId"))
            .map(str::to_owned);
        assert_eq!(id.is_some(), has_id, "{binary}");
        if let Some(id) = id {
            assert_eq!(
                event["path"],
                resource.replace("{orderId}", &id),
                "{binary}"
            );
        }
        assert_eq!(
            request
                .headers()
                .get("if-match")
                .map(|value| value.to_str().unwrap()),
            if_match,
            "{binary}"
        );
        assert_eq!(
            lambda_http::RequestExt::query_string_parameters_ref(&request)
                .and_then(|query| query.first("limit")),
            limit,
            "{binary}"
        );
        // The authorizer's part: every request has a caller, who owns no order.
        let caller =
            orders_shared::Caller::of(&request).unwrap_or_else(|error| panic!("{binary}: {error}"));
        assert_eq!(caller.customer_id().as_str(), SMOKE_CALLER);
        assert!(!caller.is_support(), "{binary}");
    }
}

#[test]
fn every_function_of_the_workspace_has_a_smoke_test() {
    // A function deployed without one would fail its every deployment at the hook.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let manifest = std::fs::read_to_string(path).unwrap();
    let functions: Vec<&str> = manifest
        .lines()
        .filter_map(|line| {
            line.trim()
                .strip_prefix("\"functions/")?
                .strip_suffix("\",")
        })
        .filter(|name| *name != "pre-traffic-check")
        .collect();
    assert!(functions.len() >= 8, "{functions:?}");
    let mut tested: Vec<&str> = SMOKE_TESTS.iter().map(|test| test.binary).collect();
    let mut functions = functions;
    functions.sort_unstable();
    tested.sort_unstable();
    assert_eq!(functions, tested);
}
