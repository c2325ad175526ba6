//! The step of CORS (an honorable mention of §17): who answers a browser's preflight, and who must
//! put the CORS header on the real answer.
//!
//! Exam: with a Lambda *proxy* integration, API Gateway's CORS setting answers only the preflight
//! (`OPTIONS`, a mock integration: no authorizer, no API key, no function); the actual response's
//! `Access-Control-Allow-Origin` must come from the function (`shared/src/api.rs`).

use std::fmt::Write as _;

use reqwest::{Method, StatusCode};

use super::{Demo, Outcome, expect, proved};

impl Demo<'_> {
    pub(super) async fn cors(&mut self) -> Outcome {
        let preflight = self
            .http
            .request(Method::OPTIONS, self.url("/orders"))
            .header("origin", "https://shop.example.com")
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type,idempotency-key,x-api-key",
            )
            .send()
            .await
            .map_err(|error| format!("the API did not answer: {error}"))?;
        let header = |name: &str| {
            preflight
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_owned()
        };
        let (origin, methods, headers) = (
            header("access-control-allow-origin"),
            header("access-control-allow-methods"),
            header("access-control-allow-headers"),
        );
        let mut out = format!(
            "  OPTIONS /orders, Origin and Access-Control-Request-Method: POST (no token, no API key)\n  -> {}\n     Access-Control-Allow-Origin: {origin}\n     Access-Control-Allow-Methods: {methods}\n     Access-Control-Allow-Headers: {headers}\n",
            preflight.status()
        );
        expect(preflight.status() == StatusCode::OK, || {
            format!("the preflight should be 200, got {}", preflight.status())
        })?;
        expect(
            origin != "-" && methods.contains("POST") && headers.contains("Idempotency-Key"),
            || "the preflight should allow the origin, POST and the Idempotency-Key header".into(),
        )?;

        let listed = self.call(Method::GET, "/orders?limit=1", &[], None).await?;
        let allowed = listed.allow_origin.as_deref().unwrap_or("-");
        let _ = writeln!(
            out,
            "  GET /orders?limit=1 (Ada, token and key)\n  -> {} Access-Control-Allow-Origin: {allowed} (set by list-orders)",
            listed.status
        );
        expect(listed.status == StatusCode::OK && allowed == origin, || {
            format!(
                "the function's answer should carry the same allowed origin: {} {allowed}",
                listed.status
            )
        })?;
        proved(
            out,
            "API Gateway answered the preflight itself, with no authorizer and no API key (the template's AddDefaultAuthorizerToCorsPreflight and AddApiKeyRequiredToCorsPreflight: false); with a proxy integration the real answer's CORS header is the function's to set, or a browser would refuse to read it",
        )
    }
}
