//! The whole local stack, from `template.yaml`: what `make dev` runs and `make demo` drives.
//!
//! Starting it does what `sam deploy` and the AWS services do, in order:
//!
//! 1. the AWS APIs: moto (or the server `AWS_ENDPOINT_URL` names);
//! 2. CloudFormation: every resource the template declares ([`cloudformation::deploy`]);
//! 3. the X-Ray daemon on UDP ([`crate::xray`]);
//! 4. Lambda: each function's binary, with *only* the environment the template gives it plus the
//!    emulator's endpoint and credentials ([`crate::lambda`]), so a variable missing from
//!    the template fails here as it would on AWS;
//! 5. API Gateway for the `Api` events, with the API's authorizers, API key and gateway responses
//!    ([`crate::api_gateway`]), and the event source mappings of the `DynamoDB` and `SQS` events
//!    ([`crate::event_source_mappings`]), each polling in its own task.
//!
//! Stopping it (Ctrl-C) stops the pollers between batches (a batch in flight finishes; messages
//! not yet received stay queued), then the API, the functions, the daemon and moto.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api_gateway::{self, ApiGateway};
use crate::cloudformation::template::{EventSpec, FunctionSpec};
use crate::cloudformation::{self, Deployed, Template};
use crate::event_source_mappings::on_failure::OnFailureQueue;
use crate::event_source_mappings::sqs::poll_queue;
use crate::event_source_mappings::stream::poll_stream;
use crate::event_source_mappings::{QueuePoller, StreamPoller};
use crate::lambda::{FunctionProcess, LambdaService, LogOutput};
use crate::moto::{Moto, MotoError};
use crate::sign_in::{self, SignInError, Tokens, UserPool};
use crate::xray::LocalXrayDaemon;

/// Where everything listens, and how the stack behaves. Each address has a documented default
/// (as `sam local start-api`), overridable by environment ([`StackConfig::from_env`]).
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// The repository: `template.yaml`, `.venv`, `scripts/`, `target/`.
    pub workspace: PathBuf,
    /// Names the physical resources: `<stack>-OrdersTable`, ...
    pub stack_name: String,
    pub region: String,
    /// API Gateway (`ORDERS_LOCAL_API`, default `127.0.0.1:3000`).
    pub api: SocketAddr,
    /// moto's port (`ORDERS_LOCAL_MOTO_PORT`, default 5000; 0 picks a free one).
    pub moto_port: u16,
    /// Use this server instead of starting moto (`AWS_ENDPOINT_URL`).
    pub endpoint: Option<String>,
    /// The X-Ray daemon (`ORDERS_LOCAL_XRAY`, default `127.0.0.1:2000`).
    pub xray: SocketAddr,
    /// The Lambda Runtime API (`ORDERS_LOCAL_LAMBDA`, default `127.0.0.1:9001`).
    pub lambda: SocketAddr,
    /// The functions' binaries (`target/debug`, as `cargo build` leaves them).
    pub binaries: PathBuf,
    /// Where the functions' logs go.
    pub logs: LogOutput,
    /// Print each trace as a tree when it completes.
    pub print_traces: bool,
    /// A failed queue message comes back after this instead of the queue's visibility timeout
    /// (`ORDERS_LOCAL_RETRY_AFTER_SECONDS`; unset: the template's timeout, as on AWS).
    pub retry_after: Option<Duration>,
    /// How long a poller sleeps after an empty poll.
    pub poll_interval: Duration,
}

