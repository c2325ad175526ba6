//! The local API Gateway in front of the local Lambda service: failed invocations, oversized
//! requests, the token check, routing and the stage's X-Ray segment, as API Gateway answers them.
//!
//! It also keeps a client's connection usable after refusing a request that had a body, as API
//! Gateway does: it reads a whole request before it answers, refusals included. An HTTP/1.1 server
//! that answers before reading the body cannot reuse the connection (the unread bytes would be
//! taken for the next request), so it closes it after the answer; a client that pooled the
//! connection finds it closed on its next request (`IncompleteMessage`, a broken pipe). The fuzz
//! test (`fuzz.rs`) found this: a refused `POST` with a body, then any request on the same
//! connection, failed now and then.

use std::net::SocketAddr;
use std::time::Duration;

use orders_local::api_gateway::{Access, ApiGateway, ApiSettings, INTEGRATION_TIMEOUT, Route};
use orders_local::lambda::LambdaService;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support;
use crate::support::functions::{
    ANY_PORT, RECORD_AUDIT_ENVIRONMENT, as_json, bash_function, function, function_binary, http,
    http_get, start_lambda, start_lambda_with, start_xray_daemon, xray_document,
};

/// The API's stage `OrdersApi/dev` with `routes`, on a free port, in front of `lambda`; with an
/// X-Ray daemon address, it sends the stage's segment there.
async fn serve_api(
    lambda: &LambdaService,
    routes: Vec<Route>,
    xray_daemon: Option<SocketAddr>,
) -> ApiGateway {
    ApiGateway::serve(
        ANY_PORT.parse().unwrap(),
        ApiSettings::open("OrdersApi", "dev", routes),
        lambda.clone(),
        xray_daemon,
    )
    .await
    .expect("the API listens")
}

