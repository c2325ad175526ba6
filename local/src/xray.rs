//! The X-Ray daemon, locally: receives segment documents over UDP and shows each trace as a tree.
//!
//! On Lambda, a daemon next to each function receives the function's (sub)segments over UDP
//! (`AWS_XRAY_DAEMON_ADDRESS`) and batches them to the X-Ray API. Each datagram is a header line
//! `{"format": "json", "version": 1}`, a newline, then one document. Documents of one request share
//! a `trace_id`; each names its `parent_id`, so together they form a tree:
//!
//! ```text
//! trace 1-6741a3f2-5b1d3c7e2f4a4e8b9c6d0a1b
//!   OrdersApi/dev  POST /orders 201  31.2 ms                    (API Gateway's segment)
//!     orders-local-CreateOrderFunction  29.8 ms                  (Lambda's segment)
//!       create-order  27.0 ms {orderId: ...}                     (the invocation subsegment)
//!         KMS GenerateDataKey  8.1 ms
//!         DynamoDB PutItem orders-local-OrdersTable  4.3 ms
//! ```
//!
//! moto records segments sent to its X-Ray API but cannot query them, so this listener is where
//! local traces are seen. A trace is printed once no document of it has arrived for a second.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The header line every datagram starts with.
pub const HEADER: &str = r#"{"format": "json", "version": 1}"#;
/// A trace is complete once it has been quiet this long.
const QUIET: Duration = Duration::from_secs(1);

/// The documents received, by trace id.
#[derive(Default)]
struct Traces {
    documents: BTreeMap<String, Vec<Value>>,
    last_seen: HashMap<String, Instant>,
    printed: HashMap<String, usize>,
    /// Datagrams that were not a header line and one JSON document of a trace.
    dropped: usize,
}

/// The local stand-in for the daemon: it listens for segment documents (the functions and the
/// local API Gateway and Lambda send them) and keeps them by trace.
pub struct LocalXrayDaemon {
    address: SocketAddr,
    traces: Arc<Mutex<Traces>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl LocalXrayDaemon {
    /// Listens on `bind` (port 0: a free port). With `print`, each trace is printed as a tree once
    /// it is complete.
    pub async fn start(bind: SocketAddr, print: bool) -> std::io::Result<Self> {
        let socket = UdpSocket::bind(bind).await?;
        let address = socket.local_addr()?;
        let traces = Arc::new(Mutex::new(Traces::default()));
        let (stop, mut stopped) = watch::channel(false);
        let state = traces.clone();
        let task = tokio::spawn(async move {
            let mut buffer = vec![0u8; 65_536];
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    received = tokio::time::timeout(Duration::from_millis(200), socket.recv(&mut buffer)) => {
                        if let Ok(Ok(n)) = received {
                            receive(&state, &buffer[..n]);
                        }
                        if print {
                            for tree in complete_traces(&state) {
                                println!("{tree}");
                            }
                        }
                    }
                }
            }
        });
        Ok(Self {
            address,
            traces,
            stop,
            task,
        })
    }

    /// Where functions send documents (`AWS_XRAY_DAEMON_ADDRESS`).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The ids of every trace received so far, oldest first (X-Ray trace ids start with the time).
    pub fn trace_ids(&self) -> Vec<String> {
        self.traces
            .lock()
            .unwrap()
            .documents
            .keys()
            .cloned()
            .collect()
    }

    /// The documents of one trace.
    pub fn documents(&self, trace_id: &str) -> Vec<Value> {
        let traces = self.traces.lock().unwrap();
        traces.documents.get(trace_id).cloned().unwrap_or_default()
    }

    /// How many datagrams were dropped: not the header line and one JSON document of a trace.
    pub fn dropped(&self) -> usize {
        self.traces.lock().unwrap().dropped
    }

    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

fn receive(traces: &Mutex<Traces>, datagram: &[u8]) {
    if !keep(traces, datagram) {
        traces.lock().unwrap().dropped += 1;
    }
}

/// Keeps the datagram's document under its trace; `false` if it is not one.
fn keep(traces: &Mutex<Traces>, datagram: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(datagram) else {
        return false;
    };
    let Some((header, body)) = text.split_once('\n') else {
        return false;
    };
    if header != HEADER {
        eprintln!("xray: a datagram without the daemon header was dropped");
        return false;
    }
    let Ok(document) = serde_json::from_str::<Value>(body) else {
        eprintln!("xray: a document that is not JSON was dropped");
        return false;
    };
    let Some(trace_id) = document["trace_id"].as_str().map(str::to_owned) else {
        return false;
    };
    let mut traces = traces.lock().unwrap();
    traces
        .documents
        .entry(trace_id.clone())
        .or_default()
        .push(document);
    traces.last_seen.insert(trace_id, Instant::now());
    true
}

/// The trees of traces that are quiet and have documents not printed yet.
fn complete_traces(traces: &Mutex<Traces>) -> Vec<String> {
    let mut traces = traces.lock().unwrap();
    let now = Instant::now();
    let ready: Vec<String> = traces
        .last_seen
        .iter()
        .filter(|(_, seen)| now.duration_since(**seen) >= QUIET)
        .map(|(id, _)| id.clone())
        .collect();
    let mut trees = Vec::new();
    for id in ready {
        let count = traces.documents[&id].len();
        if traces.printed.get(&id) != Some(&count) {
            trees.push(render_tree(&traces.documents[&id]));
            traces.printed.insert(id.clone(), count);
        }
        traces.last_seen.remove(&id);
    }
    trees
}

