//! A function's telemetry aimed at a fake X-Ray daemon and a log sink, as tests observe it.
//!
//! [`Observed::start`] builds the telemetry `main` builds (`Telemetry::build`), with the daemon
//! address of a UDP socket in the test ([`FakeDaemon`]) and a [`CapturedLogs`] sink, and installs
//! it for the test's thread (the tests run on a current-thread runtime, so a whole invocation
//! sees it). Invocations are then run through `observed.telemetry`, as `main` runs them.

use std::net::UdpSocket;
use std::time::Duration;

use orders_shared::config::TelemetryConfig;
use orders_shared::telemetry::Telemetry;
use serde_json::Value;

use crate::CapturedLogs;

/// The X-Ray daemon, as far as a function can tell: a UDP port that receives documents.
pub struct FakeDaemon(UdpSocket);

impl FakeDaemon {
    pub fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        Self(socket)
    }

    pub fn address(&self) -> std::net::SocketAddr {
        self.0.local_addr().unwrap()
    }

    /// Every datagram received so far: the protocol header line, then one JSON document.
    pub fn documents(&self) -> Vec<Value> {
        let mut documents = Vec::new();
        let mut buffer = [0u8; 65_536];
        while let Ok(n) = self.0.recv(&mut buffer) {
            let text = std::str::from_utf8(&buffer[..n]).unwrap();
            let (header, document) = text.split_once('\n').expect("a header line");
            assert_eq!(header, r#"{"format": "json", "version": 1}"#);
            documents.push(serde_json::from_str(document).expect("a JSON document"));
        }
        documents
    }
}

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
    pub daemon: FakeDaemon,
    pub logs: CapturedLogs,
    pub telemetry: Telemetry,
    _guard: tracing::dispatcher::DefaultGuard,
}

impl Observed {
    /// The telemetry of the function `function`, installed for this thread.
    pub fn start(function: &str) -> Self {
        keep_a_second_dispatcher();
        let daemon = FakeDaemon::start();
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
}
