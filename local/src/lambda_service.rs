//! # Lambda, locally: the Runtime API and one process per function
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
//! serves the Runtime API and starts each function as a child process pointed at it. One server
//! serves every function, each under its own path prefix:
//! `AWS_LAMBDA_RUNTIME_API=http://127.0.0.1:9001/CreateOrderFunction`. `lambda_runtime` joins
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
//! - **One invocation at a time per execution environment.** Each function has one environment
//!   here (like reserved concurrency 1): further invocations wait their turn, in arrival order,
//!   where Lambda would start more environments.
//! - **Cold start, then warm.** The process starts on the first invocation (or [`LambdaService::warm`],
//!   like provisioned concurrency) and stays up; everything `main` built before `run` (config, SDK
//!   clients, connection pools) is reused by every later invocation. The init phase has its own
//!   10 s limit; the function's timeout counts from the moment the event is handed over.
//! - **A timed-out or crashed environment is never reused.** The process is killed, the invocation
//!   fails, and the next invocation cold-starts a new one. A handler that *returns* an error
//!   leaves its environment warm.
//! - **Logs** are the process's stdout and stderr, line by line, plus Lambda's own
//!   `INIT_START`/`START`/`END`/`REPORT` lines, as in the function's CloudWatch log stream.
//! - **X-Ray** (when a daemon address is given): each invocation records Lambda's
//!   `AWS::Lambda::Function` segment, and the function gets a trace header whose `Parent` is that
//!   segment, so the function's own subsegments nest under it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::net::{TcpListener, UdpSocket};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use uuid::Uuid;

