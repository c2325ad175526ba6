//! `orders-local`: the local stack in the foreground (`make dev`). Ctrl-C stops it.

use std::path::PathBuf;
use std::process::ExitCode;

use orders_local::stack::{Stack, StackConfig};

#[tokio::main]
async fn main() -> ExitCode {
    let workspace = workspace();
    let config = match StackConfig::from_env(&workspace) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let stack = match Stack::start(config).await {
        Ok(stack) => stack,
        Err(error) => {
            eprintln!("error: the local stack did not start: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", stack.banner());
    let _ = tokio::signal::ctrl_c().await;
    println!("\nstopping: batches in flight finish, unprocessed messages stay queued ...");
    stack.shutdown().await;
    println!("stopped");
    ExitCode::SUCCESS
}

/// The repository: the current directory if it holds template.yaml, else where this crate was
/// built from.
fn workspace() -> PathBuf {
    let here = std::env::current_dir().unwrap_or_default();
    if here.join("template.yaml").exists() {
        here
    } else {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
    }
}
