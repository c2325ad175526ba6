//! The HTTP contract, on top of API Gateway's REST proxy integration.
//!
//! With a proxy integration API Gateway hands the whole request to the function (method, path,
//! headers, query and path parameters, body) and returns the function's status, headers and body
//! as they are. So the contract lives here: how a body is read (at most 64 KiB, JSON), how the
//! optimistic-locking headers are read (`If-Match`) and written (`ETag`), and how every error
//! becomes `{"error": {"code", "message", "details"?}}`. The event itself, as API Gateway writes
//! it, is built in [`proxy_request`].

pub mod proxy_request;

pub use proxy_request::ProxyRequest;

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde_json::{Value, json};

use crate::config::CorsConfig;
use crate::domain::{Order, OrderId};
use crate::error::AppError;
use crate::identity::Caller;
use crate::store::OrderStore;
use crate::store::locking::{ConditionalUpdate, MAX_IF_MATCH_TAGS, Precondition};
use crate::telemetry::metrics::{self, Metric};
use crate::telemetry::xray;

/// The largest request body accepted (API Gateway itself allows 10 MB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long a client should wait before retrying a throttled request.
const RETRY_AFTER_SECONDS: &str = "1";

/// Reads the body as JSON: 413 above [`MAX_BODY_BYTES`], 400 if empty or not JSON.
pub fn json_body(request: &Request) -> Result<Value, AppError> {
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(AppError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(AppError::MalformedJson("the body is empty".into()));
    }
    serde_json::from_slice(bytes).map_err(|error| AppError::MalformedJson(error.to_string()))
}

/// The `{orderId}` path parameter. An id that is not a UUID names no order: 404.
pub fn order_id(request: &Request) -> Result<OrderId, AppError> {
    let id = request
        .path_parameters_ref()
        .and_then(|params| params.first("orderId"))
        .and_then(OrderId::parse)
        .ok_or(AppError::NotFound)?;
    // Indexed in X-Ray: every trace of this order can be found by its id.
    xray::record("orderId", id.to_string().as_str());
    Ok(id)
}

/// One query-string parameter, if present.
pub fn query_param(request: &Request, name: &str) -> Option<String> {
    request
        .query_string_parameters_ref()
        .and_then(|params| params.first(name))
        .map(str::to_owned)
}

/// One header as text, if present and printable.
pub fn header_text<'a>(request: &'a Request, name: &str) -> Result<Option<&'a str>, AppError> {
    request
        .headers()
        .get(name)
        .map(|value| {
            value
                .to_str()
                .map_err(|_| AppError::BadRequest(format!("the {name} header is not printable")))
        })
        .transpose()
}

/// What `If-Match` admits, read as RFC 9110 says: `*`, or a comma-separated list of entity tags
/// (`"3"`, the `ETag` of a read; `W/"3"`, a weak tag; a bare `3` is taken as `"3"`).
///
/// Optimistic locking needs it: without `If-Match` a client could overwrite a change it never
/// saw, so a conditional write without one is refused with 428 Precondition Required. `If-Match`
/// compares strongly, so a weak tag never matches, and neither does a tag that is no version of
/// ours (`"abc"`): both leave a precondition that fails (412), as the RFC says, not a 400. Only
/// a header that is no list of entity tags is a 400.
pub fn if_match(request: &Request) -> Result<Precondition, AppError> {
    let value = header_text(request, "if-match")?.ok_or(AppError::PreconditionRequired)?;
    let invalid = || {
        AppError::BadRequest(
            "If-Match must be * or a list of entity tags, such as the order's ETag \"3\"".into(),
        )
    };
    if value.trim() == "*" {
        return Ok(Precondition::AnyVersion);
    }
    let mut versions = Vec::new();
    for tag in value.split(',').map(str::trim) {
        let (weak, tag) = match tag.strip_prefix("W/") {
            Some(tag) => (true, tag),
            None => (false, tag),
        };
        let opaque = match tag.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
            Some(quoted) if !quoted.contains('"') => quoted,
            // A bare version, for clients that drop the quotes; anything else is no entity tag.
            _ if !weak && !tag.is_empty() && tag.bytes().all(|b| b.is_ascii_digit()) => tag,
            _ => return Err(invalid()),
        };
        if !weak && let Ok(version) = opaque.parse::<u64>() {
            versions.push(version);
        }
    }
    if versions.len() > MAX_IF_MATCH_TAGS {
        return Err(AppError::BadRequest(format!(
            "If-Match may list at most {MAX_IF_MATCH_TAGS} entity tags"
        )));
    }
    Ok(Precondition::Versions(versions))
}

