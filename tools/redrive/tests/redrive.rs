//! `make redrive` against moto: the stream's failures replayed through the topic, and a
//! dead-letter queue's redrive (see the note on moto there).

use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use aws_sdk_sqs::types::QueueAttributeName;
use orders_redrive::dead_letters::{self, Patience, RedriveError};
use orders_redrive::resources::DeadLetterQueue;
use orders_redrive::stream_failures::{self, Replay};
use orders_shared::crypto::CachePolicy;
use orders_tests::{Pipeline, StackPart, TestStack, moto_sdk_config, physical};
use serde_json::{Value, json};

/// The stream's first record (the order's insert): (shard id, sequence number, event id).
async fn first_stream_record(
    streams: &aws_sdk_dynamodbstreams::Client,
    stream_arn: &str,
) -> (String, String, String) {
    let shard_id = streams
        .describe_stream()
        .stream_arn(stream_arn)
        .send()
        .await
        .expect("DescribeStream")
        .stream_description
        .and_then(|d| d.shards)
        .and_then(|shards| shards.into_iter().next())
        .and_then(|shard| shard.shard_id)
        .expect("a shard");
    let iterator = streams
        .get_shard_iterator()
        .stream_arn(stream_arn)
        .shard_id(&shard_id)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .expect("GetShardIterator")
        .shard_iterator
        .expect("an iterator");
    let record = streams
        .get_records()
        .shard_iterator(iterator)
        .send()
        .await
        .expect("GetRecords")
        .records
        .and_then(|records| records.into_iter().next())
        .expect("the order's insert");
    let sequence_number = record
        .dynamodb
        .and_then(|change| change.sequence_number)
        .expect("a sequence number");
    (
        shard_id,
        sequence_number,
        record.event_id.expect("an event id"),
    )
}

async fn messages_in(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    sqs.receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .send()
        .await
        .expect("ReceiveMessage")
        .messages
        .unwrap_or_default()
}