/// Lambda's limit for a synchronous invocation's payload, request and response alike (6 MB).
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;
/// Exam: the init phase (process start + `main` up to `run`) has its own 10 s limit.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a process may take to exit after SIGTERM at shutdown before it is killed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// How many of a process's last stderr lines are kept to explain a crash.
const STDERR_LINES_KEPT: usize = 20;
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
    #[error("the request payload is {0} bytes, over Lambda's {MAX_PAYLOAD_BYTES}-byte limit")]
    PayloadTooLarge(usize),
    #[error("could not start {executable}: {source}")]
    Spawn {
        executable: PathBuf,
        source: std::io::Error,
    },
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
    /// Starts the Runtime API on `bind` (port 0: any free port). With `xray_daemon`, every
    /// invocation's function segment is sent there and the functions get
    /// `AWS_XRAY_DAEMON_ADDRESS`.
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
            Some(daemon) => Some(XrayDaemon::connect(daemon).await?),
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
        });
        let router = runtime_api(service.clone());
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
        let function = Arc::new(Function {
            config: function,
            arn,
            log,
            turn: tokio::sync::Mutex::new(()),
            environment: Mutex::new(None),
        });
        let replaced = lock(&self.inner.functions).insert(function.config.name.clone(), function);
        if let Some(replaced) = replaced {
            replaced.retire(Duration::ZERO).await;
        }
    }

    /// Starts a function's execution environment now and waits for its init phase to end, so the
    /// next invocation is warm. Exam: this is what provisioned concurrency buys.
    pub async fn warm(&self, name: &str) -> Result<(), InvokeError> {
        let function = self.inner.function(name)?;
        let service = self.inner.clone();
        run_to_completion(async move {
            let _turn = function.turn.lock().await;
            service.refuse_when_shutting_down()?;
            service.ready_environment(&function).await.map(|_| ())
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

    /// The process id of a function's warm execution environment, if it has one.
    pub async fn pid(&self, name: &str) -> Option<u32> {
        let function = self.inner.function(name).ok()?;
        function
            .live_environment()
            .map(|environment| environment.pid)
    }

    /// Stops every process: waits for the invocation in flight in each (at most its timeout),
    /// refuses those still queued, sends SIGTERM, then SIGKILL after a grace period. Then stops
    /// the Runtime API server.
    pub async fn shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
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
/// the work (an invocation, once its turn came, runs to its end and frees its environment).
async fn run_to_completion<T: Send + 'static>(
    work: impl Future<Output = Result<T, InvokeError>> + Send + 'static,
) -> Result<T, InvokeError> {
    match tokio::spawn(work).await {
        Ok(result) => result,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(_) => Err(InvokeError::ShuttingDown),
    }
}

// ------------------------------------------------------------------------------------------------
// The service, its functions and their execution environments
// ------------------------------------------------------------------------------------------------

struct Service {
    address: SocketAddr,
    logs: LogOutput,
    xray: Option<XrayDaemon>,
    functions: Mutex<HashMap<String, Arc<Function>>>,
    shutting_down: AtomicBool,
    stop_server: Mutex<Option<oneshot::Sender<()>>>,
    server: Mutex<Option<JoinHandle<()>>>,
}

/// A registered function and its (at most one) execution environment.
struct Function {
    config: FunctionProcess,
    /// `Lambda-Runtime-Invoked-Function-Arn`.
    arn: String,
    log: LogSink,
    /// Held for a whole invocation. tokio's mutex is fair: waiting invocations take their turn
    /// in the order they arrived.
    turn: tokio::sync::Mutex<()>,
    /// The warm environment, if any. Changed only by the holder of `turn`.
    environment: Mutex<Option<Arc<Environment>>>,
}

impl Function {
    /// The current environment if its process still runs.
    fn live_environment(&self) -> Option<Arc<Environment>> {
        lock(&self.environment)
            .clone()
            .filter(|environment| !environment.has_exited())
    }

    /// Waits for the invocation in flight, then stops the environment (SIGTERM, then SIGKILL
    /// after `grace`).
    async fn retire(&self, grace: Duration) {
        let _turn = self.turn.lock().await;
        let environment = lock(&self.environment).take();
        if let Some(environment) = environment {
            environment.stop(grace).await;
        }
    }
}

impl Service {
    fn function(&self, name: &str) -> Result<Arc<Function>, InvokeError> {
        lock(&self.functions)
            .get(name)
            .cloned()
            .ok_or_else(|| InvokeError::UnknownFunction(name.to_owned()))
    }

    /// The environment the Runtime API requests of function `name` are about.
    fn environment_of(&self, name: &str) -> Option<Arc<Environment>> {
        let function = lock(&self.functions).get(name).cloned()?;
        lock(&function.environment).clone()
    }

    fn refuse_when_shutting_down(&self) -> Result<(), InvokeError> {
        if self.shutting_down.load(Ordering::SeqCst) {
            Err(InvokeError::ShuttingDown)
        } else {
            Ok(())
        }
    }

    fn log_sink(&self, name: &str) -> LogSink {
        match &self.logs {
            LogOutput::Console => LogSink::Console(name.to_owned()),
            LogOutput::Discard => LogSink::Discard,
            LogOutput::Directory(directory) => {
                let path = directory.join(format!("{name}.log"));
                match std::fs::File::create(&path) {
                    Ok(file) => LogSink::File(Arc::new(Mutex::new(file))),
                    Err(error) => {
                        eprintln!("{name} | cannot write {}: {error}", path.display());
                        LogSink::Discard
                    }
                }
            }
        }
    }

    /// One invocation, from its turn in the queue to its `REPORT` line. The caller holds no lock.
    async fn invoke(
        &self,
        function: &Function,
        payload: Bytes,
        trace_header: Option<String>,
    ) -> Result<Vec<u8>, InvokeError> {
        let _turn = function.turn.lock().await;
        self.refuse_when_shutting_down()?;
        let request_id = Uuid::new_v4().to_string();
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
                &request_id,
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
        // Room for exactly one event, and this invocation holds the function's turn: never waits.
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
        if matches!(
            outcome,
            Err(InvokeError::Timeout(_) | InvokeError::Crashed(_))
        ) {
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
        outcome
    }

    /// The function's warm environment, or a new one once its init phase is over (a cold start:
    /// the returned span is the init phase).
    async fn ready_environment(
        &self,
        function: &Function,
    ) -> Result<(Arc<Environment>, Option<(SystemTime, SystemTime)>), InvokeError> {
        if let Some(environment) = function.live_environment() {
            return Ok((environment, None));
        }
        let init_start = SystemTime::now();
        let clock = Instant::now();
        let environment = Arc::new(Environment::start(self, function)?);
        *lock(&function.environment) = Some(environment.clone());
        function.log.line(&format!(
            "INIT_START Runtime Version: provided:al2023 (local process {}, log stream {})",
            environment.pid, environment.log_stream
        ));
        let mut ready = environment.ready.subscribe();
        let mut init_error = environment.init_error.subscribe();

        let result = tokio::select! {
            biased;
            reported = init_error.wait_for(Option::is_some) => {
                let fault = reported.ok().and_then(|fault| fault.clone()).unwrap_or_default();
                Err(InvokeError::InitFailed {
                    error_type: fault.error_type,
                    error_message: fault.error_message,
                })
            }
            _ = environment.exited() => Err(InvokeError::InitFailed {
                error_type: "Runtime.ExitError".to_owned(),
                error_message: format!("Runtime exited with error: {}", environment.exit_report()),
            }),
            _ = ready.wait_for(|ready| *ready) => Ok(()),
            _ = tokio::time::sleep(INIT_TIMEOUT) => Err(InvokeError::Timeout(INIT_TIMEOUT)),
        };
        let init_duration = milliseconds(clock.elapsed());
        match result {
            Ok(()) => Ok((environment, Some((init_start, SystemTime::now())))),
            Err(error) => {
                function.log.line(&format!(
                    "INIT_REPORT Init Duration: {init_duration:.2} ms\tPhase: init\tStatus: error\t{error}"
                ));
                self.discard(function, &environment).await;
                Err(error)
            }
        }
    }

    /// Kills an environment and forgets it: the next invocation starts a new one.
    async fn discard(&self, function: &Function, environment: &Arc<Environment>) {
        {
            let mut current = lock(&function.environment);
            if current
                .as_ref()
                .is_some_and(|current| Arc::ptr_eq(current, environment))
            {
                *current = None;
            }
        }
        environment.stop(Duration::ZERO).await;
    }
}

/// When an invocation's phases ran, for its X-Ray segment.
struct Phases {
    start: SystemTime,
    init: Option<(SystemTime, SystemTime)>,
    invocation: Option<(SystemTime, SystemTime)>,
}

/// One execution environment: a running process of a function, and what the Runtime API
/// handlers and the invoker share about it.
struct Environment {
    pid: u32,
    log_stream: String,
    /// Set by the first `GET /next`: the init phase is over.
    ready: watch::Sender<bool>,
    /// The event for the next `GET /next`.
    events: mpsc::Sender<Event>,
    next_event: tokio::sync::Mutex<mpsc::Receiver<Event>>,
    /// Invocations handed to the process and not yet answered, by request id.
    answers: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    /// What `POST /init/error` reported.
    init_error: watch::Sender<Option<Fault>>,
    /// How the process ended (`exit status: 1`, `signal: 9 (SIGKILL)`), once it has.
    exit: watch::Receiver<Option<String>>,
    signals: mpsc::UnboundedSender<Signal>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
}

/// An invocation on its way to the process.
struct Event {
    request_id: String,
    payload: Bytes,
    trace_header: String,
    invoked_function_arn: String,
    timeout: Duration,
    /// Told when a `GET /next` has taken the event: the function's timeout starts.
    delivered: oneshot::Sender<()>,
}

/// How the process answered an invocation.
enum Answer {
    Response(Bytes),
    Error(Fault),
}

/// The Runtime API's error document, `{"errorType": ..., "errorMessage": ...}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Fault {
    #[serde(default)]
    error_type: String,
    #[serde(default)]
    error_message: String,
}

#[derive(Debug, Clone, Copy)]
enum Signal {
    Terminate,
    Kill,
}

impl Environment {
    /// Starts the function's process with Lambda's environment, pointed at this service.
    fn start(service: &Service, function: &Function) -> Result<Self, InvokeError> {
        let config = &function.config;
        let log_stream = format!(
            "{}/[$LATEST]{}",
            chrono::Utc::now().format("%Y/%m/%d"),
            Uuid::new_v4().simple()
        );
        let task_root = config
            .executable
            .parent()
            .filter(|directory| !directory.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();

        let mut command = Command::new(&config.executable);
        command
            .env_clear()
            .envs(&config.environment)
            .envs(lambda_variables(service, function, &log_stream, &task_root))
            .current_dir(&task_root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // If this service goes away without `shutdown`, its children go too.
            .kill_on_drop(true);
        if !config.environment.contains_key("PATH") {
            command.env("PATH", inherited_path());
        }
        // Its own process group: a signal reaches whatever the function started, too.
        #[cfg(unix)]
        command.process_group(0);
        let mut child = command.spawn().map_err(|source| InvokeError::Spawn {
            executable: config.executable.clone(),
            source,
        })?;
        let pid = child.id().unwrap_or_default();

        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let mut output = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            output.push(tokio::spawn(forward_lines(
                stdout,
                function.log.clone(),
                None,
            )));
        }
        if let Some(stderr) = child.stderr.take() {
            output.push(tokio::spawn(forward_lines(
                stderr,
                function.log.clone(),
                Some(stderr_tail.clone()),
            )));
        }
        let (signals, signals_received) = mpsc::unbounded_channel();
        let (exited, exit) = watch::channel(None);
        tokio::spawn(supervise(child, signals_received, output, exited));

        let (events, next_event) = mpsc::channel(1);
        Ok(Self {
            pid,
            log_stream,
            ready: watch::Sender::new(false),
            events,
            next_event: tokio::sync::Mutex::new(next_event),
            answers: Mutex::new(HashMap::new()),
            init_error: watch::Sender::new(None),
            exit,
            signals,
            stderr_tail,
        })
    }

    fn has_exited(&self) -> bool {
        self.exit.borrow().is_some()
    }

    /// Resolves once the process has exited.
    async fn exited(&self) {
        let mut exit = self.exit.clone();
        // An error means the supervisor is gone, which it is only after the process.
        let _ = exit.wait_for(Option::is_some).await;
    }

    /// The exit status and the last stderr line, for an error message.
    fn exit_report(&self) -> String {
        let status = self
            .exit
            .borrow()
            .clone()
            .unwrap_or_else(|| "still running".to_owned());
        match lock(&self.stderr_tail).back() {
            Some(line) => format!("{status}; last stderr line: {line}"),
            None => format!("{status}; nothing on stderr"),
        }
    }

    /// SIGTERM, up to `grace` to exit, then SIGKILL (at once when `grace` is zero).
    async fn stop(&self, grace: Duration) {
        if !grace.is_zero() {
            let _ = self.signals.send(Signal::Terminate);
            if tokio::time::timeout(grace, self.exited()).await.is_ok() {
                return;
            }
        }
        let _ = self.signals.send(Signal::Kill);
        self.exited().await;
    }
}

/// What Lambda sets in every execution environment (it wins over the template's variables).
fn lambda_variables(
    service: &Service,
    function: &Function,
    log_stream: &str,
    task_root: &Path,
) -> Vec<(String, String)> {
    let config = &function.config;
    let runtime_api = SocketAddr::new(loopback_for(service.address.ip()), service.address.port());
    let mut variables = vec![
        (
            "AWS_LAMBDA_RUNTIME_API",
            format!("http://{runtime_api}/{}", config.name),
        ),
        ("AWS_LAMBDA_FUNCTION_NAME", config.function_name.clone()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            config.memory_mb.to_string(),
        ),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", config.function_name),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME", log_stream.to_owned()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned()),
        ("_HANDLER", "bootstrap".to_owned()),
        ("LAMBDA_TASK_ROOT", task_root.display().to_string()),
        ("TZ", ":UTC".to_owned()),
    ];
    if let Some(xray) = &service.xray {
        variables.push(("AWS_XRAY_DAEMON_ADDRESS", xray.address.to_string()));
        variables.push(("AWS_XRAY_CONTEXT_MISSING", "LOG_ERROR".to_owned()));
    }
    // Lambda always sets the region; keep the caller's if it gave one.
    for name in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if !config.environment.contains_key(name) {
            variables.push((name, REGION.to_owned()));
        }
    }
    variables
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

/// A wildcard bind address is not one a client can connect to: use the loopback instead.
fn loopback_for(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    }
}

fn inherited_path() -> String {
    std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".to_owned())
}

/// Owns the child: reaps it, delivers signals to its process group, and publishes how it ended
/// once its output is read to the end (the last stderr line explains a crash).
async fn supervise(
    mut child: Child,
    mut signals: mpsc::UnboundedReceiver<Signal>,
    output: Vec<JoinHandle<()>>,
    exited: watch::Sender<Option<String>>,
) {
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            signal = signals.recv() => {
                // No sender left: no one can reach this environment any more, so it goes.
                let abandoned = signal.is_none();
                send_signal(&mut child, signal.unwrap_or(Signal::Kill));
                if abandoned {
                    break child.wait().await;
                }
            }
        }
    };
    for reader in output {
        let _ = tokio::time::timeout(Duration::from_secs(1), reader).await;
    }
    let description = match status {
        Ok(status) => status.to_string(),
        Err(error) => format!("exit status unknown ({error})"),
    };
    exited.send_replace(Some(description));
}

