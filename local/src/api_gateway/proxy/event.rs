//! The request as an event: API Gateway's REST API (v1) proxy event of one HTTP request.
//!
//! The shape is the one in `events/get-order.json` (see [`crate::api_gateway`]): every header
//! and query parameter twice (last value, every value), the route's template path beside the
//! path asked for, the stage's view in `requestContext`, and the body as text or base64.

use std::collections::HashMap;

use axum::extract::Query;
use axum::http::header::{self, HeaderMap, HeaderName};
use axum::http::request::Parts;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use crate::api_gateway::ACCOUNT_ID;
use crate::api_gateway::access::Admitted;
use crate::api_gateway::routes::Route;

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
pub(in crate::api_gateway) fn header_text(headers: &HeaderMap, name: HeaderName) -> Option<&str> {
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
pub(in crate::api_gateway) fn extended_request_id(request_id: &str) -> String {
    let digits: String = request_id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(15)
        .collect();
    format!("{digits}=")
}
