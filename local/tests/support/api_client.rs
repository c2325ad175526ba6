//! A raw client of the local API, for tests that send what no well-behaved client would: any
//! method and path, header values as bytes, bodies that are not JSON (or not text). It keeps the
//! whole answer: status, headers and body bytes.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Who sends a request: an ID token and an API key, either of which may be missing or wrong.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub token: Option<String>,
    pub api_key: Option<String>,
}

impl Credentials {
    /// The token's `sub` (the customer it names), read without verifying it.
    pub fn subject(&self) -> Option<String> {
        let payload = self.token.as_deref()?.split('.').nth(1)?;
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        claims["sub"].as_str().map(str::to_owned)
    }
}

/// One request, as sent.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    /// The path and query string, e.g. `/orders?limit=5`.
    pub target: String,
    /// Headers besides the credentials; values as bytes (some are not ASCII).
    pub headers: Vec<(&'static str, Vec<u8>)>,
    pub body: Option<Vec<u8>>,
}

impl ApiRequest {
    pub fn new(method: Method, target: impl Into<String>) -> Self {
        Self {
            method,
            target: target.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// The request in one line, for a failure message (bodies cut to 300 bytes).
    pub fn describe(&self) -> String {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(name, value)| format!("{name}: {}", cut(&String::from_utf8_lossy(value), 80)))
            .collect();
        let body = self
            .body
            .as_deref()
            .map(|body| cut(&String::from_utf8_lossy(body), 300))
            .unwrap_or_default();
        let target = cut(&self.target, 200);
        format!("{} {target} {headers:?} {body}", self.method)
    }
}

/// What the API answered.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The status and the start of the body, for a failure message.
    pub fn describe(&self) -> String {
        format!(
            "{} {}",
            self.status,
            cut(&String::from_utf8_lossy(&self.body), 400)
        )
    }
}

/// Sends `request` to the API at `base` (`http://127.0.0.1:<port>`) as `who`.
pub async fn send(
    client: &reqwest::Client,
    base: &str,
    who: &Credentials,
    request: &ApiRequest,
) -> Answer {
    let mut headers = HeaderMap::new();
    if let Some(token) = &who.token {
        headers.insert("authorization", HeaderValue::from_str(token).unwrap());
    }
    if let Some(key) = &who.api_key {
        headers.insert("x-api-key", HeaderValue::from_str(key).unwrap());
    }
    for (name, value) in &request.headers {
        let value = HeaderValue::from_bytes(value)
            .unwrap_or_else(|_| panic!("a header value must have no control bytes: {value:?}"));
        headers.append(HeaderName::from_static(name), value);
    }
    let mut builder = client
        .request(request.method.clone(), format!("{base}{}", request.target))
        .headers(headers);
    if let Some(body) = &request.body {
        builder = builder.body(body.clone());
    }
    let response = builder
        .send()
        .await
        .unwrap_or_else(|error| panic!("the local API answers {}: {error:?}", request.describe()));
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("the whole body").to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

fn cut(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_owned()
    } else {
        let start: String = text.chars().take(max_chars).collect();
        format!("{start}... ({} bytes)", text.len())
    }
}

/// How a client of a throttled API behaves (AWS SDKs do the same): a `429` means that no function
/// ran, so the request is sent again after an exponential backoff with full jitter (up to 100 ms,
/// 200 ms, ... 3.2 s), up to [`THROTTLED_ATTEMPTS`] times. The answer is the first that is not a
/// `429` (or the last `429`), with the number of `429`s before it.
pub async fn send_retrying_throttled(
    client: &reqwest::Client,
    base: &str,
    who: &Credentials,
    request: &ApiRequest,
) -> (Answer, usize) {
    let mut throttled = 0;
    loop {
        let answer = send(client, base, who, request).await;
        if answer.status != StatusCode::TOO_MANY_REQUESTS || throttled + 1 >= THROTTLED_ATTEMPTS {
            return (answer, throttled);
        }
        let ceiling_ms = 100u64 << throttled.min(5);
        tokio::time::sleep(std::time::Duration::from_millis(jitter(ceiling_ms))).await;
        throttled += 1;
    }
}

/// How many times [`send_retrying_throttled`] sends a request that keeps being throttled.
pub const THROTTLED_ATTEMPTS: usize = 12;

/// A pause between 0 and `ceiling_ms` (full jitter: clients throttled together do not come back
/// together). Only the pause is random, never what a test asserts.
fn jitter(ceiling_ms: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    u64::from(nanos) % (ceiling_ms + 1)
}