#[cfg(unix)]
fn send_signal(child: &mut Child, signal: Signal) {
    // `id` is None once the child is reaped: its pid may belong to someone else by then.
    let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) else {
        return;
    };
    let signal = match signal {
        Signal::Terminate => libc::SIGTERM,
        Signal::Kill => libc::SIGKILL,
    };
    // SAFETY: kill(2) takes no pointers. The child leads its own process group (started with
    // `process_group(0)`) and is not yet reaped, so `-pid` names exactly that group.
    unsafe {
        libc::kill(-pid, signal);
    }
}

#[cfg(not(unix))]
fn send_signal(child: &mut Child, _signal: Signal) {
    let _ = child.start_kill();
}

/// Copies a process's output, line by line, to the function's log; keeps stderr's last lines.
async fn forward_lines(
    stream: impl AsyncRead + Unpin,
    log: LogSink,
    tail: Option<Arc<Mutex<VecDeque<String>>>>,
) {
    let mut lines = BufReader::new(stream).split(b'\n');
    while let Ok(Some(line)) = lines.next_segment().await {
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end_matches('\r');
        log.line(line);
        if let Some(tail) = &tail
            && !line.trim().is_empty()
        {
            let mut tail = lock(tail);
            if tail.len() == STDERR_LINES_KEPT {
                tail.pop_front();
            }
            tail.push_back(line.to_owned());
        }
    }
}

