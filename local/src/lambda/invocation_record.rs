//! # Lambda's invocation record: what an on-failure destination receives
//!
//! When Lambda gives up on an asynchronous event it sends the function's on-failure destination
//! a JSON record: `version`, `timestamp`, `requestContext` (`requestId`, `functionArn`,
//! `condition`: `RetriesExhausted` or `EventAgeExceeded`, `approximateInvokeCount`),
//! `requestPayload` (the event), `responseContext` (`statusCode`, `executedVersion`,
//! `functionError`) and `responsePayload` (the error object). Exam: a dead-letter queue gets the
//! event alone; a destination gets this record, the event *and* why it failed. A stream event
//! source mapping sends the same record with where its batch is instead of the event
//! (`event_source_mappings::on_failure`): [`record_envelope`] is the part they share.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::InvokeError;
use super::async_invocation::QueuedEvent;

/// What the poller knows when it gives up on an event.
pub(super) struct GivenUp<'a> {
    pub(super) event: &'a QueuedEvent,
    pub(super) function_arn: &'a str,
    /// `RetriesExhausted` or `EventAgeExceeded`.
    pub(super) condition: &'static str,
    /// Every attempt, throttled ones included.
    pub(super) attempts: u32,
    pub(super) last_error: Option<&'a InvokeError>,
}

/// What every invocation record holds: `version`, `timestamp`, and the request's and the last
/// response's context (`condition` says why Lambda gave up).
pub fn record_envelope(
    request_id: &str,
    function_arn: &str,
    condition: &str,
    invoke_count: i64,
    response_context: Value,
    now: DateTime<Utc>,
) -> Map<String, Value> {
    let envelope = json!({
        "version": "1.0",
        "timestamp": now.to_rfc3339_opts(SecondsFormat::Millis, true),
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
        "responseContext": response_context,
    });
    match envelope {
        Value::Object(fields) => fields,
        _ => unreachable!("json! of an object literal is an object"),
    }
}

/// Lambda's invocation record for an event given up on: the request, the event, and the last
/// attempt's response (for a function error, the error the function or Lambda reported).
pub(super) fn invocation_record(given_up: &GivenUp) -> Value {
    let request_id = &given_up.event.request_id;
    let payload = &given_up.event.payload;
    let request_payload = serde_json::from_slice::<Value>(payload)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(payload).into_owned()));
    let (response_context, response_payload) = match given_up.last_error {
        Some(InvokeError::Throttled { .. }) => (
            json!({"statusCode": 429, "executedVersion": "$LATEST"}),
            json!({"errorType": "TooManyRequestsException", "errorMessage": "Rate Exceeded."}),
        ),
        Some(error) => (
            // As the Invoke API's `X-Amz-Function-Error` header: the function failed.
            json!({"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}),
            error_payload(request_id, error),
        ),
        None => (
            json!({"statusCode": 200, "executedVersion": "$LATEST"}),
            Value::Null,
        ),
    };
    let mut record = record_envelope(
        request_id,
        &format!("{}:$LATEST", given_up.function_arn),
        given_up.condition,
        i64::from(given_up.attempts),
        response_context,
        Utc::now(),
    );
    record.insert("requestPayload".into(), request_payload);
    record.insert("responsePayload".into(), response_payload);
    Value::Object(record)
}

/// The error object Lambda returns for a failed invocation.
pub(super) fn error_payload(request_id: &str, error: &InvokeError) -> Value {
    match error {
        InvokeError::FunctionError {
            error_type,
            error_message,
        }
        | InvokeError::InitFailed {
            error_type,
            error_message,
        } => json!({"errorType": error_type, "errorMessage": error_message}),
        InvokeError::Timeout(limit) => json!({
            "errorType": "Sandbox.Timedout",
            "errorMessage": format!("RequestId: {request_id} Error: Task timed out after {:.2} seconds", limit.as_secs_f64()),
        }),
        InvokeError::Crashed(report) => json!({
            "errorType": "Runtime.ExitError",
            "errorMessage": format!("RequestId: {request_id} Error: Runtime exited: {report}"),
        }),
        other => json!({"errorType": "ServiceException", "errorMessage": other.to_string()}),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use axum::body::Bytes;

    use super::*;

    #[test]
    fn the_record_carries_the_event_and_the_error() {
        let event = QueuedEvent {
            function: "F".into(),
            request_id: "r-1".into(),
            payload: Bytes::from_static(br#"{"order": 1}"#),
            trace_header: None,
            received: Instant::now(),
        };
        let error = InvokeError::FunctionError {
            error_type: "Boom".into(),
            error_message: "it failed".into(),
        };
        let record = invocation_record(&GivenUp {
            event: &event,
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:f",
            condition: "RetriesExhausted",
            attempts: 3,
            last_error: Some(&error),
        });
        assert_eq!(
            record["requestContext"],
            json!({
                "requestId": "r-1",
                "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 3,
            })
        );
        assert_eq!(record["version"], "1.0");
        assert_eq!(record["requestPayload"], json!({"order": 1}));
        assert_eq!(
            record["responseContext"],
            json!({"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"})
        );
        assert_eq!(
            record["responsePayload"],
            json!({"errorType": "Boom", "errorMessage": "it failed"})
        );
    }
}