impl StackConfig {
    /// The documented defaults, overridden by the environment.
    pub fn from_env(workspace: &Path) -> Result<Self, StackError> {
        let address = |name: &'static str, default: &str| -> Result<SocketAddr, StackError> {
            let value = std::env::var(name).unwrap_or_else(|_| default.to_owned());
            value.parse().map_err(|_| StackError::Config {
                name,
                reason: format!("{value:?} is not an address like 127.0.0.1:3000"),
            })
        };
        let moto_port = match std::env::var("ORDERS_LOCAL_MOTO_PORT") {
            Ok(value) => value.parse().map_err(|_| StackError::Config {
                name: "ORDERS_LOCAL_MOTO_PORT",
                reason: format!("{value:?} is not a port"),
            })?,
            Err(_) => 5000,
        };
        let retry_after = match std::env::var("ORDERS_LOCAL_RETRY_AFTER_SECONDS") {
            Ok(value) => Some(Duration::from_secs(value.parse().map_err(|_| {
                StackError::Config {
                    name: "ORDERS_LOCAL_RETRY_AFTER_SECONDS",
                    reason: format!("{value:?} is not a number of seconds"),
                }
            })?)),
            Err(_) => None,
        };
        Ok(Self {
            workspace: workspace.to_owned(),
            stack_name: std::env::var("ORDERS_LOCAL_STACK")
                .unwrap_or_else(|_| "orders-local".into()),
            region: "us-east-1".into(),
            api: address("ORDERS_LOCAL_API", "127.0.0.1:3000")?,
            moto_port,
            endpoint: std::env::var("AWS_ENDPOINT_URL").ok(),
            xray: address("ORDERS_LOCAL_XRAY", "127.0.0.1:2000")?,
            lambda: address("ORDERS_LOCAL_LAMBDA", "127.0.0.1:9001")?,
            binaries: workspace.join("target/debug"),
            logs: LogOutput::Console,
            print_traces: true,
            retry_after,
            poll_interval: Duration::from_millis(250),
        })
    }
}

