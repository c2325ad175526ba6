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
//! What the client sees, as on AWS, before the template's gateway responses reshape it
//! ([`gateway_responses`]):
//!
//! | situation                                        | response                                        |
//! |--------------------------------------------------|-------------------------------------------------|
//! | no route for the method and path                 | `403 {"message":"Missing Authentication Token"}` |
//! | no token, or one the authorizer refuses          | `401 {"message":"Unauthorized"}` (expired: `"The incoming token has expired"`) |
//! | no API key, or one of no usage plan of the API   | `403 {"message":"Forbidden"}`                   |
//! | request body over 10 MB                          | `413 {"message":"Request Too Long"}`            |
//! | function error, crash, Lambda timeout, malformed answer | `502 {"message":"Internal server error"}` |
//! | no answer within the 29 s integration timeout    | `504 {"message":"Endpoint request timed out"}`  |
//!
//! Who may call a method is checked before any function runs, in API Gateway's order: route,
//! authorizer, API key ([`access`]). A browser's CORS preflight (`OPTIONS` on a path of the API)
//! is answered by API Gateway itself from the API's `Cors` setting, without either check unless
//! the template adds them to the preflight ([`Preflight`]).
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
//! Not played locally: the stage's and the usage plan's throttling and quota (429), response
//! caching, resource policies, and the authorizer's result caching.
//!
//! | module                 | what it plays                                                        |
//! |------------------------|----------------------------------------------------------------------|
//! | [`routes`]             | which method a request is for                                        |
//! | [`access`]             | who may call it: the authorizer, then the API key                    |
//! | [`authorizer`]         | the Cognito user pool authorizer: the ID token's signature and claims |
//! | [`proxy`]              | the proxy integration: the event, and the function's answer          |
//! | [`gateway_responses`]  | API Gateway's own answers, as the template shapes them               |
//! | [`deployment`]         | the template's API, resolved: what the stage serves                  |

pub mod access;
pub mod authorizer;
pub mod deployment;
pub mod gateway_responses;
pub mod proxy;
pub mod routes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::lambda::{
    InvokeError, LambdaService, SegmentSender, TraceHeader, epoch_seconds, new_segment_id,
};
pub use access::{Access, ApiKeys, RouteAuthorizer};
use access::{Admitted, Denied};
pub use gateway_responses::{GatewayError, GatewayResponse, GatewayResponses};
pub use proxy::{MalformedResponse, http_response, proxy_event};
use proxy::{extended_request_id, header_text};
pub use routes::{Route, match_route};

/// The account of the local API's events (moto's account).
const ACCOUNT_ID: &str = "123456789012";
/// Exam: API Gateway's payload limit is 10 MB (Lambda's is 6 MB).
pub const MAX_REQUEST_BODY_BYTES: usize = 10 * 1024 * 1024;
/// Exam: the REST API integration timeout, 29 s.
const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(29);

/// One REST API and its stage, as the template declares them, with every expression resolved.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// The API's logical id: the first half of its X-Ray segment name (`OrdersApi/dev`).
    pub name: String,
    /// The REST API's id (`requestContext.apiId`).
    pub api_id: String,
    pub stage: String,
    pub routes: Vec<Route>,
    /// The keys of the API's usage plan.
    pub api_keys: ApiKeys,
    pub gateway_responses: GatewayResponses,
    /// The CORS preflight, if the API has `Cors`.
    pub preflight: Option<Preflight>,
}

impl ApiSettings {
    /// An API with no checks, no preflight and API Gateway's default answers.
    pub fn open(name: &str, stage: &str, routes: Vec<Route>) -> Self {
        Self {
            name: name.to_owned(),
            api_id: "1234567890".to_owned(),
            stage: stage.to_owned(),
            routes,
            api_keys: ApiKeys::default(),
            gateway_responses: GatewayResponses::default(),
            preflight: None,
        }
    }
}

/// The answer to a browser's CORS preflight, which SAM gives every path of an API with `Cors`: a
/// mock integration (no function runs) that answers 200 with the `Access-Control-Allow-*`
/// headers.
#[derive(Debug, Clone)]
pub struct Preflight {
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// `AddDefaultAuthorizerToCorsPreflight`, `AddApiKeyRequiredToCorsPreflight`: false here,
    /// since browsers send preflights without credentials.
    pub access: Access,
}

/// The local REST API: an HTTP server in front of the [`LambdaService`].
#[derive(Debug)]
pub struct ApiGateway {
    address: SocketAddr,
    stop: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
}

