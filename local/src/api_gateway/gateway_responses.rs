//! Gateway responses: what API Gateway answers by itself, when no function answers.
//!
//! Each of API Gateway's own answers has a *type* and a default: `UNAUTHORIZED` is `401
//! {"message":"Unauthorized"}`, `INVALID_API_KEY` `403 {"message":"Forbidden"}`, an unknown route
//! `MISSING_AUTHENTICATION_TOKEN` `403 {"message":"Missing Authentication Token"}`, `THROTTLED`
//! `429 {"message":"Too Many Requests"}`, `QUOTA_EXCEEDED` `429 {"message":"Limit Exceeded"}`,
//! `INTEGRATION_TIMEOUT` `504`, `INTEGRATION_FAILURE` `500`, and so on.
//! The API's `GatewayResponses` can replace the status, add headers and rewrite the body with a
//! mapping template, in which `$context.error.messageString` is the default message as a quoted
//! JSON string. A type without its own entry falls back to `DEFAULT_4XX` or `DEFAULT_5XX`, then to
//! the default. Header values are mapping expressions: a quoted `'...'` is a static value.
//!
//! Exam: without a gateway response that adds `Access-Control-Allow-Origin`, a browser cannot
//! read API Gateway's own errors (a 401, a 403, a 5XX) even when the functions' answers carry it.

use std::collections::HashMap;

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;

/// One of API Gateway's own answers, by type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayError {
    /// No route for the method and path.
    MissingAuthenticationToken,
    /// The authorizer refused; the message is the authorizer's (`Unauthorized`, or `The incoming
    /// token has expired`).
    Unauthorized(&'static str),
    /// A missing or unknown `x-api-key`.
    InvalidApiKey,
    /// A request body over 10 MB.
    RequestTooLarge,
    /// Over a throttling limit: the usage plan's per-key throttle, the method's, the account's.
    Throttled,
    /// The API key's usage plan quota for the period is used up.
    QuotaExceeded,
    /// No answer within the integration timeout (29 s).
    IntegrationTimeout,
    /// Lambda refused the invocation (throttled: `TooManyRequestsException`), so no function
    /// ran. The Lambda guide: "If the Lambda API rejects the invocation request, API Gateway
    /// returns a 500" (type `INTEGRATION_FAILURE`, whose table default of 504 is for other
    /// integrations). Exam: a throttled function behind API Gateway is a 500, not a 429.
    IntegrationFailure,
    /// The function failed, crashed, timed out or gave a malformed answer: a 502 of no type of
    /// its own, so `DEFAULT_5XX` shapes it.
    LambdaFailed,
}

impl GatewayError {
    /// The gateway response type, if it has one.
    fn kind(&self) -> Option<&'static str> {
        Some(match self {
            GatewayError::MissingAuthenticationToken => "MISSING_AUTHENTICATION_TOKEN",
            GatewayError::Unauthorized(_) => "UNAUTHORIZED",
            GatewayError::InvalidApiKey => "INVALID_API_KEY",
            GatewayError::RequestTooLarge => "REQUEST_TOO_LARGE",
            GatewayError::Throttled => "THROTTLED",
            GatewayError::QuotaExceeded => "QUOTA_EXCEEDED",
            GatewayError::IntegrationTimeout => "INTEGRATION_TIMEOUT",
            GatewayError::IntegrationFailure => "INTEGRATION_FAILURE",
            GatewayError::LambdaFailed => return None,
        })
    }

    fn default_status(&self) -> StatusCode {
        match self {
            GatewayError::MissingAuthenticationToken | GatewayError::InvalidApiKey => {
                StatusCode::FORBIDDEN
            }
            GatewayError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            GatewayError::RequestTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::Throttled | GatewayError::QuotaExceeded => StatusCode::TOO_MANY_REQUESTS,
            GatewayError::IntegrationTimeout => StatusCode::GATEWAY_TIMEOUT,
            GatewayError::IntegrationFailure => StatusCode::INTERNAL_SERVER_ERROR,
            GatewayError::LambdaFailed => StatusCode::BAD_GATEWAY,
        }
    }

    /// `$context.error.message`.
    pub fn message(&self) -> &'static str {
        match self {
            GatewayError::MissingAuthenticationToken => "Missing Authentication Token",
            GatewayError::Unauthorized(message) => message,
            GatewayError::InvalidApiKey => "Forbidden",
            GatewayError::RequestTooLarge => "Request Too Long",
            GatewayError::Throttled => "Too Many Requests",
            GatewayError::QuotaExceeded => "Limit Exceeded",
            GatewayError::IntegrationTimeout => "Endpoint request timed out",
            GatewayError::IntegrationFailure => "Internal server error",
            GatewayError::LambdaFailed => "Internal server error",
        }
    }
}

