//! # Lambda, locally: the Runtime API and one process per execution environment
//!
//! On Lambda a Rust function is a *custom runtime*: an executable named `bootstrap` that Lambda
//! starts in an execution environment (a micro-VM) and that then talks to Lambda over one small
//! HTTP API, the **Runtime API**, at `http://$AWS_LAMBDA_RUNTIME_API`:
//!
//! | request                                              | meaning                                   |
//! |------------------------------------------------------|-------------------------------------------|
//! | `GET  /2018-06-01/runtime/invocation/next`           | "give me an event" (a long poll)          |
//! | `POST /2018-06-01/runtime/invocation/{id}/response`  | the handler's result for request `{id}`   |
//! | `POST /2018-06-01/runtime/invocation/{id}/error`     | the handler failed: `{errorType, errorMessage}` |
//! | `POST /2018-06-01/runtime/init/error`                | `main` failed before the first event      |
//!
//! The event comes as the body of the `next` response; its context comes as headers:
//! `Lambda-Runtime-Aws-Request-Id`, `Lambda-Runtime-Deadline-Ms` (epoch milliseconds: now plus
//! the function's timeout), `Lambda-Runtime-Invoked-Function-Arn` and `Lambda-Runtime-Trace-Id`
//! (the X-Ray header, which `lambda_runtime` puts in `_X_AMZN_TRACE_ID`).
//!
//! That API is the whole contract, so this module runs the functions' own binaries unchanged: it
//! serves the Runtime API and starts each execution environment as a child process pointed at
//! it. One server serves every environment of every function, each under its own path prefix
//! (function, then environment number):
//! `AWS_LAMBDA_RUNTIME_API=http://127.0.0.1:9001/CreateOrderFunction/1`. `lambda_runtime` joins
//! that base path to the paths above; the `http://` is needed because the `http` crate refuses a
//! `host:port/path` without a scheme (Lambda itself sets a bare `host:port`).
//!
//! `lambda_runtime` 1.5 needs these variables at start, or panics: `AWS_LAMBDA_RUNTIME_API`,
//! `AWS_LAMBDA_FUNCTION_NAME`, `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` (an integer) and
//! `AWS_LAMBDA_FUNCTION_VERSION`; it reads `AWS_LAMBDA_LOG_STREAM_NAME` and
//! `AWS_LAMBDA_LOG_GROUP_NAME` if set. A process gets *only* the template's environment (the
//! caller's [`FunctionProcess::environment`]), `PATH`, and what Lambda itself sets: nothing
//! leaks from the developer's shell, so a variable missing from the template fails here too.
//!
//! Lambda's rules, as this service plays them:
//!
//! - **One invocation at a time per execution environment; as many environments as invocations
//!   in flight.** An invocation takes an idle warm environment, or cold-starts a new one (its own
//!   process, init phase and log stream). Exam: the concurrency a function needs is requests per
//!   second × average duration in seconds (100 rps × 0.05 s = 5 environments).
//! - **Reserved concurrency** (`ReservedConcurrentExecutions`) both guarantees and caps: the
//!   function may run that many environments and no more. With all of them busy, a synchronous
//!   invocation fails at once: [`InvokeError::Throttled`], AWS's `TooManyRequestsException`
//!   (HTTP 429, "Rate Exceeded"); 0 throttles every invocation. What the caller sees then, on
//!   AWS: an asynchronous invocation is retried by Lambda itself (up to 6 hours, then its
//!   failure destination or DLQ); an SQS event source mapping leaves the batch on the queue
//!   (visible again after the visibility timeout, and each receive counts toward
//!   `maxReceiveCount`); a stream mapping retries the batch; API Gateway (REST, Lambda proxy)
//!   answers the client 500.
//! - **Unreserved concurrency.** A function without reserved concurrency shares the account's
//!   unreserved pool (1,000 concurrent executions per region by default; reservations may take
//!   all but 100 of it) and throttles only when that pool is used up. *Locally* each environment
//!   is a process on one machine, so such a function runs at most
//!   [`LOCAL_UNRESERVED_ENVIRONMENTS`] environments and further invocations **wait** for a free
//!   one, in arrival order, instead of being throttled.
//! - **Cold start, then warm.** An environment's process starts on the invocation that needs it
//!   (or on [`LambdaService::warm`], like provisioned concurrency) and stays up; everything `main`
//!   built before `run` (config, SDK clients, connection pools) is reused by every later
//!   invocation in that environment. The init phase has its own 10 s limit; the function's
//!   timeout counts from the moment the event is handed over.
//! - **A timed-out or crashed environment is never reused.** The process is killed, the invocation
//!   fails, and a later invocation cold-starts a new one. A handler that *returns* an error
//!   leaves its environment warm.
//! - **Invocation types.** [`LambdaService::invoke`] is synchronous (`RequestResponse`);
//!   [`LambdaService::invoke_async`] is asynchronous (`Event`): Lambda queues the event, answers
//!   at once, retries a function error twice and sends what it gives up on to the on-failure
//!   destination (`async_invocation.rs`). The Invoke API on this port (`invoke_api.rs`) offers
//!   both, and `DryRun`, to `aws lambda invoke` and the SDK.
//! - **Logs** are the process's stdout and stderr, line by line, plus Lambda's own
//!   `INIT_START`/`START`/`END`/`REPORT` lines, as in the function's CloudWatch log stream.
//! - **X-Ray** (when a daemon address is given): each invocation records Lambda's
//!   `AWS::Lambda::Function` segment, and the function gets a trace header whose `Parent` is that
//!   segment, so the function's own subsegments nest under it.
//!
//! ## A tour of this folder
//!
//! | file                        | what it plays                                                   |
//! |-----------------------------|-----------------------------------------------------------------|
//! | `mod.rs`                    | the service's public face: [`LambdaService`], [`FunctionProcess`], [`InvokeError`] |
//! | `functions.rs`              | the service's state: the functions, their concurrency (reserved or not) and their environments |
//! | `async_invocation.rs`       | asynchronous invocation: Lambda's queue, retries, the on-failure destination |
//! | `invoke_api.rs`             | the Invoke API (`aws lambda invoke`): `RequestResponse` 200, `Event` 202, `DryRun` 204 |
//! | `invocation_record.rs`      | the record an asynchronous event's on-failure destination receives |
//! | `invocation.rs`             | one invocation: admission or throttle, the timeout, the `START`/`END`/`REPORT` lines |
//! | `execution_environment.rs`  | an execution environment: cold start and init phase, the process, its end |
//! | `function_environment.rs`   | the variables Lambda sets in every execution environment        |
//! | `runtime_api.rs`            | the Runtime API: `/next`, `/response`, `/error`, `/init/error`  |
//! | `logs.rs`                   | the function's log stream: its output line by line, the `REPORT` measures |
//! | `xray_segments.rs`          | X-Ray: trace headers and Lambda's function segment              |

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

