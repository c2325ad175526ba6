//! The REST proxy event: the JSON that API Gateway (REST API, v1) sends a function for one HTTP
//! request, built in one place for everything that plays API Gateway's part (the pre-traffic
//! hook's smoke requests, the tests, the local stack).
//!
//! The shape is the one in `events/get-order.json`: every header and query parameter twice (the
//! last value in `headers`, every value in `multiValueHeaders`), the route's template
//! (`resource`) beside the path asked for, and `requestContext`, the stage's view of the request:
//! its id, the caller's `identity` (source IP, user agent, API key) and what the authorizer
//! established (a Cognito user pool authorizer passes the token's `claims`). The body is text, or
//! base64 with `isBase64Encoded`. `lambda_http` turns this event into the [`Request`] a handler
//! gets ([`ProxyRequest::to_request`]).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use lambda_http::Request;
use serde_json::{Map, Value, json};

/// A REST proxy event under construction: `ProxyRequest::new(method, resource, path)`, then the
/// parts the request has.
#[derive(Debug, Clone, Default)]
pub struct ProxyRequest {
    method: String,
    resource: String,
    path: String,
    path_parameters: Map<String, Value>,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    stage: Option<String>,
    request_id: Option<String>,
    source_ip: Option<String>,
    api_key: Option<(String, String)>,
    claims: Option<Value>,
    context: Map<String, Value>,
}

impl ProxyRequest {
    /// A request for `path` (`/orders/0194...`), routed to `resource` (`/orders/{orderId}`).
    pub fn new(method: &str, resource: &str, path: &str) -> Self {
        Self {
            method: method.to_owned(),
            resource: resource.to_owned(),
            path: path.to_owned(),
            ..Self::default()
        }
    }

    /// A `{name}` of the resource, as the path fills it in.
    pub fn path_parameter(mut self, name: &str, value: &str) -> Self {
        self.path_parameters.insert(name.to_owned(), json!(value));
        self
    }

    /// A query-string parameter, decoded; a repeated name keeps every value.
    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.to_owned(), value.to_owned()));
        self
    }

    /// A header; a repeated name keeps every value.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The body: text as it is, other bytes base64-encoded; none is `null`.
    pub fn body(mut self, body: &[u8]) -> Self {
        self.body = body.to_vec();
        self
    }

    /// The stage the request came through (`requestContext.stage`).
    pub fn stage(mut self, stage: &str) -> Self {
        self.stage = Some(stage.to_owned());
        self
    }

    /// API Gateway's id of the request (`requestContext.requestId`).
    pub fn request_id(mut self, request_id: &str) -> Self {
        self.request_id = Some(request_id.to_owned());
        self
    }

    /// The client's address (`requestContext.identity.sourceIp`).
    pub fn source_ip(mut self, source_ip: &str) -> Self {
        self.source_ip = Some(source_ip.to_owned());
        self
    }

    /// The API key the request was admitted with, and its id.
    pub fn api_key(mut self, value: &str, id: &str) -> Self {
        self.api_key = Some((value.to_owned(), id.to_owned()));
        self
    }

    /// The claims a Cognito user pool authorizer passes on (`requestContext.authorizer.claims`);
    /// a method without an authorizer has no `authorizer` at all.
    pub fn claims(mut self, claims: Value) -> Self {
        self.claims = Some(claims);
        self
    }

    /// Any other field of `requestContext` (`apiId`, `domainName`, `requestTimeEpoch`, ...).
    pub fn context_field(mut self, name: &str, value: Value) -> Self {
        self.context.insert(name.to_owned(), value);
        self
    }

    /// The event, as API Gateway sends it.
    pub fn to_event(&self) -> Value {
        let (headers, multi_value_headers) = last_and_all(&self.headers);
        let (query, multi_value_query) = last_and_all(&self.query);
        let user_agent = self
            .headers
            .iter()
            .rev()
            .find(|(name, _)| name.eq_ignore_ascii_case("user-agent"))
            .map(|(_, value)| value);
        let (api_key, api_key_id) = match &self.api_key {
            Some((value, id)) => (json!(value), json!(id)),
            None => (Value::Null, Value::Null),
        };
        let stage_path = match &self.stage {
            Some(stage) => format!("/{stage}{}", self.path),
            None => self.path.clone(),
        };
        let mut context = json!({
            "resourcePath": self.resource,
            "httpMethod": self.method,
            "path": stage_path,
            "stage": self.stage,
            "requestId": self.request_id,
            "identity": {
                "cognitoIdentityPoolId": null,
                "accountId": null,
                "apiKey": api_key,
                "apiKeyId": api_key_id,
                "cognitoIdentityId": null,
                "caller": null,
                "sourceIp": self.source_ip,
                "principalOrgId": null,
                "accessKey": null,
                "cognitoAuthenticationType": null,
                "cognitoAuthenticationProvider": null,
                "userArn": null,
                "userAgent": user_agent,
                "user": null,
            },
        });
        if let Some(claims) = &self.claims {
            context["authorizer"] = json!({ "claims": claims });
        }
        for (name, value) in &self.context {
            context[name] = value.clone();
        }
        let (body, is_base64_encoded) = body_field(&self.body);
        json!({
            "resource": self.resource,
            "path": self.path,
            "httpMethod": self.method,
            "headers": headers,
            "multiValueHeaders": multi_value_headers,
            "queryStringParameters": query,
            "multiValueQueryStringParameters": multi_value_query,
            "pathParameters": object_or_null(self.path_parameters.clone()),
            "stageVariables": null,
            "requestContext": context,
            "body": body,
            "isBase64Encoded": is_base64_encoded,
        })
    }

    /// The request a handler gets: the event, parsed as `lambda_http` parses it on Lambda.
    pub fn to_request(&self) -> Request {
        lambda_http::request::from_str(&self.to_event().to_string())
            .expect("lambda_http reads every event this builder writes")
    }
}

