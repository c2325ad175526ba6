//! # `orders-local xray-daemon`: the X-Ray daemon alone, for a smoke check of one function
//!
//! `make xray-smoke` runs the release `create-order` as Lambda runs it, outside the stack, and
//! needs only the daemon it sends its documents to (`AWS_XRAY_DAEMON_ADDRESS`). This is the
//! stack's own stand-in, [`LocalXrayDaemon`], on `127.0.0.1:--port`: it prints
//! `listening on udp ADDRESS` once the socket is bound (a function sends each subsegment as it
//! ends, so the socket must be there first), then waits until no document has arrived for
//! `--idle` seconds after the first (or `--timeout` seconds in all), prints each trace as a tree
//! and fails unless at least `--expect` documents arrived, each one a document the tree can show
//! (an `id`, `trace_id`, `name`, `start_time` and `end_time`).
//!
//! A datagram without the daemon protocol's header, or whose document is not JSON, is dropped
//! by [`LocalXrayDaemon`] (and reported on standard error); the check fails if any was.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::xray::{LocalXrayDaemon, render_tree};

use super::{UsageError, parsed_value_of};

/// Where to listen, and what to wait for.
#[derive(Debug, Clone, PartialEq)]
pub struct XrayDaemonArgs {
    pub port: u16,
    /// Fail unless at least this many documents arrive.
    pub expect: usize,
    /// Stop once no document has arrived for this long after the first.
    pub idle: Duration,
    /// Stop after this long in all.
    pub timeout: Duration,
}

impl Default for XrayDaemonArgs {
    fn default() -> Self {
        Self {
            port: 2000,
            expect: 1,
            idle: Duration::from_secs(2),
            timeout: Duration::from_secs(120),
        }
    }
}

impl XrayDaemonArgs {
    pub const USAGE: &str =
        "orders-local xray-daemon [--port 2000] [--expect 1] [--idle 2] [--timeout 120]";

    pub fn parse(arguments: &[String]) -> Result<Self, UsageError> {
        let mut args = Self::default();
        let mut rest = arguments.iter();
        let seconds = |option: &str, rest: &mut std::slice::Iter<'_, String>| {
            let seconds: f64 = parsed_value_of(option, rest, "a number of seconds")?;
            Duration::try_from_secs_f64(seconds).map_err(|_| UsageError::BadValue {
                option: option.to_owned(),
                value: seconds.to_string(),
                expected: "a number of seconds",
            })
        };
        while let Some(argument) = rest.next() {
            match argument.as_str() {
                "--port" => args.port = parsed_value_of(argument, &mut rest, "a port")?,
                "--expect" => args.expect = parsed_value_of(argument, &mut rest, "a count")?,
                "--idle" => args.idle = seconds(argument, &mut rest)?,
                "--timeout" => args.timeout = seconds(argument, &mut rest)?,
                other => return Err(UsageError::Unexpected(other.to_owned())),
            }
        }
        Ok(args)
    }
}

/// Why the smoke check failed.
#[derive(Debug, thiserror::Error)]
pub enum XrayDaemonError {
    #[error("the X-Ray daemon cannot listen on udp {address}: {source}")]
    Listen {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("expected at least {expected} documents, got {received}")]
    TooFew { expected: usize, received: usize },
    #[error("{0} datagram(s) were not the daemon's header and one JSON segment document")]
    Dropped(usize),
    #[error("a document without {field}: {document}")]
    Incomplete {
        field: &'static str,
        document: Value,
    },
}

/// Listens, waits, prints the trees; `Ok` only if the documents came.
pub async fn run(args: &XrayDaemonArgs) -> Result<(), XrayDaemonError> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    let daemon = LocalXrayDaemon::start(address, false)
        .await
        .map_err(|source| XrayDaemonError::Listen { address, source })?;
    println!("listening on udp {}", daemon.address());
    let documents = wait_for_documents(&daemon, args).await;
    let dropped = daemon.dropped();
    daemon.shutdown().await;

    for trace in &documents {
        println!("{}", render_tree(trace));
    }
    if dropped > 0 {
        return Err(XrayDaemonError::Dropped(dropped));
    }
    for document in documents.iter().flatten() {
        check_complete(document)?;
    }
    let received = documents.iter().map(Vec::len).sum();
    if received < args.expect {
        return Err(XrayDaemonError::TooFew {
            expected: args.expect,
            received,
        });
    }
    Ok(())
}

