//! # `make bench`: what a cold start, a warm invocation and an order cost
//!
//! The benchmarks of Orders on Lambda, measured on the project's own harness in one run, and
//! written to `docs/performance.md`. Benchmarks, not tests: nothing here fails on a slow figure;
//! it fails only when a function answers wrongly (a fast wrong answer measures nothing) or a
//! package is over Lambda's quotas (`packages.rs`).
//!
//! What it measures, and where:
//!
//! | file                | what                                                                    |
//! |---------------------|-------------------------------------------------------------------------|
//! | `subjects.rs`       | the functions, in Rust and in the Python + boto3 port (`bench/python/`), and their events |
//! | `function_runs.rs`  | one cold start, the first invocation and warm invocations, under the local Lambda service |
//! | `process_usage.rs`  | a process's CPU time and peak memory, read from outside it              |
//! | `aws_meter.rs`      | a meter in front of moto: AWS calls by operation, and moto's time       |
//! | `kms_calls.rs`      | KMS `GenerateDataKey` calls per 1,000 orders, with the data-key cache and without |
//! | `pipeline.rs`       | end to end: `POST /orders` to `CONFIRMED` through the whole local stack |
//! | `packages.rs`       | the zipped `bootstrap` of every function                                |
//! | `report.rs`         | the tables of `docs/performance.md`; `stats.rs` its medians and percentiles |
//!
//! The runs are **interleaved**: each run cold-starts every subject in turn (Rust create-order,
//! Python create-order, Rust get-order, ...), so a slower minute of the machine touches both
//! languages alike, and every ratio is taken within one run.

pub mod aws_meter;
pub mod function_runs;
pub mod kms_calls;
pub mod machine;
pub mod packages;
pub mod pipeline;
pub mod process_usage;
pub mod report;
pub mod stats;
pub mod subjects;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use orders_local::lambda::{LambdaService, LogOutput};
use orders_local::moto::Moto;
use orders_local::stack::{StackConfig, WEBHOOK_URL_PARAMETER, deploy_resources};
use orders_local::xray::LocalXrayDaemon;
use serde_json::Value;

use crate::function_runs::RunMeasures;
use crate::subjects::{Runtime, Subject};

/// What to measure, and how much.
#[derive(Debug, Clone)]
pub struct Options {
    /// The repository: `template.yaml`, `events/`, `.venv`, `bench/python/`.
    pub workspace: PathBuf,
    /// The release binaries, one per function.
    pub binaries: PathBuf,
    /// `cargo lambda build --output-format zip`'s output: `<dir>/<function>/bootstrap.zip`.
    pub zips: PathBuf,
    /// Cold starts per subject.
    pub runs: usize,
    /// Warm invocations per run.
    pub warm: usize,
    /// Orders placed per data-key cache setting.
    pub kms_orders: usize,
    /// Bursts of orders through the whole stack.
    pub bursts: usize,
}

/// Everything one `make bench` measured.
#[derive(Debug)]
pub struct Results {
    pub options: Options,
    pub machine: machine::Machine,
    /// Every run of every subject, by function and runtime.
    pub runs: BTreeMap<(String, Runtime), Vec<RunMeasures>>,
    pub kms: kms_calls::KmsCalls,
    pub pipeline: Vec<pipeline::Burst>,
    pub packages: Vec<packages::Package>,
}

