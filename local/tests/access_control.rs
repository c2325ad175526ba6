//! The local API Gateway enforces what API Gateway enforces, on the whole stack from
//! `template.yaml` (its own moto on a free port): the Cognito user pool authorizer with the
//! tokens of the pool the stack created on moto (checked against moto's JWKS), then the usage
//! plan's API key created on moto's API Gateway, the CORS preflight, and the template's gateway
//! responses. The tokens a real pool cannot issue (expired, another pool, another client) are
//! checked in `api_gateway::authorizer`'s unit tests.

use crate::support;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use orders_local::sign_in::LOCAL_PASSWORD;
use orders_local::stack::Stack;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct Answer {
    status: StatusCode,
    allow_origin: Option<String>,
    body: Value,
}

async fn call(
    stack: &Stack,
    method: Method,
    path: &str,
    token: Option<&str>,
    api_key: Option<&str>,
    body: Option<&Value>,
) -> Answer {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", stack.api_url()));
    if let Some(token) = token {
        request = request.header("authorization", token);
    }
    if let Some(key) = api_key {
        request = request.header("x-api-key", key);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("the local API answers");
    let status = response.status();
    let allow_origin = response
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        allow_origin,
        body,
    }
}

/// The claims of a token, unverified.
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn order() -> Value {
    json!({
        "items": [{"sku": "BOOK-1", "quantity": 1, "unitPriceCents": 1250}],
        "payment": {"cardNumber": "4111 1111 1111 1111", "expiry": "12/35"}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_lets_in_only_signed_in_customers_of_a_client_with_the_api_key() {
    let config = support::stack::test_stack_config("access");
    let stack_name = config.stack_name.clone();
    let stack = Stack::start(config)
        .await
        .unwrap_or_else(|error| panic!("the stack did not start: {error}"));

    // The key is on moto's API Gateway, as `aws apigateway get-api-keys --include-values` sees it.
    let key = stack.api_key().expect("the API requires a key").to_owned();
    let keys = aws_sdk_apigateway::Client::new(stack.aws())
        .get_api_keys()
        .include_values(true)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    assert!(
        keys.iter().any(|k| k.value() == Some(key.as_str())),
        "{keys:?}"
    );

    let tokens = stack
        .sign_in("ada@example.com", LOCAL_PASSWORD, None)
        .await
        .expect("sign-up and sign-in on moto's user pool");
    let id_token = tokens.id_token.as_str();
    let sub = claims(id_token)["sub"].as_str().unwrap().to_owned();

    // A signed-in customer with the key: the function runs, as the token's sub.
    let created = call(
        &stack,
        Method::POST,
        "/orders",
        Some(id_token),
        Some(&key),
        Some(&order()),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["customerId"], sub.as_str());
    let bearer = format!("Bearer {id_token}");
    let listed = call(
        &stack,
        Method::GET,
        "/orders",
        Some(&bearer),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);

    // Refused by API Gateway, in the template's error shape, with the CORS origin.
    let unauthorized = |answer: &Answer| {
        answer.status == StatusCode::UNAUTHORIZED
            && answer.body["error"]["code"] == "Unauthorized"
            && answer.allow_origin.is_some()
    };
    let mut tampered_claims = claims(id_token);
    tampered_claims["sub"] = json!("somebody-else");
    let parts: Vec<&str> = id_token.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(tampered_claims.to_string()),
        parts[2]
    );
    let refused_tokens = [
        ("no token", None),
        ("an access token", Some(tokens.access_token.as_str())),
        ("a tampered ID token", Some(tampered.as_str())),
        ("garbage", Some("not-a-jwt")),
    ];
    for (case, token) in refused_tokens {
        // Without a valid token, even a request with the key is a 401: the authorizer comes first.
        let answer = call(&stack, Method::GET, "/orders", token, Some(&key), None).await;
        assert!(
            unauthorized(&answer),
            "{case}: {} {}",
            answer.status,
            answer.body
        );
        let answer = call(&stack, Method::GET, "/orders", token, None, None).await;
        assert!(unauthorized(&answer), "{case}, no key: {}", answer.status);
    }
    for (case, api_key) in [
        ("no key", None),
        ("a wrong key", Some("a-guessed-key-value-0000")),
    ] {
        let answer = call(
            &stack,
            Method::GET,
            "/orders",
            Some(id_token),
            api_key,
            None,
        )
        .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{case}");
        assert_eq!(answer.body["error"]["code"], "InvalidApiKey", "{case}");
    }

    // The CORS preflight needs neither; an unknown route is the template's 404.
    let preflight = call(
        &stack,
        Method::OPTIONS,
        "/orders/0194a3f2-7c1e-7b3a-9d2e-5f6a7b8c9d0e",
        None,
        None,
        None,
    )
    .await;
    assert_eq!(preflight.status, StatusCode::OK);
    assert_eq!(preflight.allow_origin.as_deref(), Some("*"));
    let unknown = call(
        &stack,
        Method::GET,
        "/customers",
        Some(id_token),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body["error"]["code"], "RouteNotFound");

    // Nothing refused reached a function: Ada still has one order.
    let listed = call(
        &stack,
        Method::GET,
        "/orders",
        Some(id_token),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);

    // `make token` (orders-local token) signs a support user in to the running stack's pool.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_orders-local"))
        .args(["token", "sam@example.com", "--group", "support"])
        .env("AWS_ENDPOINT_URL", stack.endpoint())
        .env("ORDERS_LOCAL_STACK", &stack_name)
        .current_dir(support::stack::workspace_root())
        .output()
        .expect("orders-local runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let support_token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert_eq!(claims(&support_token)["cognito:groups"], json!(["support"]));
    let order = format!("/orders/{}", created.body["orderId"].as_str().unwrap());
    let read = call(
        &stack,
        Method::GET,
        &order,
        Some(&support_token),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(
        read.status,
        StatusCode::OK,
        "support reads Ada's order: {}",
        read.body
    );
    stack.shutdown().await;
}