/// One entry of the template's `GatewayResponses`, its expressions resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewayResponse {
    /// `StatusCode`; `None`: the type's default.
    pub status: Option<u16>,
    /// `ResponseParameters.Headers`: name -> mapping expression (`'*'`).
    pub headers: Vec<(String, String)>,
    /// `ResponseTemplates["application/json"]`.
    pub json_template: Option<String>,
}

/// The API's gateway responses, by type.
#[derive(Debug, Clone, Default)]
pub struct GatewayResponses {
    by_kind: HashMap<String, GatewayResponse>,
}

impl GatewayResponses {
    pub fn new(responses: impl IntoIterator<Item = (String, GatewayResponse)>) -> Self {
        Self {
            by_kind: responses.into_iter().collect(),
        }
    }

    /// API Gateway's answer for `error`: the type's own response, else `DEFAULT_4XX` or
    /// `DEFAULT_5XX`, else the default `{"message": ...}`.
    pub fn answer(&self, error: &GatewayError, request_id: &str) -> Response {
        let default_status = error.default_status();
        let family = if default_status.is_server_error() {
            "DEFAULT_5XX"
        } else {
            "DEFAULT_4XX"
        };
        let configured = error
            .kind()
            .and_then(|kind| self.by_kind.get(kind))
            .or_else(|| self.by_kind.get(family));
        let status = configured
            .and_then(|response| response.status)
            .and_then(|status| StatusCode::from_u16(status).ok())
            .unwrap_or(default_status);
        let body = match configured.and_then(|response| response.json_template.as_deref()) {
            Some(template) => render(template, error.message(), request_id),
            None => serde_json::json!({ "message": error.message() }).to_string(),
        };
        let mut response = Response::new(axum::body::Body::from(body));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (name, expression) in configured.map(|r| r.headers.as_slice()).unwrap_or(&[]) {
            let value = static_value(expression);
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.insert(name, value);
            }
        }
        response
    }
}

/// A mapping expression's static value: `'*'` is `*` (what else it could be, a
/// `method.request...` reference, is not used here and passes through as written).
pub fn static_value(expression: &str) -> &str {
    expression
        .strip_prefix('\'')
        .and_then(|value| value.strip_suffix('\''))
        .unwrap_or(expression)
}

