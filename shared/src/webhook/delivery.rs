//! One notification POSTed to the merchant's webhook, signed.
//!
//! A delivery succeeds on a 2xx answer only. Anything else (a 4xx or 5xx, a redirect, no answer
//! within [`REQUEST_TIMEOUT`]) is an error the function returns to Lambda, so that Lambda's
//! asynchronous retries, then the on-failure destination, take over (`functions/notify-merchant`).
//! Redirects are not followed: a webhook that moved must be configured anew, not trusted to
//! forward a signed body elsewhere.

use std::time::Duration;

use super::signature::{SIGNATURE_HEADER, SigningKey};

/// The header that names the event: a retried notification carries the same id, so the merchant
/// can recognise a repeat (asynchronous invocation is at least once).
pub const EVENT_ID_HEADER: &str = "Orders-Event-Id";

/// How long one POST may take, connection included: well inside the function's 10 s timeout, so
/// a hanging webhook makes a failed attempt (retried), not a timed-out invocation.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The merchant's webhook and the key notifications are signed with. Built once per execution
/// environment: its HTTP client keeps connections open across warm invocations.
#[derive(Debug, Clone)]
pub struct MerchantWebhook {
    http: reqwest::Client,
    url: String,
    key: SigningKey,
}

/// Why a notification was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("the HTTP client could not be built: {0}")]
    Client(String),
    #[error("the webhook did not answer: {0}")]
    Unreachable(String),
    #[error("the webhook answered {status}")]
    Refused { status: u16 },
}

impl MerchantWebhook {
    pub fn new(url: impl Into<String>, key: SigningKey) -> Result<Self, DeliveryError> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| DeliveryError::Client(chain(&error)))?;
        Ok(Self {
            http,
            url: url.into(),
            key,
        })
    }

    /// POSTs `body` (the event's JSON), signed at `timestamp` (Unix seconds); the answer's status.
    pub async fn deliver(
        &self,
        event_id: &str,
        body: &str,
        timestamp: i64,
    ) -> Result<u16, DeliveryError> {
        let answer = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(EVENT_ID_HEADER, event_id)
            .header(SIGNATURE_HEADER, self.key.sign(timestamp, body.as_bytes()))
            .body(body.to_owned())
            .send()
            .await
            .map_err(|error| DeliveryError::Unreachable(chain(&error)))?;
        let status = answer.status().as_u16();
        if answer.status().is_success() {
            Ok(status)
        } else {
            Err(DeliveryError::Refused { status })
        }
    }
}

/// The error and its causes, one line (reqwest's own message omits the cause).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
