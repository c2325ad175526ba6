//! The Lambda proxy integration: the request as an event, the function's answer as a response.
//!
//! With a *proxy integration* API Gateway does no mapping of its own: it hands the whole HTTP
//! request to the function as one JSON event and turns the function's JSON answer back into the
//! HTTP response. See the module documentation of [`crate::api_gateway`] for both shapes.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::request::Parts;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use super::ACCOUNT_ID;
use super::access::Admitted;
use super::routes::Route;

/// What API Gateway knows of a request besides the HTTP request itself.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub stage: &'a str,
    /// The REST API's id.
    pub api_id: &'a str,
    pub request_id: &'a str,
    pub source_ip: &'a str,
    /// What the authorizer and the API key check established.
    pub admitted: &'a Admitted,
}

/// The REST API (v1) proxy event of a request.
pub fn proxy_event(
    route: &Route,
    path_parameters: &HashMap<String, String>,
    request: &Parts,
    body: &[u8],
    context: &Context,
) -> Value {
    let Context {
        stage,
        api_id,
        request_id,
        source_ip,
        admitted,
    } = *context;
    let now = chrono::Utc::now();
    let path = request.uri.path();
    let (headers, multi_value_headers) = header_maps(&request.headers);
    let (query, multi_value_query) = query_maps(request);
    let user_agent = header_text(&request.headers, header::USER_AGENT);
    let domain_name = header_text(&request.headers, header::HOST).unwrap_or("localhost");
    let domain_prefix = domain_name.split(['.', ':']).next().unwrap_or(domain_name);
    let (body, is_base64_encoded) = body_field(body);
    let (api_key, api_key_id) = match &admitted.api_key {
        Some(key) => (json!(key.value), json!(key.id)),
        None => (Value::Null, Value::Null),
    };
    let mut event = json!({
        "resource": route.path,
        "path": path,
        "httpMethod": request.method.as_str(),
        "headers": headers,
        "multiValueHeaders": multi_value_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_value_query,
        "pathParameters": if path_parameters.is_empty() { Value::Null } else { json!(path_parameters) },
        "stageVariables": null,
        "requestContext": {
            "resourceId": resource_id(&route.path),
            "resourcePath": route.path,
            "httpMethod": request.method.as_str(),
            "extendedRequestId": extended_request_id(request_id),
            "requestTime": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "path": format!("/{stage}{path}"),
            "accountId": ACCOUNT_ID,
            "protocol": format!("{:?}", request.version),
            "stage": stage,
            "domainPrefix": domain_prefix,
            "requestTimeEpoch": now.timestamp_millis(),
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": null,
                "accountId": null,
                "apiKey": api_key,
                "apiKeyId": api_key_id,
                "cognitoIdentityId": null,
                "caller": null,
                "sourceIp": source_ip,
                "principalOrgId": null,
                "accessKey": null,
                "cognitoAuthenticationType": null,
                "cognitoAuthenticationProvider": null,
                "userArn": null,
                "userAgent": user_agent,
                "user": null,
            },
            "domainName": domain_name,
            "apiId": api_id,
        },
        "body": body,
        "isBase64Encoded": is_base64_encoded,
    });
    // A Cognito user pool authorizer passes the token's claims on; a method without an
    // authorizer has no `authorizer` in its context.
    if let Some(claims) = &admitted.claims {
        event["requestContext"]["authorizer"] = json!({ "claims": claims });
    }
    event
}

/// `headers` keeps the last value of a repeated header; `multiValueHeaders` keeps them all.
/// Both are `null` when there are none.
fn header_maps(headers: &HeaderMap) -> (Value, Value) {
    let mut last = Map::new();
    let mut all: Map<String, Value> = Map::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        last.insert(name.as_str().to_owned(), json!(value));
        if let Some(values) = all
            .entry(name.as_str())
            .or_insert_with(|| json!([]))
            .as_array_mut()
        {
            values.push(json!(value));
        }
    }
    (object_or_null(last), object_or_null(all))
}

/// The query string, decoded, in the same two shapes as the headers.
fn query_maps(request: &Parts) -> (Value, Value) {
    let pairs = Query::<Vec<(String, String)>>::try_from_uri(&request.uri)
        .map(|Query(pairs)| pairs)
        .unwrap_or_default();
    let mut last = Map::new();
    let mut all: Map<String, Value> = Map::new();
    for (name, value) in pairs {
        last.insert(name.clone(), json!(value));
        if let Some(values) = all.entry(name).or_insert_with(|| json!([])).as_array_mut() {
            values.push(json!(value));
        }
    }
    (object_or_null(last), object_or_null(all))
}

fn object_or_null(map: Map<String, Value>) -> Value {
    if map.is_empty() {
        Value::Null
    } else {
        Value::Object(map)
    }
}