/// The path both conditional writes of an order take (`PATCH`, `POST .../cancel`): the caller,
/// the `{orderId}`, the `If-Match` versions, then the route's own update, built only once those
/// are read (a missing `If-Match` is a 428 before any body is read); the write is conditional on
/// the version and the caller, and the answer is the order at its new version, with its `ETag`.
pub async fn change_order_if_match(
    store: &OrderStore,
    request: &Request,
    update: impl FnOnce() -> Result<ConditionalUpdate, AppError>,
) -> Result<Response<Body>, AppError> {
    let caller = Caller::of(request)?;
    let id = order_id(request)?;
    let expected = if_match(request)?;
    let update = update()?.by(&caller);
    let order = store.update_if_version(id, &expected, update).await?;
    Ok(order_response(StatusCode::OK, &order))
}

/// The `ETag` of an order: its version, quoted as HTTP requires.
pub fn etag(order: &Order) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{}\"", order.version)).expect("digits are a valid header")
}

/// CORS on the API's answers. API Gateway's `Cors` setting answers a browser's preflight
/// (`OPTIONS`) itself; with the proxy integration, the answer to the request that follows is the
/// function's, so it must carry `Access-Control-Allow-Origin` itself, and expose `ETag` and
/// `Location`, which a browser hides from scripts unless told otherwise.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    allow_origin: Option<HeaderValue>,
}

impl Cors {
    pub fn new(config: &CorsConfig) -> Self {
        Self {
            allow_origin: config
                .allowed_origin
                .as_deref()
                .and_then(|origin| HeaderValue::from_str(origin).ok()),
        }
    }

    /// Awaits a handler's response and adds the CORS headers to it.
    pub async fn around<E>(
        &self,
        response: impl std::future::Future<Output = Result<Response<Body>, E>>,
    ) -> Result<Response<Body>, E> {
        response.await.map(|response| self.apply(response))
    }

    /// Adds the CORS headers to a response (none when no origin is allowed).
    pub fn apply(&self, mut response: Response<Body>) -> Response<Body> {
        if let Some(origin) = &self.allow_origin {
            let headers = response.headers_mut();
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("ETag, Location"),
            );
        }
        response
    }
}

/// A JSON response.
pub fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    let body = serde_json::to_string(body).expect("our response types always serialise");
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// An order, with its version as the `ETag` (the token a client sends back in `If-Match`).
pub fn order_response(status: StatusCode, order: &Order) -> Response<Body> {
    xray::record("orderId", order.order_id.to_string().as_str());
    let mut response = json_response(status, order);
    response.headers_mut().insert(header::ETAG, etag(order));
    response
}

/// `201 Created` for a new order, with `Location` and `ETag`.
pub fn created_response(order: &Order) -> Response<Body> {
    let mut response = order_response(StatusCode::CREATED, order);
    let location = HeaderValue::from_str(&format!("/orders/{}", order.order_id))
        .expect("a UUID is a valid header");
    response.headers_mut().insert(header::LOCATION, location);
    response
}

