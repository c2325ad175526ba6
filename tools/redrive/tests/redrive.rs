//! `make redrive` against moto: the stream's failures replayed through the topic, and a
//! dead-letter queue's redrive (see the note on moto there).

use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use aws_sdk_sqs::types::QueueAttributeName;
use orders_redrive::dead_letters::{self, Patience, RedriveError};
use orders_redrive::resources::DeadLetterQueue;
use orders_redrive::stream_failures::{self, Replay};
use orders_tests::pipeline::create_queue_with_dlq;
use orders_tests::{Pipeline, moto_sdk_config};
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
    let stream_arn = pipeline
        .stack
        .dynamodb
        .describe_table()
        .table_name(&pipeline.stack.table)
        .send()
        .await
        .expect("DescribeTable")
        .table
        .and_then(|table| table.latest_stream_arn)
        .expect("the table has a stream");
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

/// moto 5.2.5 has no `StartMessageMoveTask` (nor `ListMessageMoveTasks`): it answers 500. So
/// against moto this checks what a refused redrive does: it says which queue, and loses nothing
/// (the poison message is still in its DLQ, and nothing reached the source queue). The move
/// itself, request and task followed to `COMPLETED`, is checked against SQS's answers in
/// `dead_letters`' unit tests. When moto gains the operation, this test fails here: then it
/// should see the message on the source queue instead.
#[tokio::test]
async fn a_dead_letter_queue_redrive_that_sqs_refuses_loses_nothing() {
    let config = moto_sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let name = format!("redrive-{}", std::process::id());
    let (source_url, _, dlq_url) = create_queue_with_dlq(&sqs, &name).await;
    sqs.send_message()
        .queue_url(&dlq_url)
        .message_body("{not an order event")
        .send()
        .await
        .expect("SendMessage");
    let queue = DeadLetterQueue {
        name: "fulfillment",
        url: dlq_url.clone(),
        source_url: source_url.clone(),
    };

    let error = dead_letters::redrive(&sqs, &queue, Patience::DEFAULT)
        .await
        .expect_err("moto 5.2.5 cannot move messages: if it now can, see this test's doc");
    assert!(
        matches!(&error, RedriveError::Start { source_arn, .. } if source_arn.ends_with(&format!(":{name}-DLQ"))),
        "{error}"
    );
    assert_eq!(
        queue_depth(&sqs, &dlq_url).await,
        ("1".into(), "0".into()),
        "the poison message is still in its DLQ"
    );
    assert!(messages_in(&sqs, &source_url).await.is_empty());
}