impl ApiGateway {
    /// Serves `api` on `bind` (port 0: any free port). With `xray_daemon`, API Gateway's segment
    /// of every sampled request is sent there.
    pub async fn serve(
        bind: SocketAddr,
        api: ApiSettings,
        lambda: LambdaService,
        xray_daemon: Option<SocketAddr>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(bind).await?;
        let address = listener.local_addr()?;
        let xray = match xray_daemon {
            Some(daemon) => Some(SegmentSender::connect(daemon).await?),
            None => None,
        };
        let gateway = Arc::new(Gateway {
            name: format!("{}/{}", api.name, api.stage),
            api,
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
    api: ApiSettings,
    lambda: LambdaService,
    xray: Option<SegmentSender>,
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

    let (mut response, function) = match match_route(&gateway.api.routes, method.as_str(), &target)
    {
        Some((route, parameters)) => match gateway.admit(&route.access, &parts.headers) {
            Ok(admitted) => {
                let downstream = trace.with_parent(&segment_id);
                add_proxy_headers(&mut parts.headers, &downstream, client);
                let request = Incoming {
                    parts: &parts,
                    request_id: &request_id,
                    client,
                    admitted: &admitted,
                };
                let response = gateway.integrate(route, &parameters, request, body).await;
                (response, Some(route.function.as_str()))
            }
            Err(refused) => {
                let answer = gateway.answer(&refused, &request_id);
                (read_whole_request(body, answer).await, None)
            }
        },
        None => {
            let answer = gateway.preflight_or_no_route(&parts, &request_id);
            (read_whole_request(body, answer).await, None)
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

/// A request that passed the method's checks, and what they established.
struct Incoming<'a> {
    parts: &'a Parts,
    request_id: &'a str,
    client: SocketAddr,
    admitted: &'a Admitted,
}

impl Gateway {
    /// The method's checks ([`access`]); a refusal is logged with its reason (never the token)
    /// and answered as the matching gateway response.
    fn admit(&self, access: &Access, headers: &HeaderMap) -> Result<Admitted, GatewayError> {
        access
            .admit(&self.api.api_keys, headers, SystemTime::now())
            .map_err(|denied| {
                eprintln!("{} | refused: {denied}", self.name);
                match denied {
                    Denied::Unauthorized { refusal, .. } => {
                        GatewayError::Unauthorized(refusal.message())
                    }
                    Denied::NoApiKey | Denied::UnknownApiKey => GatewayError::InvalidApiKey,
                }
            })
    }

    /// API Gateway's own answer, shaped by the template's gateway responses.
    fn answer(&self, error: &GatewayError, request_id: &str) -> Response {
        self.api.gateway_responses.answer(error, request_id)
    }

    /// A request no method takes: a CORS preflight on a path of the API (if the API has `Cors`),
    /// else the unknown route's answer.
    fn preflight_or_no_route(&self, parts: &Parts, request_id: &str) -> Response {
        let path = parts.uri.path();
        match &self.api.preflight {
            Some(preflight)
                if parts.method == Method::OPTIONS
                    && routes::has_resource(&self.api.routes, path) =>
            {
                if let Err(refused) = self.admit(&preflight.access, &parts.headers) {
                    return self.answer(&refused, request_id);
                }
                let mut response = Response::new(Body::empty());
                response
                    .headers_mut()
                    .extend(preflight.headers.iter().cloned());
                response
            }
            _ => self.answer(&GatewayError::MissingAuthenticationToken, request_id),
        }
    }

    /// The proxy integration: the request as an event, the function's answer as a response.
    async fn integrate(
        &self,
        route: &Route,
        parameters: &std::collections::HashMap<String, String>,
        request: Incoming<'_>,
        body: Body,
    ) -> Response {
        let too_long = || closing(self.answer(&GatewayError::RequestTooLarge, request.request_id));
        let declared_length = header_text(&request.parts.headers, header::CONTENT_LENGTH)
            .and_then(|length| length.parse::<usize>().ok());
        if declared_length.is_some_and(|length| length > MAX_REQUEST_BODY_BYTES) {
            return too_long();
        }
        let Ok(body) = axum::body::to_bytes(body, MAX_REQUEST_BODY_BYTES).await else {
            return too_long();
        };
        let source_ip = request.client.ip().to_string();
        let context = proxy::Context {
            stage: &self.api.stage,
            api_id: &self.api.api_id,
            request_id: request.request_id,
            source_ip: &source_ip,
            admitted: request.admitted,
        };
        let event = proxy_event(route, parameters, request.parts, &body, &context);
        let trace_header = header_text(
            &request.parts.headers,
            HeaderName::from_static("x-amzn-trace-id"),
        )
        .map(str::to_owned);
        let invocation = self.lambda.invoke(
            &route.function,
            event.to_string().into_bytes(),
            trace_header,
        );
        let failed = || self.answer(&GatewayError::LambdaFailed, request.request_id);
        match tokio::time::timeout(INTEGRATION_TIMEOUT, invocation).await {
            Err(_) => self.answer(&GatewayError::IntegrationTimeout, request.request_id),
            Ok(Ok(output)) => http_response(&output).unwrap_or_else(|malformed| {
                eprintln!(
                    "{} | Execution failed due to configuration error: Malformed Lambda proxy response ({malformed})",
                    self.name
                );
                failed()
            }),
            Ok(Err(InvokeError::PayloadTooLarge(_))) => too_long(),
            Ok(Err(error)) => {
                eprintln!("{} | Lambda invocation failed: {error}", self.name);
                failed()
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
                    "rest_api_id": self.api.api_id,
                    "stage": self.api.stage,
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

/// `answer`, once the request's body has been read. API Gateway reads a whole request before it
/// answers, a refused one too, so the client's connection stays usable. An HTTP/1.1 server that
/// answers first leaves the body's bytes unread and must close the connection: a client still
/// sending gets a broken pipe, and one that pooled the connection fails its next request.
async fn read_whole_request(body: Body, answer: Response) -> Response {
    match axum::body::to_bytes(body, MAX_REQUEST_BODY_BYTES).await {
        Ok(_) => answer,
        Err(_) => closing(answer),
    }
}

/// `answer`, saying that the connection ends with it (its request was not read to the end).
fn closing(mut answer: Response) -> Response {
    answer
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    answer
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

#[cfg(test)]
mod tests {
    use super::*;
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