/// The peak resident memory of a process (Linux's `VmHWM`), for the `REPORT` line.
fn peak_memory_mb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kilobytes = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kilobytes.div_ceil(1024))
}

fn milliseconds(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Where one function's log lines go.
#[derive(Clone)]
enum LogSink {
    Console(String),
    File(Arc<Mutex<std::fs::File>>),
    Discard,
}

impl LogSink {
    fn line(&self, line: &str) {
        match self {
            LogSink::Console(name) => println!("{name} | {line}"),
            LogSink::File(file) => {
                // A log that cannot be written never fails an invocation.
                let _ = writeln!(lock(file), "{line}");
            }
            LogSink::Discard => {}
        }
    }
}

/// A poisoned lock only means another task panicked mid-update; the data here stays usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

// ------------------------------------------------------------------------------------------------
// The Runtime API: what a function's process calls
// ------------------------------------------------------------------------------------------------

fn runtime_api(service: Arc<Service>) -> Router {
    Router::new()
        .route(
            "/{function}/2018-06-01/runtime/invocation/next",
            get(next_invocation),
        )
        .route(
            "/{function}/2018-06-01/runtime/invocation/{request_id}/response",
            post(invocation_response),
        )
        .route(
            "/{function}/2018-06-01/runtime/invocation/{request_id}/error",
            post(invocation_error),
        )
        .route(
            "/{function}/2018-06-01/runtime/init/error",
            post(init_error),
        )
        .with_state(service)
}

/// `GET /next`: the process is ready for an event, and waits (a long poll) until there is one.
async fn next_invocation(
    State(service): State<Arc<Service>>,
    UrlPath(function): UrlPath<String>,
) -> Response {
    let Some(environment) = service.environment_of(&function) else {
        return runtime_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            "no such function",
        );
    };
    environment.ready.send_replace(true);
    let event = tokio::select! {
        event = async { environment.next_event.lock().await.recv().await } => event,
        _ = environment.exited() => None,
    };
    let Some(event) = event else {
        return runtime_error(
            StatusCode::GONE,
            "EnvironmentGone",
            "the environment has stopped",
        );
    };
    let deadline = SystemTime::now() + event.timeout;
    let deadline_ms = deadline
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let _ = event.delivered.send(());
    (
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (
                header::HeaderName::from_static("lambda-runtime-aws-request-id"),
                event.request_id,
            ),
            (
                header::HeaderName::from_static("lambda-runtime-deadline-ms"),
                deadline_ms.to_string(),
            ),
            (
                header::HeaderName::from_static("lambda-runtime-invoked-function-arn"),
                event.invoked_function_arn,
            ),
            (
                header::HeaderName::from_static("lambda-runtime-trace-id"),
                event.trace_header,
            ),
        ],
        event.payload,
    )
        .into_response()
}

