//! # An execution environment: cold start, one process, and its end
//!
//! Lambda starts an execution environment when an invocation finds none of the function's idle
//! (a **cold start**), runs the runtime's init phase (process start and `main` up to `run`, 10 s
//! at most), then reuses it for later invocations, one at a time (**warm**). A function has as
//! many environments as it has had invocations in flight at once, up to its concurrency (see
//! `functions.rs`). A timed-out or crashed environment is never reused: it is killed and
//! forgotten, and a later invocation cold-starts a new one.
//!
//! Here an environment is a child process in its own process group, with only the template's
//! variables and Lambda's (see `function_environment.rs`), and its own log stream name and path
//! on the Runtime API; a supervisor task owns the child, delivers SIGTERM/SIGKILL and publishes
//! how it ended.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use serde::Deserialize;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::function_environment::{inherited_path, lambda_variables};
use super::functions::{Function, Service};
use super::logs::{forward_lines, milliseconds};
use super::{InvokeError, lock};

/// Exam: the init phase (process start + `main` up to `run`) has its own 10 s limit.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

impl Service {
    /// An idle warm environment of the function, or a new one once its init phase is over (a
    /// cold start: the returned span is the init phase). Either way it is marked busy until
    /// [`Function::release`] or [`Service::discard`]. The caller holds a concurrency permit.
    pub(super) async fn ready_environment(
        &self,
        function: &Function,
    ) -> Result<(Arc<Environment>, Option<(SystemTime, SystemTime)>), InvokeError> {
        if let Some(environment) = function.take_idle() {
            return Ok((environment, None));
        }
        let init_start = SystemTime::now();
        let clock = Instant::now();
        let environment = Arc::new(Environment::start(self, function)?);
        function.add_busy(environment.clone());
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

    /// Kills an environment and forgets it: a later invocation starts a new one.
    pub(super) async fn discard(&self, function: &Function, environment: &Arc<Environment>) {
        function.forget(environment);
        environment.stop(Duration::ZERO).await;
    }
}

/// One execution environment: a running process of a function, and what the Runtime API
/// handlers and the invoker share about it.
pub(super) struct Environment {
    /// Its number among the function's environments: its path on the Runtime API.
    pub(super) number: u64,
    pub(super) pid: u32,
    pub(super) log_stream: String,
    /// Set by the first `GET /next`: the init phase is over.
    pub(super) ready: watch::Sender<bool>,
    /// The event for the next `GET /next`.
    pub(super) events: mpsc::Sender<Event>,
    pub(super) next_event: tokio::sync::Mutex<mpsc::Receiver<Event>>,
    /// Invocations handed to the process and not yet answered, by request id.
    pub(super) answers: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    /// What `POST /init/error` reported.
    pub(super) init_error: watch::Sender<Option<Fault>>,
    /// How the process ended (`exit status: 1`, `signal: 9 (SIGKILL)`), once it has.
    exit: watch::Receiver<Option<String>>,
    signals: mpsc::UnboundedSender<Signal>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
}

/// An invocation on its way to the process.
pub(super) struct Event {
    pub(super) request_id: String,
    pub(super) payload: Bytes,
    pub(super) trace_header: String,
    pub(super) invoked_function_arn: String,
    pub(super) timeout: Duration,
    /// Told when a `GET /next` has taken the event: the function's timeout starts.
    pub(super) delivered: oneshot::Sender<()>,
}

/// How the process answered an invocation.
pub(super) enum Answer {
    Response(Bytes),
    Error(Fault),
}

/// The Runtime API's error document, `{"errorType": ..., "errorMessage": ...}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Fault {
    #[serde(default)]
    pub(super) error_type: String,
    #[serde(default)]
    pub(super) error_message: String,
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
        let number = function.next_environment_number();
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
            .envs(lambda_variables(
                service,
                function,
                number,
                &log_stream,
                &task_root,
            ))
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
            number,
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

    pub(super) fn has_exited(&self) -> bool {
        self.exit.borrow().is_some()
    }

    /// Resolves once the process has exited.
    pub(super) async fn exited(&self) {
        let mut exit = self.exit.clone();
        // An error means the supervisor is gone, which it is only after the process.
        let _ = exit.wait_for(Option::is_some).await;
    }

    /// The exit status and the last stderr line, for an error message.
    pub(super) fn exit_report(&self) -> String {
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
    pub(super) async fn stop(&self, grace: Duration) {
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