/// A response template with the `$context` variables a gateway response may use.
fn render(template: &str, message: &str, request_id: &str) -> String {
    let quoted = serde_json::Value::String(message.to_owned()).to_string();
    template
        .replace("$context.error.messageString", &quoted)
        .replace("$context.error.message", message)
        .replace("$context.requestId", request_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    async fn parts(response: Response) -> (u16, Option<String>, Value) {
        let status = response.status().as_u16();
        let origin = response
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, origin, serde_json::from_slice(&body).unwrap())
    }

    /// The template's responses, as the stack resolves them.
    fn app_shape() -> GatewayResponses {
        let shaped = |status: Option<u16>, code: &str| GatewayResponse {
            status,
            headers: vec![("Access-Control-Allow-Origin".into(), "'*'".into())],
            json_template: Some(format!(
                r#"{{"error": {{"code": "{code}", "message": $context.error.messageString}}}}"#
            )),
        };
        GatewayResponses::new([
            ("UNAUTHORIZED".into(), shaped(Some(401), "Unauthorized")),
            ("INVALID_API_KEY".into(), shaped(Some(403), "InvalidApiKey")),
            (
                "MISSING_AUTHENTICATION_TOKEN".into(),
                shaped(Some(404), "RouteNotFound"),
            ),
            ("THROTTLED".into(), shaped(Some(429), "TooManyRequests")),
            ("DEFAULT_5XX".into(), shaped(None, "InternalError")),
        ])
    }

    #[tokio::test]
    async fn without_gateway_responses_api_gateway_answers_its_defaults() {
        let responses = GatewayResponses::default();
        let cases = [
            (
                GatewayError::MissingAuthenticationToken,
                403,
                "Missing Authentication Token",
            ),
            (
                GatewayError::Unauthorized("Unauthorized"),
                401,
                "Unauthorized",
            ),
            (GatewayError::InvalidApiKey, 403, "Forbidden"),
            (GatewayError::RequestTooLarge, 413, "Request Too Long"),
            (GatewayError::Throttled, 429, "Too Many Requests"),
            (GatewayError::QuotaExceeded, 429, "Limit Exceeded"),
            (
                GatewayError::IntegrationTimeout,
                504,
                "Endpoint request timed out",
            ),
            (
                GatewayError::IntegrationFailure,
                500,
                "Internal server error",
            ),
            (GatewayError::LambdaFailed, 502, "Internal server error"),
        ];
        for (error, status, message) in cases {
            let (got, origin, body) = parts(responses.answer(&error, "r-1")).await;
            assert_eq!((got, body), (status, json!({ "message": message })));
            assert_eq!(origin, None);
        }
    }

    #[tokio::test]
    async fn the_templates_responses_reshape_status_headers_and_body() {
        let responses = app_shape();
        let expired = GatewayError::Unauthorized("The incoming token has expired");
        let (status, origin, body) = parts(responses.answer(&expired, "r-1")).await;
        assert_eq!(status, 401);
        assert_eq!(origin.as_deref(), Some("*"));
        assert_eq!(
            body,
            json!({"error": {"code": "Unauthorized", "message": "The incoming token has expired"}})
        );

        let (status, _, body) =
            parts(responses.answer(&GatewayError::MissingAuthenticationToken, "r-1")).await;
        assert_eq!(status, 404, "the template's StatusCode replaces the 403");
        assert_eq!(body["error"]["code"], "RouteNotFound");
    }

    #[tokio::test]
    async fn a_throttled_request_gets_the_templates_429_a_browser_can_read() {
        let (status, origin, body) =
            parts(app_shape().answer(&GatewayError::Throttled, "r-1")).await;
        assert_eq!(status, 429);
        assert_eq!(origin.as_deref(), Some("*"));
        assert_eq!(
            body,
            json!({"error": {"code": "TooManyRequests", "message": "Too Many Requests"}})
        );
        // Lambda's own throttling is no 429: INTEGRATION_FAILURE, here shaped by DEFAULT_5XX.
        let (status, _, body) =
            parts(app_shape().answer(&GatewayError::IntegrationFailure, "r-1")).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (500, &json!("InternalError"))
        );
    }

    #[tokio::test]
    async fn a_type_without_an_entry_falls_back_to_its_family() {
        let responses = app_shape();
        let (status, origin, body) =
            parts(responses.answer(&GatewayError::LambdaFailed, "r-1")).await;
        assert_eq!(status, 502, "DEFAULT_5XX keeps the status it shapes");
        assert_eq!(origin.as_deref(), Some("*"));
        assert_eq!(body["error"]["code"], "InternalError");
        // No DEFAULT_4XX here: a 413 keeps API Gateway's own answer.
        let (status, _, body) =
            parts(responses.answer(&GatewayError::RequestTooLarge, "r-1")).await;
        assert_eq!(
            (status, body),
            (413, json!({"message": "Request Too Long"}))
        );
    }
}
