//! The whole local stack, from `template.yaml`: what `make dev` runs and `make demo` drives.
//!
//! Starting it does what `sam deploy` and the AWS services do, in order:
//!
//! 0. the merchant's webhook receiver, whose URL becomes the template's `MerchantWebhookUrl`
//!    unless one is given (`merchant.rs`); it gets the signing key after step 2;
//! 1. the AWS APIs: moto (or the server `AWS_ENDPOINT_URL` names);
//! 2. CloudFormation: every resource the template declares ([`cloudformation::deploy`]);
//! 3. the X-Ray daemon on UDP ([`crate::xray`]);
//! 4. Lambda: each function's binary, with *only* the environment the template gives it plus the
//!    emulator's endpoint and credentials ([`crate::lambda`]), so a variable missing from
//!    the template fails here as it would on AWS;
//! 5. API Gateway for the `Api` events, with the API's authorizers, API key and gateway responses
//!    ([`crate::api_gateway`]), and the event source mappings of the `DynamoDB` and `SQS` events
//!    ([`crate::event_source_mappings`]), each polling in its own task; and, for each `SNS`
//!    event, the hand-off of the topic's notifications to Lambda's asynchronous queue
//!    ([`crate::event_source_mappings::sns`]).
//!
//! Stopping it (Ctrl-C) stops the pollers between batches (a batch in flight finishes; messages
//! not yet received stay queued), then the API, the functions, the merchant, the daemon and moto.
//!
//! `config.rs` holds what it listens on ([`StackConfig`]) and why it may not start
//! ([`StackError`]); `resources.rs` is step 2 and the functions' environments, which
//! `orders-local resources` uses alone ([`deploy_resources`]).

use std::time::Duration;

use aws_config::SdkConfig;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api_gateway::{self, ApiGateway};
use crate::cloudformation::template::{EventSpec, FunctionSpec};
use crate::cloudformation::{self, Deployed};
use crate::event_source_mappings::on_failure::OnFailureQueue;
use crate::event_source_mappings::sns::poll_subscription;
use crate::event_source_mappings::sqs::poll_queue;
use crate::event_source_mappings::stream::poll_stream;
use crate::event_source_mappings::{QueuePoller, SnsPoller, StreamPoller};
use crate::lambda::{EventInvokeConfig, FailureQueue, FunctionProcess, LambdaService};
use crate::merchant_webhook::MerchantReceiver;
use crate::moto::Moto;
use crate::sign_in::{self, SignInError, Tokens, UserPool};
use crate::xray::LocalXrayDaemon;

mod config;
mod merchant;
mod resources;

pub use config::{StackConfig, StackError, parse_parameter_overrides};
pub use merchant::WEBHOOK_URL_PARAMETER;
use resources::function_environment;
pub use resources::{deploy_resources, sdk_config};

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
    /// `None` when the user gave `MerchantWebhookUrl`.
    merchant: Option<MerchantReceiver>,
    stop: watch::Sender<bool>,
    pollers: Vec<JoinHandle<()>>,
}

