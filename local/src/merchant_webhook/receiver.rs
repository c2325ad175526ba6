//! The receiver's HTTP handlers: the webhook, checked as a merchant checks it, and the local
//! control API (the outage switch, what arrived).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use orders_shared::webhook::{DEFAULT_TOLERANCE, EVENT_ID_HEADER, SIGNATURE_HEADER};
use serde_json::{Value, json};

use super::{Arrival, Merchant, Verdict, WEBHOOK_PATH, lock};

pub(super) fn routes(merchant: Arc<Merchant>) -> Router {
    Router::new()
        .route(WEBHOOK_PATH, post(webhook))
        .route("/outage", put(outage_on).delete(outage_off))
        .route("/received", get(received))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "NotFound", "no such path") })
        .method_not_allowed_fallback(|| async {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "POST /webhook, PUT or DELETE /outage, GET /received",
            )
        })
        .with_state(merchant)
}

/// Why a POST was not accepted, and how it is answered.
struct Refusal {
    verdict: Verdict,
    status: StatusCode,
    code: &'static str,
    reason: String,
}

impl Refusal {
    fn new(
        verdict: Verdict,
        status: StatusCode,
        code: &'static str,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            verdict,
            status,
            code,
            reason: reason.into(),
        }
    }
}

/// `POST /webhook`: checked ([`check`]), recorded, answered.
async fn webhook(
    State(merchant): State<Arc<Merchant>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // A body axum cannot read (over its 2 MB limit, cut short) is refused in the app's shape.
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            return error(rejection.status(), "UnreadableBody", &rejection.body_text());
        }
    };
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let text = |name: &str| event[name].as_str().map(str::to_owned);
    let mut arrival = Arrival {
        event_id: header(&headers, EVENT_ID_HEADER),
        event_type: text("eventType"),
        order_id: text("orderId"),
        verdict: Verdict::Delivered,
        status: StatusCode::OK.as_u16(),
        reason: None,
    };
    match check(&merchant, &headers, &body, &arrival) {
        Ok(event_id) => {
            // Exam: asynchronous invocation is at least once; the event id makes the merchant
            // idempotent: a repeat is acknowledged (200) and not acted on again.
            let repeat = merchant.record(arrival) == Verdict::Repeat;
            axum::Json(json!({"received": event_id, "repeat": repeat})).into_response()
        }
        Err(refusal) => {
            arrival.verdict = refusal.verdict;
            arrival.status = refusal.status.as_u16();
            arrival.reason = Some(refusal.reason.clone());
            merchant.record(arrival);
            error(refusal.status, refusal.code, &refusal.reason)
        }
    }
}

/// The merchant's checks, in order: up, has the key, signature, event id, an order event. The
/// event id, if all pass.
fn check(
    merchant: &Merchant,
    headers: &HeaderMap,
    body: &[u8],
    arrival: &Arrival,
) -> Result<String, Refusal> {
    // A merchant that is down answers nothing useful: 503 before any check.
    if merchant.outage.load(Ordering::SeqCst) {
        return Err(Refusal::new(
            Verdict::Outage,
            StatusCode::SERVICE_UNAVAILABLE,
            "Outage",
            "the merchant is down (simulated outage: DELETE /outage ends it)",
        ));
    }
    let key = lock(&merchant.key).clone().ok_or_else(|| {
        Refusal::new(
            Verdict::NoKey,
            StatusCode::SERVICE_UNAVAILABLE,
            "NoSigningKey",
            "the receiver has no signing key yet (the stack gives it after the deploy)",
        )
    })?;
    let signature = header(headers, SIGNATURE_HEADER).ok_or_else(|| {
        Refusal::new(
            Verdict::BadSignature,
            StatusCode::UNAUTHORIZED,
            "MissingSignature",
            format!("no {SIGNATURE_HEADER} header"),
        )
    })?;
    let now = chrono::Utc::now().timestamp();
    key.verify(&signature, body, now, DEFAULT_TOLERANCE)
        .map_err(|cause| {
            Refusal::new(
                Verdict::BadSignature,
                StatusCode::UNAUTHORIZED,
                "BadSignature",
                cause.to_string(),
            )
        })?;
    // Signed by someone who holds the key: now the content.
    let event_id = arrival.event_id.clone().ok_or_else(|| {
        Refusal::new(
            Verdict::Malformed,
            StatusCode::BAD_REQUEST,
            "MissingEventId",
            format!("no {EVENT_ID_HEADER} header"),
        )
    })?;
    if arrival.event_type.is_none() || arrival.order_id.is_none() {
        return Err(Refusal::new(
            Verdict::Malformed,
            StatusCode::BAD_REQUEST,
            "NotAnOrderEvent",
            "the body is not an order event (eventType, orderId)",
        ));
    }
    Ok(event_id)
}

async fn outage_on(State(merchant): State<Arc<Merchant>>) -> Response {
    merchant.set_outage(true);
    axum::Json(json!({"outage": true})).into_response()
}

async fn outage_off(State(merchant): State<Arc<Merchant>>) -> Response {
    merchant.set_outage(false);
    axum::Json(json!({"outage": false})).into_response()
}

/// `GET /received`: the outage switch and every arrival, in order.
async fn received(State(merchant): State<Arc<Merchant>>) -> Response {
    let arrivals = lock(&merchant.arrivals).clone();
    axum::Json(json!({
        "outage": merchant.outage.load(Ordering::SeqCst),
        "arrivals": arrivals,
    }))
    .into_response()
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name)?.to_str().ok().map(str::to_owned)
}

/// The app's error shape: `{"error": {"code", "message"}}`.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}
