//! What is measured: each function as Lambda would run it, in Rust and (for the two ported
//! handlers) in Python, and the events they are given.
//!
//! A subject is a [`FunctionProcess`] for the local Lambda service: the release `bootstrap` that
//! `cargo lambda build --release` made (what `sam build` deploys), or `bench/python/bootstrap`,
//! which starts the Python port under `awslambdaric`, AWS's runtime interface client for Python.
//! Both get the environment the template gives the function, so they read the same table and
//! seal cards with the same KMS key.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use orders_local::cloudformation::template::FunctionSpec;
use orders_local::lambda::{FunctionProcess, TraceHeader, new_segment_id};
use serde_json::Value;

/// The language a subject is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Runtime {
    Rust,
    /// Python 3 with boto3, under `awslambdaric`.
    Python,
}

impl Runtime {
    pub fn label(self) -> &'static str {
        match self {
            Runtime::Rust => "Rust",
            Runtime::Python => "Python + boto3",
        }
    }
}

/// One function in one runtime.
#[derive(Debug, Clone)]
pub struct Subject {
    /// The function's binary name: `create-order`.
    pub function: String,
    pub runtime: Runtime,
    pub process: FunctionProcess,
}

/// The functions with a Python port, and the handler `awslambdaric` loads for each.
pub const PORTED: [(&str, &str); 2] = [
    ("create-order", "create_order.handler"),
    ("get-order", "get_order.handler"),
];

/// The Rust subject of one of the template's functions: its release binary in `binaries`.
pub fn rust(
    spec: &FunctionSpec,
    environment: &BTreeMap<String, String>,
    binaries: &Path,
) -> Subject {
    Subject {
        function: spec.binary.clone(),
        runtime: Runtime::Rust,
        process: process(
            spec,
            &spec.logical_id,
            binaries.join(&spec.binary),
            environment,
        ),
    }
}

/// The Python port of a ported function, or `None` if it has none.
pub fn python(
    spec: &FunctionSpec,
    environment: &BTreeMap<String, String>,
    workspace: &Path,
) -> Option<Subject> {
    let (_, handler) = PORTED.iter().find(|(name, _)| *name == spec.binary)?;
    let mut environment = environment.clone();
    // The handler to load, as `module.function`: Lambda's Python runtime gets it as `_HANDLER`,
    // which the local service sets to `bootstrap` (see `bench/python/bootstrap`).
    environment.insert("PYTHON_HANDLER".into(), (*handler).into());
    let name = format!("{}Python", spec.logical_id);
    Some(Subject {
        function: spec.binary.clone(),
        runtime: Runtime::Python,
        process: process(
            spec,
            &name,
            workspace.join("bench/python/bootstrap"),
            &environment,
        ),
    })
}

fn process(
    spec: &FunctionSpec,
    name: &str,
    executable: std::path::PathBuf,
    environment: &BTreeMap<String, String>,
) -> FunctionProcess {
    FunctionProcess {
        name: name.to_owned(),
        function_name: format!("orders-bench-{name}"),
        executable,
        environment: environment.clone(),
        timeout: Duration::from_secs(spec.timeout_seconds),
        memory_mb: spec.memory_mb,
        // One environment at a time: the bench measures one process.
        reserved_concurrency: Some(1),
    }
}

/// `POST /orders` as API Gateway sends it (`events/create-order.json`), without its
/// `Idempotency-Key`: every invocation places a new order, sealing a card and writing an item.
pub fn create_order_event(workspace: &Path) -> std::io::Result<Value> {
    let mut event = read_event(workspace, "create-order")?;
    for headers in ["headers", "multiValueHeaders"] {
        if let Some(headers) = event[headers].as_object_mut() {
            headers.remove("Idempotency-Key");
        }
    }
    Ok(event)
}

/// `GET /orders/{orderId}?consistent=true` (`events/get-order.json`) for order `order_id`.
pub fn get_order_event(workspace: &Path, order_id: &str) -> std::io::Result<Value> {
    let mut event = read_event(workspace, "get-order")?;
    event["pathParameters"]["orderId"] = Value::from(order_id);
    Ok(event)
}

fn read_event(workspace: &Path, function: &str) -> std::io::Result<Value> {
    let path = workspace.join(format!("events/{function}.json"));
    let text = std::fs::read_to_string(&path)?;
    serde_json::from_str(&text)
        .map_err(|error| std::io::Error::other(format!("{}: {error}", path.display())))
}

/// A trace header for an invocation X-Ray does not sample: on AWS, beyond the first request each
/// second, 95 in 100 are not sampled, so that is what a warm invocation usually carries.
pub fn unsampled_trace() -> String {
    TraceHeader {
        parent: Some(new_segment_id()),
        sampled: false,
        ..TraceHeader::new_sampled()
    }
    .to_string()
}