/// Why the stack could not start. Each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("{name}: {reason}")]
    Config { name: &'static str, reason: String },
    #[error(transparent)]
    Moto(#[from] MotoError),
    #[error("template.yaml: {0}")]
    Template(String),
    #[error("creating the template's resources: {0}")]
    Resources(String),
    #[error("{service} cannot listen on {address}: {source} (set {variable} to another address)")]
    Listen {
        service: &'static str,
        address: SocketAddr,
        variable: &'static str,
        source: std::io::Error,
    },
    #[error("no binary for {function} at {path}: build the functions first (`cargo build --bins`)")]
    NoBinary { function: String, path: String },
}

/// A running local stack.
pub struct Stack {
    config: StackConfig,
    // Held for its life: dropping it stops the server.
    _moto: Option<Moto>,
    endpoint: String,
    aws: SdkConfig,
    deployed: Deployed,
    functions: Vec<FunctionSpec>,
    lambda: LambdaService,
    api: ApiGateway,
    xray: LocalXrayDaemon,
    stop: watch::Sender<bool>,
    pollers: Vec<JoinHandle<()>>,
}

impl Stack {
    pub async fn start(config: StackConfig) -> Result<Self, StackError> {
        let template = Template::load(&config.workspace.join("template.yaml"))
            .map_err(|error| StackError::Template(error.to_string()))?;

        // 1. The AWS APIs.
        let (moto, endpoint) = match &config.endpoint {
            Some(endpoint) => (None, endpoint.clone()),
            None => {
                std::fs::create_dir_all(config.workspace.join("target")).ok();
                let log = config.workspace.join("target/local-moto.log");
                let moto = Moto::start(&config.workspace, config.moto_port, &log)?;
                let endpoint = moto.endpoint().to_owned();
                (Some(moto), endpoint)
            }
        };
        let aws = sdk_config(&endpoint, &config.region).await;

        // 2. The resources.
        let deployed = cloudformation::deploy(&template, &aws, &config.stack_name)
            .await
            .map_err(|error| StackError::Resources(error.to_string()))?;

        // 3. X-Ray.
        let xray = LocalXrayDaemon::start(config.xray, config.print_traces)
            .await
            .map_err(|source| StackError::Listen {
                service: "the X-Ray daemon",
                address: config.xray,
                variable: "ORDERS_LOCAL_XRAY",
                source,
            })?;

        // 4. Lambda: every function, with the template's environment.
        let lambda = LambdaService::start(config.lambda, config.logs.clone(), Some(xray.address()))
            .await
            .map_err(|source| StackError::Listen {
                service: "the Lambda Runtime API",
                address: config.lambda,
                variable: "ORDERS_LOCAL_LAMBDA",
                source,
            })?;
        let functions = template.functions();
        for function in &functions {
            let executable = config.binaries.join(&function.binary);
            if !executable.exists() {
                return Err(StackError::NoBinary {
                    function: function.logical_id.clone(),
                    path: executable.display().to_string(),
                });
            }
            let environment = function_environment(&deployed, function, &endpoint, &config)?;
            lambda
                .add(FunctionProcess {
                    name: function.logical_id.clone(),
                    function_name: format!("{}-{}", config.stack_name, function.logical_id),
                    executable,
                    environment,
                    timeout: Duration::from_secs(function.timeout_seconds),
                    memory_mb: function.memory_mb,
                })
                .await;
        }

        // 5. API Gateway (its authorizers fetch the user pools' keys from moto) and the event
        //    source mappings.
        let settings = api_gateway::deployment::deploy(&deployed, &functions, &endpoint)
            .await
            .map_err(|error| StackError::Resources(error.to_string()))?;
        let api = ApiGateway::serve(config.api, settings, lambda.clone(), Some(xray.address()))
            .await
            .map_err(|source| StackError::Listen {
                service: "API Gateway",
                address: config.api,
                variable: "ORDERS_LOCAL_API",
                source,
            })?;
        let (stop, stopped) = watch::channel(false);
        let mut stack = Self {
            config,
            _moto: moto,
            endpoint,
            aws,
            deployed,
            functions,
            lambda,
            api,
            xray,
            stop,
            pollers: Vec::new(),
        };
        stack.pollers = stack.start_pollers(stopped);
        Ok(stack)
    }

    /// `http://127.0.0.1:3000/<stage>`-less base URL: the local API serves paths at the root, as
    /// `sam local start-api` does.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.api.address())
    }

    /// The AWS endpoint (moto) the functions use.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// SDK configuration for the stack's AWS endpoint (look inside: scan the table, read a DLQ).
    pub fn aws(&self) -> &SdkConfig {
        &self.aws
    }

    /// The physical resources, by logical id.
    pub fn deployed(&self) -> &Deployed {
        &self.deployed
    }

    pub fn xray(&self) -> &LocalXrayDaemon {
        &self.xray
    }

    pub fn lambda(&self) -> &LambdaService {
        &self.lambda
    }

    /// The user pool customers sign in to.
    pub fn user_pool(&self) -> Option<UserPool> {
        UserPool::of(&self.deployed)
    }

    /// The API key clients send (`x-api-key`).
    pub fn api_key(&self) -> Option<&str> {
        sign_in::api_key(&self.deployed)
    }

    /// Signs `email` up and in to the stack's user pool (see [`sign_in::sign_in`]).
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        group: Option<&str>,
    ) -> Result<Tokens, SignInError> {
        let pool = self.user_pool().ok_or_else(|| SignInError {
            step: "finding the user pool",
            cause: "the template has no AWS::Cognito::UserPoolClient".into(),
        })?;
        let cognito = aws_sdk_cognitoidentityprovider::Client::new(&self.aws);
        sign_in::sign_in(&cognito, &pool, email, password, group).await
    }

    /// What started, where, and how to look inside.
    pub fn banner(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "Orders on Lambda, local stack `{}` (from template.yaml)\n\n",
            self.config.stack_name
        ));
        out.push_str(&format!("  API         {}\n", self.api_url()));
        out.push_str(&format!("  AWS (moto)  {}\n", self.endpoint));
        out.push_str(&format!("  X-Ray       udp://{}\n", self.xray.address()));
        out.push_str(&format!(
            "  Lambda API  http://{}\n\n",
            self.lambda.address()
        ));
        out.push_str("Resources:\n");
        for resource in self.deployed.resources() {
            out.push_str(&format!(
                "  {:<28} {:<30} {}\n",
                resource.logical_id, resource.resource_type, resource.physical_id
            ));
        }
        out.push_str("\nFunctions:\n");
        for function in &self.functions {
            let triggers: Vec<String> = function.events.iter().map(describe_event).collect();
            out.push_str(&format!(
                "  {:<28} {}\n",
                function.logical_id,
                triggers.join(", ")
            ));
        }
        let table = self.deployed.table_name("OrdersTable").unwrap_or("<table>");
        let aws = format!(
            "aws --endpoint-url {} --region {}",
            self.endpoint, self.config.region
        );
        if let Some(pool) = self.user_pool() {
            let key = self.api_key().unwrap_or("<none>");
            out.push_str(&format!(
                "\nIdentity (API Gateway checks both before any function runs):\n  \
                 user pool   {}\n  app client  {}\n  API key     {key}   (x-api-key: meters the app, names no user)\n",
                pool.pool_id, pool.client_id
            ));
            out.push_str(&format!(
                "Sign up and get an ID token in one step: TOKEN=$(make -s token EMAIL=ada@example.com)\n\
                 (GROUP=support for a support user), or with the AWS CLI:\n  \
                 {aws} cognito-idp sign-up --client-id {client} --username ada@example.com --password {password}\n  \
                 {aws} cognito-idp admin-confirm-sign-up --user-pool-id {pool} --username ada@example.com\n  \
                 TOKEN=$({aws} cognito-idp initiate-auth --client-id {client} --auth-flow USER_PASSWORD_AUTH \\\n    \
                 --auth-parameters USERNAME=ada@example.com,PASSWORD={password} --query AuthenticationResult.IdToken --output text)\n",
                client = pool.client_id,
                pool = pool.pool_id,
                password = sign_in::LOCAL_PASSWORD,
            ));
            out.push_str(&format!(
                "\nTry:\n  curl -s -X POST {}/orders -H \"Authorization: $TOKEN\" -H 'x-api-key: {key}' \\\n    \
                 -H 'content-type: application/json' -d '{{\"items\":[{{\"sku\":\"BOOK-1\",\"quantity\":1,\"unitPriceCents\":1250}}],\
                 \"payment\":{{\"cardNumber\":\"4111 1111 1111 1111\",\"expiry\":\"12/35\"}}}}'\n  \
                 curl -s {}/orders -H \"Authorization: $TOKEN\" -H 'x-api-key: {key}'\n",
                self.api_url(),
                self.api_url()
            ));
        }
        out.push_str(&format!(
            "Look inside (test credentials: AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing):\n  \
             {aws} dynamodb scan --table-name {table}\n  \
             {aws} sqs list-queues\n  \
             {aws} apigateway get-api-keys --include-values\n",
        ));
        out.push_str("Ctrl-C stops everything.\n");
        out
    }

    /// Stops the stack: pollers first (a batch in flight finishes), then API, functions, daemon.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for poller in self.pollers {
            let _ = poller.await;
        }
        self.api.shutdown().await;
        self.lambda.shutdown().await;
        self.xray.shutdown().await;
    }

    /// A stream mapping's on-failure destination queue, if the stack created it.
    fn on_failure_queue(&self, function: &str, queue: &str) -> Option<OnFailureQueue> {
        let (Some(url), Some(function_arn)) = (
            self.deployed.queue_url(queue),
            self.deployed.function_arn(function),
        ) else {
            eprintln!("{function}: no queue {queue}: its stream failures are only printed");
            return None;
        };
        let client = aws_sdk_sqs::Client::new(&self.aws);
        Some(OnFailureQueue::new(client, url, function_arn))
    }

    /// One task per `DynamoDB` and `SQS` event of every function.
    fn start_pollers(&self, stopped: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        let mut tasks = Vec::new();
        for function in &self.functions {
            for event in &function.events {
                let task = match event {
                    EventSpec::Sqs {
                        queue,
                        batch_size,
                        batching_window_seconds,
                        ..
                    } => {
                        let (Some(url), Some(arn)) = (
                            self.deployed.queue_url(queue),
                            self.deployed.queue_arn(queue),
                        ) else {
                            eprintln!("{}: no queue {queue}: not polled", function.logical_id);
                            continue;
                        };
                        let mut poller =
                            QueuePoller::new(aws_sdk_sqs::Client::new(&self.aws), url, arn);
                        poller.batch_size = *batch_size as i32;
                        poller.batching_window =
                            Duration::from_secs(u64::from(*batching_window_seconds));
                        poller.retry_after = self.config.retry_after;
                        tokio::spawn(poll_queue(
                            poller,
                            function.logical_id.clone(),
                            self.lambda.clone(),
                            stopped.clone(),
                            self.config.poll_interval,
                        ))
                    }
                    EventSpec::DynamoDbStream {
                        table,
                        batch_size,
                        maximum_retry_attempts,
                        filter_patterns,
                        on_failure_queue,
                        ..
                    } => {
                        let Some(stream_arn) = self.deployed.stream_arn(table) else {
                            eprintln!(
                                "{}: table {table} has no stream: not polled",
                                function.logical_id
                            );
                            continue;
                        };
                        let mut poller = StreamPoller::new(
                            aws_sdk_dynamodbstreams::Client::new(&self.aws),
                            stream_arn,
                        );
                        poller.batch_size = *batch_size as usize;
                        poller.filter_patterns = filter_patterns.clone();
                        poller.on_failure = on_failure_queue
                            .as_deref()
                            .and_then(|queue| self.on_failure_queue(&function.logical_id, queue));
                        tokio::spawn(poll_stream(
                            poller,
                            function.logical_id.clone(),
                            maximum_retry_attempts.unwrap_or(-1),
                            self.lambda.clone(),
                            stopped.clone(),
                            self.config.poll_interval,
                        ))
                    }
                    EventSpec::Api { .. } => continue,
                };
                tasks.push(task);
            }
        }
        tasks
    }
}

