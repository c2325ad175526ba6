//! # The service's state: the registered functions and their execution environments
//!
//! [`Service`] is what the public [`LambdaService`](super::LambdaService), the invoker and the
//! Runtime API handlers share: the Runtime API's address, where logs go, the X-Ray daemon, and
//! the functions by logical id. A [`Function`] has at most one execution environment here (like
//! reserved concurrency 1) and a `turn` that queues its invocations in arrival order.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::execution_environment::{Answer, Environment};
use super::logs::LogSink;
use super::{FunctionProcess, InvokeError, LogOutput, SegmentSender, lock};

pub(super) struct Service {
    pub(super) address: SocketAddr,
    pub(super) logs: LogOutput,
    pub(super) xray: Option<SegmentSender>,
    pub(super) functions: Mutex<HashMap<String, Arc<Function>>>,
    pub(super) shutting_down: AtomicBool,
    pub(super) stop_server: Mutex<Option<oneshot::Sender<()>>>,
    pub(super) server: Mutex<Option<JoinHandle<()>>>,
}

/// A registered function and its (at most one) execution environment.
pub(super) struct Function {
    pub(super) config: FunctionProcess,
    /// `Lambda-Runtime-Invoked-Function-Arn`.
    pub(super) arn: String,
    pub(super) log: LogSink,
    /// Held for a whole invocation. tokio's mutex is fair: waiting invocations take their turn
    /// in the order they arrived.
    pub(super) turn: tokio::sync::Mutex<()>,
    /// The warm environment, if any. Changed only by the holder of `turn`.
    pub(super) environment: Mutex<Option<Arc<Environment>>>,
}

impl Function {
    /// The current environment if its process still runs.
    pub(super) fn live_environment(&self) -> Option<Arc<Environment>> {
        lock(&self.environment)
            .clone()
            .filter(|environment| !environment.has_exited())
    }

    /// Waits for the invocation in flight, then stops the environment (SIGTERM, then SIGKILL
    /// after `grace`).
    pub(super) async fn retire(&self, grace: Duration) {
        let _turn = self.turn.lock().await;
        let environment = lock(&self.environment).take();
        if let Some(environment) = environment {
            environment.stop(grace).await;
        }
    }
}

impl Service {
    pub(super) fn function(&self, name: &str) -> Result<Arc<Function>, InvokeError> {
        lock(&self.functions)
            .get(name)
            .cloned()
            .ok_or_else(|| InvokeError::UnknownFunction(name.to_owned()))
    }

    /// The environment the Runtime API requests of function `name` are about.
    pub(super) fn environment_of(&self, name: &str) -> Option<Arc<Environment>> {
        let function = lock(&self.functions).get(name).cloned()?;
        lock(&function.environment).clone()
    }

    /// The caller waiting for invocation `request_id` of function `name`, taken: a request id
    /// is answered once (a second response or error for it is refused as unknown).
    pub(super) fn take_waiting_answer(
        &self,
        name: &str,
        request_id: &str,
    ) -> Option<oneshot::Sender<Answer>> {
        let environment = self.environment_of(name)?;
        lock(&environment.answers).remove(request_id)
    }

    pub(super) fn refuse_when_shutting_down(&self) -> Result<(), InvokeError> {
        if self.shutting_down.load(Ordering::SeqCst) {
            Err(InvokeError::ShuttingDown)
        } else {
            Ok(())
        }
    }

    pub(super) fn log_sink(&self, name: &str) -> LogSink {
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
}