async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> (String, String) {
    let mut attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("GetQueueAttributes")
        .attributes
        .unwrap_or_default();
    (
        attributes
            .remove(&QueueAttributeName::ApproximateNumberOfMessages)
            .unwrap_or_default(),
        attributes
            .remove(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .unwrap_or_default(),
    )
}

#[tokio::test]
async fn a_stream_failure_is_read_back_from_the_stream_and_its_event_published() {
    let pipeline = Pipeline::start().await;
    let placed = pipeline
        .stack
        .as_customer("c-replay")
        .create(&json!({
            "items": [{"sku": "BOOK-1", "quantity": 1, "unitPriceCents": 1250}],
            "payment": {"cardNumber": "4539148803436467", "expiry": "12/35"}
        }))
        .await;
    assert_eq!(placed.status, 201, "{:#}", placed.body);
    let order_id = placed.order_id();

    let config = moto_sdk_config().await;
    let streams = aws_sdk_dynamodbstreams::Client::new(&config);
    let stream_arn = physical(
        pipeline.stack.deployed.stream_arn("OrdersTable"),
        "OrdersTable's stream",
    );
    let (shard_id, sequence_number, event_id) = first_stream_record(&streams, &stream_arn).await;

    // What Lambda sends the on-failure destination once publish-events has given up on the
    // batch that held the insert: where the records are, not the records.
    let failure = json!({
        "requestContext": {
            "requestId": "316aa6d0-8154-4a1f-9af7-85d5f4a6bc81",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:orders-publish-events:live",
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 6
        },
        "responseContext": {"statusCode": 200, "executedVersion": "3", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": "2026-11-29T10:00:05.000Z",
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": sequence_number,
            "endSequenceNumber": sequence_number,
            "approximateArrivalOfFirstRecord": "2026-11-29T09:59:00Z",
            "approximateArrivalOfLastRecord": "2026-11-29T09:59:00Z",
            "batchSize": 1,
            "streamArn": stream_arn
        }
    });
    let failure_queue = pipeline
        .sqs
        .create_queue()
        .queue_name(format!("{}-StreamFailureQueue", pipeline.stack.table))
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .expect("a queue URL");
    pipeline
        .sqs
        .send_message()
        .queue_url(&failure_queue)
        .message_body(failure.to_string())
        .send()
        .await
        .expect("SendMessage");

    let replays =
        stream_failures::replay_all(&pipeline.sqs, &streams, &pipeline.publisher, &failure_queue)
            .await
            .expect("the failure queue can be read");
    assert!(
        matches!(
            replays.as_slice(),
            [Replay::Published {
                records: 1,
                events: 1
            }]
        ),
        "{replays:?}"
    );
    assert_eq!(
        queue_depth(&pipeline.sqs, &failure_queue).await,
        ("0".into(), "0".into()),
        "the failure message is deleted once its event is published"
    );

    // The event went out through the topic: the audit queue hears every event.
    let delivered = messages_in(&pipeline.sqs, &pipeline.audit.queue_url).await;
    let events: Vec<Value> = delivered
        .iter()
        .map(|m| serde_json::from_str(m.body.as_deref().unwrap()).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["eventType"], "OrderPlaced");
    assert_eq!(
        events[0]["eventId"],
        event_id.as_str(),
        "the stream record's id, as publish-events gives it"
    );
    assert_eq!(events[0]["orderId"], order_id.as_str());
}

/// The template's `FulfillmentQueue` and its dead-letter queue, in a stack of the test's own.
struct QueueAndDlq {
    sqs: aws_sdk_sqs::Client,
    url: String,
    arn: String,
    dlq_url: String,
    dlq_arn: String,
}

async fn fulfillment_queue_and_dlq() -> QueueAndDlq {
    let stack = TestStack::deploying(StackPart::Pipeline, CachePolicy::DEFAULT).await;
    let deployed = &stack.deployed;
    let queue = "FulfillmentQueue";
    let dlq = "FulfillmentDeadLetterQueue";
    QueueAndDlq {
        sqs: aws_sdk_sqs::Client::new(&moto_sdk_config().await),
        url: physical(deployed.queue_url(queue), queue),
        arn: physical(deployed.queue_arn(queue), queue),
        dlq_url: physical(deployed.queue_url(dlq), dlq),
        dlq_arn: physical(deployed.queue_arn(dlq), dlq),
    }
}

async fn send(sqs: &aws_sdk_sqs::Client, url: &str, body: &str) {
    sqs.send_message()
        .queue_url(url)
        .message_body(body)
        .send()
        .await
        .expect("SendMessage");
}

/// Exam: DLQ redrive. The poison message goes back to the queue it came from, with its body, and
/// the DLQ is empty. (moto 5.2.5 lacks the message move task; `scripts/moto_message_move.py` adds
/// it as SQS has it, the refusals included.)
#[tokio::test]
async fn a_dead_letter_queue_is_redriven_to_its_source_queue() {
    let QueueAndDlq {
        sqs,
        url: source_url,
        dlq_url,
        dlq_arn,
        ..
    } = fulfillment_queue_and_dlq().await;
    send(&sqs, &dlq_url, "{not an order event").await;
    let queue = DeadLetterQueue {
        name: "fulfillment",
        url: dlq_url.clone(),
        source_url: source_url.clone(),
    };

    let redriven = dead_letters::redrive(&sqs, &queue, Patience::DEFAULT)
        .await
        .expect("the redrive completes");
    assert_eq!(redriven.messages_moved, 1, "{redriven:?}");
    assert_eq!(redriven.source_arn, dlq_arn, "{redriven:?}");
    assert_eq!(
        queue_depth(&sqs, &dlq_url).await,
        ("0".into(), "0".into()),
        "the DLQ is empty"
    );
    let back = messages_in(&sqs, &source_url).await;
    assert_eq!(back.len(), 1, "{back:?}");
    assert_eq!(back[0].body(), Some("{not an order event"));
}

/// SQS moves messages only out of a dead-letter queue: a redrive of another queue is refused, says
/// which queue, and loses nothing.
#[tokio::test]
async fn a_redrive_that_sqs_refuses_loses_nothing() {
    let QueueAndDlq {
        sqs,
        url: source_url,
        arn: source_arn,
        dlq_url,
        ..
    } = fulfillment_queue_and_dlq().await;
    send(&sqs, &source_url, "{an order event").await;
    // Backwards: the source queue named as the dead-letter queue.
    let queue = DeadLetterQueue {
        name: "fulfillment",
        url: source_url.clone(),
        source_url: dlq_url.clone(),
    };

    let error = dead_letters::redrive(&sqs, &queue, Patience::DEFAULT)
        .await
        .expect_err("a queue that is no DLQ cannot be redriven");
    assert!(
        matches!(&error, RedriveError::Start { source_arn: refused, .. } if *refused == source_arn),
        "{error}"
    );
    assert_eq!(
        queue_depth(&sqs, &source_url).await,
        ("1".into(), "0".into()),
        "the message is still where it was"
    );
    assert!(messages_in(&sqs, &dlq_url).await.is_empty());
}
