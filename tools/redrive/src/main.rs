//! `orders-redrive` (`make redrive`): dead-letter queues back to their source queues, and the
//! stream's failures replayed. The logic is in the library (`lib.rs`).
//!
//! ```text
//! orders-redrive --stack-outputs <file>   a deployed stack: `sam list stack-outputs --output json`
//! orders-redrive --local-stack <name>     the local stack (make dev; AWS_ENDPOINT_URL set)
//!                [--queue all|fulfillment|audit|stream]
//! ```

use std::process::ExitCode;

use orders_redrive::resources::Resources;
use orders_redrive::{Clients, Selection};
use orders_shared::config;
use orders_shared::telemetry::aws_calls;

const USAGE: &str = "usage: orders-redrive (--stack-outputs <file> | --local-stack <name>) \
                     [--queue all|fulfillment|audit|stream]";

enum Stack {
    Outputs(String),
    Local(String),
}

fn parse(arguments: &[String]) -> Result<(Stack, Selection), String> {
    let mut stack = None;
    let mut selection = Selection::All;
    let mut arguments = arguments.iter();
    while let Some(flag) = arguments.next() {
        let mut value = || {
            arguments
                .next()
                .cloned()
                .ok_or(format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--stack-outputs" => stack = Some(Stack::Outputs(value()?)),
            "--local-stack" => stack = Some(Stack::Local(value()?)),
            "--queue" => {
                let name = value()?;
                selection = Selection::parse(&name).ok_or(format!("no queue {name:?}"))?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok((stack.ok_or("which stack?")?, selection))
}

#[tokio::main]
async fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let (stack, selection) = match parse(&arguments) {
        Ok(parsed) => parsed,
        Err(error) => {
            eprintln!("{error}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let aws = match config::aws_sdk_config().await {
        Ok(aws) => aws,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    let clients = Clients {
        sqs: aws_sdk_sqs::Client::new(&aws),
        streams: aws_sdk_dynamodbstreams::Client::new(&aws),
        sns: aws_calls::sns_client(&aws),
    };
    let resources = match stack {
        Stack::Outputs(path) => std::fs::read_to_string(&path)
            .map_err(|error| format!("{path}: {error}"))
            .and_then(|json| Resources::from_stack_outputs(&json).map_err(|e| e.to_string())),
        Stack::Local(name) => Resources::of_local_stack(&clients.sqs, &clients.sns, &name)
            .await
            .map_err(|error| error.to_string()),
    };
    let resources = match resources {
        Ok(resources) => resources,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let report = orders_redrive::run(&clients, &resources, selection).await;
    print!("{report}");
    if report.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
