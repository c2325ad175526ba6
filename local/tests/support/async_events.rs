//! Lambda's asynchronous invocations, seen from a test: scratch paths for a function to use (a
//! log directory, a marker, a gate), the bodies on a queue (an on-failure destination), and the
//! wait until Lambda is done with a function's events.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use orders_local::lambda::LambdaService;
use serde_json::Value;

/// A fresh path under the temp directory (a log directory, a marker, a gate).
pub fn scratch(kind: &str) -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "orders-local-async-{kind}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_dir_all(&path);
    path
}

/// The bodies (JSON) of up to 10 messages on the queue, waiting up to `wait_seconds` for one.
pub async fn messages(sqs: &aws_sdk_sqs::Client, queue_url: &str, wait_seconds: i32) -> Vec<Value> {
    sqs.receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(wait_seconds)
        .send()
        .await
        .expect("ReceiveMessage")
        .messages
        .unwrap_or_default()
        .into_iter()
        .map(|message| serde_json::from_str(message.body().unwrap_or_default()).unwrap())
        .collect()
}

/// Waits (60 s at most) until Lambda is done with every asynchronous event of `name`.
pub async fn until_done(lambda: &LambdaService, name: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while lambda.async_events_pending(name) > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name}: its asynchronous events never finished"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