mod async_invocation;
mod execution_environment;
mod function_environment;
mod functions;
mod invocation;
mod invocation_record;
pub(crate) use invocation_record::record_envelope;
mod invoke_api;
mod logs;
mod runtime_api;
mod xray_segments;

pub use async_invocation::{
    DEFAULT_MAXIMUM_EVENT_AGE, DEFAULT_MAXIMUM_RETRY_ATTEMPTS, EventInvokeConfig, FailureQueue,
    InvalidEventInvokeConfig, LOCAL_ASYNC_RETRY_DELAYS, MAX_ASYNC_PAYLOAD_BYTES,
};
use functions::{Function, Service};
use runtime_api::runtime_api;
pub(crate) use xray_segments::SegmentSender;
pub use xray_segments::{TraceHeader, epoch_seconds, new_segment_id};

/// Lambda's limit for a synchronous invocation's payload, request and response alike (6 MB).
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;
/// How long a process may take to exit after SIGTERM at shutdown before it is killed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// How many execution environments a function *without* reserved concurrency may run at once
/// locally. On AWS it draws on the account's unreserved pool (1,000 by default) and is
/// throttled only when the pool is empty; here each environment is a process on one machine, so
/// invocations beyond this many wait for a free environment instead.
pub const LOCAL_UNRESERVED_ENVIRONMENTS: u32 = 4;
/// The account and region of every ARN the local stack makes up.
const ACCOUNT_ID: &str = "123456789012";
const REGION: &str = "us-east-1";

