//! End to end: the local stack, started from `template.yaml` on free ports, driven over HTTP by
//! the demo's scenarios (sign-in, create, who may see what, CORS, conflict, idempotent retry, a
//! cancelled transaction, envelope encryption, fan-out to `CONFIRMED`, the key of every hop at
//! rest, a redelivered event that changes nothing, poison message to the DLQ, trace tree, TTL's
//! expired but visible record, capacity units, pages, an event Lambda gives up on, a 504 or a 502
//! depending on which timeout ends first, reserved concurrency's 429 (a 500 behind API Gateway),
//! API Gateway's 429 and backoff). The functions run as their own binaries, one process each,
//! with the template's environment. And `orders-demo` itself: `--step <name>` runs one step, an
//! unknown name is refused with the list.

use crate::support;

use std::process::Command;

use orders_local::demo::{RunStepError, STEPS};
use orders_local::stack::Stack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_scenarios_pass_against_a_stack_on_free_ports() {
    let config = support::stack::test_stack_config("e2e");
    let stack = Stack::start(config)
        .await
        .unwrap_or_else(|error| panic!("the stack did not start: {error}"));
    let outcome = orders_local::demo::run(&stack).await;
    stack.shutdown().await;
    if let Err(failed) = outcome {
        panic!("{failed}");
    }
}

/// `envelope` reads the order of step `create`: run alone, it runs `create` first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_named_step_runs_alone_after_the_steps_it_builds_on() {
    let config = support::stack::test_stack_config("demo-step");
    let stack = Stack::start(config)
        .await
        .unwrap_or_else(|error| panic!("the stack did not start: {error}"));
    let unknown = orders_local::demo::run_step(&stack, "no_such_step").await;
    let outcome = orders_local::demo::run_step(&stack, "envelope").await;
    stack.shutdown().await;
    assert!(
        matches!(unknown, Err(RunStepError::Unknown(_))),
        "{unknown:?}"
    );
    if let Err(failed) = outcome {
        panic!("{failed}");
    }
}

#[test]
fn orders_demo_refuses_an_unknown_step_with_the_list_of_steps_before_starting_anything() {
    let output = Command::new(env!("CARGO_BIN_EXE_orders-demo"))
        .args(["--step", "no_such_step"])
        .output()
        .expect("orders-demo runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no demo step `no_such_step`"), "{stderr}");
    for step in STEPS {
        assert!(
            stderr.contains(step.name),
            "{} missing: {stderr}",
            step.name
        );
    }
    assert!(output.stdout.is_empty(), "the stack did not start");
}

#[test]
fn orders_demo_lists_its_steps_one_a_line() {
    let output = Command::new(env!("CARGO_BIN_EXE_orders-demo"))
        .arg("--list")
        .output()
        .expect("orders-demo runs");
    assert!(output.status.success());
    let listed = String::from_utf8_lossy(&output.stdout);
    let names: Vec<&str> = listed
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    let expected: Vec<&str> = STEPS.iter().map(|step| step.name).collect();
    assert_eq!(names, expected);
}
