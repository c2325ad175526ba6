//! The local Lambda service, with real function binaries and no AWS.
//!
//! `record-audit` is built from this workspace and run as Lambda runs it: a process per execution environment,
//! talking to the Runtime API. (Concurrency, several environments and throttling:
//! `lambda_concurrency.rs`.) It is driven down a path that fails before any AWS call (a message
//! that is not an order event), so no AWS, and no moto, is needed. Behaviour a real function
//! cannot be made to show on demand (hanging, crashing, reporting an error) comes from a custom
//! runtime in bash (`support/functions.rs`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use orders_local::lambda::{InvokeError, TraceHeader};
use serde_json::{Value, json};

use crate::support::functions::{
    RECORD_AUDIT_ENVIRONMENT, as_json, bash_function, bash_runtime, batch_failure, function,
    poison_batch, record_audit, start_lambda, start_lambda_logging_to, start_lambda_with,
    start_xray_daemon, xray_document,
};

const CALLER_SEGMENT: &str = "53995c3f42cd8ad8";

#[tokio::test]
async fn record_audit_answers_and_its_second_invocation_is_warm() {
    let lambda = start_lambda_with(record_audit(RECORD_AUDIT_ENVIRONMENT)).await;
    assert_eq!(
        lambda.pid("RecordAuditFunction").await,
        None,
        "no process before the first invocation"
    );

    let response = lambda
        .invoke("RecordAuditFunction", poison_batch("m-1"), None)
        .await
        .unwrap();
    assert_eq!(as_json(&response), batch_failure("m-1"));
    let cold = lambda
        .pid("RecordAuditFunction")
        .await
        .expect("a warm process");

    let response = lambda
        .invoke("RecordAuditFunction", poison_batch("m-2"), None)
        .await
        .unwrap();
    assert_eq!(as_json(&response), batch_failure("m-2"));
    assert_eq!(
        lambda.pid("RecordAuditFunction").await,
        Some(cold),
        "the same execution environment served the second invocation"
    );

    lambda.shutdown().await;
    assert_eq!(lambda.pid("RecordAuditFunction").await, None);
    assert!(
        !Path::new(&format!("/proc/{cold}")).exists(),
        "the process is gone after shutdown"
    );
}

#[tokio::test]
async fn a_function_gets_only_the_template_environment_and_fails_at_init_without_it() {
    // No TABLE_NAME: Config::from_env fails in main, before the runtime asks for an event.
    let lambda = start_lambda_with(record_audit(&[("AWS_EC2_METADATA_DISABLED", "true")])).await;

    let error = lambda
        .invoke("RecordAuditFunction", poison_batch("m-1"), None)
        .await
        .unwrap_err();
    let InvokeError::InitFailed {
        error_type,
        error_message,
    } = &error
    else {
        panic!("expected an init failure, got {error:?}");
    };
    assert_eq!(error_type, "Runtime.ExitError");
    assert!(
        error_message.contains("exit status: 1") && error_message.contains("TABLE_NAME"),
        "the exit status and the function's own message: {error_message}"
    );
    assert_eq!(lambda.pid("RecordAuditFunction").await, None);
    lambda.shutdown().await;
}

