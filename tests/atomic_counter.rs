//! Atomic counter vs lost update (scenario 3 of `concepts.md` §17), against moto, on the counter
//! item `fulfill-order` keeps per order (`orders_shared::store::counter`).
//!
//! 50 writers each add one to the same counter, three ways:
//! - `UpdateItem ADD attempts :one` (the store's counter): DynamoDB adds to what it has stored,
//!   so the count ends at exactly 50;
//! - read-modify-write without a condition (`GetItem`, then `PutItem` of the number read plus
//!   one): a write made between another writer's read and write is overwritten, so the count
//!   ends at 50 or less (how much less depends on how the writers interleave);
//! - read-modify-write with a condition on the value read (optimistic locking, the counter as its
//!   own version): no update is lost, but a writer whose read is outdated is refused
//!   (`ConditionalCheckFailedException`) and would have to read again and retry.
//!
//! moto serves one request at a time (`scripts/moto_server.py`), as DynamoDB applies each write to
//! an item atomically; the writers' read-modify-write cycles, two requests each, still interleave.
//!
//! And the trap: the counter is not idempotent. The same SQS message delivered twice to
//! `fulfill-order` counts twice, while the order's status changes once.

use std::sync::Arc;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use orders_shared::domain::{OrderId, OrderStatus};
use orders_shared::store::counter::{ATTEMPTS, attempts_key};
use orders_tests::pipeline::invoke;
use orders_tests::{Pipeline, TestStack};
use tokio::sync::Barrier;

use crate::event_pipeline::place;

const WRITERS: u64 = 50;

/// The counter as a raw, strongly consistent `GetItem` reads it (`None`: no counter item yet).
async fn stored_count(stack: &TestStack, id: OrderId) -> Option<u64> {
    let item = stack
        .dynamodb
        .get_item()
        .table_name(&stack.table)
        .set_key(Some(attempts_key(id)))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item?;
    Some(item[ATTEMPTS].as_n().unwrap().parse().unwrap())
}

/// A counter item at 0, for the read-modify-write writers to start from.
async fn counter_at_zero(stack: &TestStack) -> OrderId {
    let id = OrderId::new();
    stack
        .dynamodb
        .put_item()
        .table_name(&stack.table)
        .set_item(Some(attempts_key(id)))
        .item(ATTEMPTS, AttributeValue::N("0".into()))
        .send()
        .await
        .expect("PutItem");
    id
}

/// How a read-modify-write writer writes back the number it read plus one.
#[derive(Debug, Clone, Copy)]
enum WriteBack {
    /// `PutItem` of the whole item: replaces whatever is stored.
    Unconditional,
    /// `UpdateItem SET attempts = :next` only if `attempts = :seen` (optimistic locking).
    IfUnchanged,
}

/// One writer: read the counter, add one, write it back. `Ok(false)` if the write was refused.
/// With a `barrier`, the writer waits after its read until every writer has read.
async fn read_modify_write(
    stack: &TestStack,
    id: OrderId,
    write_back: WriteBack,
    barrier: Option<&Barrier>,
) -> bool {
    let seen = stored_count(stack, id).await.expect("the counter exists");
    if let Some(barrier) = barrier {
        barrier.wait().await;
    }
    let next = AttributeValue::N((seen + 1).to_string());
    match write_back {
        WriteBack::Unconditional => {
            stack
                .dynamodb
                .put_item()
                .table_name(&stack.table)
                .set_item(Some(attempts_key(id)))
                .item(ATTEMPTS, next)
                .send()
                .await
                .expect("PutItem");
            true
        }
        WriteBack::IfUnchanged => {
            let written = stack
                .dynamodb
                .update_item()
                .table_name(&stack.table)
                .set_key(Some(attempts_key(id)))
                .update_expression("SET #attempts = :next")
                .condition_expression("#attempts = :seen")
                .expression_attribute_names("#attempts", ATTEMPTS)
                .expression_attribute_values(":next", next)
                .expression_attribute_values(":seen", AttributeValue::N(seen.to_string()))
                .send()
                .await;
            match written {
                Ok(_) => true,
                Err(error) => match error.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(_)) => false,
                    _ => panic!("UpdateItem: {error:?}"),
                },
            }
        }
    }
}

