//! One run of one subject: a cold start, the first invocation, then warm invocations.
//!
//! The subject is registered afresh with the local Lambda service, so the next invocation is a
//! cold start, as when Lambda creates a new execution environment:
//!
//! 1. **init**: from starting the process to its first `GET /runtime/invocation/next`, timed
//!    around [`LambdaService::warm`] (it starts the process and waits for that request). This is
//!    the init phase Lambda bills and reports as `Init Duration`; for Rust, what `main` builds
//!    before `run` (telemetry, the SDK's configuration, the clients), for Python the imports and
//!    the module's top level.
//! 2. **first invocation**: the first event, which also pays for what is made on first use (the
//!    first connection to the endpoint, the first data key from KMS).
//! 3. **warm invocations**: the same event again and again; their latencies (the Lambda service's
//!    invoke, so the Runtime API's round trip included), and the process's CPU time around them.
//!
//! Peak memory (`VmHWM`) is read at the end. Every answer must be the expected status, or the run
//! fails: a benchmark of error responses would measure the wrong work.

use std::time::{Duration, Instant};

use orders_local::lambda::LambdaService;
use serde_json::Value;

use crate::process_usage::{cpu_time, peak_rss};
use crate::subjects::{Subject, unsampled_trace};

/// What one run of a subject measured.
#[derive(Debug, Clone)]
pub struct RunMeasures {
    pub init: Duration,
    /// `None` for a subject measured at init only.
    pub invocations: Option<Invocations>,
    /// Peak resident memory, bytes.
    pub peak_rss: u64,
}

#[derive(Debug, Clone)]
pub struct Invocations {
    pub first: Duration,
    pub warm: Vec<Duration>,
    /// CPU time per warm invocation (the process's, every thread).
    pub cpu_per_warm: Duration,
    /// The body of the first answer, as the function returned it.
    pub first_answer: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{subject}: {source}")]
    Invoke {
        subject: String,
        source: orders_local::lambda::InvokeError,
    },
    #[error("{subject}: expected status {expected}, got {answer}")]
    UnexpectedAnswer {
        subject: String,
        expected: u16,
        answer: String,
    },
    #[error("{subject}: its process is gone")]
    NoProcess { subject: String },
    #[error("{subject}: reading its CPU time or memory: {source}")]
    Usage {
        subject: String,
        source: std::io::Error,
    },
}

/// Cold-starts `subject` and, with an `event`, invokes it once then `warm` times, expecting
/// `expected` as every answer's `statusCode`.
pub async fn run(
    lambda: &LambdaService,
    subject: &Subject,
    event: Option<&Value>,
    expected: u16,
    warm: usize,
) -> Result<RunMeasures, RunError> {
    let name = subject.process.name.clone();
    let label = format!("{} ({})", subject.function, subject.runtime.label());
    let invoke_error = |source| RunError::Invoke {
        subject: label.clone(),
        source,
    };
    // Replacing the function retires its environment: the next start is cold.
    lambda.add(subject.process.clone()).await;
    let started = Instant::now();
    lambda.warm(&name).await.map_err(invoke_error)?;
    let init = started.elapsed();
    let pid = lambda.pid(&name).await.ok_or_else(|| RunError::NoProcess {
        subject: label.clone(),
    })?;
    let usage_error = |source| RunError::Usage {
        subject: label.clone(),
        source,
    };

    let invocations = match event {
        None => None,
        Some(event) => {
            let payload = serde_json::to_vec(event).expect("an event serialises");
            let invoke_once = || async {
                let started = Instant::now();
                let answer = lambda
                    .invoke(&name, payload.clone(), Some(unsampled_trace()))
                    .await
                    .map_err(invoke_error)?;
                let took = started.elapsed();
                let answer: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
                if answer["statusCode"] != expected {
                    return Err(RunError::UnexpectedAnswer {
                        subject: label.clone(),
                        expected,
                        answer: answer.to_string(),
                    });
                }
                Ok((took, answer))
            };
            let (first, first_answer) = invoke_once().await?;
            let cpu_before = cpu_time(pid).map_err(usage_error)?;
            let mut latencies = Vec::with_capacity(warm);
            for _ in 0..warm {
                latencies.push(invoke_once().await?.0);
            }
            let cpu = cpu_time(pid).map_err(usage_error)? - cpu_before;
            Some(Invocations {
                first,
                cpu_per_warm: cpu / warm.max(1) as u32,
                warm: latencies,
                first_answer,
            })
        }
    };
    let peak_rss = peak_rss(pid).map_err(usage_error)?;
    Ok(RunMeasures {
        init,
        invocations,
        peak_rss,
    })
}
