//! The stage's HTTP server: every request read, routed, checked and answered (from the stage's
//! cache when it has the answer, see [`cache`](super::cache)), with the access log line and the response headers API Gateway adds (`x-amzn-RequestId`, `X-Amzn-Trace-Id`).
//!
//! A request no method takes, or one its checks refuse, is answered by API Gateway itself, but
//! only once its body has been read (see `read_whole_request`): as on AWS, the client's
//! connection stays usable after a refusal.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::Method;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::request::Parts;
use axum::response::Response;
use serde_json::json;
use uuid::Uuid;

use super::access::{Access, Admitted, Denied};
use super::cache::{self, CachedResponse, Freshness, KeySource, StageCache};
use super::integration::{Incoming, add_proxy_headers};
use super::proxy::{extended_request_id, header_text};
use super::routes::{self, Route, match_route};
use super::throttling::{Caller, Throttled, Throttles};
use super::{ApiSettings, GatewayError, MAX_REQUEST_BODY_BYTES};
use crate::http_server::HttpServer;
use crate::lambda::{LambdaService, SegmentSender, TraceHeader, new_segment_id};

/// The local REST API: an HTTP server in front of the [`LambdaService`].
#[derive(Debug)]
pub struct ApiGateway {
    server: HttpServer,
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
        let xray = match xray_daemon {
            Some(daemon) => Some(SegmentSender::connect(daemon).await?),
            None => None,
        };
        let gateway = Arc::new(Gateway {
            name: format!("{}/{}", api.name, api.stage),
            throttles: Throttles::new(api.throttling.clone(), Instant::now()),
            cache: StageCache::new(api.cache.clone()),
            api,
            lambda,
            xray,
        });
        let app = Router::new().fallback(handle_request).with_state(gateway);
        let server = HttpServer::start(bind, "api", app).await?;
        Ok(Self { server })
    }

    pub fn address(&self) -> SocketAddr {
        self.server.address()
    }

    /// Stops accepting connections and waits for the requests in flight to be answered.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}
/// The state every request shares: the API as the template declares it, and the services it
/// calls. Its methods live beside the concept they play: here the checks and API Gateway's own
/// answers, the proxy integration in `integration`, the X-Ray segment in `segment`.
pub(super) struct Gateway {
    /// The X-Ray segment name, `OrdersApi/dev`.
    pub(super) name: String,
    pub(super) api: ApiSettings,
    /// The stage's token buckets and the keys' quota counts.
    pub(super) throttles: Throttles,
    /// The stage's cache entries.
    pub(super) cache: StageCache,
    pub(super) lambda: LambdaService,
    pub(super) xray: Option<SegmentSender>,
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
        Some((route, parameters)) => match gateway
            .admit(&route.access, &parts.headers)
            .and_then(|admitted| gateway.throttle(route, &admitted).map(|()| admitted))
        {
            Ok(admitted) => {
                let downstream = trace.with_parent(&segment_id);
                add_proxy_headers(&mut parts.headers, &downstream, client);
                let request = Incoming {
                    parts: &parts,
                    request_id: &request_id,
                    client,
                    admitted: &admitted,
                };
                let (response, served_by) = gateway
                    .cached_or_integrated(route, &parameters, request, body)
                    .await;
                (response, Some(served_by))
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
        function.as_deref().unwrap_or("-"),
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

    /// The throttles and the quota, for a request the method's checks admitted: after the API
    /// key, since the usage plan's limits are the key's ([`throttling`](super::throttling)).
    fn throttle(&self, route: &Route, admitted: &Admitted) -> Result<(), GatewayError> {
        let caller = Caller {
            http_method: &route.method,
            resource: &route.path,
            api_key_id: admitted.api_key.as_ref().map(|key| key.id.as_str()),
        };
        self.throttles
            .admit(caller, Instant::now(), SystemTime::now())
            .map_err(|throttled| self.refuse_throttled(throttled))
    }

    /// The answer to an admitted request: from the stage's cache if the method is cached and the
    /// cache has an entry for the request's key (the function does not run), else the
    /// integration's, kept for the method's TTL if it is a success. Also what served it, for the
    /// log line: the function, `(cache miss)` after it, or `cache hit`.
    async fn cached_or_integrated(
        &self,
        route: &Route,
        parameters: &HashMap<String, String>,
        request: Incoming<'_>,
        body: Body,
    ) -> (Response, String) {
        let Some(method) = self.cache.method(&route.method, &route.path) else {
            let response = self.integrate(route, parameters, request, body).await;
            return (response, route.function.clone());
        };
        let key = method.key(&KeySource {
            path_parameters: parameters,
            uri: &request.parts.uri,
            headers: &request.parts.headers,
        });
        let freshness = cache::freshness(
            &request.parts.headers,
            request.admitted.may_invalidate_cache(),
        );
        let warn = |mut response: Response| {
            if freshness == Freshness::IgnoredWithWarning {
                cache::add_ignored_warning(&mut response);
            }
            response
        };
        if freshness != Freshness::Invalidate
            && let Some(hit) = self.cache.lookup(&key, Instant::now())
        {
            let response = read_whole_request(body, hit.to_response()).await;
            return (warn(response), "cache hit".to_owned());
        }
        let ttl = method.ttl;
        let (parts, body) = self
            .integrate(route, parameters, request, body)
            .await
            .into_parts();
        let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
            let failed = Response::from_parts(parts, Body::empty());
            return (failed, route.function.clone());
        };
        let answer = CachedResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        };
        self.cache.store(key, ttl, &answer, Instant::now());
        let served_by = format!("{} (cache miss)", route.function);
        (warn(answer.to_response()), served_by)
    }

    /// A throttled request, logged as API Gateway's execution log does, and its answer.
    fn refuse_throttled(&self, throttled: Throttled) -> GatewayError {
        eprintln!("{} | throttled: {throttled}", self.name);
        match throttled {
            Throttled::Quota { .. } => GatewayError::QuotaExceeded,
            Throttled::Key { .. } | Throttled::Method { .. } | Throttled::Account => {
                GatewayError::Throttled
            }
        }
    }

    /// API Gateway's own answer, shaped by the template's gateway responses.
    pub(super) fn answer(&self, error: &GatewayError, request_id: &str) -> Response {
        self.api.gateway_responses.answer(error, request_id)
    }

    /// A request no method takes: a CORS preflight on a path of the API (if the API has `Cors`),
    /// else the unknown route's answer.
    fn preflight_or_no_route(&self, parts: &Parts, request_id: &str) -> Response {
        if let Err(throttled) = self.throttles.admit_unrouted(Instant::now()) {
            return self.answer(&self.refuse_throttled(throttled), request_id);
        }
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
pub(super) fn closing(mut answer: Response) -> Response {
    answer
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    answer
}
