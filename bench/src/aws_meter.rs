//! A meter in front of moto: every AWS API call counted by operation, and moto's time summed.
//!
//! The functions and the local stack reach AWS through `AWS_ENDPOINT_URL`; pointing it here
//! instead of at moto changes nothing they do, and lets the bench count what they ask for: the
//! KMS `GenerateDataKey` calls the data-key cache saves, and the calls an order costs on its way
//! to `CONFIRMED`. And moto's busy time: how long at least one call was waiting on moto, so
//! that an end-to-end run's wall time splits into moto's part and the stack's.
//!
//! The operation is read as the SDK sends it: the service from the SigV4 credential scope
//! (`Credential=<key>/<date>/<region>/<service>/aws4_request`), the operation from
//! `X-Amz-Target` (JSON protocols: `TrentService.GenerateDataKey`) or the form's `Action=`
//! (query protocols: SNS `Publish`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use tokio::net::TcpListener;

/// What the meter has seen since it started or was last reset.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Readings {
    /// Calls by `service:Operation` (`kms:GenerateDataKey`).
    pub calls: BTreeMap<String, u64>,
    /// How long at least one of them was waiting on moto (overlapping calls counted once).
    pub moto_time: Duration,
}

/// The readings, and what is needed to add up moto's busy time as calls start and end.
#[derive(Debug, Default)]
struct Ledger {
    readings: Readings,
    in_flight: u32,
    busy_since: Option<Instant>,
}

impl Ledger {
    fn call_started(&mut self, at: Instant) {
        if self.in_flight == 0 {
            self.busy_since = Some(at);
        }
        self.in_flight += 1;
    }

    fn call_ended(&mut self, operation: String, at: Instant) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if self.in_flight == 0
            && let Some(since) = self.busy_since.take()
        {
            self.readings.moto_time += at.saturating_duration_since(since);
        }
        *self.readings.calls.entry(operation).or_default() += 1;
    }
}

impl Readings {
    /// The calls of one operation (`"kms:GenerateDataKey"`).
    pub fn count(&self, operation: &str) -> u64 {
        self.calls.get(operation).copied().unwrap_or(0)
    }

    /// Every call, whatever its operation.
    pub fn total(&self) -> u64 {
        self.calls.values().sum()
    }
}

#[derive(Clone)]
struct Meter {
    upstream: String,
    http: reqwest::Client,
    ledger: Arc<Mutex<Ledger>>,
}

/// The running meter. Its server stops when it is dropped.
pub struct AwsMeter {
    endpoint: String,
    ledger: Arc<Mutex<Ledger>>,
    server: tokio::task::JoinHandle<()>,
}

impl AwsMeter {
    /// Listens on a free port of 127.0.0.1 and forwards every request to `upstream` (moto).
    pub async fn start(upstream: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let meter = Meter {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            ledger: ledger.clone(),
        };
        let router = Router::new().fallback(forward).with_state(meter);
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                eprintln!("the AWS meter stopped: {error}");
            }
        });
        Ok(Self {
            endpoint,
            ledger,
            server,
        })
    }

    /// What `AWS_ENDPOINT_URL` is set to: `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The readings so far.
    pub fn readings(&self) -> Readings {
        lock(&self.ledger).readings.clone()
    }

    /// Starts counting afresh (calls in flight still count when they end).
    pub fn reset(&self) {
        let mut ledger = lock(&self.ledger);
        ledger.readings = Readings::default();
        if ledger.in_flight > 0 {
            ledger.busy_since = Some(Instant::now());
        }
    }
}

impl Drop for AwsMeter {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn forward(State(meter): State<Meter>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return status(StatusCode::BAD_REQUEST);
    };
    let operation = operation(&parts.headers, &body);
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut upstream = meter
        .http
        .request(parts.method, format!("{}{path}", meter.upstream))
        .body(body);
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            upstream = upstream.header(name, value);
        }
    }
    lock(&meter.ledger).call_started(Instant::now());
    let answer = upstream.send().await;
    lock(&meter.ledger).call_ended(operation, Instant::now());
    let (code, headers, bytes) = match answer {
        Ok(answer) => {
            let code = answer.status();
            let headers = answer.headers().clone();
            match answer.bytes().await {
                Ok(bytes) => (code, headers, bytes),
                Err(_) => return status(StatusCode::BAD_GATEWAY),
            }
        }
        Err(_) => return status(StatusCode::BAD_GATEWAY),
    };
    let mut response = Response::builder().status(code);
    for (name, value) in &headers {
        if name != "content-length" && name != "transfer-encoding" {
            response = response.header(name, value);
        }
    }
    response
        .body(Body::from(bytes))
        .unwrap_or_else(|_| status(StatusCode::BAD_GATEWAY))
}

/// A poisoned lock only means a request task panicked mid-update; the counts stay usable.
fn lock(ledger: &Mutex<Ledger>) -> std::sync::MutexGuard<'_, Ledger> {
    ledger.lock().unwrap_or_else(PoisonError::into_inner)
}

fn status(code: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = code;
    response
}

/// `service:Operation` of a signed SDK request; `unknown` parts where a request does not say.
fn operation(headers: &HeaderMap, body: &Bytes) -> String {
    let service = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split("Credential=").nth(1))
        .and_then(|credential| credential.split('/').nth(3))
        .unwrap_or("unknown");
    let target = headers
        .get("x-amz-target")
        .and_then(|value| value.to_str().ok())
        .and_then(|target| target.rsplit('.').next());
    let action = || {
        std::str::from_utf8(body).ok().and_then(|form| {
            form.split('&')
                .find_map(|pair| pair.strip_prefix("Action="))
                .map(str::to_owned)
        })
    };
    let operation = target
        .map(str::to_owned)
        .or_else(action)
        .unwrap_or_else(|| "unknown".into());
    format!("{service}:{operation}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(service: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential=testing/20261130/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=00"
        );
        headers.insert("authorization", authorization.parse().unwrap());
        headers
    }

    #[test]
    fn overlapping_calls_count_once_towards_motos_time() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let mut ledger = Ledger::default();
        // Two calls overlap from 0 to 30 ms, a third runs alone from 50 to 60 ms.
        ledger.call_started(at(0));
        ledger.call_started(at(10));
        ledger.call_ended("kms:GenerateDataKey".into(), at(20));
        ledger.call_ended("dynamodb:PutItem".into(), at(30));
        ledger.call_started(at(50));
        ledger.call_ended("dynamodb:PutItem".into(), at(60));
        assert_eq!(ledger.readings.moto_time, Duration::from_millis(40));
        assert_eq!(ledger.readings.count("dynamodb:PutItem"), 2);
        assert_eq!(ledger.readings.total(), 3);
    }

    #[test]
    fn operations_are_named_by_service_and_target_or_action() {
        let mut kms = signed("kms");
        kms.insert(
            "x-amz-target",
            "TrentService.GenerateDataKey".parse().unwrap(),
        );
        assert_eq!(operation(&kms, &Bytes::new()), "kms:GenerateDataKey");
        let sns = Bytes::from_static(b"Action=Publish&Version=2010-03-31&TopicArn=x");
        assert_eq!(operation(&signed("sns"), &sns), "sns:Publish");
        assert_eq!(
            operation(&HeaderMap::new(), &Bytes::new()),
            "unknown:unknown"
        );
    }
}
