//! The Lambda proxy integration, as the stage runs it: the request's body read within API
//! Gateway's 10 MB, the function invoked with the proxy event, and its answer (or its failure)
//! turned into the client's response within the 29 s integration timeout.
//!
//! | what happened                                   | the client gets                          |
//! |-------------------------------------------------|------------------------------------------|
//! | body over 10 MB (declared or read), or over Lambda's 6 MB payload | `413`                  |
//! | the function answered a proxy response          | that response                            |
//! | a malformed answer, a function error, a crash, a Lambda timeout | `502`                    |
//! | Lambda refused the invocation: throttled (`TooManyRequestsException`) | `500` (`INTEGRATION_FAILURE`) |
//! | no answer within 29 s                           | `504` (`INTEGRATION_TIMEOUT`)            |
//!
//! Exam: which of 502 and 504 a slow function gives depends on which timeout ends first. Its own
//! `Timeout` under the integration's (here 10 s < 29 s): Lambda stops it, a failed invocation,
//! `502`. Over it: API Gateway stops waiting, `504`, while the function may still run to its end.
//! The integration timeout is 29 s unless the method sets a lower `TimeoutInMillis` (50 ms at
//! least; the template sets none, so every method waits 29 s). A function that Lambda throttles
//! never ran: that is a `500` for the client, not a `429`, since only API Gateway's own limits
//! answer 429 ([`throttling`](super::throttling)).

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::body::Body;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::request::Parts;
use axum::response::Response;

use super::access::Admitted;
use super::proxy::{self, header_text, http_response, proxy_event};
use super::routes::Route;
use super::server::{Gateway, closing};
use super::{GatewayError, MAX_REQUEST_BODY_BYTES};
use crate::lambda::{InvokeError, TraceHeader};

/// A request that passed the method's checks, and what they established.
pub(super) struct Incoming<'a> {
    pub(super) parts: &'a Parts,
    pub(super) request_id: &'a str,
    pub(super) client: SocketAddr,
    pub(super) admitted: &'a Admitted,
}

impl Gateway {
    /// The proxy integration: the request as an event, the function's answer as a response.
    pub(super) async fn integrate(
        &self,
        route: &Route,
        parameters: &HashMap<String, String>,
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
        match tokio::time::timeout(route.integration_timeout, invocation).await {
            Err(_) => self.answer(&GatewayError::IntegrationTimeout, request.request_id),
            Ok(Ok(output)) => http_response(&output).unwrap_or_else(|malformed| {
                eprintln!(
                    "{} | Execution failed due to configuration error: Malformed Lambda proxy response ({malformed})",
                    self.name
                );
                failed()
            }),
            Ok(Err(InvokeError::PayloadTooLarge(_))) => too_long(),
            // Exam: Lambda refused the invocation (its reserved concurrency in use): no function
            // ran, and the client gets a 500, not Lambda's 429.
            Ok(Err(error @ InvokeError::Throttled { .. })) => {
                eprintln!("{} | Lambda invocation failed with status: 429: {error}", self.name);
                self.answer(&GatewayError::IntegrationFailure, request.request_id)
            }
            Ok(Err(error)) => {
                eprintln!("{} | Lambda invocation failed: {error}", self.name);
                failed()
            }
        }
    }
}

/// What API Gateway adds to the request before the function sees it: the trace header naming
/// its segment as the parent, and the `X-Forwarded-*` headers of a proxy.
pub(super) fn add_proxy_headers(
    headers: &mut HeaderMap,
    downstream: &TraceHeader,
    client: SocketAddr,
) {
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
