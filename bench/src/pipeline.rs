//! End to end: orders from `POST /orders` to `CONFIRMED` through the whole local stack.
//!
//! The path an order takes: API Gateway (the Cognito authorizer, the API key, the throttle) ->
//! create-order -> the table -> its stream -> publish-events -> SNS -> the fulfillment queue ->
//! fulfill-order, which opens the card and confirms the order (and, beside it, the audit queue
//! and the merchant's notification). Every AWS call on that path goes through the
//! [`AwsMeter`], so a burst's wall time splits into moto's time (moto answers one request at a
//! time: its time is the sum) and the rest: the stack's own work and its pollers' waits.
//!
//! The stage throttles `POST /orders` to 10 requests per second with a bucket of 20
//! (`template.yaml`), as API Gateway would: so each burst is 20 orders, the bucket's size, and
//! the bench waits for the bucket to refill between bursts. A faster client would get 429s here
//! as it would on AWS.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use orders_local::lambda::LogOutput;
use orders_local::stack::{Stack, StackConfig, sdk_config};
use serde_json::Value;
use tokio::task::JoinSet;

use crate::aws_meter::{AwsMeter, Readings};

/// `POST /orders`' bucket (`ThrottlingBurstLimit`) and how long it takes to refill at its rate
/// (`ThrottlingRateLimit`, 10 per second), with a margin.
const BURST: usize = 20;
const REFILL: Duration = Duration::from_millis(2_200);
/// How often the bench looks for confirmed orders (a consistent batch read, straight to moto).
const LOOK_EVERY: Duration = Duration::from_millis(50);
const GIVE_UP_AFTER: Duration = Duration::from_secs(60);

/// One burst of orders, from the first `POST` to the last order seen `CONFIRMED`.
#[derive(Debug, Clone)]
pub struct Burst {
    pub orders: usize,
    pub wall: Duration,
    /// Every AWS call the stack made meanwhile, and moto's time on them.
    pub aws: Readings,
}

impl Burst {
    pub fn orders_per_second(&self) -> f64 {
        self.orders as f64 / self.wall.as_secs_f64()
    }
}

/// Runs the stack with the release binaries in `binaries` against moto at `moto`, and times
/// `bursts` bursts of orders.
pub async fn measure(
    workspace: &Path,
    binaries: &Path,
    moto: &str,
    bursts: usize,
    create_event: &Value,
) -> Result<Vec<Burst>, String> {
    let meter = AwsMeter::start(moto)
        .await
        .map_err(|error| format!("starting the AWS meter: {error}"))?;
    let mut config = StackConfig::from_env(workspace).map_err(|error| error.to_string())?;
    let any_port = "127.0.0.1:0".parse().expect("an address");
    config.stack_name = "orders-bench-pipeline".into();
    config.endpoint = Some(meter.endpoint().to_owned());
    (config.api, config.xray, config.lambda) = (any_port, any_port, any_port);
    config.binaries = binaries.to_owned();
    config.logs = LogOutput::Directory(workspace.join("target/bench-logs/pipeline"));
    config.print_traces = false;
    let stack = Stack::start(config)
        .await
        .map_err(|error| format!("the local stack did not start: {error}"))?;
    let outcome = bursts_through(&stack, &meter, moto, bursts, create_event).await;
    stack.shutdown().await;
    outcome
}

async fn bursts_through(
    stack: &Stack,
    meter: &AwsMeter,
    moto: &str,
    bursts: usize,
    create_event: &Value,
) -> Result<Vec<Burst>, String> {
    let tokens = stack
        .sign_in("bench@example.com", "Bench-Passw0rd-2026", None)
        .await
        .map_err(|error| error.to_string())?;
    let api_key = stack.api_key().unwrap_or_default().to_owned();
    let body = create_event["body"].as_str().unwrap_or("{}").to_owned();
    let table = stack
        .deployed()
        .table_name("OrdersTable")
        .ok_or("the stack has no OrdersTable")?
        .to_owned();
    // The bench's own reads go straight to moto: they are not the stack's calls.
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk_config(moto, "us-east-1").await);
    let http = reqwest::Client::new();
    let url = format!("{}/orders", stack.api_url());

    let mut measured = Vec::with_capacity(bursts);
    for _ in 0..bursts {
        tokio::time::sleep(REFILL).await;
        meter.reset();
        let started = Instant::now();
        let mut posts = JoinSet::new();
        for _ in 0..BURST {
            let request = http
                .post(&url)
                .header("authorization", &tokens.id_token)
                .header("x-api-key", &api_key)
                .header("content-type", "application/json")
                .body(body.clone());
            posts.spawn(async move {
                let answer = request.send().await.map_err(|error| error.to_string())?;
                let status = answer.status();
                let body: Value = answer.json().await.unwrap_or(Value::Null);
                match body["orderId"].as_str() {
                    Some(id) if status.as_u16() == 201 => Ok(id.to_owned()),
                    _ => Err(format!("POST /orders answered {status}: {body}")),
                }
            });
        }
        let mut pending = HashSet::new();
        while let Some(posted) = posts.join_next().await {
            pending.insert(posted.map_err(|error| error.to_string())??);
        }
        while !pending.is_empty() {
            if started.elapsed() > GIVE_UP_AFTER {
                return Err(format!(
                    "{} orders were not CONFIRMED after {GIVE_UP_AFTER:?}",
                    pending.len()
                ));
            }
            tokio::time::sleep(LOOK_EVERY).await;
            for confirmed in confirmed_among(&dynamodb, &table, &pending).await? {
                pending.remove(&confirmed);
            }
        }
        measured.push(Burst {
            orders: BURST,
            wall: started.elapsed(),
            aws: meter.readings(),
        });
    }
    Ok(measured)
}

/// The orders among `ids` whose status is `CONFIRMED`: one consistent `BatchGetItem`.
async fn confirmed_among(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    ids: &HashSet<String>,
) -> Result<Vec<String>, String> {
    let keys = ids
        .iter()
        .map(|id| {
            BTreeMap::from([
                ("pk".to_owned(), AttributeValue::S(format!("ORDER#{id}"))),
                ("sk".to_owned(), AttributeValue::S("ORDER".into())),
            ])
            .into_iter()
            .collect()
        })
        .collect();
    let read = KeysAndAttributes::builder()
        .set_keys(Some(keys))
        .consistent_read(true)
        .projection_expression("pk, #status")
        .expression_attribute_names("#status", "status")
        .build()
        .map_err(|error| error.to_string())?;
    let answer = dynamodb
        .batch_get_item()
        .request_items(table, read)
        .send()
        .await
        .map_err(|error| format!("reading the orders: {error}"))?;
    let items = answer
        .responses
        .and_then(|mut tables| tables.remove(table))
        .unwrap_or_default();
    Ok(items
        .iter()
        .filter(|item| matches!(item.get("status"), Some(AttributeValue::S(s)) if s == "CONFIRMED"))
        .filter_map(|item| match item.get("pk") {
            Some(AttributeValue::S(pk)) => pk.strip_prefix("ORDER#").map(str::to_owned),
            _ => None,
        })
        .collect())
}
