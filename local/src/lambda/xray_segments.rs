//! # X-Ray: trace headers and Lambda's function segment
//!
//! Lambda with active tracing records an `AWS::Lambda::Function` segment for every sampled
//! invocation, with `Initialization` (cold starts only) and `Invocation` subsegments, and hands the
//! function a trace header whose `Parent` is that segment. The trace header type, segment ids and
//! the daemon client here are API Gateway's too (`crate::api_gateway` records its own segment).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use serde_json::json;
use tokio::net::UdpSocket;
use uuid::Uuid;

use super::functions::Function;
use super::invocation::Phases;
use super::{ACCOUNT_ID, InvokeError};

/// The X-Ray trace header (`X-Amzn-Trace-Id`, Lambda's `_X_AMZN_TRACE_ID`):
/// `Root=1-<8 hex epoch seconds>-<24 hex>;Parent=<16 hex segment id>;Sampled=1`.
///
/// Exam: `Root` names the trace, `Parent` the segment or subsegment that made this call, and
/// `Sampled` the sampling decision, made once at the edge (the first service) and honoured by
/// every service after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceHeader {
    pub root: String,
    pub parent: Option<String>,
    pub sampled: bool,
}

impl TraceHeader {
    /// A new trace, sampled: locally every request is traced.
    pub fn new_sampled() -> Self {
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let random = Uuid::new_v4().as_u128() & ((1 << 96) - 1);
        Self {
            root: format!("1-{epoch:08x}-{random:024x}"),
            parent: None,
            sampled: true,
        }
    }

    /// Reads a header; `None` without a `Root`. A missing `Sampled` counts as sampled.
    pub fn parse(header: &str) -> Option<Self> {
        let mut root = None;
        let mut parent = None;
        let mut sampled = true;
        for field in header.split(';') {
            match field.trim().split_once('=') {
                Some(("Root", value)) if !value.is_empty() => root = Some(value.to_owned()),
                Some(("Parent", value)) if !value.is_empty() => parent = Some(value.to_owned()),
                Some(("Sampled", value)) => sampled = value != "0",
                _ => {}
            }
        }
        Some(Self {
            root: root?,
            parent,
            sampled,
        })
    }

    /// The same trace, called from segment `parent`: the header to pass downstream.
    pub fn with_parent(&self, parent: &str) -> Self {
        Self {
            parent: Some(parent.to_owned()),
            ..self.clone()
        }
    }
}

impl fmt::Display for TraceHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Root={}", self.root)?;
        if let Some(parent) = &self.parent {
            write!(f, ";Parent={parent}")?;
        }
        write!(f, ";Sampled={}", if self.sampled { 1 } else { 0 })
    }
}

/// A new segment or subsegment id: 16 hex digits.
pub fn new_segment_id() -> String {
    format!("{:016x}", Uuid::new_v4().as_u128() as u64)
}

/// A time as X-Ray writes it: epoch seconds, with fractions.
pub fn epoch_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// Sends the segments Lambda and API Gateway record themselves to the X-Ray daemon, as a service's
/// SDK reaches it: segment documents over UDP, each datagram a header line then the document.
#[derive(Debug)]
pub(crate) struct SegmentSender {
    socket: UdpSocket,
    pub(super) address: SocketAddr,
}

impl SegmentSender {
    pub(crate) async fn connect(address: SocketAddr) -> std::io::Result<Self> {
        let any_port = match address {
            SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
        };
        let socket = UdpSocket::bind(any_port).await?;
        Ok(Self { socket, address })
    }

    /// Sends one segment document. Telemetry never fails a request: errors are dropped, as UDP
    /// drops datagrams.
    pub(crate) async fn send(&self, segment: &serde_json::Value) {
        let mut datagram = b"{\"format\": \"json\", \"version\": 1}\n".to_vec();
        if serde_json::to_writer(&mut datagram, segment).is_ok() {
            let _ = self.socket.send_to(&datagram, self.address).await;
        }
    }
}