/// SDK configuration for a local endpoint with the emulator's test credentials.
pub async fn sdk_config(endpoint: &str, region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_owned()))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "testing", "testing", None, None, "local",
        ))
        .load()
        .await
}

/// CloudFormation's step of [`Stack::start`] alone: the template's resources on the server at
/// `endpoint` (started by the caller), and the environment [`Stack::start`] would give each
/// function. For a function run outside the stack, as `make invoke` and `make watch` run one
/// under `cargo lambda watch` (`orders-local resources`).
pub async fn deploy_resources(
    config: &StackConfig,
    endpoint: &str,
) -> Result<(Deployed, Vec<(FunctionSpec, BTreeMap<String, String>)>), StackError> {
    let template = Template::load(&config.workspace.join("template.yaml"))
        .map_err(|error| StackError::Template(error.to_string()))?;
    let aws = sdk_config(endpoint, &config.region).await;
    let deployed = cloudformation::deploy(&template, &aws, &config.stack_name)
        .await
        .map_err(|error| StackError::Resources(error.to_string()))?;
    let environments = template
        .functions()
        .into_iter()
        .map(|function| {
            let environment = function_environment(&deployed, &function, endpoint, config)?;
            Ok((function, environment))
        })
        .collect::<Result<_, StackError>>()?;
    Ok((deployed, environments))
}

