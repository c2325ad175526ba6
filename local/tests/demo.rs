//! End to end: the local stack, started from `template.yaml` on free ports, driven over HTTP by
//! the demo's scenarios (sign-in, create, who may see what, conflict, idempotent retry, envelope
//! encryption, fan-out to `CONFIRMED`, poison message to the DLQ, trace tree). The functions run
//! as their own binaries, one process each, with the template's environment.

use crate::support;

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