impl Stack {
    pub async fn start(mut config: StackConfig) -> Result<Self, StackError> {
        // 0. The merchant, before the template: its URL is a parameter.
        let merchant = merchant::start_receiver(&mut config).await?;
        let template = config.template()?;

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
        merchant::give_key(merchant.as_ref(), &deployed, &aws).await?;

        // 3. X-Ray.
        let xray = LocalXrayDaemon::start(config.xray, config.print_traces)
            .await
            .map_err(StackError::cannot_listen(
                "the X-Ray daemon",
                config.xray,
                "ORDERS_LOCAL_XRAY",
            ))?;

        // 4. Lambda: every function, with the template's environment.
        let lambda = LambdaService::start(config.lambda, config.logs.clone(), Some(xray.address()))
            .await
            .map_err(StackError::cannot_listen(
                "the Lambda Runtime API",
                config.lambda,
                "ORDERS_LOCAL_LAMBDA",
            ))?;
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
                    reserved_concurrency: function.reserved_concurrency,
                })
                .await;
            if let Some(config) = event_invoke_config(&deployed, &aws, function) {
                lambda
                    .put_event_invoke_config(&function.logical_id, config)
                    .map_err(|error| StackError::Resources(error.to_string()))?;
            }
        }

        // 5. API Gateway (its authorizers fetch the user pools' keys from moto) and the event
        //    source mappings.
        let settings = api_gateway::deployment::deploy(&deployed, &functions, &endpoint)
            .await
            .map_err(|error| StackError::Resources(error.to_string()))?;
        let api = ApiGateway::serve(config.api, settings, lambda.clone(), Some(xray.address()))
            .await
            .map_err(StackError::cannot_listen(
                "API Gateway",
                config.api,
                "ORDERS_LOCAL_API",
            ))?;
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
            merchant,
            stop,
            pollers: Vec::new(),
        };
        stack.pollers = stack.start_pollers(stopped);
        Ok(stack)
    }

    /// [`Stack::start`] for the binaries (`make dev`, `make demo`): `None` once it has said on
    /// stderr why the stack did not start.
    pub async fn start_or_report(config: StackConfig) -> Option<Self> {
        match Self::start(config).await {
            Ok(stack) => Some(stack),
            Err(error) => {
                eprintln!("error: the local stack did not start: {error}");
                None
            }
        }
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

    /// The merchant's webhook receiver, unless the user gave `MerchantWebhookUrl`.
    pub fn merchant(&self) -> Option<&MerchantReceiver> {
        self.merchant.as_ref()
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
        if !self.config.parameter_overrides.is_empty() {
            let given: Vec<String> = self
                .config
                .parameter_overrides
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            out.push_str(&format!("  Parameters  {}\n", given.join(" ")));
        }
        out.push_str(&format!("  API         {}\n", self.api_url()));
        out.push_str(&format!("  AWS (moto)  {}\n", self.endpoint));
        out.push_str(&format!("  X-Ray       udp://{}\n", self.xray.address()));
        out.push_str(&format!("  Lambda API  http://{}\n", self.lambda.address()));
        if let Some(merchant) = &self.merchant {
            out.push_str(&format!(
                "  Merchant    {}   (the webhook notify-merchant calls; PUT|DELETE {base}/outage, GET {base}/received)\n",
                merchant.webhook_url(),
                base = merchant.base_url(),
            ));
        }
        out.push('\n');
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
        if let Some(merchant) = self.merchant {
            merchant.shutdown().await;
        }
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

    /// One task per `DynamoDB`, `SQS` and `SNS` event of every function.
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
                    EventSpec::Sns(sns) => {
                        let (Some(url), Some(subscription)) = (
                            self.deployed.queue_url(&sns.delivery_queue),
                            self.deployed.subscription_arn(&sns.subscription),
                        ) else {
                            eprintln!("{}: no subscription {}", function.logical_id, sns.name);
                            continue;
                        };
                        let client = aws_sdk_sqs::Client::new(&self.aws);
                        tokio::spawn(poll_subscription(
                            SnsPoller::new(client, url, subscription),
                            function.logical_id.clone(),
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

fn describe_event(event: &EventSpec) -> String {
    match event {
        EventSpec::Api { path, method, .. } => format!("{method} {path}"),
        EventSpec::Sqs { queue, .. } => format!("SQS {queue}"),
        EventSpec::DynamoDbStream { table, .. } => format!("stream of {table}"),
        EventSpec::Sns(sns) => format!("SNS {} (asynchronous)", sns.topic),
    }
}

/// A function's `EventInvokeConfig` for the local Lambda service, its on-failure queue resolved.
fn event_invoke_config(
    deployed: &Deployed,
    aws: &SdkConfig,
    function: &FunctionSpec,
) -> Option<EventInvokeConfig> {
    let spec = function.event_invoke_config.as_ref()?;
    let defaults = EventInvokeConfig::default();
    let on_failure = spec.on_failure_queue.as_deref().and_then(|queue| {
        let Some(url) = deployed.queue_url(queue) else {
            eprintln!(
                "{}: no queue {queue}: its failed asynchronous events are only logged",
                function.logical_id
            );
            return None;
        };
        Some(FailureQueue::new(aws_sdk_sqs::Client::new(aws), url))
    });
    Some(EventInvokeConfig {
        maximum_retry_attempts: spec
            .maximum_retry_attempts
            .unwrap_or(defaults.maximum_retry_attempts),
        maximum_event_age: spec
            .maximum_event_age_seconds
            .map(Duration::from_secs)
            .unwrap_or(defaults.maximum_event_age),
        on_failure,
    })
}