/// `POST /invocation/{id}/response`: the handler's result.
async fn invocation_response(
    State(service): State<Arc<Service>>,
    UrlPath((function, request_id)): UrlPath<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(answer) = service
        .environment_of(&function)
        .and_then(|environment| lock(&environment.answers).remove(&request_id))
    else {
        return unknown_request_id();
    };
    if content_length(&headers).is_some_and(|length| length > MAX_PAYLOAD_BYTES) {
        let _ = answer.send(Answer::Error(response_too_large()));
        return runtime_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            "response over 6 MB",
        );
    }
    match axum::body::to_bytes(body, MAX_PAYLOAD_BYTES).await {
        Ok(body) => {
            let _ = answer.send(Answer::Response(body));
            accepted()
        }
        Err(error) => {
            let _ = answer.send(Answer::Error(Fault {
                error_type: "Runtime.InvalidResponse".to_owned(),
                error_message: format!("the response could not be read: {error}"),
            }));
            runtime_error(
                StatusCode::BAD_REQUEST,
                "InvalidResponse",
                "unreadable response",
            )
        }
    }
}

/// `POST /invocation/{id}/error`: the handler failed.
async fn invocation_error(
    State(service): State<Arc<Service>>,
    UrlPath((function, request_id)): UrlPath<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(answer) = service
        .environment_of(&function)
        .and_then(|environment| lock(&environment.answers).remove(&request_id))
    else {
        return unknown_request_id();
    };
    let _ = answer.send(Answer::Error(read_fault(&headers, body).await));
    accepted()
}