/// Renders an error in the app's error shape. A 412 also carries the current order, so the
/// client can merge its change and retry with the new `ETag` without reading again.
pub fn error_response(error: &AppError) -> Response<Body> {
    let mut detail = json!({"code": error.code(), "message": error.public_message()});
    if let AppError::Validation(fields) = error {
        detail["details"] = json!(fields);
    }
    let mut body = json!({ "error": detail });
    if let AppError::VersionConflict { current } = error {
        body["current"] = json!(current);
    }
    let mut response = json_response(error.status(), &body);
    match error {
        AppError::VersionConflict { current } => {
            response.headers_mut().insert(header::ETAG, etag(current));
        }
        AppError::Throttled | AppError::ConcurrentRequest => {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        _ => {}
    }
    response
}

/// The last step of every API handler: a response either way, and a log line for failures.
/// Server errors log their cause (never sent to the client); client errors log only their code.
pub fn respond(result: Result<Response<Body>, AppError>) -> Response<Body> {
    match result {
        Ok(response) => response,
        Err(error) => {
            if let AppError::VersionConflict { .. } = error {
                xray::record("versionConflict", true);
                metrics::count(Metric::VersionConflicts, 1);
            }
            if error.status().is_server_error() {
                tracing::error!(code = error.code(), cause = %error, "request failed");
            } else {
                tracing::info!(
                    code = error.code(),
                    status = error.status().as_u16(),
                    "request refused"
                );
            }
            error_response(&error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http;

    fn request_with_header(name: &str, value: &str) -> Request {
        http::Request::builder()
            .header(name, value)
            .body(Body::Empty)
            .unwrap()
    }

    fn body_json(response: &Response<Body>) -> Value {
        serde_json::from_slice(response.body().as_ref()).unwrap()
    }

    #[test]
    fn cors_allows_the_configured_origin_and_exposes_the_etag_and_location() {
        let config = CorsConfig::from_lookup(|_| Some("https://shop.example".into()));
        let response = Cors::new(&config).apply(json_response(StatusCode::OK, &json!({})));
        let headers = response.headers();
        assert_eq!(
            headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://shop.example"
        );
        assert_eq!(
            headers[header::ACCESS_CONTROL_EXPOSE_HEADERS],
            "ETag, Location"
        );

        let none = Cors::new(&CorsConfig::from_lookup(|_| None))
            .apply(json_response(StatusCode::OK, &json!({})));
        assert!(
            none.headers()
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .is_none()
        );
    }

    fn if_match_of(value: &str) -> Result<Precondition, AppError> {
        if_match(&request_with_header("If-Match", value))
    }

    #[test]
    fn if_match_reads_etags_lists_star_and_bare_versions() {
        let versions = |v: &[u64]| Precondition::Versions(v.to_vec());
        assert_eq!(if_match_of("\"3\"").unwrap(), versions(&[3]));
        assert_eq!(if_match_of(" 12 ").unwrap(), versions(&[12]));
        assert_eq!(if_match_of("\"3\", \"4\"").unwrap(), versions(&[3, 4]));
        assert_eq!(if_match_of("*").unwrap(), Precondition::AnyVersion);
        // The largest version a client can name is a version like any other: no arithmetic.
        assert_eq!(
            if_match_of("\"18446744073709551615\"").unwrap(),
            versions(&[u64::MAX])
        );
    }

    #[test]
    fn weak_and_foreign_tags_never_match() {
        let nothing = Precondition::Versions(vec![]);
        for unmatchable in [
            "W/\"3\"",
            "\"abc\"",
            "\"-1\"",
            "\"99999999999999999999999\"",
            "\"\"",
        ] {
            assert_eq!(if_match_of(unmatchable).unwrap(), nothing, "{unmatchable}");
        }
        assert_eq!(
            if_match_of("W/\"3\", \"4\"").unwrap(),
            Precondition::Versions(vec![4])
        );
    }

    #[test]
    fn if_match_is_required_and_must_be_a_list_of_entity_tags() {
        let none = http::Request::builder().body(Body::Empty).unwrap();
        assert!(matches!(
            if_match(&none),
            Err(AppError::PreconditionRequired)
        ));
        for bad in [
            "-1",
            "",
            "\"3",
            "3\"",
            "\"3\" \"4\"",
            "abc",
            "W/3",
            "*, \"3\"",
            ",",
        ] {
            let result = if_match_of(bad);
            assert!(
                matches!(result, Err(AppError::BadRequest(_))),
                "{bad}: {result:?}"
            );
        }
        let many = vec!["\"1\""; MAX_IF_MATCH_TAGS + 1].join(", ");
        assert!(matches!(if_match_of(&many), Err(AppError::BadRequest(_))));
    }

    #[test]
    fn bodies_are_limited_and_must_be_json() {
        let request = |body: Body| http::Request::builder().body(body).unwrap();
        let big = "x".repeat(MAX_BODY_BYTES + 1);
        assert!(matches!(
            json_body(&request(Body::from(big))),
            Err(AppError::PayloadTooLarge { .. })
        ));
        assert!(matches!(
            json_body(&request(Body::Empty)),
            Err(AppError::MalformedJson(_))
        ));
        assert!(matches!(
            json_body(&request(Body::from("{\"a\":"))),
            Err(AppError::MalformedJson(_))
        ));
        assert_eq!(
            json_body(&request(Body::from("{\"a\":1}"))).unwrap(),
            json!({"a": 1})
        );
    }

    #[test]
    fn errors_render_in_the_app_shape() {
        let response = error_response(&AppError::Validation(vec![crate::domain::FieldError {
            field: "items".into(),
            message: "is required".into(),
        }]));
        assert_eq!(response.status(), 400);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(
            body_json(&response),
            json!({"error": {"code": "ValidationFailed", "message": "the request has invalid fields",
                             "details": [{"field": "items", "message": "is required"}]}})
        );
    }

    #[test]
    fn throttling_says_when_to_retry_and_internal_errors_say_nothing() {
        let response = error_response(&AppError::Throttled);
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "1");
        let response = error_response(&AppError::Internal("table orders-x not found".into()));
        assert_eq!(response.status(), 500);
        let text = String::from_utf8(response.body().to_vec()).unwrap();
        assert!(!text.contains("orders-x"), "{text}");
    }
}
