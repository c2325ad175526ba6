//! `orders-bench`: what `make bench` runs after building the release functions.
//!
//! ```text
//! orders-bench [--runs 5] [--warm 200] [--kms-orders 1000] [--bursts 5]
//!              [--binaries DIR] [--zips target/bench-lambda] [--out docs/performance.md]
//! ```
//!
//! `--binaries` defaults to where `cargo lambda build --release` leaves this machine's binaries:
//! `target/<arch>-unknown-linux-gnu/release`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use orders_bench::{Options, report};

#[tokio::main]
async fn main() -> ExitCode {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let workspace = workspace.canonicalize().unwrap_or(workspace);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|arg| arg == flag)
            .and_then(|at| args.get(at + 1))
            .cloned()
    };
    let number = |flag: &str, default: usize| match value(flag) {
        Some(text) => text
            .parse()
            .map_err(|_| format!("{flag} takes a number, not {text:?}")),
        None => Ok(default),
    };
    let path =
        |flag: &str, default: &str| workspace.join(value(flag).unwrap_or_else(|| default.into()));
    let options = match (|| {
        Ok::<_, String>(Options {
            binaries: path("--binaries", &release_binaries()),
            zips: path("--zips", "target/bench-lambda"),
            runs: number("--runs", 5)?,
            warm: number("--warm", 200)?,
            kms_orders: number("--kms-orders", 1000)?,
            bursts: number("--bursts", 5)?,
            workspace: workspace.clone(),
        })
    })() {
        Ok(options) => options,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let out = path("--out", "docs/performance.md");
    let command = format!("orders-bench {}", args.join(" ")).trim().to_owned();
    let started = Instant::now();
    match orders_bench::run(options).await {
        Ok(results) => {
            let text = report::markdown(
                &results,
                &format!("make bench ({command})"),
                started.elapsed(),
            );
            print!("{text}");
            if let Err(error) = std::fs::write(&out, &text) {
                eprintln!("error: writing {}: {error}", out.display());
                return ExitCode::FAILURE;
            }
            eprintln!("==> written to {}", out.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Where `cargo lambda build --release` puts this machine's binaries (it always names a target).
fn release_binaries() -> String {
    format!(
        "target/{}-unknown-linux-gnu/release",
        std::env::consts::ARCH
    )
}
