//! # The service's state: the registered functions, their concurrency and their environments
//!
//! [`Service`] is what the public [`LambdaService`](super::LambdaService), the invoker and the
//! Runtime API handlers share: the Runtime API's address, where logs go, the X-Ray daemon, and
//! the functions by logical id. A [`Function`] holds its execution environments, each idle or
//! busy with one invocation, and a semaphore with one permit per environment it may run at once:
//! its reserved concurrency, or [`LOCAL_UNRESERVED_ENVIRONMENTS`] without one.
//!
//! Exam: concurrency is the number of invocations in flight at one moment (requests per second ×
//! average duration in seconds). An invocation holds a permit from admission to its `REPORT`
//! line; with reserved concurrency and no permit left it is throttled at once
//! ([`Function::admit`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit, TryAcquireError, oneshot};
use tokio::task::JoinHandle;
use tokio::task::JoinSet;

use super::async_invocation::AsyncQueue;
use super::execution_environment::{Answer, Environment};
use super::logs::LogSink;
use super::{
    FunctionProcess, InvokeError, LOCAL_UNRESERVED_ENVIRONMENTS, LogOutput, SegmentSender, lock,
};

pub(super) struct Service {
    pub(super) address: SocketAddr,
    pub(super) logs: LogOutput,
    pub(super) xray: Option<SegmentSender>,
    pub(super) functions: Mutex<HashMap<String, Arc<Function>>>,
    pub(super) shutting_down: AtomicBool,
    pub(super) stop_server: Mutex<Option<oneshot::Sender<()>>>,
    pub(super) server: Mutex<Option<JoinHandle<()>>>,
    /// Lambda's queue of asynchronous events and the functions' `EventInvokeConfig`.
    pub(super) asynchronous: AsyncQueue,
}

/// A registered function, its execution environments and the permits to run them.
pub(super) struct Function {
    pub(super) config: FunctionProcess,
    /// `Lambda-Runtime-Invoked-Function-Arn`.
    pub(super) arn: String,
    pub(super) log: LogSink,
    /// One permit per invocation in flight, [`Function::limit`] in all. tokio's semaphore is fair:
    /// invocations waiting for a permit get one in the order they arrived.
    concurrency: Semaphore,
    /// How many environments the function may run at once.
    limit: u32,
    /// Its execution environments, in the order they started. Only the holder of a permit marks
    /// one busy, so there are never more environments than permits.
    environments: Mutex<Vec<Slot>>,
    /// Numbers the environments: each has its own path on the Runtime API.
    next_environment: AtomicU64,
    /// Set by [`Function::retire`]: nothing more is admitted.
    retired: AtomicBool,
}

/// An execution environment and whether an invocation is using it.
struct Slot {
    environment: Arc<Environment>,
    busy: bool,
}

impl Function {
    pub(super) fn new(config: FunctionProcess, arn: String, log: LogSink) -> Self {
        let limit = config
            .reserved_concurrency
            .unwrap_or(LOCAL_UNRESERVED_ENVIRONMENTS);
        Self {
            config,
            arn,
            log,
            concurrency: Semaphore::new(limit as usize),
            limit,
            environments: Mutex::new(Vec::new()),
            next_environment: AtomicU64::new(1),
            retired: AtomicBool::new(false),
        }
    }