/// `POST /init/error`: the process could not initialise; it will be stopped.
async fn init_error(
    State(service): State<Arc<Service>>,
    UrlPath(function): UrlPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(environment) = service.environment_of(&function) else {
        return runtime_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            "no such function",
        );
    };
    let fault = read_fault(&headers, body).await;
    environment.init_error.send_replace(Some(fault));
    accepted()
}

/// An error document, or what can be made of a body that is not one.
async fn read_fault(headers: &HeaderMap, body: Body) -> Fault {
    let body = axum::body::to_bytes(body, MAX_PAYLOAD_BYTES)
        .await
        .unwrap_or_default();
    let error_type_header = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("Unhandled")
        .to_owned();
    match serde_json::from_slice::<Fault>(&body) {
        Ok(fault) if !fault.error_type.is_empty() => fault,
        Ok(fault) => Fault {
            error_type: error_type_header,
            ..fault
        },
        Err(_) => Fault {
            error_type: error_type_header,
            error_message: String::from_utf8_lossy(&body).into_owned(),
        },
    }
}

fn response_too_large() -> Fault {
    Fault {
        error_type: "Function.ResponseSizeTooLarge".to_owned(),
        error_message: format!(
            "Response payload size exceeded maximum allowed payload size ({MAX_PAYLOAD_BYTES} bytes)."
        ),
    }
}

fn content_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(json!({ "status": "OK" }))).into_response()
}

fn unknown_request_id() -> Response {
    runtime_error(
        StatusCode::BAD_REQUEST,
        "InvalidRequestID",
        "no invocation in flight has this request id",
    )
}

fn runtime_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "errorType": error_type, "errorMessage": message })),
    )
        .into_response()
}

// ------------------------------------------------------------------------------------------------
// X-Ray: trace headers and segment documents (API Gateway's module uses these too)
// ------------------------------------------------------------------------------------------------

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

/// The X-Ray daemon, as a service's SDK reaches it: segment documents over UDP, each datagram a
/// header line then the document.
#[derive(Debug)]
pub(crate) struct XrayDaemon {
    socket: UdpSocket,
    address: SocketAddr,
}

impl XrayDaemon {
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
fn function_segment(
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

    #[test]
    fn a_wildcard_bind_address_is_reached_on_the_loopback() {
        assert_eq!(
            loopback_for("0.0.0.0".parse().unwrap()),
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
        assert_eq!(
            loopback_for("192.0.2.1".parse().unwrap()),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
    }
}