/// Lambda's `AWS::Lambda::Function` segment of one invocation, with the `Initialization`
/// (cold starts only) and `Invocation` subsegments the X-Ray console shows.
pub(super) fn function_segment(
    function: &Function,
    trace: &TraceHeader,
    segment_id: &str,
    phases: &Phases,
    result: &Result<Bytes, InvokeError>,
) -> serde_json::Value {
    let phase = |name: &str, (start, end): (SystemTime, SystemTime)| {
        json!({
            "id": new_segment_id(),
            "name": name,
            "start_time": epoch_seconds(start),
            "end_time": epoch_seconds(end),
        })
    };
    let subsegments: Vec<_> = [
        phases.init.map(|span| phase("Initialization", span)),
        phases.invocation.map(|span| phase("Invocation", span)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut segment = json!({
        "name": function.config.function_name,
        "id": segment_id,
        "trace_id": trace.root,
        "start_time": epoch_seconds(phases.start),
        "end_time": epoch_seconds(SystemTime::now()),
        "origin": "AWS::Lambda::Function",
        "aws": {
            "account_id": ACCOUNT_ID,
            "function_arn": function.arn,
            "resource_names": [function.config.function_name],
        },
        "subsegments": subsegments,
    });
    if let Some(parent) = &trace.parent {
        segment["parent_id"] = json!(parent);
    }
    // Exam: `fault` marks a server-side failure (5xx), `error` a client's (4xx). A failed
    // invocation is the function's fault.
    if let Err(error) = result {
        segment["fault"] = json!(true);
        segment["cause"] = json!({
            "exceptions": [{
                "id": new_segment_id(),
                "type": error_type(error),
                "message": error.to_string(),
            }]
        });
    }
    segment
}

/// The error type Lambda reports for a failed invocation.
fn error_type(error: &InvokeError) -> &str {
    match error {
        InvokeError::FunctionError { error_type, .. }
        | InvokeError::InitFailed { error_type, .. } => error_type,
        InvokeError::Timeout(_) => "Sandbox.Timedout",
        InvokeError::Crashed(_) => "Runtime.ExitError",
        InvokeError::PayloadTooLarge(_) => "RequestEntityTooLargeException",
        InvokeError::UnknownFunction(_) => "ResourceNotFoundException",
        InvokeError::Throttled { .. } => "TooManyRequestsException",
        InvokeError::Spawn { .. } | InvokeError::ShuttingDown => "ServiceException",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_header_round_trips_and_names_a_new_parent() {
        let header = TraceHeader::parse(
            "Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled=1",
        )
        .unwrap();
        assert_eq!(header.root, "1-67891233-abcdef012345678912345678");
        assert_eq!(header.parent.as_deref(), Some("53995c3f42cd8ad8"));
        assert!(header.sampled);
        assert_eq!(
            header.with_parent("0123456789abcdef").to_string(),
            "Root=1-67891233-abcdef012345678912345678;Parent=0123456789abcdef;Sampled=1"
        );
        assert!(!TraceHeader::parse("Root=1-a-b;Sampled=0").unwrap().sampled);
        assert_eq!(
            TraceHeader::parse("Parent=53995c3f42cd8ad8"),
            None,
            "no root"
        );
    }

    #[test]
    fn a_new_trace_has_xrays_id_format() {
        let header = TraceHeader::new_sampled();
        let parts: Vec<&str> = header.root.split('-').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], "1");
        assert_eq!(parts[1].len(), 8);
        assert_eq!(parts[2].len(), 24);
        assert!(
            parts[1..]
                .iter()
                .all(|part| part.chars().all(|c| c.is_ascii_hexdigit()))
        );
        assert_eq!(
            header.to_string(),
            format!("Root={};Sampled=1", header.root)
        );
        let id = new_segment_id();
        assert_eq!(id.len(), 16);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
