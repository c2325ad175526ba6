//! # The merchant: the other end of `notify-merchant`'s webhook, on this machine
//!
//! On AWS, `notify-merchant` POSTs each `OrderConfirmed` and `OrderCancelled` event to the
//! merchant's HTTPS endpoint (`MerchantWebhookUrl`). Locally, the stack starts this receiver on a
//! free loopback port before it deploys the template, and gives the template
//! `MerchantWebhookUrl=http://127.0.0.1:<port>/webhook` (see [`crate::stack`]). It does what a
//! careful merchant does:
//!
//! - checks `Orders-Signature` with the key both sides share, read from Secrets Manager (moto)
//!   once the stack is deployed ([`orders_shared::webhook::SigningKey::verify`]: HMAC-SHA256 of
//!   `<t>.<body>`, five minutes' tolerance): a missing, wrong or stale signature gets 401;
//! - drops repeats: asynchronous invocation is at least once, so an `Orders-Event-Id` it already
//!   accepted is answered 200 again and not counted twice;
//! - prints one line per arrival where the functions' logs go (`merchant | ...`).
//!
//! ## The control API (local only)
//!
//! On the same port, for the demo, the tests and you (`curl`); the function and the template know
//! nothing of it:
//!
//! | request          | what it does                                                            |
//! |------------------|-------------------------------------------------------------------------|
//! | `POST /webhook`  | the webhook: 200 delivered (or a repeat), 401 signature, 400 no event, 503 outage |
//! | `PUT /outage`    | a simulated outage: from now on every `POST /webhook` is answered 503    |
//! | `DELETE /outage` | ends it                                                                  |
//! | `GET /received`  | `{"outage": bool, "arrivals": [...]}`: every POST, in order, with its answer |
//!
//! An outage is how the stack shows Lambda's retries: each 503 fails the invocation, Lambda tries
//! the event again (locally after 1 s and 2 s), then sends its record to
//! `MerchantNotificationFailureQueue`. The arrivals answered 503 are the attempts.
//!
//! `receiver.rs` holds the HTTP handlers (the merchant's checks); this file the server and what it
//! recorded.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::http_server::HttpServer;
use crate::lambda::LogOutput;
use orders_shared::webhook::SigningKey;
use serde::Serialize;

mod receiver;

/// The path `notify-merchant` POSTs to.
pub const WEBHOOK_PATH: &str = "/webhook";

/// The running receiver.
#[derive(Debug)]
pub struct MerchantReceiver {
    server: HttpServer,
    merchant: Arc<Merchant>,
}

/// One POST to the webhook and how the merchant answered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Arrival {
    /// `Orders-Event-Id`.
    pub event_id: Option<String>,
    /// The body's `eventType` and `orderId`, when the body is an order event.
    pub event_type: Option<String>,
    pub order_id: Option<String>,
    pub verdict: Verdict,
    /// The HTTP status answered.
    pub status: u16,
    /// Why it was refused, if it was.
    pub reason: Option<String>,
}

impl Arrival {
    /// Whether the signature was checked and matched.
    pub fn verified(&self) -> bool {
        matches!(self.verdict, Verdict::Delivered | Verdict::Repeat)
    }
}

/// What the merchant made of one POST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Verdict {
    /// Signed with the shared key, an event not seen before: 200.
    Delivered,
    /// Signed, an event id already delivered: 200, nothing done again.
    Repeat,
    /// No signature, or one that does not match the body, or too old: 401.
    BadSignature,
    /// Signed, but no `Orders-Event-Id` or no order event in the body: 400.
    Malformed,
    /// The simulated outage: 503.
    Outage,
    /// The stack has not given the receiver the key yet: 503 (Lambda retries).
    NoKey,
}

/// What the handlers share.
#[derive(Debug)]
struct Merchant {
    key: Mutex<Option<SigningKey>>,
    outage: AtomicBool,
    arrivals: Mutex<Vec<Arrival>>,
    log: LogOutput,
}