/// The environment a function gets: what the template gives it, what Lambda's logging controls
/// set, and the emulator's endpoint, region and test credentials. Nothing else.
fn function_environment(
    deployed: &Deployed,
    function: &FunctionSpec,
    endpoint: &str,
    config: &StackConfig,
) -> Result<BTreeMap<String, String>, StackError> {
    let mut environment = deployed
        .environment(function)
        .map_err(|error| StackError::Resources(format!("{}: {error}", function.logical_id)))?;
    // Exam: Lambda's advanced logging controls arrive as these variables.
    if let Some(format) = &function.log_format {
        environment.insert("AWS_LAMBDA_LOG_FORMAT".into(), format.clone());
    }
    if let Some(level) = &function.application_log_level {
        let level = deployed
            .resolve(level)
            .map_err(|error| StackError::Resources(format!("{}: {error}", function.logical_id)))?;
        environment.insert("AWS_LAMBDA_LOG_LEVEL".into(), level);
    }
    for (name, value) in [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_REGION", config.region.as_str()),
        ("AWS_DEFAULT_REGION", config.region.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ] {
        environment.insert(name.into(), value.into());
    }
    Ok(environment)
}

fn describe_event(event: &EventSpec) -> String {
    match event {
        EventSpec::Api { path, method, .. } => format!("{method} {path}"),
        EventSpec::Sqs { queue, .. } => format!("SQS {queue}"),
        EventSpec::DynamoDbStream { table, .. } => format!("stream of {table}"),
    }
}
