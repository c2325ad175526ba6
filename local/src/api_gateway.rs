//! # API Gateway (REST API, Lambda proxy integration), locally
//!
//! With a *proxy integration* API Gateway does no mapping of its own: it hands the whole HTTP
//! request to the function as one JSON event and turns the function's JSON answer back into the
//! HTTP response. The function owns status codes, headers and body; API Gateway owns routing,
//! limits, request ids and the start of the X-Ray trace.
//!
//! A REST API (v1) request event, as in `events/get-order.json`:
//!
//! ```text
//! resource        "/orders/{orderId}"        the route's template path
//! path            "/orders/0194a3f2-..."     what the client asked for
//! httpMethod      "GET"
//! headers                 {name: last value}        multiValueHeaders {name: [every value]}
//! queryStringParameters   {name: last value} | null multiValueQueryStringParameters (the same, all)
//! pathParameters          {"orderId": "0194..."} | null
//! stageVariables          null
//! requestContext  {resourcePath, httpMethod, path: "/<stage><path>", stage, requestId, identity, ...}
//! body            a string | null; base64 with isBase64Encoded = true when the bytes are not text
//! ```
//!
//! and the answer the function must give: `{"statusCode": 200, "headers": {...},
//! "multiValueHeaders": {...}, "body": "...", "isBase64Encoded": false}`. Anything else is a
//! *malformed Lambda proxy response*, and the client gets `502`.
//!
//! What the client sees, as on AWS:
//!
//! | situation                                        | response                                        |
//! |--------------------------------------------------|-------------------------------------------------|
//! | no route for the method and path                 | `403 {"message":"Missing Authentication Token"}` |
//! | request body over 10 MB                          | `413 {"message":"Request Too Long"}`            |
//! | function error, crash, Lambda timeout, malformed answer | `502 {"message":"Internal server error"}` |
//! | no answer within the 29 s integration timeout    | `504 {"message":"Endpoint request timed out"}`  |
//!
//! Exam: a function that times out after its own timeout (say 3 s) is a *failed invocation*, so
//! the client gets 502; 504 comes only from API Gateway's own 29 s limit, which no function
//! timeout can extend.
//!
//! Every response carries `x-amzn-RequestId` (the `requestContext.requestId` the function saw)
//! and `X-Amzn-Trace-Id`. The stage has `TracingEnabled`: each request starts a sampled trace, or
//! continues the client's `X-Amzn-Trace-Id`; API Gateway records its own `AWS::ApiGateway::Stage`
//! segment and passes the function a header whose `Parent` is that segment.
//!
//! Unlike AWS, the local API is served without the stage in its URL (as `sam local start-api`):
//! `http://127.0.0.1:3000/orders`, while the event still says `requestContext.path: /dev/orders`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::lambda_service::{
    InvokeError, LambdaService, TraceHeader, XrayDaemon, epoch_seconds, new_segment_id,
};

/// The template's API (`OrdersApi`): the first half of its X-Ray segment name, `OrdersApi/dev`.
const API_NAME: &str = "OrdersApi";
/// The made-up API id and account of the local API's events (`sam local` also uses this id).
const API_ID: &str = "1234567890";
const ACCOUNT_ID: &str = "123456789012";
/// Exam: API Gateway's payload limit is 10 MB (Lambda's is 6 MB).
pub const MAX_REQUEST_BODY_BYTES: usize = 10 * 1024 * 1024;
/// Exam: the REST API integration timeout, 29 s.
const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(29);

/// One `Api` event of the template: a method and path routed to a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `GET`, `post` (the template's spelling; compared without case), or `ANY`.
    pub method: String,
    /// The template's path: `/orders/{orderId}`; `{name+}` as the last segment takes the rest.
    pub path: String,
    /// The function's logical id, as registered with the [`LambdaService`].
    pub function: String,
}