/// Text as a string; other bytes base64-encoded (`isBase64Encoded: true`); no body is `null`.
fn body_field(body: &[u8]) -> (Value, bool) {
    if body.is_empty() {
        (Value::Null, false)
    } else if let Ok(text) = std::str::from_utf8(body) {
        (json!(text), false)
    } else {
        (json!(BASE64.encode(body)), true)
    }
}

/// A header's value as text, if it is.
pub(super) fn header_text(headers: &HeaderMap, name: HeaderName) -> Option<&str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// A stable six-character id per resource path, as API Gateway gives each resource one.
fn resource_id(resource_path: &str) -> String {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut hasher = DefaultHasher::new();
    resource_path.hash(&mut hasher);
    format!("{:06x}", hasher.finish() & 0xff_ffff)
}

/// API Gateway's second, shorter request id (`x-amz-apigw-id`), derived from the first.
pub(super) fn extended_request_id(request_id: &str) -> String {
    let digits: String = request_id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(15)
        .collect();
    format!("{digits}=")
}

/// A function's answer that is not a proxy response.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MalformedResponse {
    #[error("the function's output is not JSON")]
    NotJson,
    #[error("the function's output is not a JSON object")]
    NotAnObject,
    #[error("the function's output has no statusCode")]
    MissingStatusCode,
    #[error("statusCode is not a number")]
    StatusCodeNotANumber,
    #[error("statusCode {0} is not an HTTP status")]
    InvalidStatusCode(String),
    #[error("header {0:?} is not a valid header name and value")]
    InvalidHeader(String),
    #[error("body is neither a string nor null")]
    BodyNotAString,
    #[error("isBase64Encoded is not a boolean")]
    Base64FlagNotABoolean,
    #[error("body is marked base64 but does not decode")]
    InvalidBase64,
}

/// The HTTP response of a proxy response. Where `headers` and `multiValueHeaders` name the same
/// header, the multi-value list wins (as API Gateway merges them). Without a `Content-Type`,
/// the response is `application/json`.
pub fn http_response(function_output: &[u8]) -> Result<Response, MalformedResponse> {
    let output: Value =
        serde_json::from_slice(function_output).map_err(|_| MalformedResponse::NotJson)?;
    let Value::Object(output) = output else {
        return Err(MalformedResponse::NotAnObject);
    };
    let status = match output.get("statusCode") {
        None | Some(Value::Null) => return Err(MalformedResponse::MissingStatusCode),
        Some(Value::Number(number)) => number
            .as_u64()
            .filter(|code| (100..=599).contains(code))
            .and_then(|code| StatusCode::from_u16(code as u16).ok())
            .ok_or_else(|| MalformedResponse::InvalidStatusCode(number.to_string()))?,
        Some(_) => return Err(MalformedResponse::StatusCodeNotANumber),
    };

    let mut headers = HeaderMap::new();
    if let Some(multi_value) = output.get("multiValueHeaders").and_then(Value::as_object) {
        for (name, values) in multi_value {
            let values = match values {
                Value::Array(values) => values.as_slice(),
                Value::Null => &[],
                _ => return Err(MalformedResponse::InvalidHeader(name.clone())),
            };
            for value in values {
                let (name, value) = header(name, value)?;
                headers.append(name, value);
            }
        }
    }
    if let Some(single) = output.get("headers").and_then(Value::as_object) {
        for (name, value) in single {
            let (name, value) = header(name, value)?;
            if !headers.contains_key(&name) {
                headers.insert(name, value);
            }
        }
    }
    if !headers.contains_key(header::CONTENT_TYPE) {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }

    let base64 = match output.get("isBase64Encoded") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(_) => return Err(MalformedResponse::Base64FlagNotABoolean),
    };
    let body = match output.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) if base64 => BASE64
            .decode(text)
            .map_err(|_| MalformedResponse::InvalidBase64)?,
        Some(Value::String(text)) => text.clone().into_bytes(),
        Some(_) => return Err(MalformedResponse::BodyNotAString),
    };

    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

/// One header of a proxy response; a number or boolean value is taken as its text.
fn header(name: &str, value: &Value) -> Result<(HeaderName, HeaderValue), MalformedResponse> {
    let invalid = || MalformedResponse::InvalidHeader(name.to_owned());
    let text = match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        _ => return Err(invalid()),
    };
    let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
    let value = HeaderValue::from_str(&text).map_err(|_| invalid())?;
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_gateway::access::UsedApiKey;
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
            serde_json::from_str(include_str!("../../../events/get-order.json")).unwrap();
        let route = route("get", "/orders/{orderId}", "GetOrderFunction");
        let parts = get_order_request();
        let (_, params) =
            match_route(std::slice::from_ref(&route), "GET", parts.uri.path()).unwrap();
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
}
