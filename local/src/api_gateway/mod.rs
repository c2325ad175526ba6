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
//! | over a throttling limit (key, method, account)   | `429 {"message":"Too Many Requests"}` (`THROTTLED`) |
//! | over the API key's usage plan quota              | `429 {"message":"Limit Exceeded"}` (`QUOTA_EXCEEDED`) |
//! | request body over 10 MB                          | `413 {"message":"Request Too Long"}`            |
//! | function error, crash, Lambda timeout, malformed answer | `502 {"message":"Internal server error"}` |
//! | Lambda refused the invocation (throttled)        | `500 {"message":"Internal server error"}` (`INTEGRATION_FAILURE`) |
//! | no answer within the 29 s integration timeout    | `504 {"message":"Endpoint request timed out"}`  |
//!
//! Who may call a method is checked before any function runs, in API Gateway's order: route,
//! authorizer, API key ([`access`]), then the quota and the throttles ([`quota`],
//! [`throttling`]), then the stage's cache ([`cache`]), which answers a hit without the function. A browser's CORS preflight (`OPTIONS` on a path of the API) is answered by
//! API Gateway itself from the API's `Cors` setting, without either check unless the template
//! adds them to the preflight ([`Preflight`]).
//!
//! Exam: a function that times out after its own timeout (say 3 s) is a *failed invocation*, so
//! the client gets 502; 504 comes from API Gateway's own integration timeout (29 s by default,
//! 50 ms at least; this template lowers it nowhere), which no function timeout can extend. So a
//! function whose timeout is under 29 s gives 502 when it runs too long, and one whose timeout
//! is over 29 s gives 504. A `429` comes only from API Gateway's own limits (stage, method, usage
//! plan, account); a function that Lambda throttles is a `500`.
//!
//! Every response carries `x-amzn-RequestId` (the `requestContext.requestId` the function saw)
//! and `X-Amzn-Trace-Id`. The stage has `TracingEnabled`: each request starts a sampled trace, or
//! continues the client's `X-Amzn-Trace-Id`; API Gateway records its own `AWS::ApiGateway::Stage`
//! segment and passes the function a header whose `Parent` is that segment.
//!
//! Unlike AWS, the local API is served without the stage in its URL (as `sam local start-api`):
//! `http://127.0.0.1:3000/orders`, while the event still says `requestContext.path: /dev/orders`.
//! Not played locally: resource policies, and the authorizer's result caching.
//!
//! | module                 | what it plays                                                        |
//! |------------------------|----------------------------------------------------------------------|
//! | [`routes`]             | which method a request is for                                        |
//! | [`access`]             | who may call it: the authorizer, then the API key                    |
//! | [`authorizer`]         | the Cognito user pool authorizer: the ID token's signature and claims |
//! | [`proxy`]              | the proxy integration: the event, and the function's answer          |
//! | [`throttling`]         | the limits: stage, method, usage plan per key, account (429)         |
//! | [`token_bucket`]       | the token bucket each limit is                                       |
//! | [`quota`]              | the usage plan's quota per API key and period (429)                  |
//! | [`cache`]              | the stage's cache: entries per cache key, TTL, `Cache-Control: max-age=0` |
//! | [`cache_settings`]     | which methods the template caches, for how long, keyed by what       |
//! | [`gateway_responses`]  | API Gateway's own answers, as the template shapes them               |
//! | [`deployment`]         | the template's API, resolved: what the stage serves                  |
//! | `server`               | the stage's HTTP server: each request read, routed, checked, answered ([`ApiGateway`]) |
//! | `integration`          | the integration: body limits, the invocation, 502 and the 29 s timeout (504) |
//! | `segment`              | the stage's X-Ray segment of each sampled request                   |

pub mod access;
pub mod authorizer;
pub mod cache;
pub mod cache_settings;
pub mod deployment;
pub mod gateway_responses;
mod integration;
pub mod proxy;
pub mod quota;
pub mod routes;
mod segment;
mod server;
pub mod throttling;
pub mod token_bucket;

use std::time::Duration;

use axum::http::header::{HeaderName, HeaderValue};

pub use access::{Access, ApiKeys, RouteAuthorizer};
pub use cache::{CacheSettings, CachedMethod, KeyParameter};
pub use gateway_responses::{GatewayError, GatewayResponse, GatewayResponses};
pub use proxy::{MalformedResponse, http_response, proxy_event};
pub use quota::{Quota, QuotaPeriod};
pub use routes::{Route, match_route};
pub use server::ApiGateway;
pub use throttling::{RateLimit, ThrottleSettings};

/// The account of the local API's events (moto's account).
const ACCOUNT_ID: &str = "123456789012";
/// Exam: API Gateway's payload limit is 10 MB (Lambda's is 6 MB).
pub const MAX_REQUEST_BODY_BYTES: usize = 10 * 1024 * 1024;
/// Exam: a REST API's integration timeout, 29 s unless a method's `TimeoutInMillis` sets less
/// (50 ms at least). Since 2024 a Regional or private API may get more through a quota increase.
pub const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(29);
/// The least `TimeoutInMillis` API Gateway takes.
pub const MIN_INTEGRATION_TIMEOUT: Duration = Duration::from_millis(50);

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
    /// The stage's, the methods' and the usage plan's limits.
    pub throttling: ThrottleSettings,
    /// The stage's cache: the methods it caches (none without a cache cluster).
    pub cache: CacheSettings,
}

impl ApiSettings {
    /// An API with no checks, no preflight, no limits but the account's, and API Gateway's
    /// default answers.
    pub fn open(name: &str, stage: &str, routes: Vec<Route>) -> Self {
        Self {
            name: name.to_owned(),
            api_id: "1234567890".to_owned(),
            stage: stage.to_owned(),
            routes,
            api_keys: ApiKeys::default(),
            gateway_responses: GatewayResponses::default(),
            preflight: None,
            throttling: ThrottleSettings::default(),
            cache: CacheSettings::default(),
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
