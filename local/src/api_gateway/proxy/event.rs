//! The request as an event: API Gateway's REST API (v1) proxy event of one HTTP request.
//!
//! The shape is the one in `events/get-order.json` (see [`crate::api_gateway`]): every header
//! and query parameter twice (last value, every value), the route's template path beside the
//! path asked for, the stage's view in `requestContext`, and the body as text or base64.

use std::collections::HashMap;

use axum::extract::Query;
use axum::http::header::{self, HeaderMap, HeaderName};
use axum::http::request::Parts;
use orders_shared::api::ProxyRequest;
use serde_json::{Value, json};

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

/// The REST API (v1) proxy event of a request, built by the one builder of the workspace
/// ([`ProxyRequest`], which the pre-traffic hook's smoke requests and the tests use too) from the
/// HTTP request and what API Gateway knows of it.
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
    let domain_name = header_text(&request.headers, header::HOST).unwrap_or("localhost");
    let domain_prefix = domain_name.split(['.', ':']).next().unwrap_or(domain_name);
    let mut event = ProxyRequest::new(request.method.as_str(), &route.path, request.uri.path())
        .body(body)
        .stage(stage)
        .request_id(request_id)
        .source_ip(source_ip)
        .context_field("resourceId", json!(resource_id(&route.path)))
        .context_field("extendedRequestId", json!(extended_request_id(request_id)))
        .context_field(
            "requestTime",
            json!(now.format("%d/%b/%Y:%H:%M:%S %z").to_string()),
        )
        .context_field("requestTimeEpoch", json!(now.timestamp_millis()))
        .context_field("accountId", json!(ACCOUNT_ID))
        .context_field("protocol", json!(format!("{:?}", request.version)))
        .context_field("domainName", json!(domain_name))
        .context_field("domainPrefix", json!(domain_prefix))
        .context_field("apiId", json!(api_id));
    for (name, value) in path_parameters {
        event = event.path_parameter(name, value);
    }
    for (name, value) in &request.headers {
        event = event.header(name.as_str(), &String::from_utf8_lossy(value.as_bytes()));
    }
    let query = Query::<Vec<(String, String)>>::try_from_uri(&request.uri)
        .map(|Query(pairs)| pairs)
        .unwrap_or_default();
    for (name, value) in &query {
        event = event.query(name, value);
    }
    if let Some(key) = &admitted.api_key {
        event = event.api_key(&key.value, &key.id);
    }
    // A Cognito user pool authorizer passes the token's claims on; a method without an
    // authorizer has no `authorizer` in its context.
    if let Some(claims) = &admitted.claims {
        event = event.claims(json!(claims));
    }
    event.to_event()
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