/// The route for a request and its path parameters. Among the routes that match, the most
/// specific wins: at the first segment where they differ, a literal beats a `{param}`, which
/// beats a greedy `{param+}`; on a tie, the first route. `/orders` and `/orders/` are different
/// paths, and the method must match (`ANY` matches every method).
pub fn match_route<'a>(
    routes: &'a [Route],
    method: &str,
    path: &str,
) -> Option<(&'a Route, HashMap<String, String>)> {
    let mut best: Option<(&Route, Vec<u8>, HashMap<String, String>)> = None;
    for route in routes {
        if !(route.method.eq_ignore_ascii_case("ANY") || route.method.eq_ignore_ascii_case(method))
        {
            continue;
        }
        let Some((rank, parameters)) = match_path(&route.path, path) else {
            continue;
        };
        if best
            .as_ref()
            .is_none_or(|(_, best_rank, _)| rank > *best_rank)
        {
            best = Some((route, rank, parameters));
        }
    }
    best.map(|(route, _, parameters)| (route, parameters))
}

/// How a template path matches a request path: the rank of each segment (2 literal, 1 param,
/// 0 greedy) and the parameters, or `None`.
fn match_path(template: &str, path: &str) -> Option<(Vec<u8>, HashMap<String, String>)> {
    let template: Vec<&str> = segments(template).collect();
    let requested: Vec<&str> = segments(path).collect();
    let mut rank = Vec::with_capacity(template.len());
    let mut parameters = HashMap::new();
    for (index, segment) in template.iter().enumerate() {
        let parameter = segment
            .strip_prefix('{')
            .and_then(|segment| segment.strip_suffix('}'));
        match parameter {
            Some(greedy) if greedy.ends_with('+') && index == template.len() - 1 => {
                let rest = requested.get(index..).filter(|rest| !rest.is_empty())?;
                if rest.iter().all(|segment| segment.is_empty()) {
                    return None;
                }
                parameters.insert(greedy.trim_end_matches('+').to_owned(), rest.join("/"));
                rank.push(0);
                return Some((rank, parameters));
            }
            Some(name) => {
                let value = requested.get(index).filter(|value| !value.is_empty())?;
                parameters.insert(name.to_owned(), (*value).to_owned());
                rank.push(1);
            }
            None => {
                if requested.get(index) != Some(segment) {
                    return None;
                }
                rank.push(2);
            }
        }
    }
    (requested.len() == template.len()).then_some((rank, parameters))
}

/// `/orders/{orderId}` -> `orders`, `{orderId}`; `/orders/` -> `orders`, `` (a trailing slash is
/// one more, empty, segment).
fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.strip_prefix('/').unwrap_or(path).split('/')
}

/// The REST API (v1) proxy event of a request.
pub fn proxy_event(
    route: &Route,
    path_parameters: &HashMap<String, String>,
    request: &Parts,
    body: &[u8],
    stage: &str,
    request_id: &str,
    source_ip: &str,
) -> Value {
    let now = chrono::Utc::now();
    let path = request.uri.path();
    let (headers, multi_value_headers) = header_maps(&request.headers);
    let (query, multi_value_query) = query_maps(request);
    let user_agent = header_text(&request.headers, header::USER_AGENT);
    let domain_name = header_text(&request.headers, header::HOST).unwrap_or("localhost");
    let domain_prefix = domain_name.split(['.', ':']).next().unwrap_or(domain_name);
    let (body, is_base64_encoded) = body_field(body);
    json!({
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
            "apiId": API_ID,
        },
        "body": body,
        "isBase64Encoded": is_base64_encoded,
    })
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