/// The documents of each trace, once the function has been quiet for `idle` (or at `timeout`).
async fn wait_for_documents(daemon: &LocalXrayDaemon, args: &XrayDaemonArgs) -> Vec<Vec<Value>> {
    let started = Instant::now();
    let mut received = 0;
    let mut last_arrival: Option<Instant> = None;
    while started.elapsed() < args.timeout {
        if last_arrival.is_some_and(|last| last.elapsed() > args.idle) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now_received: usize = daemon
            .trace_ids()
            .iter()
            .map(|trace_id| daemon.documents(trace_id).len())
            .sum();
        if now_received != received {
            received = now_received;
            last_arrival = Some(Instant::now());
        }
    }
    daemon
        .trace_ids()
        .iter()
        .map(|trace_id| daemon.documents(trace_id))
        .collect()
}

/// A document the tree can show: the fields X-Ray requires of every (sub)segment.
fn check_complete(document: &Value) -> Result<(), XrayDaemonError> {
    const TEXT: [&str; 3] = ["id", "trace_id", "name"];
    const TIMES: [&str; 2] = ["start_time", "end_time"];
    let missing = TEXT
        .into_iter()
        .find(|field| !document[*field].is_string())
        .or_else(|| {
            TIMES
                .into_iter()
                .find(|field| !document[*field].is_number())
        });
    match missing {
        Some(field) => Err(XrayDaemonError::Incomplete {
            field,
            document: document.clone(),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lambda::SegmentSender;
    use serde_json::json;

    fn arguments(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn the_options_are_read_and_default_as_the_smoke_check_needs() {
        let args = XrayDaemonArgs::parse(&arguments("--port 2010 --expect 3 --idle 0.5")).unwrap();
        assert_eq!(args.port, 2010);
        assert_eq!(args.expect, 3);
        assert_eq!(args.idle, Duration::from_millis(500));
        assert_eq!(args.timeout, Duration::from_secs(120));
        assert!(XrayDaemonArgs::parse(&arguments("--port x")).is_err());
        assert!(XrayDaemonArgs::parse(&arguments("--idle -1")).is_err());
        assert!(XrayDaemonArgs::parse(&arguments("--expect")).is_err());
    }

    #[test]
    fn a_document_without_its_times_is_not_complete() {
        let whole = json!({"id": "a", "trace_id": "1-a-b", "name": "f",
            "start_time": 1.0, "end_time": 1.5});
        assert!(check_complete(&whole).is_ok());
        let mut in_progress = whole.clone();
        in_progress.as_object_mut().unwrap().remove("end_time");
        let error = check_complete(&in_progress).unwrap_err().to_string();
        assert!(error.contains("end_time"), "{error}");
    }

    #[tokio::test]
    async fn the_daemon_waits_until_the_function_is_quiet() {
        let daemon = LocalXrayDaemon::on_free_port().await;
        let function = SegmentSender::connect(daemon.address()).await.unwrap();
        for id in ["a", "b"] {
            let document = json!({"id": id, "trace_id": "1-a-b", "name": "f",
                "start_time": 1.0, "end_time": 1.5});
            function.send(&document).await;
        }
        let args = XrayDaemonArgs {
            idle: Duration::from_millis(300),
            timeout: Duration::from_secs(10),
            ..XrayDaemonArgs::default()
        };
        let started = Instant::now();
        let documents = wait_for_documents(&daemon, &args).await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "it stopped once quiet"
        );
        assert_eq!(documents.len(), 1);
        assert_eq!(documents[0].len(), 2);
        daemon.shutdown().await;
    }
}
