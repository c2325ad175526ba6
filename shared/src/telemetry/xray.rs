//! X-Ray tracing: the invocation's subsegment and how documents reach the daemon.
//!
//! On Lambda (with `Tracing: Active`) the Lambda service itself records the function's segment
//! and passes its id to the function in the trace header, `_X_AMZN_TRACE_ID`:
//!
//! ```text
//! Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled=1
//!      |                                  |                       |
//!      trace id (epoch seconds + random)  segment to nest under   1 = record, 0 = don't
//! ```
//!
//! A function therefore sends *subsegments*: documents with `"type": "subsegment"`, the trace id and
//! a `parent_id`. They go over UDP to the X-Ray daemon (`AWS_XRAY_DAEMON_ADDRESS`), each datagram a
//! header line `{"format": "json", "version": 1}` and then the document; the daemon batches them to
//! the X-Ray API. With `Sampled=0` nothing is sent: sampling decides at the edge (API Gateway or
//! Lambda) and every hop honours it, so a trace is either whole or absent.
//!
//! The spans are ordinary `tracing` spans; `tracing-opentelemetry` makes them OpenTelemetry spans
//! and `opentelemetry-aws` translates those into X-Ray documents (span kind `client` + `rpc.*`
//! attributes -> `namespace: aws` subsegments; `otel.status_code = error` + an HTTP status ->
//! `error`/`throttle`/`fault`). Annotations (indexed, searchable with filter expressions such as
//! `annotation.orderId = "..."`) are the fields listed in [`ANNOTATIONS`]; the rest is metadata.

use std::net::SocketAddr;

use opentelemetry::Context;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_aws::trace::XrayIdGenerator;
use opentelemetry_aws::trace::xray_propagator::{span_context_from_str, span_context_to_string};
use opentelemetry_aws::xray_exporter::daemon_client::XrayDaemonClient;
use opentelemetry_aws::xray_exporter::{SegmentTranslator, XrayExporter};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The target of the spans that become subsegments.
pub const SPANS: &str = "xray";
/// The target of events that only annotate a subsegment (an error's cause), never logged.
pub const SPAN_EVENTS: &str = "xray_cause";

/// The HTTP header that carries the trace context to AWS services.
pub const TRACE_HEADER: &str = "x-amzn-trace-id";

/// Span fields that become X-Ray annotations (indexed: up to 50 per trace, searchable).
pub const ANNOTATIONS: [&str; 5] = [
    "orderId",
    "eventType",
    "versionConflict",
    "coldStart",
    "producerTraceId",
];
/// Span fields that become metadata: shown with the subsegment, not indexed, not searchable.
pub const METADATA: [&str; 3] = ["requestId", "function", "messageId"];

/// The OpenTelemetry pipeline that sends X-Ray documents to the daemon at `daemon`.
///
/// The span processor is the *simple* one: each span is exported (one small UDP datagram, no
/// waiting for an answer) when it ends. A batching processor would hold spans in a background
/// task, which a frozen Lambda environment would never run.
///
/// Fails only if no local UDP socket can be opened; the caller then runs without traces.
pub fn tracer_provider(daemon: SocketAddr) -> std::io::Result<SdkTracerProvider> {
    let client = XrayDaemonClient::new(daemon)?;
    let translator = SegmentTranslator::new()
        .with_indexed_attrs(ANNOTATIONS.map(String::from))
        .with_metadata_attrs(METADATA.map(String::from));
    Ok(SdkTracerProvider::builder()
        // Sampling is decided upstream: record exactly when the trace header says `Sampled=1`.
        // An invocation without a header has no segment to nest under, so it records nothing.
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)))
        // X-Ray trace ids start with the epoch seconds; the generator makes ids X-Ray accepts.
        .with_id_generator(XrayIdGenerator::default())
        .with_simple_exporter(XrayExporter::new(client).with_translator(translator))
        .build())
}

/// The span of one invocation. Handlers record `orderId`, `eventType` and `versionConflict` on it
/// with [`record`]; `coldStart` is set here.
pub fn invocation_span(
    function: &str,
    request_id: &str,
    trace_header: Option<&str>,
    cold_start: bool,
) -> tracing::Span {
    let trace_id = trace_header
        .and_then(|header| header.split(';').find(|part| part.starts_with("Root=")))
        .map(|root| root.trim_start_matches("Root="))
        .unwrap_or_default();
    let span = tracing::info_span!(
        target: SPANS,
        "invocation",
        otel.name = function,
        otel.kind = "internal",
        requestId = request_id,
        traceId = trace_id,
        function = function,
        coldStart = cold_start,
        orderId = Empty,
        eventType = Empty,
        versionConflict = Empty,
    );
    // Nest under the segment Lambda recorded (no valid header: not recorded, see the sampler).
    if let Some(parent) = trace_header.and_then(span_context_from_str) {
        let _ = span.set_parent(Context::new().with_remote_span_context(parent));
    }
    span
}

/// The span of one queue message inside a consumer's invocation (subsegment `record`).
///
/// A batch holds messages from many producers' traces, so the invocation cannot nest under all of
/// them. Each record's subsegment carries the producer's trace id as the annotation
/// `producerTraceId` instead: `annotation.producerTraceId = "1-..."` finds every consumer of a
/// trace, and `annotation.orderId = "..."` every hop of an order.
pub fn record_span(message_id: &str, producer_trace_id: Option<&str>) -> tracing::Span {
    tracing::info_span!(
        target: SPANS,
        "record",
        otel.name = "record",
        otel.kind = "consumer",
        messageId = message_id,
        producerTraceId = producer_trace_id,
        orderId = Empty,
        eventType = Empty,
    )
}

/// The trace header naming `span` as the parent (`Root=...;Parent=<span>;Sampled=...`), for the
/// next hop. `None` without an X-Ray pipeline (no daemon address): nothing to continue.
pub fn trace_header(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context_to_string(&span_context))
        .flatten()
}

/// Records an annotation on the current invocation's span (a no-op outside one).
pub fn record(field: &'static str, value: impl tracing::Value) {
    tracing::Span::current().record(field, value);
}