fn header_text(headers: &HeaderMap, name: HeaderName) -> Option<&str> {
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
fn extended_request_id(request_id: &str) -> String {
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

/// The local REST API: an HTTP server in front of the [`LambdaService`].
#[derive(Debug)]
pub struct ApiGateway {
    address: SocketAddr,
    stop: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
}

impl ApiGateway {
    /// Serves `routes` on `bind` (port 0: any free port), as stage `stage`. With `xray_daemon`,
    /// API Gateway's segment of every sampled request is sent there.
    pub async fn serve(
        bind: SocketAddr,
        routes: Vec<Route>,
        stage: String,
        lambda: LambdaService,
        xray_daemon: Option<SocketAddr>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(bind).await?;
        let address = listener.local_addr()?;
        let xray = match xray_daemon {
            Some(daemon) => Some(XrayDaemon::connect(daemon).await?),
            None => None,
        };
        let gateway = Arc::new(Gateway {
            name: format!("{API_NAME}/{stage}"),
            routes,
            stage,
            lambda,
            xray,
        });
        let app = Router::new()
            .fallback(handle_request)
            .with_state(gateway)
            .into_make_service_with_connect_info::<SocketAddr>();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(Self {
            address,
            stop,
            server,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting connections and waits for the requests in flight to be answered.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        match self.server.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("api | the server failed: {error}"),
            Err(error) => eprintln!("api | the server task failed: {error}"),
        }
    }
}

struct Gateway {
    /// The X-Ray segment name, `OrdersApi/dev`.
    name: String,
    routes: Vec<Route>,
    stage: String,
    lambda: LambdaService,
    xray: Option<XrayDaemon>,
}

/// Every request: route, invoke, answer; then the access log line and the X-Ray segment.
async fn handle_request(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let start = SystemTime::now();
    let clock = Instant::now();
    let request_id = Uuid::new_v4().to_string();
    let (mut parts, body) = request.into_parts();
    // Exam: API Gateway is the edge of the trace: it continues the client's trace or starts one.
    let trace = header_text(&parts.headers, HeaderName::from_static("x-amzn-trace-id"))
        .and_then(TraceHeader::parse)
        .unwrap_or_else(TraceHeader::new_sampled);
    let segment_id = new_segment_id();
    let method = parts.method.clone();
    let target = parts.uri.path().to_owned();
    let url = format!(
        "http://{}{}",
        header_text(&parts.headers, header::HOST).unwrap_or("localhost"),
        parts.uri
    );

    let (mut response, function) = match match_route(&gateway.routes, method.as_str(), &target) {
        None => (
            gateway_response(StatusCode::FORBIDDEN, "Missing Authentication Token"),
            None,
        ),
        Some((route, parameters)) => {
            let downstream = trace.with_parent(&segment_id);
            add_proxy_headers(&mut parts.headers, &downstream, client);
            let response = gateway
                .integrate(route, &parameters, &parts, body, &request_id, client)
                .await;
            (response, Some(route.function.as_str()))
        }
    };

    let headers = response.headers_mut();
    for (name, value) in [
        ("x-amzn-requestid", request_id.clone()),
        ("x-amz-apigw-id", extended_request_id(&request_id)),
        (
            "x-amzn-trace-id",
            TraceHeader {
                parent: None,
                ..trace.clone()
            }
            .to_string(),
        ),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    let status = response.status();
    println!(
        "{} | {method} {target} {} {:.1} ms {}",
        gateway.name,
        status.as_u16(),
        clock.elapsed().as_secs_f64() * 1000.0,
        function.unwrap_or("-"),
    );
    if let Some(xray) = &gateway.xray
        && trace.sampled
    {
        let request = json!({ "method": method.as_str(), "url": url });
        let segment = gateway.segment(&trace, &segment_id, start, request, status, &request_id);
        xray.send(&segment).await;
    }
    response
}

impl Gateway {
    /// The proxy integration: the request as an event, the function's answer as a response.
    async fn integrate(
        &self,
        route: &Route,
        parameters: &HashMap<String, String>,
        parts: &Parts,
        body: Body,
        request_id: &str,
        client: SocketAddr,
    ) -> Response {
        let too_long = || gateway_response(StatusCode::PAYLOAD_TOO_LARGE, "Request Too Long");
        let declared_length = header_text(&parts.headers, header::CONTENT_LENGTH)
            .and_then(|length| length.parse::<usize>().ok());
        if declared_length.is_some_and(|length| length > MAX_REQUEST_BODY_BYTES) {
            return too_long();
        }
        let Ok(body) = axum::body::to_bytes(body, MAX_REQUEST_BODY_BYTES).await else {
            return too_long();
        };
        let event = proxy_event(
            route,
            parameters,
            parts,
            &body,
            &self.stage,
            request_id,
            &client.ip().to_string(),
        );
        let trace_header = header_text(&parts.headers, HeaderName::from_static("x-amzn-trace-id"))
            .map(str::to_owned);
        let invocation = self.lambda.invoke(
            &route.function,
            event.to_string().into_bytes(),
            trace_header,
        );
        match tokio::time::timeout(INTEGRATION_TIMEOUT, invocation).await {
            Err(_) => gateway_response(StatusCode::GATEWAY_TIMEOUT, "Endpoint request timed out"),
            Ok(Ok(output)) => http_response(&output).unwrap_or_else(|malformed| {
                eprintln!(
                    "{} | Execution failed due to configuration error: Malformed Lambda proxy response ({malformed})",
                    self.name
                );
                internal_server_error()
            }),
            Ok(Err(InvokeError::PayloadTooLarge(_))) => too_long(),
            Ok(Err(error)) => {
                eprintln!("{} | Lambda invocation failed: {error}", self.name);
                internal_server_error()
            }
        }
    }

    /// API Gateway's `AWS::ApiGateway::Stage` segment of one request.
    /// `request` is X-Ray's `http.request`: `{"method", "url"}`.
    fn segment(
        &self,
        trace: &TraceHeader,
        segment_id: &str,
        start: SystemTime,
        request: Value,
        status: StatusCode,
        request_id: &str,
    ) -> Value {
        let mut segment = json!({
            "name": self.name,
            "id": segment_id,
            "trace_id": trace.root,
            "start_time": epoch_seconds(start),
            "end_time": epoch_seconds(SystemTime::now()),
            "origin": "AWS::ApiGateway::Stage",
            "http": {
                "request": request,
                "response": { "status": status.as_u16() },
            },
            "aws": {
                "api_gateway": {
                    "account_id": ACCOUNT_ID,
                    "rest_api_id": API_ID,
                    "stage": self.stage,
                    "request_id": request_id,
                },
            },
            // Exam: error = a client error (4xx), throttle = 429, fault = a server error (5xx).
            "error": status.is_client_error(),
            "throttle": status == StatusCode::TOO_MANY_REQUESTS,
            "fault": status.is_server_error(),
        });
        if let Some(parent) = &trace.parent {
            segment["parent_id"] = json!(parent);
        }
        segment
    }
}

/// What API Gateway adds to the request before the function sees it: the trace header naming
/// its segment as the parent, and the `X-Forwarded-*` headers of a proxy.
fn add_proxy_headers(headers: &mut HeaderMap, downstream: &TraceHeader, client: SocketAddr) {
    let forwarded_for = match header_text(headers, HeaderName::from_static("x-forwarded-for")) {
        Some(earlier) => format!("{earlier}, {}", client.ip()),
        None => client.ip().to_string(),
    };
    let port = header_text(headers, header::HOST)
        .and_then(|host| host.rsplit_once(':'))
        .map(|(_, port)| port.to_owned())
        .unwrap_or_else(|| "80".to_owned());
    for (name, value) in [
        ("x-amzn-trace-id", downstream.to_string()),
        ("x-forwarded-for", forwarded_for),
        ("x-forwarded-port", port),
        ("x-forwarded-proto", "http".to_owned()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
}

/// API Gateway's own answers (its default gateway responses): `{"message": ...}`.
fn gateway_response(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "message": message }))).into_response()
}

fn internal_server_error() -> Response {
    gateway_response(StatusCode::BAD_GATEWAY, "Internal server error")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, path: &str, function: &str) -> Route {
        Route {
            method: method.to_owned(),
            path: path.to_owned(),
            function: function.to_owned(),
        }
    }

    fn orders_routes() -> Vec<Route> {
        vec![
            route("post", "/orders", "CreateOrderFunction"),
            route("get", "/orders", "ListOrdersFunction"),
            route("get", "/orders/{orderId}", "GetOrderFunction"),
            route("get", "/orders/search", "SearchFunction"),
            route("post", "/orders/{orderId}/cancel", "CancelOrderFunction"),
            route("ANY", "/files/{path+}", "FilesFunction"),
        ]
    }

    fn matched(method: &str, path: &str) -> Option<(String, HashMap<String, String>)> {
        let routes = orders_routes();
        match_route(&routes, method, path).map(|(route, params)| (route.function.clone(), params))
    }

    #[test]
    fn a_literal_segment_beats_a_parameter_whatever_the_order() {
        let (function, params) = matched("GET", "/orders/search").unwrap();
        assert_eq!(function, "SearchFunction");
        assert!(params.is_empty());

        let (function, params) = matched("GET", "/orders/0194a3f2").unwrap();
        assert_eq!(function, "GetOrderFunction");
        assert_eq!(params["orderId"], "0194a3f2");

        let (function, params) = matched("POST", "/orders/0194a3f2/cancel").unwrap();
        assert_eq!(function, "CancelOrderFunction");
        assert_eq!(params["orderId"], "0194a3f2");
    }

    #[test]
    fn the_method_must_match_and_any_matches_all() {
        assert_eq!(matched("GET", "/orders").unwrap().0, "ListOrdersFunction");
        assert_eq!(matched("POST", "/orders").unwrap().0, "CreateOrderFunction");
        assert_eq!(matched("DELETE", "/orders"), None);
        assert_eq!(matched("GET", "/orders/1/cancel"), None);
        let (function, params) = matched("DELETE", "/files/a/b.txt").unwrap();
        assert_eq!(function, "FilesFunction");
        assert_eq!(params["path"], "a/b.txt");
    }

    #[test]
    fn a_trailing_slash_and_unknown_paths_match_nothing() {
        assert_eq!(matched("GET", "/orders/"), None);
        assert_eq!(matched("GET", "/orders//cancel"), None);
        assert_eq!(matched("GET", "/customers"), None);
        assert_eq!(matched("GET", "/"), None);
        assert_eq!(
            matched("GET", "/files"),
            None,
            "a greedy parameter takes one segment or more"
        );
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
            serde_json::from_str(include_str!("../../events/get-order.json")).unwrap();
        let route = route("get", "/orders/{orderId}", "GetOrderFunction");
        let parts = get_order_request();
        let (_, params) =
            match_route(std::slice::from_ref(&route), "GET", parts.uri.path()).unwrap();
        let before = chrono::Utc::now().timestamp_millis();
        let event = proxy_event(&route, &params, &parts, b"", "dev", "req-1", "203.0.113.10");

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
        let event = proxy_event(
            &route,
            &HashMap::new(),
            &parts,
            b"",
            "dev",
            "r",
            "127.0.0.1",
        );
        assert_eq!(event["queryStringParameters"], Value::Null);
        assert_eq!(event["multiValueQueryStringParameters"], Value::Null);
        assert_eq!(event["pathParameters"], Value::Null);
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
        let text = proxy_event(
            &route,
            &HashMap::new(),
            &parts,
            br#"{"a":1}"#,
            "dev",
            "r",
            "::1",
        );
        assert_eq!(text["body"], r#"{"a":1}"#);
        assert_eq!(text["isBase64Encoded"], false);

        let binary = [0xff, 0x00, 0xfe];
        let event = proxy_event(&route, &HashMap::new(), &parts, &binary, "dev", "r", "::1");
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

    #[test]
    fn api_gateway_adds_the_trace_and_forwarding_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:3000"));
        headers.insert("x-forwarded-for", HeaderValue::from_static("198.51.100.7"));
        let downstream = TraceHeader::parse(
            "Root=1-67891233-abcdef012345678912345678;Parent=0123456789abcdef;Sampled=1",
        )
        .unwrap();
        add_proxy_headers(
            &mut headers,
            &downstream,
            "127.0.0.1:50000".parse().unwrap(),
        );
        assert_eq!(headers["x-amzn-trace-id"], downstream.to_string());
        assert_eq!(headers["x-forwarded-for"], "198.51.100.7, 127.0.0.1");
        assert_eq!(headers["x-forwarded-port"], "3000");
        assert_eq!(headers["x-forwarded-proto"], "http");
    }
}