/// One function of the template, as a process to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionProcess {
    /// The template's logical id (`CreateOrderFunction`): the function's path prefix on the
    /// Runtime API and its name in logs.
    pub name: String,
    /// The deployed name (`orders-local-CreateOrderFunction`): `AWS_LAMBDA_FUNCTION_NAME`.
    pub function_name: String,
    /// The function's `bootstrap` binary.
    pub executable: PathBuf,
    /// The process's whole environment (the template's variables, endpoint, region,
    /// credentials); the Lambda-set variables are added to it.
    pub environment: BTreeMap<String, String>,
    /// Exam: the function timeout (3 s by default on Lambda, 900 s at most).
    pub timeout: Duration,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`. Reported, not enforced locally.
    pub memory_mb: u32,
    /// Exam: `ReservedConcurrentExecutions`: at most this many environments, throttled beyond.
    /// `None`: the unreserved pool ([`LOCAL_UNRESERVED_ENVIRONMENTS`] locally).
    pub reserved_concurrency: Option<u32>,
}

/// Where the functions' output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogOutput {
    /// This process's stdout, each line prefixed with the function's logical id: `<name> | <line>`.
    Console,
    /// One file per function, `<dir>/<name>.log`, written afresh when the function is added.
    Directory(PathBuf),
    /// Nowhere.
    Discard,
}

/// Why an invocation returned no response.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("no function named {0}")]
    UnknownFunction(String),
    /// The handler ran and reported an error (`/invocation/{id}/error`); its environment stays warm.
    #[error("the function failed: {error_type}: {error_message}")]
    FunctionError {
        error_type: String,
        error_message: String,
    },
    /// The process reported an init error, or exited before asking for its first event (as
    /// `main` does when `Config::from_env` fails): Lambda's `Runtime.ExitError`.
    #[error("the function failed to initialise: {error_type}: {error_message}")]
    InitFailed {
        error_type: String,
        error_message: String,
    },
    /// No response within the function's timeout (or the init phase within its 10 s).
    #[error("the function timed out after {0:?}")]
    Timeout(Duration),
    /// The process exited during the invocation: its exit status and last stderr line.
    #[error("the function's process exited during the invocation: {0}")]
    Crashed(String),
    /// Exam: over Lambda's payload limit, 6 MB for a synchronous invocation
    /// ([`MAX_PAYLOAD_BYTES`]), 1 MB for an asynchronous one ([`MAX_ASYNC_PAYLOAD_BYTES`]).
    #[error(
        "the request payload is {0} bytes, over Lambda's limit (6 MB synchronous, 1 MB asynchronous)"
    )]
    PayloadTooLarge(usize),
    #[error("could not start {executable}: {source}")]
    Spawn {
        executable: PathBuf,
        source: std::io::Error,
    },
    /// Exam: every environment the function's reserved concurrency allows is busy, so Lambda
    /// refuses the invocation at once, without running it: `TooManyRequestsException`, HTTP 429,
    /// "Rate Exceeded" (reason `ReservedFunctionConcurrentInvocationLimitExceeded`).
    #[error(
        "Rate Exceeded. (TooManyRequestsException: the function's reserved concurrency, {reserved}, is in use)"
    )]
    Throttled { reserved: u32 },
    #[error("the Lambda service is shutting down")]
    ShuttingDown,
}

/// The local Lambda service: the Runtime API server and the functions' processes. Cheap to clone.
#[derive(Clone)]
pub struct LambdaService {
    inner: Arc<Service>,
}

impl fmt::Debug for LambdaService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LambdaService")
            .field("address", &self.inner.address)
            .finish_non_exhaustive()
    }
}

impl LambdaService {
    /// Starts the Runtime API, and the Invoke API beside it, on `bind` (port 0: any free port).
    /// With `xray_daemon`, every invocation's function segment is sent there and the functions
    /// get `AWS_XRAY_DAEMON_ADDRESS`.
    pub async fn start(
        bind: SocketAddr,
        logs: LogOutput,
        xray_daemon: Option<SocketAddr>,
    ) -> std::io::Result<Self> {
        if let LogOutput::Directory(directory) = &logs {
            tokio::fs::create_dir_all(directory).await?;
        }
        let listener = TcpListener::bind(bind).await?;
        let address = listener.local_addr()?;
        let xray = match xray_daemon {
            Some(daemon) => Some(SegmentSender::connect(daemon).await?),
            None => None,
        };
        let (stop_server, server_stopped) = oneshot::channel::<()>();
        let service = Arc::new(Service {
            address,
            logs,
            xray,
            functions: Mutex::new(HashMap::new()),
            shutting_down: AtomicBool::new(false),
            stop_server: Mutex::new(Some(stop_server)),
            server: Mutex::new(None),
            asynchronous: async_invocation::AsyncQueue::new(),
        });
        // The Invoke API shares the port: `aws lambda invoke --endpoint-url` reaches it.
        let router = runtime_api(service.clone()).merge(invoke_api::invoke_api(service.clone()));
        let server = tokio::spawn(async move {
            let stopped = async {
                let _ = server_stopped.await;
            };
            if let Err(error) = axum::serve(listener, router)
                .with_graceful_shutdown(stopped)
                .await
            {
                eprintln!("lambda | the Runtime API server failed: {error}");
            }
        });
        *lock(&service.server) = Some(server);
        Ok(Self { inner: service })
    }

    /// The Runtime API's address.
    pub fn address(&self) -> SocketAddr {
        self.inner.address
    }

    /// Registers a function (replacing one of the same name). Its process starts on the first
    /// invocation, a cold start, or on [`LambdaService::warm`].
    pub async fn add(&self, function: FunctionProcess) {
        let log = self.inner.log_sink(&function.name);
        let arn = format!(
            "arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{}",
            function.function_name
        );
        let function = Arc::new(Function::new(function, arn, log));
        let replaced = lock(&self.inner.functions).insert(function.config.name.clone(), function);
        if let Some(replaced) = replaced {
            replaced.retire(Duration::ZERO).await;
        }
    }

    /// Makes sure a function has an idle warm execution environment: starts one now (and waits
    /// for its init phase to end) unless one is idle, so the next invocation is warm. Exam: this
    /// is what provisioned concurrency buys. It takes a concurrency permit while it runs, so it
    /// is throttled or waits as an invocation would.
    pub async fn warm(&self, name: &str) -> Result<(), InvokeError> {
        let function = self.inner.function(name)?;
        let service = self.inner.clone();
        run_to_completion(async move {
            let _permit = function.admit().await?;
            service.refuse_when_shutting_down()?;
            let (environment, _) = service.ready_environment(&function).await?;
            function.release(&environment);
            Ok(())
        })
        .await
    }

    /// A synchronous invocation (`RequestResponse`): the function's response bytes.
    ///
    /// `trace_header` continues a trace (`Root=...;Parent=...;Sampled=...`); without one, a new
    /// sampled trace starts here. Once started, an invocation runs to its end even if the caller
    /// stops waiting: as on Lambda, a client that hangs up does not stop the function.
    pub async fn invoke(
        &self,
        name: &str,
        payload: Vec<u8>,
        trace_header: Option<String>,
    ) -> Result<Vec<u8>, InvokeError> {
        let function = self.inner.function(name)?;
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(InvokeError::PayloadTooLarge(payload.len()));
        }
        let service = self.inner.clone();
        run_to_completion(async move {
            service
                .invoke(&function, Bytes::from(payload), trace_header)
                .await
        })
        .await
    }

    /// An asynchronous invocation (`Event`): Lambda queues the event and answers at once with its
    /// request id (the Invoke API's 202); a poller runs it, retries it and, if it gives up, sends
    /// the function's on-failure destination the invocation record (see `async_invocation.rs`).
    pub async fn invoke_async(
        &self,
        name: &str,
        payload: Vec<u8>,
        trace_header: Option<String>,
    ) -> Result<String, InvokeError> {
        self.inner.function(name)?;
        self.inner.refuse_when_shutting_down()?;
        // Exam: 1 MB for an asynchronous invocation, 6 MB for a synchronous one.
        if payload.len() > MAX_ASYNC_PAYLOAD_BYTES {
            return Err(InvokeError::PayloadTooLarge(payload.len()));
        }
        Ok(self.inner.enqueue(name, Bytes::from(payload), trace_header))
    }

    /// `PutFunctionEventInvokeConfig`: what Lambda does with a function's failed asynchronous
    /// events (retries, maximum age, on-failure destination). Without one: 2 retries, 6 hours,
    /// no destination.
    pub fn put_event_invoke_config(
        &self,
        name: &str,
        config: EventInvokeConfig,
    ) -> Result<(), InvalidEventInvokeConfig> {
        config.validate()?;
        if self.inner.function(name).is_err() {
            return Err(InvalidEventInvokeConfig::UnknownFunction(name.to_owned()));
        }
        self.inner.asynchronous.configure(name, config);
        Ok(())
    }

    /// Sets how long the local service waits before the first and the second retry of a failed
    /// asynchronous event: [`LOCAL_ASYNC_RETRY_DELAYS`] (1 s, 2 s) unless set. AWS waits about
    /// 1 minute, then about 2.
    pub fn set_async_retry_delays(&self, first: Duration, second: Duration) {
        self.inner.asynchronous.set_retry_delays([first, second]);
    }

    /// How many asynchronous events of a function are queued or being attempted: accepted and
    /// not yet done with (succeeded, sent to the destination or discarded).
    pub fn async_events_pending(&self, name: &str) -> usize {
        self.inner.asynchronous.pending(name)
    }

    /// The process id of a function's oldest live execution environment, if it has one.
    pub async fn pid(&self, name: &str) -> Option<u32> {
        self.pids(name).await.first().copied()
    }

    /// How many invocations of a function are in flight now, each in its own execution
    /// environment: CloudWatch's `ConcurrentExecutions` for this function.
    pub async fn concurrent_executions(&self, name: &str) -> u32 {
        self.inner
            .function(name)
            .map(|function| function.in_flight())
            .unwrap_or(0)
    }

    /// The process ids of a function's live execution environments, busy or idle, oldest first.
    pub async fn pids(&self, name: &str) -> Vec<u32> {
        let Ok(function) = self.inner.function(name) else {
            return Vec::new();
        };
        function
            .live_environments()
            .iter()
            .map(|environment| environment.pid)
            .collect()
    }

    /// Stops every process: waits for the invocations in flight (each at most its timeout),
    /// refuses those still waiting for an environment, sends SIGTERM, then SIGKILL after a grace
    /// period. Then stops
    /// the Runtime API server.
    pub async fn shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        // The local queue of asynchronous events is in memory: what is still queued is lost.
        self.inner.asynchronous.stop();
        let functions: Vec<Arc<Function>> = lock(&self.inner.functions).values().cloned().collect();
        let mut retiring = JoinSet::new();
        for function in functions {
            retiring.spawn(async move { function.retire(SHUTDOWN_GRACE).await });
        }
        while retiring.join_next().await.is_some() {}

        if let Some(stop_server) = lock(&self.inner.stop_server).take() {
            let _ = stop_server.send(());
        }
        let server = lock(&self.inner.server).take();
        if let Some(mut server) = server {
            // Every client of this server is a process that is gone by now; do not wait long.
            if tokio::time::timeout(Duration::from_secs(1), &mut server)
                .await
                .is_err()
            {
                server.abort();
            }
        }
    }
}

/// Runs `work` on its own task and waits for it: dropping the caller's future does not cancel
/// the work (an invocation, once admitted, runs to its end and frees its environment).
async fn run_to_completion<T: Send + 'static>(
    work: impl Future<Output = Result<T, InvokeError>> + Send + 'static,
) -> Result<T, InvokeError> {
    match tokio::spawn(work).await {
        Ok(result) => result,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(_) => Err(InvokeError::ShuttingDown),
    }
}

/// A poisoned lock only means another task panicked mid-update; the data here stays usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
