//! `orders-local`: the local stack in the foreground (`make dev`); Ctrl-C stops it.
//! `orders-local --parameter-overrides ApiCacheEnabled=true` gives the template's parameters
//! values, as `sam deploy --parameter-overrides` does (or `ORDERS_LOCAL_PARAMETER_OVERRIDES=...`
//! with `make dev`).
//!
//! `orders-local token EMAIL [--group GROUP] [--password PASSWORD]` (`make token`) signs a
//! customer up and in to the running stack's user pool and prints the ID token, for
//! `curl -H "Authorization: $TOKEN"`.
//!
//! For a function run outside the stack ([`orders_local::cli`]): `orders-local resources`
//! (`make invoke`, `make watch`, `make sam-check`) deploys the template's resources onto a running
//! moto and writes each function's environment; `orders-local xray-daemon` (`make xray-smoke`)
//! runs the X-Ray daemon alone and checks what it received.

use std::path::PathBuf;
use std::process::ExitCode;

use orders_local::cli::resources::{self, ResourcesArgs};
use orders_local::cli::xray_daemon::{self, XrayDaemonArgs};
use orders_local::cloudformation;
use orders_local::sign_in::{self, LOCAL_PASSWORD, UserPool};
use orders_local::stack::{Stack, StackConfig, parse_parameter_overrides, sdk_config};

#[tokio::main]
async fn main() -> ExitCode {
    let workspace = workspace();
    let mut config = match StackConfig::from_env(&workspace) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    match arguments.first().map(String::as_str) {
        None => run(config).await,
        Some("--parameter-overrides") => {
            match parse_parameter_overrides(arguments[1..].iter().map(String::as_str)) {
                Ok(overrides) if !overrides.is_empty() => {
                    config.parameter_overrides.extend(overrides);
                    run(config).await
                }
                Ok(_) => usage("--parameter-overrides takes Name=value pairs"),
                Err(error) => usage(&error),
            }
        }
        Some("token") => match token(&config, &arguments[1..]).await {
            Ok(token) => {
                println!("{token}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        },
        Some("resources") => match ResourcesArgs::parse(&arguments[1..]) {
            Ok(args) => exit_code(resources::run(config, &args).await),
            Err(error) => usage(&error.to_string()),
        },
        Some("xray-daemon") => match XrayDaemonArgs::parse(&arguments[1..]) {
            Ok(args) => exit_code(xray_daemon::run(&args).await),
            Err(error) => usage(&error.to_string()),
        },
        Some(other) => usage(&format!("unknown subcommand {other:?}")),
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!(
        "error: {problem}\n\
         usage: orders-local [--parameter-overrides Name=value ...]\n                                        \
         the local stack (make dev), the template's parameters given as to sam deploy\n       \
         orders-local token EMAIL [--group GROUP] [--password PASSWORD]\n                                        \
         an ID token of the running stack's user pool (make token)\n       \
         {}\n                                        \
         the template's resources on a running moto, each function's environment\n       \
         {}\n                                        \
         the X-Ray daemon alone, until its documents came (make xray-smoke)",
        ResourcesArgs::USAGE,
        XrayDaemonArgs::USAGE,
    );
    ExitCode::FAILURE
}

fn exit_code<E: std::fmt::Display>(result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: StackConfig) -> ExitCode {
    let Some(stack) = Stack::start_or_report(config).await else {
        return ExitCode::FAILURE;
    };
    println!("{}", stack.banner());
    let _ = tokio::signal::ctrl_c().await;
    println!("\nstopping: batches in flight finish, unprocessed messages stay queued ...");
    stack.shutdown().await;
    println!("stopped");
    ExitCode::SUCCESS
}

/// Signs a customer in to the running stack's user pool; returns the ID token.
async fn token(config: &StackConfig, arguments: &[String]) -> Result<String, String> {
    let mut email = None;
    let mut group = None;
    let mut password = LOCAL_PASSWORD.to_owned();
    let mut rest = arguments.iter();
    while let Some(argument) = rest.next() {
        match argument.as_str() {
            "--group" => group = rest.next().cloned(),
            "--password" => password = rest.next().cloned().unwrap_or_default(),
            other if email.is_none() && !other.starts_with('-') => email = Some(other.to_owned()),
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    let email = email.ok_or("which customer? orders-local token EMAIL")?;
    let endpoint = config
        .endpoint
        .clone()
        .unwrap_or_else(|| format!("http://127.0.0.1:{}", config.moto_port));
    let template = config.template().map_err(|error| error.to_string())?;
    let aws = sdk_config(&endpoint, &config.region).await;
    // Deploying again onto the running stack's moto finds every resource it created, by name.
    let deployed = cloudformation::deploy(&template, &aws, &config.stack_name)
        .await
        .map_err(|error| format!("{error} (is the local stack running? make dev)"))?;
    let pool = UserPool::of(&deployed).ok_or("the template has no user pool client")?;
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&aws);
    let tokens = sign_in::sign_in(&cognito, &pool, &email, &password, group.as_deref())
        .await
        .map_err(|error| error.to_string())?;
    let lifetime = template
        .user_pool_clients()
        .first()
        .map_or(60, |client| client.id_token_validity.as_secs() / 60);
    eprintln!(
        "{email} is signed in to user pool {} (password {password}{}); the API takes the ID token \
         for {lifetime} minutes (the app client's IdTokenValidity).\nAPI key: {}",
        pool.pool_id,
        group
            .map(|group| format!(", group {group}"))
            .unwrap_or_default(),
        sign_in::api_key(&deployed).unwrap_or("<none>"),
    );
    Ok(tokens.id_token)
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