/// One trace as an indented tree: each document under its parent, children by start time; a
/// document whose parent is not among them is a root.
pub fn render_tree(documents: &[Value]) -> String {
    let ids: Vec<&str> = documents.iter().filter_map(|d| d["id"].as_str()).collect();
    let parent = |d: &Value| {
        d["parent_id"]
            .as_str()
            .filter(|parent| ids.contains(parent))
            .map(str::to_owned)
    };
    let mut children: HashMap<Option<String>, Vec<&Value>> = HashMap::new();
    for document in documents {
        children.entry(parent(document)).or_default().push(document);
    }
    for list in children.values_mut() {
        list.sort_by(|a, b| {
            let start = |d: &Value| d["start_time"].as_f64().unwrap_or(0.0);
            start(a).total_cmp(&start(b))
        });
    }
    let trace_id = documents
        .first()
        .and_then(|d| d["trace_id"].as_str())
        .unwrap_or("?");
    let mut out = format!("trace {trace_id}");
    let mut stack: Vec<(&Value, usize)> = children
        .get(&None)
        .map(|roots| roots.iter().rev().map(|d| (*d, 1)).collect())
        .unwrap_or_default();
    while let Some((document, depth)) = stack.pop() {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
        out.push_str(&describe(document));
        let id = document["id"].as_str().map(str::to_owned);
        if let Some(kids) = children.get(&id) {
            stack.extend(kids.iter().rev().map(|d| (*d, depth + 1)));
        }
    }
    out
}

/// One line: name, what it did, duration, flags, annotations.
fn describe(document: &Value) -> String {
    let millis = (document["end_time"].as_f64().unwrap_or(0.0)
        - document["start_time"].as_f64().unwrap_or(0.0))
        * 1000.0;
    let mut parts = vec![document["name"].as_str().unwrap_or("?").to_owned()];
    let aws = &document["aws"];
    for field in ["operation", "table_name"] {
        if let Some(value) = aws[field].as_str() {
            parts.push(value.to_owned());
        }
    }
    let http = &document["http"];
    if let (Some(method), Some(url)) = (
        http["request"]["method"].as_str(),
        http["request"]["url"].as_str(),
    ) {
        parts.push(format!("{method} {url}"));
    }
    if let Some(status) = http["response"]["status"].as_u64() {
        parts.push(status.to_string());
    }
    parts.push(format!("{millis:.1} ms"));
    for flag in ["error", "throttle", "fault"] {
        if document[flag] == Value::Bool(true) {
            parts.push(flag.to_owned());
        }
    }
    if let Some(annotations) = document["annotations"].as_object()
        && !annotations.is_empty()
    {
        parts.push(Value::Object(annotations.clone()).to_string());
    }
    parts.join("  ")
}

#[cfg(test)]
impl LocalXrayDaemon {
    /// The unit tests' daemon: on a free port of 127.0.0.1, printing nothing. A test sends it
    /// documents as Lambda does, with [`crate::lambda::SegmentSender`].
    pub(crate) async fn on_free_port() -> Self {
        Self::start("127.0.0.1:0".parse().unwrap(), false)
            .await
            .unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lambda::SegmentSender;
    use serde_json::json;

    fn document(id: &str, parent: Option<&str>, name: &str, start: f64) -> Value {
        let mut d = json!({"id": id, "trace_id": "1-a-b", "name": name,
            "start_time": start, "end_time": start + 0.002});
        if let Some(parent) = parent {
            d["parent_id"] = json!(parent);
        }
        d
    }

    #[test]
    fn documents_nest_under_their_parents_in_start_order() {
        let mut put = document("c", Some("b"), "DynamoDB", 3.0);
        put["aws"] = json!({"operation": "PutItem", "table_name": "t"});
        put["fault"] = json!(true);
        let documents = vec![
            put,
            document("b", Some("a"), "create-order", 2.0),
            document("d", Some("b"), "KMS", 2.5),
            document("a", Some("outside"), "lambda", 1.0),
        ];
        let tree = render_tree(&documents);
        let lines: Vec<&str> = tree.lines().collect();
        assert_eq!(lines[0], "trace 1-a-b");
        assert!(lines[1].starts_with("  lambda"), "{tree}");
        assert!(lines[2].starts_with("    create-order"), "{tree}");
        assert!(lines[3].starts_with("      KMS"), "{tree}");
        assert!(
            lines[4].starts_with("      DynamoDB  PutItem  t  2.0 ms  fault"),
            "{tree}"
        );
    }

    #[tokio::test]
    async fn the_daemon_keeps_documents_by_trace() {
        let daemon = LocalXrayDaemon::on_free_port().await;
        let function = SegmentSender::connect(daemon.address()).await.unwrap();
        function.send(&document("a", None, "f", 1.0)).await;
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.send_to(b"no header", daemon.address()).unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(daemon.trace_ids(), ["1-a-b"]);
        assert_eq!(daemon.documents("1-a-b").len(), 1);
        assert_eq!(daemon.dropped(), 1, "the datagram without the header");
        daemon.shutdown().await;
    }
}