/// Reads one response with a `content-length` from `stream`: its status line.
async fn read_response(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await {
            Ok(Ok(1)) => head.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.ok()?;
    head.lines().next().map(str::to_owned)
}

#[tokio::test]
async fn a_refused_request_with_a_body_leaves_the_connection_usable() {
    let lambda = start_lambda(None).await;
    // A method that needs an API key; no function runs for a refused request.
    let routes = vec![Route {
        method: "POST".to_owned(),
        path: "/orders".to_owned(),
        function: "NoFunction".to_owned(),
        integration_timeout: INTEGRATION_TIMEOUT,
        access: Access {
            authorizer: None,
            api_key_required: true,
        },
    }];
    let api = serve_api(&lambda, routes, None).await;

    let body = vec![b'x'; 200 * 1024];
    let mut stream = TcpStream::connect(api.address()).await.unwrap();
    for (case, target) in [("no API key", "/orders"), ("no route", "/nowhere")] {
        let head = format!(
            "POST {target} HTTP/1.1\r\nHost: api\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&body).await.unwrap();
        let status = read_response(&mut stream).await;
        assert!(
            status.as_deref().is_some_and(|s| s.contains(" 403 ")),
            "{case}: {status:?}"
        );
    }
    // The same connection still answers.
    stream
        .write_all(b"GET /nowhere HTTP/1.1\r\nHost: api\r\n\r\n")
        .await
        .unwrap();
    let status = read_response(&mut stream).await;
    assert!(
        status.as_deref().is_some_and(|s| s.contains(" 403 ")),
        "after two refused requests with bodies: {status:?}"
    );

    api.shutdown().await;
    lambda.shutdown().await;
}

#[tokio::test]
async fn api_gateway_answers_failed_invocations_and_oversized_requests_as_aws_does() {
    // The bash runtime echoes the proxy event back: JSON, but not a proxy response.
    let lambda = start_lambda_with(bash_function("EchoFunction", Duration::from_millis(500))).await;
    let routes = vec![Route {
        method: "ANY".to_owned(),
        path: "/echo".to_owned(),
        function: "EchoFunction".to_owned(),
        integration_timeout: INTEGRATION_TIMEOUT,
        access: Access::default(),
    }];
    let api = serve_api(&lambda, routes, None).await;
    let internal_error = json!({"message": "Internal server error"});

    let (status, _, body) = http_get(api.address(), "/echo", &[]).await;
    assert_eq!(
        (status, as_json(&body)),
        (502, internal_error.clone()),
        "malformed"
    );

    // Exam: a Lambda timeout (`sleep`) is a failed invocation (502), as a crash is; 504 is API
    // Gateway's own 29 s limit.
    for (case, event) in [("crashed", "crash"), ("timed out", "sleep")] {
        let length = event.len().to_string();
        let (status, _, body) = http(
            api.address(),
            "POST",
            "/echo",
            &[("Content-Length", length.as_str())],
            event.as_bytes(),
        )
        .await;
        assert_eq!(
            (status, as_json(&body)),
            (502, internal_error.clone()),
            "{case}"
        );
    }

    let oversized = (10 * 1024 * 1024 + 1).to_string();
    let (status, _, body) = http(
        api.address(),
        "POST",
        "/echo",
        &[("Content-Length", oversized.as_str())],
        b"",
    )
    .await;
    assert_eq!(
        (status, as_json(&body)),
        (413, json!({"message": "Request Too Long"}))
    );

    api.shutdown().await;
    lambda.shutdown().await;
}

/// Exam: which timeout ends first decides between 502 and 504. A function stopped by its own
/// `Timeout` is a failed invocation (502); API Gateway that stops waiting first answers 504
/// (`INTEGRATION_TIMEOUT`), whatever the function does after.
#[tokio::test]
async fn the_integration_timeout_is_a_504_when_it_ends_before_the_functions_own() {
    let lambda = start_lambda_with(bash_function("SlowFunction", Duration::from_secs(5))).await;
    lambda
        .add(bash_function("QuickFunction", Duration::from_millis(500)))
        .await;
    let route = |path: &str, function: &str, integration_timeout| Route {
        method: "POST".to_owned(),
        path: path.to_owned(),
        function: function.to_owned(),
        access: Access::default(),
        integration_timeout,
    };
    let routes = vec![
        // `TimeoutInMillis: 200`, shorter than the function's 5 s.
        route("/slow", "SlowFunction", Duration::from_millis(200)),
        // 29 s, longer than the function's 500 ms.
        route("/quick", "QuickFunction", INTEGRATION_TIMEOUT),
    ];
    let api = serve_api(&lambda, routes, None).await;
    let sleep = [("Content-Length", "5")];
    let (status, _, body) = http(api.address(), "POST", "/slow", &sleep, b"sleep").await;
    assert_eq!(
        (status, as_json(&body)),
        (504, json!({"message": "Endpoint request timed out"}))
    );
    let (status, _, body) = http(api.address(), "POST", "/quick", &sleep, b"sleep").await;
    assert_eq!(
        (status, as_json(&body)),
        (502, json!({"message": "Internal server error"}))
    );
    api.shutdown().await;
    lambda.shutdown().await;
}

#[tokio::test]
async fn api_gateway_checks_the_token_routes_to_get_order_and_answers_403_without_a_route() {
    let daemon = start_xray_daemon().await;
    let daemon_address = daemon.address();
    let lambda = start_lambda(Some(daemon_address)).await;
    lambda
        .add(function(
            "GetOrderFunction",
            function_binary("get-order"),
            RECORD_AUDIT_ENVIRONMENT,
            Duration::from_secs(30),
        ))
        .await;
    let routes = vec![
        Route {
            method: "GET".to_owned(),
            path: "/orders/{orderId}".to_owned(),
            function: "GetOrderFunction".to_owned(),
            integration_timeout: INTEGRATION_TIMEOUT,
            access: Access {
                authorizer: Some(support::tokens::test_authorizer()),
                api_key_required: false,
            },
        },
        // The same function on a method that lost its authorizer (a misconfiguration).
        Route {
            method: "GET".to_owned(),
            path: "/open/{orderId}".to_owned(),
            function: "GetOrderFunction".to_owned(),
            integration_timeout: INTEGRATION_TIMEOUT,
            access: Access::default(),
        },
    ];
    let api = serve_api(&lambda, routes, Some(daemon_address)).await;

    // No token: API Gateway's 401, and the function never runs.
    let (status, _, body) = http_get(api.address(), "/orders/not-a-uuid", &[]).await;
    assert_eq!(
        (status, as_json(&body)),
        (401, json!({"message": "Unauthorized"}))
    );
    // No authorizer on the method: the function itself refuses a request without claims.
    let (status, _, body) = http_get(api.address(), "/open/not-a-uuid", &[]).await;
    assert_eq!(status, 401);
    assert_eq!(as_json(&body)["error"]["code"], "Unauthorized");

    // get-order refuses an id that is not a UUID before any AWS call: its own 404.
    let token = support::tokens::id_token("c-1");
    let authorization = [("Authorization", token.as_str())];
    let (status, headers, body) =
        http_get(api.address(), "/orders/not-a-uuid", &authorization).await;
    assert_eq!(status, 404);
    assert_eq!(as_json(&body)["error"]["code"], "OrderNotFound");
    assert!(headers.contains_key("x-amzn-requestid"));
    let trace = headers["x-amzn-trace-id"].clone();
    assert!(trace.starts_with("Root=1-"), "{trace}");

    // The query string reaches the function: an invalid `consistent` is its 400.
    let (status, _, body) = http_get(
        api.address(),
        "/orders/0194a3f2-7c1e-7b3a-9d2e-5f6a7b8c9d0e?consistent=maybe",
        &authorization,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(as_json(&body)["error"]["code"], "BadRequest");

    let (status, _, body) = http_get(api.address(), "/customers", &[]).await;
    assert_eq!(status, 403);
    assert_eq!(
        as_json(&body),
        json!({"message": "Missing Authentication Token"})
    );

    // The first request's trace: API Gateway's segment, then Lambda's under it.
    let root = trace
        .trim_start_matches("Root=")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let stage = xray_document(&daemon, |document| {
        document["origin"] == "AWS::ApiGateway::Stage" && document["trace_id"] == root.as_str()
    })
    .await;
    assert_eq!(stage["name"], "OrdersApi/dev");
    assert_eq!(stage["http"]["request"]["method"], "GET");
    assert_eq!(stage["http"]["response"]["status"], 404);
    assert_eq!(stage["error"], true, "a 4xx is an error");
    assert_eq!(stage["fault"], false);
    let function = xray_document(&daemon, |document| {
        document["origin"] == "AWS::Lambda::Function" && document["trace_id"] == root.as_str()
    })
    .await;
    assert_eq!(function["parent_id"], stage["id"]);

    api.shutdown().await;
    lambda.shutdown().await;
}