/// Runs `WRITERS` read-modify-write writers at once on one counter from 0; returns the final
/// count and how many writes were refused.
async fn race(stack: &Arc<TestStack>, write_back: WriteBack, read_first: bool) -> (u64, u64) {
    let id = counter_at_zero(stack).await;
    let barrier = Arc::new(Barrier::new(WRITERS as usize));
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let (stack, barrier) = (Arc::clone(stack), Arc::clone(&barrier));
            tokio::spawn(async move {
                let barrier = read_first.then_some(&*barrier);
                read_modify_write(&stack, id, write_back, barrier).await
            })
        })
        .collect();
    let mut refused = 0;
    for writer in writers {
        if !writer.await.expect("a writer panicked") {
            refused += 1;
        }
    }
    (stored_count(stack, id).await.unwrap(), refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_adds_end_at_exactly_fifty() {
    let stack = Arc::new(TestStack::start().await);
    // No counter item yet: the first ADD creates it and counts from 0.
    let id = OrderId::new();
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let store = stack.store.clone();
            tokio::spawn(async move { store.count_fulfillment_attempt(id).await })
        })
        .collect();
    let mut counts = Vec::new();
    for writer in writers {
        counts.push(writer.await.expect("a writer panicked").expect("ADD"));
    }
    assert_eq!(stored_count(&stack, id).await, Some(WRITERS));
    // Each ADD saw its own count (UPDATED_NEW): none applied to a number another had replaced.
    counts.sort_unstable();
    assert_eq!(counts, (1..=WRITERS).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_read_modify_writes_without_a_condition_end_at_fifty_or_less() {
    let stack = Arc::new(TestStack::start().await);
    let (count, refused) = race(&stack, WriteBack::Unconditional, false).await;
    assert_eq!(refused, 0, "an unconditional write is never refused");
    // How many are lost depends on how the writers interleave: it can be none by chance.
    assert!(count <= WRITERS, "{count}");
    println!(
        "read-modify-write: {WRITERS} increments, the counter ends at {count} ({} lost)",
        WRITERS - count
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_read_modify_writes_with_the_version_condition_lose_none_and_refuse_the_conflicts() {
    let stack = Arc::new(TestStack::start().await);
    let (count, refused) = race(&stack, WriteBack::IfUnchanged, false).await;
    assert_eq!(
        count + refused,
        WRITERS,
        "every write that was not refused is counted: none was lost"
    );
    println!(
        "optimistic locking: {count} increments written, {refused} refused as conflicts (to retry)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_every_writer_reads_before_any_writes_one_increment_survives() {
    // The worst interleaving, made certain: all 50 read 0, then all write 1.
    let stack = Arc::new(TestStack::start().await);
    assert_eq!(
        race(&stack, WriteBack::Unconditional, true).await,
        (1, 0),
        "49 increments lost, and nobody told"
    );
    assert_eq!(
        race(&stack, WriteBack::IfUnchanged, true).await,
        (1, WRITERS - 1),
        "one written, 49 refused: each refused writer knows it must retry"
    );
}

#[tokio::test]
async fn the_same_message_delivered_twice_counts_twice_and_moves_the_order_once() {
    let mut pipeline = Pipeline::start().await;
    let id = OrderId::parse(&place(&pipeline, "c-counter").await).unwrap();
    pipeline.publish_changes().await;

    // First delivery: the function does its work, but Lambda never gets its answer (it timed out
    // just after the write), so the message stays on the queue.
    let (store, cipher) = (&pipeline.stack.store, &pipeline.fulfillment_cipher);
    let first = pipeline
        .fulfillment
        .deliver(|event| async move {
            invoke(|event| fulfill_order::handler(store, cipher, event), event)
                .await
                .and(Err("Task timed out after 30.00 seconds".to_owned()))
        })
        .await
        .unwrap();
    assert_eq!(
        first.failed, first.received,
        "the message stays on the queue"
    );
    assert_eq!(stored_count(&pipeline.stack, id).await, Some(1));

    // At least once: after the visibility timeout SQS delivers the same message again.
    pipeline
        .fulfillment
        .let_visibility_timeout_pass()
        .await
        .unwrap();
    let second = pipeline.run_fulfillment().await;
    assert_eq!(second.received, first.received, "the same message");
    assert!(second.failed.is_empty(), "{second:?}");

    assert_eq!(
        stored_count(&pipeline.stack, id).await,
        Some(2),
        "ADD is not idempotent: the redelivery counted again"
    );
    let order = pipeline.stack.store.get(id, true).await.unwrap().unwrap();
    assert_eq!(
        (order.status, order.version),
        (OrderStatus::Confirmed, 2),
        "the version-conditional transition happened once"
    );
}
