//! Telemetry: set up once per execution environment, in `main`, before anything logs.
//!
//! Logs go to stdout, which Lambda sends to CloudWatch Logs. The subscriber honours the function's
//! logging configuration: `AWS_LAMBDA_LOG_FORMAT=JSON` gives one JSON object per line (the template
//! sets `LoggingConfig.LogFormat: JSON`) and `AWS_LAMBDA_LOG_LEVEL` the level. Each line carries the
//! request id of the invocation it belongs to. Never log request bodies: they may hold personal data.

/// Installs the global `tracing` subscriber. Call once, at the top of `main`.
pub fn init() {
    lambda_http::tracing::init_default_subscriber();
}
