//! Step 2: two customers and a support agent. Who may see and change an order is decided twice:
//! API Gateway lets no request without a valid ID token (401) or API key (403) reach a function,
//! and the functions let each customer reach only their own orders (`shared/src/identity.rs`).

use std::fmt::Write as _;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Credentials, Demo, Outcome, expect, new_order, proved};
use crate::sign_in::LOCAL_PASSWORD;

impl Demo<'_> {
    pub(super) async fn two_customers(&mut self) -> Outcome {
        let id = self.order_id()?.to_owned();
        let path = format!("/orders/{id}");
        let api_key = self.customer.api_key.clone();
        let signed_in = |token: String| Credentials {
            token: Some(token),
            api_key: api_key.clone(),
        };
        let bob = self
            .stack
            .sign_in("bob@example.com", LOCAL_PASSWORD, None)
            .await
            .map_err(|error| error.to_string())?;
        let sam = self
            .stack
            .sign_in("sam@example.com", LOCAL_PASSWORD, Some("support"))
            .await
            .map_err(|error| error.to_string())?;
        let (bob, sam) = (signed_in(bob.id_token), signed_in(sam.id_token));
        let mut out =
            "  Bob signs up and in; Sam signs in as a member of the support group\n".to_owned();

        // Bob and Ada's order: exactly what an order id that names no order gets.
        let unknown = self
            .call_as(
                &bob,
                Method::GET,
                "/orders/0194a3f2-7c1e-7b3a-9d2e-5f6a7b8c9d0e",
                &[],
                None,
            )
            .await?;
        let if_match = [("if-match", "\"1\"")];
        let change = json!({"shippingAddress": {"name": "Bob", "line1": "1 Elsewhere",
                            "city": "Leeds", "postalCode": "LS1", "country": "GB"}});
        let attempts = [
            ("GET", Method::GET, path.clone(), None),
            ("PATCH", Method::PATCH, path.clone(), Some(&change)),
            (
                "POST",
                Method::POST,
                format!("{path}/cancel"),
                None::<&Value>,
            ),
        ];
        for (name, method, target, body) in attempts {
            let answer = self.call_as(&bob, method, &target, &if_match, body).await?;
            let _ = writeln!(
                out,
                "  Bob: {name} {target} -> {} {}",
                answer.status.as_u16(),
                answer.body["error"]["code"]
            );
            expect(
                answer.status == StatusCode::NOT_FOUND
                    && answer.body["error"] == unknown.body["error"],
                || {
                    format!(
                        "Bob should get an unknown order's 404, got {} {}",
                        answer.status, answer.body
                    )
                },
            )?;
        }

        let bobs = self
            .call_as(
                &bob,
                Method::POST,
                "/orders",
                &[],
                Some(&new_order("Bob's order")),
            )
            .await?;
        let listed = self
            .call_as(&bob, Method::GET, "/orders", &[], None)
            .await?;
        let ids: Vec<&str> = listed.body["items"]
            .as_array()
            .map(|items| items.iter().filter_map(|o| o["orderId"].as_str()).collect())
            .unwrap_or_default();
        let _ = writeln!(out, "  Bob: GET /orders -> {} orders {ids:?}", ids.len());
        expect(
            bobs.status == StatusCode::CREATED
                && ids == [bobs.body["orderId"].as_str().unwrap_or("-")],
            || format!("Bob's list should hold his one order, got {ids:?}"),
        )?;

        // Before any function: API Gateway's own answers.
        let mut tampered = self.customer.token.clone().unwrap_or_default();
        tampered = tamper(&tampered);
        let gateway_cases = [
            (
                "no token",
                Credentials {
                    token: None,
                    api_key: self.customer.api_key.clone(),
                },
                StatusCode::UNAUTHORIZED,
            ),
            (
                "a tampered token (one claim changed, the signature kept)",
                Credentials {
                    token: Some(tampered),
                    api_key: self.customer.api_key.clone(),
                },
                StatusCode::UNAUTHORIZED,
            ),
            (
                "Ada's token, no API key",
                Credentials {
                    token: self.customer.token.clone(),
                    api_key: None,
                },
                StatusCode::FORBIDDEN,
            ),
        ];
        for (case, credentials, status) in gateway_cases {
            let answer = self
                .call_as(&credentials, Method::GET, &path, &[], None)
                .await?;
            let _ = writeln!(
                out,
                "  {case}: GET {path} -> {} {}",
                answer.status.as_u16(),
                answer.body["error"]["code"]
            );
            expect(answer.status == status, || {
                format!(
                    "{case}: expected {status}, got {} {}",
                    answer.status, answer.body
                )
            })?;
        }

        let read = self.call_as(&sam, Method::GET, &path, &[], None).await?;
        let cancel = self
            .call_as(
                &sam,
                Method::POST,
                &format!("{path}/cancel"),
                &if_match,
                None,
            )
            .await?;
        let _ = writeln!(
            out,
            "  Sam (support): GET -> {}, POST .../cancel -> {} {}",
            read.status.as_u16(),
            cancel.status.as_u16(),
            cancel.body["error"]["code"]
        );
        expect(
            read.status == StatusCode::OK && cancel.status == StatusCode::FORBIDDEN,
            || {
                format!(
                    "support should read (got {}) but not cancel (got {})",
                    read.status, cancel.status
                )
            },
        )?;
        let mine = self.call(Method::GET, &path, &[], None).await?;
        expect(
            mine.body["version"] == 1 && mine.body["status"] == "PLACED",
            || format!("nothing should have changed Ada's order: {}", mine.body),
        )?;
        proved(
            out,
            "API Gateway refused requests without a valid token (401) or key (403) before any function ran; \
             the functions took the customer from the token's sub: Bob could neither see nor change Ada's order, \
             which looked unknown to him, and support (cognito:groups) could read it but not cancel it",
        )
    }
}

/// The token with its payload re-encoded around another `sub`, its signature kept: what a client
/// that edits its own token sends.
fn tamper(token: &str) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = parts.as_slice() else {
        return format!("{token}x");
    };
    let mut claims: Value = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    claims["sub"] = json!("someone-else");
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.{signature}")
}