/// Runs every benchmark.
pub async fn run(options: Options) -> Result<Results, String> {
    let workspace = options.workspace.clone();
    let machine = machine::Machine::describe(&workspace);
    let logs = workspace.join("target/bench-logs");
    std::fs::create_dir_all(&logs).map_err(|error| error.to_string())?;
    let moto = Moto::start(&workspace, 0, &logs.join("moto.log")).map_err(|e| e.to_string())?;

    // The template's resources, and each function's environment from them, as `make dev` has.
    let mut config = StackConfig::from_env(&workspace).map_err(|e| e.to_string())?;
    config.stack_name = "orders-bench".into();
    // notify-merchant exists only with a webhook URL; its init reads the signing key.
    config.parameter_overrides = vec![(
        WEBHOOK_URL_PARAMETER.into(),
        "http://127.0.0.1:9/webhook".into(),
    )];
    let (_, functions) = deploy_resources(&config, moto.endpoint())
        .await
        .map_err(|e| e.to_string())?;

    // As on AWS with active tracing, every function has a daemon address; a warm invocation is
    // usually not sampled (see `subjects::unsampled_trace`), so sends nothing to it.
    let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
    let xray = LocalXrayDaemon::start(any_port, false)
        .await
        .map_err(|e| e.to_string())?;
    let lambda = LambdaService::start(
        any_port,
        LogOutput::Directory(logs.join("functions")),
        Some(xray.address()),
    )
    .await
    .map_err(|e| e.to_string())?;
    let mut ported = Vec::new();
    let mut others = Vec::new();
    for (spec, environment) in &functions {
        let rust = subjects::rust(spec, environment, &options.binaries);
        match subjects::python(spec, environment, &workspace) {
            Some(python) => ported.extend([rust, python]),
            None => others.push(rust),
        }
    }
    // create-order before get-order: each runtime's get reads the order its create placed.
    ported.sort_by_key(|subject| (subject.function != "create-order", subject.runtime));
    let create_event = subjects::create_order_event(&workspace).map_err(|e| e.to_string())?;

    let mut runs: BTreeMap<(String, Runtime), Vec<RunMeasures>> = BTreeMap::new();
    // Run 0 is a warm-up, not counted: it brings the binaries into the page cache and lets
    // Python write its bytecode cache, as a function's files are warm on a busy Lambda host.
    for round in 0..=options.runs {
        match round {
            0 => eprintln!("==> run 0: a warm-up, not counted"),
            _ => eprintln!("==> run {round} of {}", options.runs),
        }
        let mut placed: BTreeMap<Runtime, String> = BTreeMap::new();
        for subject in &ported {
            let (event, expected) = match subject.function.as_str() {
                "create-order" => (create_event.clone(), 201),
                _ => {
                    let id = placed.get(&subject.runtime).ok_or("no order to read")?;
                    let event =
                        subjects::get_order_event(&workspace, id).map_err(|e| e.to_string())?;
                    (event, 200)
                }
            };
            let measured =
                function_runs::run(&lambda, subject, Some(&event), expected, options.warm)
                    .await
                    .map_err(|e| e.to_string())?;
            if let Some(id) = measured
                .invocations
                .as_ref()
                .and_then(|i| order_id(&i.first_answer))
            {
                placed.entry(subject.runtime).or_insert(id);
            }
            if round > 0 {
                record(&mut runs, subject, measured);
            }
        }
        for subject in &others {
            let measured = function_runs::run(&lambda, subject, None, 0, 0)
                .await
                .map_err(|e| e.to_string())?;
            if round > 0 {
                record(&mut runs, subject, measured);
            }
        }
    }

    eprintln!("==> KMS calls per {} orders", options.kms_orders);
    let create = ported
        .iter()
        .find(|s| s.function == "create-order" && s.runtime == Runtime::Rust)
        .ok_or("no create-order in the template")?;
    let kms = kms_calls::measure(
        &lambda,
        create,
        moto.endpoint(),
        &create_event,
        options.kms_orders,
    )
    .await?;
    lambda.shutdown().await;

    eprintln!(
        "==> end to end: {} bursts through the local stack",
        options.bursts
    );
    let pipeline = pipeline::measure(
        &workspace,
        &options.binaries,
        moto.endpoint(),
        options.bursts,
        &create_event,
    )
    .await?;

    let names: Vec<String> = functions
        .iter()
        .map(|(spec, _)| spec.binary.clone())
        .collect();
    let packages =
        packages::measure(&names, &options.zips, &options.binaries).map_err(|e| e.to_string())?;
    Ok(Results {
        options,
        machine,
        runs,
        kms,
        pipeline,
        packages,
    })
}

fn record(
    runs: &mut BTreeMap<(String, Runtime), Vec<RunMeasures>>,
    subject: &Subject,
    measured: RunMeasures,
) {
    runs.entry((subject.function.clone(), subject.runtime))
        .or_default()
        .push(measured);
}

/// The `orderId` in a proxy response's JSON body.
fn order_id(answer: &Value) -> Option<String> {
    let body: Value = serde_json::from_str(answer["body"].as_str()?).ok()?;
    body["orderId"].as_str().map(str::to_owned)
}