/// The single-value map (the last value of a name) and the multi-value map (every value); each
/// is `null` when there are none.
fn last_and_all(pairs: &[(String, String)]) -> (Value, Value) {
    let mut last = Map::new();
    let mut all: Map<String, Value> = Map::new();
    for (name, value) in pairs {
        last.insert(name.clone(), json!(value));
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

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::RequestExt;
    use lambda_http::request::RequestContext;

    #[test]
    fn lambda_http_reads_every_part_of_the_event() {
        let request = ProxyRequest::new("PATCH", "/orders/{orderId}", "/orders/o-1")
            .path_parameter("orderId", "o-1")
            .query("tag", "a")
            .query("tag", "b")
            .header("if-match", "\"1\"")
            .header("user-agent", "curl/8")
            .body(br#"{"note":"x"}"#)
            .stage("prod")
            .request_id("req-1")
            .source_ip("203.0.113.7")
            .claims(json!({"sub": "c-1", "token_use": "id"}))
            .to_request();
        assert_eq!(request.method(), "PATCH");
        assert_eq!(request.headers()["if-match"], "\"1\"");
        assert_eq!(request.body().as_ref(), br#"{"note":"x"}"#);
        let parameters = request.path_parameters_ref().unwrap();
        assert_eq!(parameters.first("orderId"), Some("o-1"));
        let query = request.query_string_parameters_ref().unwrap();
        assert_eq!(query.all("tag"), Some(vec!["a", "b"]));
        let Some(RequestContext::ApiGatewayV1(context)) = request.request_context_ref() else {
            panic!("a REST API request context");
        };
        assert_eq!(context.stage.as_deref(), Some("prod"));
        assert_eq!(context.request_id.as_deref(), Some("req-1"));
        assert_eq!(context.path.as_deref(), Some("/prod/orders/o-1"));
        assert_eq!(context.identity.source_ip.as_deref(), Some("203.0.113.7"));
        assert_eq!(context.identity.user_agent.as_deref(), Some("curl/8"));
        assert_eq!(context.authorizer.fields["claims"]["sub"], "c-1");
    }

    #[test]
    fn what_a_request_lacks_is_null_and_binary_bodies_are_base64() {
        let event = ProxyRequest::new("GET", "/orders", "/orders").to_event();
        for field in [
            "headers",
            "multiValueHeaders",
            "queryStringParameters",
            "pathParameters",
            "body",
        ] {
            assert_eq!(event[field], Value::Null, "{field}");
        }
        assert!(event["requestContext"].get("authorizer").is_none());

        let event = ProxyRequest::new("POST", "/orders", "/orders")
            .body(&[0xff, 0x00])
            .to_event();
        assert_eq!(event["body"], "/wA=");
        assert_eq!(event["isBase64Encoded"], true);
    }
}
