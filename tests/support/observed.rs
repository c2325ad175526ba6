//! A function's telemetry aimed at the local stack's X-Ray daemon and a log sink, as tests
//! observe it.
//!
//! [`Observed::start`] builds the telemetry `main` builds (`Telemetry::build`), with the address
//! of a [`LocalXrayDaemon`] of the test's own (the stand-in `make dev` runs, here on a free port)
//! and a [`CapturedLogs`] sink, and installs it for the test's thread (the tests run on a
//! current-thread runtime, so a whole invocation sees it). Invocations are then run through
//! `observed.telemetry`, as `main` runs them, or [`Observed::invoke`] for an event under a trace.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use lambda_runtime::{Error, LambdaEvent};
use orders_local::event_source_mappings::Invocation;
use orders_local::xray::LocalXrayDaemon;
use orders_shared::config::TelemetryConfig;
use orders_shared::telemetry::Telemetry;
use serde_json::Value;

use crate::CapturedLogs;
use crate::pipeline::lambda_context;

/// The documents have all arrived once none has for this long.
const QUIET: Duration = Duration::from_millis(300);

/// A trace header as Lambda passes it, with a current trace id (X-Ray rejects old ones):
/// `(header, root, parent)`.
pub fn trace_header(sampled: bool) -> (String, String, String) {
    let epoch = chrono::Utc::now().timestamp();
    let root = format!("1-{epoch:08x}-{}", &random_hex()[..24]);
    let parent = random_hex()[..16].to_owned();
    let header = format!("Root={root};Parent={parent};Sampled={}", u8::from(sampled));
    (header, root, parent)
}

fn random_hex() -> String {
    use std::hash::{BuildHasher, RandomState};
    let a = RandomState::new().hash_one(1u8) as u128;
    let b = RandomState::new().hash_one(2u8) as u128;
    format!("{:032x}", (a << 64) | b)
}

/// The documents named `name` (an invocation's function name, or `DynamoDB`, `KMS`, `SNS`, ...).
pub fn by_name<'a>(documents: &'a [Value], name: &str) -> Vec<&'a Value> {
    documents.iter().filter(|d| d["name"] == name).collect()
}

/// The one document named `name`; asserts there is exactly one.
#[track_caller]
pub fn only_one_named<'a>(documents: &'a [Value], name: &str) -> &'a Value {
    let named = by_name(documents, name);
    assert_eq!(named.len(), 1, "one {name} document in {documents:#?}");
    named[0]
}

/// `tracing` caches per callsite whether anyone is interested in it. While exactly one dispatcher
/// exists, it computes that for a newly seen callsite from the *current thread's* dispatcher only:
/// a callsite first hit on a test thread without telemetry would be cached as "never" for every
/// thread, this one included. With a second (silent) dispatcher alive, tracing asks them all and
/// caches "sometimes", deciding per thread. (A function has one global subscriber: no such issue.)
fn keep_a_second_dispatcher() {
    static SILENT: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
    SILENT.get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()));
}

/// One function's telemetry, observed.
pub struct Observed {
    /// The X-Ray daemon the function sends its (sub)segments to (`AWS_XRAY_DAEMON_ADDRESS`).
    pub daemon: LocalXrayDaemon,
    pub logs: CapturedLogs,
    pub telemetry: Telemetry,
    _guard: tracing::dispatcher::DefaultGuard,
}

impl Observed {
    /// The telemetry of the function `function`, installed for this thread.
    pub async fn start(function: &str) -> Self {
        keep_a_second_dispatcher();
        let daemon = LocalXrayDaemon::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), false)
            .await
            .expect("a UDP port for the X-Ray daemon");
        let logs = CapturedLogs::default();
        let config = TelemetryConfig {
            log_json: true,
            log_level: "INFO".into(),
            xray_daemon: Some(daemon.address()),
            function_name: function.into(),
        };
        let writer = logs.clone();
        let (telemetry, dispatch) = Telemetry::build(&config, move || writer.clone());
        let _guard = tracing::dispatcher::set_default(&dispatch);
        Self {
            daemon,
            logs,
            telemetry,
            _guard,
        }
    }

    /// Every document the daemon has received, once none has arrived for a while (it receives
    /// them in a task of the test's runtime), trace by trace, each trace's in arrival order.
    /// Asserts that every datagram was one the X-Ray daemon takes: the protocol's header line
    /// `{"format": "json", "version": 1}`, then one JSON document of a trace.
    pub async fn documents(&self) -> Vec<Value> {
        let mut documents = self.received();
        let mut last_arrival = Instant::now();
        while last_arrival.elapsed() < QUIET {
            tokio::time::sleep(QUIET / 6).await;
            let now = self.received();
            if now.len() != documents.len() {
                documents = now;
                last_arrival = Instant::now();
            }
        }
        assert_eq!(
            self.daemon.dropped(),
            0,
            "every datagram is the daemon's header line and one JSON document of a trace"
        );
        documents
    }

    fn received(&self) -> Vec<Value> {
        self.daemon
            .trace_ids()
            .iter()
            .flat_map(|trace_id| self.daemon.documents(trace_id))
            .collect()
    }

    /// Calls a handler as Lambda does, in-process, inside this telemetry as `main` runs it: the
    /// event with a fresh context under the X-Ray trace `trace_header` (Lambda's
    /// `_X_AMZN_TRACE_ID`); an error of the handler is the invocation's error.
    pub async fn invoke<T, R, F, Fut>(
        &self,
        trace_header: &str,
        handler: F,
        event: T,
    ) -> Invocation<R>
    where
        F: FnOnce(LambdaEvent<T>) -> Fut,
        Fut: Future<Output = Result<R, Error>>,
    {
        let mut context = lambda_context();
        context.xray_trace_id = Some(trace_header.to_owned());
        self.telemetry
            .traced_event(LambdaEvent::new(event, context), handler)
            .await
            .map_err(|error| error.to_string())
    }
}
