//! Telemetry: logs, X-Ray traces and metrics, set up once per execution environment in `main`.
//!
//! Everything is built on `tracing`. One global subscriber has two layers:
//!
//! - **logs** (`tracing_subscriber::fmt`): stdout, which Lambda sends to CloudWatch Logs. JSON
//!   when `AWS_LAMBDA_LOG_FORMAT=JSON` (the template sets `LoggingConfig.LogFormat: JSON`), filtered
//!   by `AWS_LAMBDA_LOG_LEVEL`. Each line carries the invocation's span: request id, trace id, cold
//!   start, function name. Never log a request body: it may hold card data.
//! - **traces** ([`xray`]): spans become OpenTelemetry spans, which `opentelemetry-aws` turns into
//!   X-Ray subsegment documents and sends over UDP to the X-Ray daemon. Every AWS SDK call gets its
//!   own subsegment through an SDK interceptor ([`aws_calls`]).
//!
//! Metrics ([`metrics`]) are CloudWatch Embedded Metric Format lines on stdout: CloudWatch extracts
//! them from the log stream, so a function needs no `PutMetricData` call (nor its latency or IAM).
//!
//! [`Telemetry::invocation`] wraps one invocation: it opens the invocation's subsegment (parented on
//! the trace header Lambda passes), runs the handler inside it, and flushes traces and metrics
//! before the function returns; after that Lambda may freeze the environment indefinitely.

pub mod aws_calls;
pub mod metrics;
pub mod release;
pub mod xray;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use lambda_http::{Request, RequestExt};
use lambda_runtime::LambdaEvent;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

use crate::config::TelemetryConfig;

/// The handle `main` keeps: it wraps invocations and flushes what they recorded.
pub struct Telemetry {
    tracer: Option<SdkTracerProvider>,
    function_name: String,
    /// True until the first invocation of this execution environment has started.
    cold: AtomicBool,
}

/// The Lambda runtime's crates, whose TRACE logs hold whole events.
const RUNTIME_CRATES: [&str; 2] = ["lambda_runtime", "lambda_http"];

/// Installs the global subscriber from the environment. Call once, at the top of `main`.
pub fn init() -> Telemetry {
    let config = TelemetryConfig::from_env();
    let (telemetry, dispatch) = Telemetry::build(&config, std::io::stdout);
    // Only fails if a subscriber is already installed: keep that one.
    let _ = tracing::dispatcher::set_global_default(dispatch);
    tracing::info!(release = release::release(), "telemetry initialised");
    telemetry
}

impl Telemetry {
    /// Builds the subscriber (returned as a `Dispatch`, not installed) and the handle. Tests install
    /// the dispatch for one thread with `tracing::dispatcher::set_default`.
    pub fn build<W>(config: &TelemetryConfig, log_writer: W) -> (Self, tracing::Dispatch)
    where
        W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
    {
        let level = config
            .log_level
            .parse::<LevelFilter>()
            .unwrap_or(LevelFilter::INFO);
        // Span-only events (the causes attached to X-Ray subsegments) are not log lines. The Lambda
        // runtime logs every raw event it receives at TRACE (`lambda_runtime`'s "raw JSON event
        // received from Lambda"): card numbers, tokens, API keys, addresses. Its crates are capped
        // at DEBUG whatever the level, so no log level the template allows prints an event.
        let runtime_level = level.min(LevelFilter::DEBUG);
        let log_filter = EnvFilter::builder()
            .with_default_directive(level.into())
            .parse_lossy(format!(
                "{},{}=off,{RUNTIME_CRATES}",
                config.log_level,
                xray::SPAN_EVENTS,
                RUNTIME_CRATES = RUNTIME_CRATES
                    .iter()
                    .map(|krate| format!("{krate}={runtime_level}"))
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        let logs = tracing_subscriber::fmt::layer()
            .with_writer(log_writer)
            .with_target(false)
            .with_ansi(false);
        let logs = if config.log_json {
            logs.json()
                .with_current_span(true)
                .with_span_list(false)
                .boxed()
        } else {
            logs.boxed()
        };

        // Telemetry never stops a function: without a socket for the daemon, it runs untraced.
        let tracer = config
            .xray_daemon
            .and_then(|daemon| match xray::tracer_provider(daemon) {
                Ok(provider) => Some(provider),
                Err(error) => {
                    eprintln!("X-Ray disabled: no UDP socket for the daemon at {daemon}: {error}");
                    None
                }
            });
        // The X-Ray layer sees only this module's spans, whatever the log level.
        let traces = tracer.as_ref().map(|provider| {
            use opentelemetry::trace::TracerProvider as _;
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("orders-on-lambda"))
                .with_filter(
                    Targets::new()
                        .with_target(xray::SPANS, LevelFilter::TRACE)
                        .with_target(xray::SPAN_EVENTS, LevelFilter::TRACE),
                )
        });
        let subscriber = tracing_subscriber::registry()
            .with(logs.with_filter(log_filter))
            .with(traces);
        let telemetry = Self {
            tracer,
            function_name: config.function_name.clone(),
            cold: AtomicBool::new(true),
        };
        (telemetry, tracing::Dispatch::new(subscriber))
    }

    /// Runs one API request's handler inside the invocation's subsegment, then flushes.
    pub async fn traced_request<F, Fut>(&self, request: Request, handler: F) -> Fut::Output
    where
        F: FnOnce(Request) -> Fut,
        Fut: Future,
    {
        let context = request.lambda_context_ref();
        let trace_header = context.and_then(|c| c.xray_trace_id.clone());
        let request_id = context.map(|c| c.request_id.clone()).unwrap_or_default();
        self.invocation(&request_id, trace_header.as_deref(), handler(request))
            .await
    }

    /// Runs one event's handler (a stream or queue batch) inside the invocation's subsegment,
    /// then flushes.
    pub async fn traced_event<T, F, Fut>(&self, event: LambdaEvent<T>, handler: F) -> Fut::Output
    where
        F: FnOnce(LambdaEvent<T>) -> Fut,
        Fut: Future,
    {
        let request_id = event.context.request_id.clone();
        let trace_header = event.context.xray_trace_id.clone();
        self.invocation(&request_id, trace_header.as_deref(), handler(event))
            .await
    }

    /// Runs `work` as one invocation: its span (and X-Ray subsegment) is parented on
    /// `trace_header` (`Root=...;Parent=...;Sampled=...`, Lambda's `_X_AMZN_TRACE_ID`).
    pub async fn invocation<Fut: Future>(
        &self,
        request_id: &str,
        trace_header: Option<&str>,
        work: Fut,
    ) -> Fut::Output {
        let cold_start = self.cold.swap(false, Ordering::Relaxed);
        let span = xray::invocation_span(&self.function_name, request_id, trace_header, cold_start);
        if cold_start {
            metrics::count(metrics::Metric::ColdStart, 1);
        }
        // Boxed: a handler's future holds the SDK's (deeply nested) futures, and nesting it in the
        // runtime's own can exceed the compiler's type-layout depth limit. One allocation per
        // invocation keeps the types shallow.
        let output = Box::pin(work.instrument(span)).await;
        self.flush();
        output
    }

    /// Sends every finished span and prints the invocation's metrics. Lambda may freeze the
    /// environment as soon as the handler returns, so nothing may wait for a background flush.
    pub fn flush(&self) {
        if let Some(provider) = &self.tracer
            && let Err(error) = provider.force_flush()
        {
            tracing::warn!(%error, "X-Ray flush failed");
        }
        metrics::flush(&self.function_name);
    }
}
