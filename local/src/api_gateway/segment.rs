//! The stage's X-Ray segment: with `TracingEnabled`, API Gateway records one
//! `AWS::ApiGateway::Stage` segment per sampled request, named `<api>/<stage>`, and the
//! function's segments hang under it (its id is the `Parent` of the trace header the function
//! gets).
//!
//! Exam: the segment's `error`, `throttle` and `fault` flags come from the status code alone.

use std::time::SystemTime;

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::ACCOUNT_ID;
use super::server::Gateway;
use crate::lambda::{TraceHeader, epoch_seconds};

impl Gateway {
    /// API Gateway's `AWS::ApiGateway::Stage` segment of one request.
    /// `request` is X-Ray's `http.request`: `{"method", "url"}`.
    pub(super) fn segment(
        &self,
        trace: &TraceHeader,
        segment_id: &str,
        start: SystemTime,
        request: Value,
        status: StatusCode,
        request_id: &str,
    ) -> Value {
        let mut segment = json!({
            "name": self.name,
            "id": segment_id,
            "trace_id": trace.root,
            "start_time": epoch_seconds(start),
            "end_time": epoch_seconds(SystemTime::now()),
            "origin": "AWS::ApiGateway::Stage",
            "http": {
                "request": request,
                "response": { "status": status.as_u16() },
            },
            "aws": {
                "api_gateway": {
                    "account_id": ACCOUNT_ID,
                    "rest_api_id": self.api.api_id,
                    "stage": self.api.stage,
                    "request_id": request_id,
                },
            },
            // Exam: error = a client error (4xx), throttle = 429, fault = a server error (5xx).
            "error": status.is_client_error(),
            "throttle": status == StatusCode::TOO_MANY_REQUESTS,
            "fault": status.is_server_error(),
        });
        if let Some(parent) = &trace.parent {
            segment["parent_id"] = json!(parent);
        }
        segment
    }
}