    /// A permit to run one invocation. Exam: reserved concurrency is a hard cap, so with every
    /// reserved environment busy the invocation is throttled at once (`TooManyRequestsException`,
    /// HTTP 429), never queued. Without reserved concurrency the function draws on the account's
    /// unreserved pool; here that pool is [`LOCAL_UNRESERVED_ENVIRONMENTS`] per function, and an
    /// invocation beyond it waits for an environment to be free (on AWS it would run at once, in a
    /// new environment, up to the account's 1,000).
    pub(super) async fn admit(&self) -> Result<SemaphorePermit<'_>, InvokeError> {
        self.refuse_when_retired()?;
        let permit = match self.config.reserved_concurrency {
            Some(reserved) => self
                .concurrency
                .try_acquire()
                .map_err(|error| match error {
                    TryAcquireError::NoPermits => InvokeError::Throttled { reserved },
                    TryAcquireError::Closed => InvokeError::ShuttingDown,
                })?,
            None => self
                .concurrency
                .acquire()
                .await
                .map_err(|_| InvokeError::ShuttingDown)?,
        };
        self.refuse_when_retired()?;
        Ok(permit)
    }

    /// How many permits are taken: the invocations in flight.
    pub(super) fn in_flight(&self) -> u32 {
        let available = u32::try_from(self.concurrency.available_permits()).unwrap_or(u32::MAX);
        self.limit.saturating_sub(available)
    }

    fn refuse_when_retired(&self) -> Result<(), InvokeError> {
        if self.retired.load(Ordering::SeqCst) {
            Err(InvokeError::ShuttingDown)
        } else {
            Ok(())
        }
    }

    /// The number the next environment gets.
    pub(super) fn next_environment_number(&self) -> u64 {
        self.next_environment.fetch_add(1, Ordering::SeqCst)
    }

    /// An idle environment whose process still runs, now marked busy (a warm start). Environments
    /// whose process has exited are forgotten on the way.
    pub(super) fn take_idle(&self) -> Option<Arc<Environment>> {
        let mut environments = lock(&self.environments);
        environments.retain(|slot| !slot.environment.has_exited());
        let slot = environments.iter_mut().find(|slot| !slot.busy)?;
        slot.busy = true;
        Some(slot.environment.clone())
    }

    /// A new environment, busy with the invocation that started it.
    pub(super) fn add_busy(&self, environment: Arc<Environment>) {
        lock(&self.environments).push(Slot {
            environment,
            busy: true,
        });
    }

    /// The invocation is over and the environment stays warm for the next one.
    pub(super) fn release(&self, environment: &Arc<Environment>) {
        if let Some(slot) = lock(&self.environments)
            .iter_mut()
            .find(|slot| Arc::ptr_eq(&slot.environment, environment))
        {
            slot.busy = false;
        }
    }

    /// Forgets an environment: no invocation will use it again.
    pub(super) fn forget(&self, environment: &Arc<Environment>) {
        lock(&self.environments).retain(|slot| !Arc::ptr_eq(&slot.environment, environment));
    }

    /// The environment numbered `number`, if the function still has it.
    pub(super) fn environment(&self, number: u64) -> Option<Arc<Environment>> {
        lock(&self.environments)
            .iter()
            .find(|slot| slot.environment.number == number)
            .map(|slot| slot.environment.clone())
    }

    /// The environments whose process still runs, oldest first.
    pub(super) fn live_environments(&self) -> Vec<Arc<Environment>> {
        lock(&self.environments)
            .iter()
            .filter(|slot| !slot.environment.has_exited())
            .map(|slot| slot.environment.clone())
            .collect()
    }

    /// Admits nothing more, waits for the invocations in flight (those still waiting for a
    /// permit are refused), then stops every environment (SIGTERM, then SIGKILL after `grace`).
    pub(super) async fn retire(&self, grace: Duration) {
        self.retired.store(true, Ordering::SeqCst);
        let _every_permit = self.concurrency.acquire_many(self.limit).await;
        self.concurrency.close();
        let environments: Vec<Arc<Environment>> = lock(&self.environments)
            .drain(..)
            .map(|slot| slot.environment)
            .collect();
        let mut stopping = JoinSet::new();
        for environment in environments {
            stopping.spawn(async move { environment.stop(grace).await });
        }
        while stopping.join_next().await.is_some() {}
    }
}

impl Service {
    pub(super) fn function(&self, name: &str) -> Result<Arc<Function>, InvokeError> {
        lock(&self.functions)
            .get(name)
            .cloned()
            .ok_or_else(|| InvokeError::UnknownFunction(name.to_owned()))
    }

    /// The environment the Runtime API requests under `/{name}/{number}/` are about.
    pub(super) fn environment_of(&self, name: &str, number: u64) -> Option<Arc<Environment>> {
        let function = lock(&self.functions).get(name).cloned()?;
        function.environment(number)
    }

    /// The caller waiting for invocation `request_id` in that environment, taken: a request id
    /// is answered once (a second response or error for it is refused as unknown).
    pub(super) fn take_waiting_answer(
        &self,
        name: &str,
        number: u64,
        request_id: &str,
    ) -> Option<oneshot::Sender<Answer>> {
        let environment = self.environment_of(name, number)?;
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
