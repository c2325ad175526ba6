//! A whole local stack from `template.yaml`, on free ports, with its own moto.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use orders_local::lambda::LogOutput;
use orders_local::sign_in::LOCAL_PASSWORD;
use orders_local::stack::{Stack, StackConfig};

use super::api_client::Credentials;

pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("local/ is inside the workspace")
}

/// Builds the binaries of `packages` (every one of the workspace if empty), debug, as `make dev`
/// does; returns each binary's path by name.
pub fn build_binaries(packages: &[&str]) -> HashMap<String, PathBuf> {
    let mut command = std::process::Command::new(env!("CARGO"));
    command
        .current_dir(workspace_root())
        .args(["build", "--bins", "--message-format=json"]);
    if packages.is_empty() {
        command.arg("--workspace");
    }
    for package in packages {
        command.args(["-p", package]);
    }
    let output = command
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
        .filter_map(|artifact| {
            let name = artifact["target"]["name"].as_str()?.to_owned();
            let executable = artifact["executable"].as_str()?;
            Some((name, PathBuf::from(executable)))
        })
        .collect()
}

/// A whole stack for the test `name` ([`test_stack_config`]), started.
pub async fn start(name: &str) -> Stack {
    Stack::start(test_stack_config(name))
        .await
        .unwrap_or_else(|error| panic!("the stack did not start: {error}"))
}

/// What a client app of `stack` sends for the customer `email`: an ID token from signing up and
/// in to the stack's user pool, and the stack's API key.
pub async fn signed_in(stack: &Stack, email: &str) -> Credentials {
    let tokens = stack
        .sign_in(email, LOCAL_PASSWORD, None)
        .await
        .expect("sign-up and sign-in on moto's user pool");
    Credentials {
        token: Some(tokens.id_token),
        api_key: stack.api_key().map(str::to_owned),
    }
}

/// The stack's configuration for a test: every address on a free port, a moto of its own, a
/// stack name of its own (`name` and the process id), logs to a temporary folder, failed queue
/// messages back after a second.
pub fn test_stack_config(name: &str) -> StackConfig {
    let binaries = build_binaries(&[])
        .remove("create-order")
        .and_then(|executable| executable.parent().map(Path::to_owned))
        .expect("cargo built create-order");
    let mut config = StackConfig::from_env(workspace_root()).expect("the default configuration");
    let any_port = "127.0.0.1:0".parse().unwrap();
    config.stack_name = format!("orders-{name}-{}", std::process::id());
    config.endpoint = None;
    config.moto_port = 0;
    config.api = any_port;
    config.xray = any_port;
    config.lambda = any_port;
    config.binaries = binaries;
    let logs = std::env::temp_dir().join(format!("{}-logs", config.stack_name));
    std::fs::create_dir_all(&logs).unwrap();
    config.logs = LogOutput::Directory(logs);
    config.print_traces = false;
    config.retry_after = Some(Duration::from_secs(1));
    config
}