impl MerchantReceiver {
    /// Serves the webhook and the control API on `bind` (port 0: a free port). Each arrival is
    /// printed to `log`: the console, `<dir>/merchant.log`, or nowhere.
    pub async fn start(bind: SocketAddr, log: LogOutput) -> std::io::Result<Self> {
        if let LogOutput::Directory(dir) = &log {
            std::fs::create_dir_all(dir)?;
            std::fs::File::create(dir.join("merchant.log"))?;
        }
        let merchant = Arc::new(Merchant {
            key: Mutex::new(None),
            outage: AtomicBool::new(false),
            arrivals: Mutex::new(Vec::new()),
            log,
        });
        let app = receiver::routes(merchant.clone());
        let server = HttpServer::start(bind, "merchant", app).await?;
        Ok(Self { server, merchant })
    }

    pub fn address(&self) -> SocketAddr {
        self.server.address()
    }

    /// `http://127.0.0.1:<port>`: the control API's base.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address())
    }

    /// `http://127.0.0.1:<port>/webhook`: the template's `MerchantWebhookUrl`.
    pub fn webhook_url(&self) -> String {
        format!("{}{WEBHOOK_PATH}", self.base_url())
    }

    /// The key notifications are checked with (the `MerchantWebhookSecret`'s value).
    pub fn set_key(&self, key: SigningKey) {
        *lock(&self.merchant.key) = Some(key);
    }

    /// Every POST so far, in order.
    pub fn arrivals(&self) -> Vec<Arrival> {
        lock(&self.merchant.arrivals).clone()
    }

    /// Turns the simulated outage on or off (what `PUT` and `DELETE /outage` do).
    pub fn set_outage(&self, on: bool) {
        self.merchant.set_outage(on);
    }

    /// Stops accepting connections and waits for the requests in flight to be answered.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

impl Merchant {
    fn set_outage(&self, on: bool) {
        self.outage.store(on, Ordering::SeqCst);
        self.print(if on {
            "outage on: every POST /webhook is answered 503"
        } else {
            "outage off"
        });
    }

    /// Records `arrival`, prints its line, and returns its verdict: a delivery of an event id
    /// already delivered becomes a [`Verdict::Repeat`] (checked under the same lock as the
    /// record, so two deliveries at once cannot both count).
    fn record(&self, mut arrival: Arrival) -> Verdict {
        let line = {
            let mut arrivals = lock(&self.arrivals);
            let delivered_before = arrivals.iter().any(|earlier| {
                earlier.verdict == Verdict::Delivered && earlier.event_id == arrival.event_id
            });
            if arrival.verdict == Verdict::Delivered && delivered_before {
                arrival.verdict = Verdict::Repeat;
            }
            let line = describe(&arrival, &arrivals);
            arrivals.push(arrival.clone());
            line
        };
        self.print(&line);
        arrival.verdict
    }

    fn print(&self, line: &str) {
        match &self.log {
            LogOutput::Console => println!("merchant | {line}"),
            LogOutput::Directory(dir) => {
                let file = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(dir.join("merchant.log"));
                if let Ok(mut file) = file {
                    let _ = writeln!(file, "{line}");
                }
            }
            LogOutput::Discard => {}
        }
    }
}

/// The arrival's line: `OrderConfirmed order 0194... event 3f2a... (signature ok)`.
fn describe(arrival: &Arrival, before: &[Arrival]) -> String {
    let what = format!(
        "{} order {} event {}",
        arrival.event_type.as_deref().unwrap_or("?"),
        arrival.order_id.as_deref().unwrap_or("?"),
        arrival.event_id.as_deref().unwrap_or("?"),
    );
    let reason = arrival.reason.as_deref().unwrap_or_default();
    match arrival.verdict {
        Verdict::Delivered => format!("{what} (signature ok)"),
        Verdict::Repeat => format!("{what} (signature ok): a repeat, already received -> 200"),
        Verdict::BadSignature => format!("{what} refused: {reason} -> 401"),
        Verdict::Malformed => format!("{what} refused: {reason} -> 400"),
        Verdict::NoKey => format!("{what} -> 503: {reason}"),
        Verdict::Outage => {
            let earlier = before
                .iter()
                .filter(|a| a.verdict == Verdict::Outage && a.event_id == arrival.event_id)
                .count();
            format!(
                "{what} -> 503 (outage; refusal {} of this event)",
                earlier + 1
            )
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
