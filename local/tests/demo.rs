//! End to end: the local stack, started from `template.yaml` on free ports, driven over HTTP by
//! the demo's scenarios (create, conflict, idempotent retry, envelope encryption, fan-out to
//! `CONFIRMED`, poison message to the DLQ, trace tree). The functions run as their own binaries,
//! one process each, with the template's environment.

use std::path::{Path, PathBuf};
use std::time::Duration;

use orders_local::lambda_service::LogOutput;
use orders_local::stack::{Stack, StackConfig};

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("local/ is inside the workspace")
}

/// Builds every function (debug), as `make dev` does, and returns the folder of the binaries.
fn build_functions() -> PathBuf {
    let output = std::process::Command::new(env!("CARGO"))
        .current_dir(workspace_root())
        .args(["build", "--workspace", "--bins", "--message-format=json"])
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo build of the functions failed"
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .find(|artifact| artifact["target"]["name"] == "create-order")
        .and_then(|artifact| artifact["executable"].as_str().map(PathBuf::from))
        .and_then(|executable| executable.parent().map(Path::to_owned))
        .expect("cargo built create-order")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_scenarios_pass_against_a_stack_on_free_ports() {
    let binaries = build_functions();
    let mut config = StackConfig::from_env(workspace_root()).expect("the default configuration");
    let any_port = "127.0.0.1:0".parse().unwrap();
    config.stack_name = format!("orders-e2e-{}", std::process::id());
    config.endpoint = None;
    config.moto_port = 0;
    config.api = any_port;
    config.xray = any_port;
    config.lambda = any_port;
    config.binaries = binaries;
    let logs = std::env::temp_dir().join(format!("orders-e2e-logs-{}", std::process::id()));
    std::fs::create_dir_all(&logs).unwrap();
    config.logs = LogOutput::Directory(logs);
    config.print_traces = false;
    config.retry_after = Some(Duration::from_secs(1));

    let stack = Stack::start(config)
        .await
        .unwrap_or_else(|error| panic!("the stack did not start: {error}"));
    let outcome = orders_local::demo::run(&stack).await;
    stack.shutdown().await;
    if let Err(failed) = outcome {
        panic!("{failed}");
    }
}
