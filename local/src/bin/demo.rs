//! `orders-demo` (`make demo`): starts the local stack, walks through the exam scenarios, stops it.
//! Exits 0 only if every step behaved as stated; otherwise names the first step that did not.
//!
//! ```text
//! orders-demo                  every step, in order
//! orders-demo --step <name>    one step, after the steps it builds on (`make demo STEP=<name>`)
//! orders-demo <name>           the same
//! orders-demo --list           the steps, one a line: name, scenario of concepts.md §17, title
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use orders_local::demo::{STEPS, Step};
use orders_local::lambda::LogOutput;
use orders_local::stack::{Stack, StackConfig};

#[tokio::main]
async fn main() -> ExitCode {
    // The step is checked before the stack starts: a misspelt name costs no start-up.
    let only = match chosen_step(std::env::args().skip(1).collect()) {
        Ok(Choice::List) => {
            for step in STEPS {
                println!("{}", step.describe());
            }
            return ExitCode::SUCCESS;
        }
        Ok(Choice::All) => None,
        Ok(Choice::One(step)) => Some(step),
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
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
    let outcome = match only {
        None => orders_local::demo::run(&stack)
            .await
            .map_err(|e| e.to_string()),
        Some(step) => orders_local::demo::run_step(&stack, step.name)
            .await
            .map_err(|e| e.to_string()),
    };
    stack.shutdown().await;
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failed) => {
            eprintln!("\n{failed}");
            ExitCode::FAILURE
        }
    }
}

enum Choice {
    All,
    One(&'static Step),
    List,
}

const USAGE: &str = "usage: orders-demo [--list | --step <name> | <name>]";

fn chosen_step(args: Vec<String>) -> Result<Choice, String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let name = match args.as_slice() {
        [] => return Ok(Choice::All),
        ["--list"] => return Ok(Choice::List),
        ["--step", name] | [name] if !name.starts_with('-') => *name,
        _ => return Err(USAGE.to_owned()),
    };
    Step::named(name)
        .map(Choice::One)
        .map_err(|error| error.to_string())
}
