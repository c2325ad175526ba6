//! # One invocation: admission, the event handed over, the timeout, the `REPORT` line
//!
//! An invocation is first admitted under the function's concurrency (throttled at once when its
//! reserved concurrency is all in use; waiting for a free environment when a function without
//! reserved concurrency has reached the local cap), then takes an idle warm environment or
//! cold-starts one, hands the event to that process's `GET /next`, and waits for its answer until
//! the function's timeout. One invocation at a time per environment. It writes Lambda's `START`,
//! `END` and `REPORT` lines, and, with X-Ray, sends the function segment.

use std::time::{Instant, SystemTime};

use axum::body::Bytes;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::execution_environment::{Answer, Event};
use super::functions::{Function, Service};
use super::logs::{milliseconds, peak_memory_mb};
use super::xray_segments::{TraceHeader, function_segment, new_segment_id};
use super::{InvokeError, lock};

impl Service {
    /// One invocation, from its admission to its `REPORT` line, under a new request id. The
    /// caller holds no lock.
    pub(super) async fn invoke(
        &self,
        function: &Function,
        payload: Bytes,
        trace_header: Option<String>,
    ) -> Result<Vec<u8>, InvokeError> {
        let request_id = Uuid::new_v4().to_string();
        self.invoke_as(function, &request_id, payload, trace_header)
            .await
    }

    /// One invocation under `request_id`: an asynchronous event keeps its request id on every
    /// attempt.
    pub(super) async fn invoke_as(
        &self,
        function: &Function,
        request_id: &str,
        payload: Bytes,
        trace_header: Option<String>,
    ) -> Result<Vec<u8>, InvokeError> {
        // Held to the end: one of the function's concurrent executions.
        let _permit = function.admit().await?;
        self.refuse_when_shutting_down()?;
        let trace = trace_header
            .as_deref()
            .and_then(TraceHeader::parse)
            .unwrap_or_else(TraceHeader::new_sampled);
        let segment_id = new_segment_id();
        let mut phases = Phases {
            start: SystemTime::now(),
            init: None,
            invocation: None,
        };

        let result = self
            .invoke_in_environment(
                function,
                request_id,
                payload,
                trace.with_parent(&segment_id),
                &mut phases,
            )
            .await;

        if let Some(xray) = &self.xray
            && trace.sampled
        {
            let segment = function_segment(function, &trace, &segment_id, &phases, &result);
            xray.send(&segment).await;
        }
        result.map(|response| response.to_vec())
    }

    async fn invoke_in_environment(
        &self,
        function: &Function,
        request_id: &str,
        payload: Bytes,
        trace_header: TraceHeader,
        phases: &mut Phases,
    ) -> Result<Bytes, InvokeError> {
        let (environment, init) = self.ready_environment(function).await?;
        phases.init = init;
        let log = &function.log;
        log.line(&format!("START RequestId: {request_id} Version: $LATEST"));

        let (answer_sender, answer) = oneshot::channel();
        lock(&environment.answers).insert(request_id.to_owned(), answer_sender);
        let (delivered_sender, delivered) = oneshot::channel();
        let event = Event {
            request_id: request_id.to_owned(),
            payload,
            trace_header: trace_header.to_string(),
            invoked_function_arn: function.arn.clone(),
            timeout: function.config.timeout,
            delivered: delivered_sender,
        };
        let invocation_start = SystemTime::now();
        let clock = Instant::now();
        // Exam: the function's timeout. A warm process is already waiting in `GET /next`, so
        // the clock starts as the event is handed over.
        let timeout = function.config.timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        // Room for exactly one event, and this invocation alone uses this environment: never waits.
        let _ = environment.events.send(event).await;
        let handed_over = tokio::select! {
            biased;
            delivered = delivered => delivered.map_err(|_| InvokeError::Crashed(environment.exit_report())),
            _ = environment.exited() => Err(InvokeError::Crashed(environment.exit_report())),
            _ = tokio::time::sleep_until(deadline) => Err(InvokeError::Timeout(timeout)),
        };
        let outcome = match handed_over {
            Ok(()) => tokio::select! {
                biased;
                answer = answer => match answer {
                    Ok(Answer::Response(body)) => Ok(body),
                    Ok(Answer::Error(fault)) => Err(InvokeError::FunctionError {
                        error_type: fault.error_type,
                        error_message: fault.error_message,
                    }),
                    Err(_) => Err(InvokeError::Crashed(environment.exit_report())),
                },
                _ = environment.exited() => Err(InvokeError::Crashed(environment.exit_report())),
                _ = tokio::time::sleep_until(deadline) => Err(InvokeError::Timeout(timeout)),
            },
            Err(error) => Err(error),
        };
        let duration = clock.elapsed();
        phases.invocation = Some((invocation_start, SystemTime::now()));
        let peak_memory = peak_memory_mb(environment.pid);

        // Exam: a timed-out or crashed environment is never reused; the next invocation is a
        // cold start. A handled error (FunctionError) leaves the environment warm.
        let status = match &outcome {
            Err(InvokeError::Timeout(limit)) => {
                log.line(&format!(
                    "{} {request_id} Task timed out after {:.2} seconds",
                    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                    limit.as_secs_f64()
                ));
                "\tStatus: timeout"
            }
            Err(InvokeError::Crashed(_)) => "\tStatus: error\tError Type: Runtime.ExitError",
            _ => "",
        };
        let reusable = !matches!(
            outcome,
            Err(InvokeError::Timeout(_) | InvokeError::Crashed(_))
        );
        if !reusable {
            lock(&environment.answers).remove(request_id);
            self.discard(function, &environment).await;
        }

        log.line(&format!("END RequestId: {request_id}"));
        let init_duration = init
            .and_then(|(start, end)| end.duration_since(start).ok())
            .map(|init| format!("\tInit Duration: {:.2} ms", milliseconds(init)))
            .unwrap_or_default();
        let memory = peak_memory
            .map(|mb| format!("\tMax Memory Used: {mb} MB"))
            .unwrap_or_default();
        // Exam: Lambda bills by the millisecond, rounded up.
        log.line(&format!(
            "REPORT RequestId: {request_id}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB{memory}{init_duration}{status}",
            milliseconds(duration),
            duration.as_micros().div_ceil(1000),
            function.config.memory_mb,
        ));
        if reusable {
            function.release(&environment);
        }
        outcome
    }
}

/// When an invocation's phases ran, for its X-Ray segment.
pub(super) struct Phases {
    pub(super) start: SystemTime,
    pub(super) init: Option<(SystemTime, SystemTime)>,
    pub(super) invocation: Option<(SystemTime, SystemTime)>,
}
