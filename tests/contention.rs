//! Optimistic locking under contention: no update is lost.
//!
//! 16 writers each make 20 read-modify-write changes to one order (add 1 to a quantity), through
//! the update handler, retrying on 412. With the `version = :expected` condition every change
//! lands: the final quantity is 1 + 320 and the version 321. Without the condition, writers
//! overwrite each other's increments (moto serialises the writes but not the read-modify-write
//! cycles), and this test fails.

use std::sync::Arc;

use orders_tests::TestStack;
use serde_json::{Value, json};

const WRITERS: u64 = 16;
const CHANGES_PER_WRITER: u64 = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_writers_lose_no_update() {
    let stack = Arc::new(TestStack::start().await);
    let created = stack
        .create(
            &json!({"items": [{"sku": "COUNTER", "quantity": 1, "unitPriceCents": 10}],
                        "payment": {"cardNumber": "4111111111111111", "expiry": "12/35"}}),
        )
        .await;
    assert_eq!(created.status, 201);
    let id = created.order_id();

    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let stack = Arc::clone(&stack);
            let id = id.clone();
            tokio::spawn(async move {
                let mut conflicts = 0u64;
                for _ in 0..CHANGES_PER_WRITER {
                    let mut current: Value = stack.get(&id).await.body;
                    loop {
                        let quantity = current["items"][0]["quantity"].as_u64().unwrap();
                        let version = current["version"].as_u64().unwrap();
                        let change = json!({"items": [{"sku": "COUNTER", "quantity": quantity + 1,
                                                        "unitPriceCents": 10}]});
                        let reply = stack
                            .patch(&id, Some(&format!("\"{version}\"")), &change)
                            .await;
                        match reply.status {
                            200 => break,
                            // Someone else wrote first: merge onto the current order that the
                            // 412 carries (no second read needed) and try again.
                            412 => {
                                conflicts += 1;
                                current = reply.body["current"].clone();
                            }
                            other => panic!("unexpected {other}: {:#}", reply.body),
                        }
                    }
                }
                conflicts
            })
        })
        .collect();
    let mut conflicts = 0;
    for writer in writers {
        conflicts += writer.await.expect("a writer panicked");
    }

    let last = stack.get(&id).await.body;
    let changes = WRITERS * CHANGES_PER_WRITER;
    assert_eq!(last["items"][0]["quantity"], 1 + changes, "lost updates");
    assert_eq!(last["version"], 1 + changes);
    assert_eq!(last["totalCents"], (1 + changes) * 10);
    // With 16 writers on one item some attempts must have collided: the test really contended.
    assert!(conflicts > 0, "no conflicts: the writers did not overlap");
    println!("{changes} changes, {conflicts} version conflicts retried");
}
