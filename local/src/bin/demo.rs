//! `orders-demo` (`make demo`): starts the local stack, walks through the exam scenarios, stops it.
//! Exits 0 only if every step behaved as stated.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use orders_local::lambda::LogOutput;
use orders_local::stack::{Stack, StackConfig};

#[tokio::main]
async fn main() -> ExitCode {
    let workspace = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let mut config = match StackConfig::from_env(&workspace) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    // The narration is the output: the functions' logs go to files, traces are shown by step 8.
    let logs = workspace.join("target/local-logs");
    let _ = std::fs::create_dir_all(&logs);
    config.logs = LogOutput::Directory(logs.clone());
    config.print_traces = false;
    // A poison message is received 5 times before SQS moves it to the DLQ; with the template's
    // 60 s visibility timeout that takes minutes. The demo lets a failed message come back after
    // 1 s instead (set ORDERS_LOCAL_RETRY_AFTER_SECONDS to change it).
    config.retry_after = config.retry_after.or(Some(Duration::from_secs(1)));

    let Some(stack) = Stack::start_or_report(config).await else {
        return ExitCode::FAILURE;
    };
    println!("{}", stack.banner());
    println!("(the functions' logs: {})", logs.display());
    let outcome = orders_local::demo::run(&stack).await;
    stack.shutdown().await;
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failed) => {
            eprintln!("\n{failed}");
            ExitCode::FAILURE
        }
    }
}