#[tokio::test]
async fn a_process_gets_the_template_environment_and_lambdas_variables_and_nothing_else() {
    let lambda = start_lambda_with(function(
        "Inspect",
        bash_runtime(),
        &[("TABLE_NAME", "orders")],
        Duration::from_secs(10),
    ))
    .await;
    let response = lambda
        .invoke("Inspect", br#"{"environment": true}"#.to_vec(), None)
        .await
        .unwrap();
    let mut variables: BTreeMap<String, String> = serde_json::from_slice::<Vec<String>>(&response)
        .unwrap()
        .into_iter()
        .filter_map(|variable| {
            let (name, value) = variable.split_once('=')?;
            Some((name.to_owned(), value.to_owned()))
        })
        .collect();
    // Bash exports these itself.
    for own in ["PWD", "OLDPWD", "SHLVL", "_"] {
        variables.remove(own);
    }

    let names: Vec<&str> = variables.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "AWS_DEFAULT_REGION",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            "AWS_LAMBDA_FUNCTION_NAME",
            "AWS_LAMBDA_FUNCTION_VERSION",
            "AWS_LAMBDA_INITIALIZATION_TYPE",
            "AWS_LAMBDA_LOG_GROUP_NAME",
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "AWS_LAMBDA_RUNTIME_API",
            "AWS_REGION",
            "LAMBDA_TASK_ROOT",
            "PATH",
            "TABLE_NAME",
            "TZ",
            "_HANDLER",
        ],
        "nothing from the test's own environment (HOME, CARGO_*) leaks in"
    );
    assert_eq!(variables["TABLE_NAME"], "orders");
    assert_eq!(
        variables["AWS_LAMBDA_RUNTIME_API"],
        format!("http://{}/Inspect/1", lambda.address()),
        "the function's first execution environment's own path"
    );
    assert_eq!(
        variables["AWS_LAMBDA_FUNCTION_NAME"],
        "orders-local-Inspect"
    );
    assert_eq!(variables["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "128");
    assert_eq!(variables["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
    assert_eq!(
        variables["AWS_LAMBDA_LOG_GROUP_NAME"],
        "/aws/lambda/orders-local-Inspect"
    );
    assert!(variables["AWS_LAMBDA_LOG_STREAM_NAME"].contains("/[$LATEST]"));
    assert_eq!(variables["_HANDLER"], "bootstrap");
    assert_eq!(variables["AWS_REGION"], "us-east-1");
    lambda.shutdown().await;
}

#[tokio::test]
async fn a_timed_out_invocation_kills_its_environment_and_the_next_starts_a_new_one() {
    let lambda = start_lambda_with(bash_function("Sleepy", Duration::from_millis(500))).await;
    lambda.warm("Sleepy").await.unwrap();
    let first = lambda.pid("Sleepy").await.unwrap();

    let error = lambda
        .invoke("Sleepy", br#"{"sleep": true}"#.to_vec(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(error, InvokeError::Timeout(limit) if limit == Duration::from_millis(500)),
        "{error:?}"
    );
    assert_eq!(lambda.pid("Sleepy").await, None, "the environment is gone");

    let response = lambda
        .invoke("Sleepy", br#"{"hello": 1}"#.to_vec(), None)
        .await
        .unwrap();
    assert_eq!(as_json(&response), json!({"hello": 1}));
    let second = lambda.pid("Sleepy").await.unwrap();
    assert_ne!(first, second, "a cold start after the timeout");
    lambda.shutdown().await;
}

#[tokio::test]
async fn a_crash_fails_the_invocation_with_the_exit_status_and_last_stderr_line() {
    let lambda = start_lambda_with(bash_function("Fragile", Duration::from_secs(10))).await;

    let error = lambda
        .invoke("Fragile", br#"{"crash": true}"#.to_vec(), None)
        .await
        .unwrap_err();
    let InvokeError::Crashed(report) = &error else {
        panic!("expected a crash, got {error:?}");
    };
    assert!(report.contains("exit status: 3"), "{report}");
    assert!(report.contains("about to crash"), "{report}");

    let response = lambda
        .invoke("Fragile", br#"{"again": true}"#.to_vec(), None)
        .await
        .unwrap();
    assert_eq!(as_json(&response), json!({"again": true}));
    lambda.shutdown().await;
}

#[tokio::test]
async fn a_handler_error_is_reported_and_the_environment_stays_warm() {
    let lambda = start_lambda_with(bash_function("Failing", Duration::from_secs(10))).await;

    let error = lambda
        .invoke("Failing", br#"{"fail": true}"#.to_vec(), None)
        .await
        .unwrap_err();
    let InvokeError::FunctionError {
        error_type,
        error_message,
    } = &error
    else {
        panic!("expected a function error, got {error:?}");
    };
    assert_eq!(
        (error_type.as_str(), error_message.as_str()),
        ("Boom", "it failed")
    );
    let pid = lambda.pid("Failing").await.expect("still warm");

    lambda
        .invoke("Failing", br#"{"ok": true}"#.to_vec(), None)
        .await
        .unwrap();
    assert_eq!(lambda.pid("Failing").await, Some(pid));
    lambda.shutdown().await;
}

#[tokio::test]
async fn an_unknown_function_is_an_error() {
    let lambda = start_lambda(None).await;
    let error = lambda
        .invoke("Nothing", b"{}".to_vec(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, InvokeError::UnknownFunction(name) if name == "Nothing"),
        "{error:?}"
    );
    lambda.shutdown().await;
}

#[tokio::test]
async fn a_log_directory_gets_the_output_and_lambdas_report_lines() {
    let directory = std::env::temp_dir().join(format!(
        "orders-local-logs-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let lambda = start_lambda_logging_to(directory.clone()).await;
    lambda
        .add(bash_function("Logged", Duration::from_secs(10)))
        .await;
    lambda.invoke("Logged", b"{}".to_vec(), None).await.unwrap();
    lambda.shutdown().await;

    let log = std::fs::read_to_string(directory.join("Logged.log")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    let position = |prefix: &str| {
        lines
            .iter()
            .position(|line| line.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} line in:\n{log}"))
    };
    assert!(position("INIT_START") < position("START RequestId:"));
    assert!(position("START RequestId:") < position("handling "));
    assert!(position("handling ") < position("END RequestId:"));
    let report = lines[position("REPORT RequestId:")];
    assert!(
        report.contains("Billed Duration:") && report.contains("Init Duration:"),
        "{report}"
    );
    let _ = std::fs::remove_dir_all(directory);
}

fn is_hex_id(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|id| id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit()))
}

#[tokio::test]
async fn lambda_records_its_function_segment_and_the_function_nests_under_it() {
    let daemon = start_xray_daemon().await;
    let lambda = start_lambda(Some(daemon.address())).await;
    lambda.add(record_audit(RECORD_AUDIT_ENVIRONMENT)).await;

    // A fresh root: X-Ray refuses trace ids more than 30 days old, and so does the exporter.
    let root = TraceHeader::new_sampled().root;
    let caller = format!("Root={root};Parent={CALLER_SEGMENT};Sampled=1");
    lambda
        .invoke("RecordAuditFunction", poison_batch("m-1"), Some(caller))
        .await
        .unwrap();

    let segment = xray_document(&daemon, |document| {
        document["origin"] == "AWS::Lambda::Function"
    })
    .await;
    assert_eq!(segment["name"], "orders-local-RecordAuditFunction");
    assert_eq!(segment["trace_id"], root.as_str());
    assert_eq!(segment["parent_id"], CALLER_SEGMENT);
    assert!(is_hex_id(&segment["id"]));
    assert!(segment.get("type").is_none(), "a segment, not a subsegment");
    assert!(segment.get("fault").is_none());
    assert!(segment["start_time"].as_f64().unwrap() <= segment["end_time"].as_f64().unwrap());
    let phases: Vec<&str> = segment["subsegments"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|phase| phase["name"].as_str())
        .collect();
    assert_eq!(phases, ["Initialization", "Invocation"], "a cold start");

    // The function's own subsegments name Lambda's segment as their parent.
    let segment_id = segment["id"].clone();
    let nested = xray_document(&daemon, |document| document["parent_id"] == segment_id).await;
    assert_eq!(nested["trace_id"], root.as_str());
    lambda.shutdown().await;
}
