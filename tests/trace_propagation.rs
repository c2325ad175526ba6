//! X-Ray trace propagation through the pipeline: `publish-events` sends its SNS call in the
//! invocation's trace, the message carries that trace (`AWSTraceHeader`, with the SNS call as the
//! parent), and the consumer, in a trace of its own, names the producer's trace on its record.

use orders_tests::Pipeline;
use orders_tests::observed::{Observed, by_name, only_one_named, trace_header};

use crate::event_pipeline::place;

#[tokio::test]
async fn the_trace_header_travels_from_publish_to_the_consumer_record() {
    let mut pipeline = Pipeline::start().await;
    let id = place(&pipeline, "c-trace").await;

    // publish-events, traced, under the trace of Lambda's invocation segment.
    let (header, root, _) = trace_header(true);
    let sns_subsegment = {
        let observed = Observed::start("publish-events").await;
        let publisher = &pipeline.publisher;
        pipeline
            .stream
            .deliver(|event| {
                observed.invoke(&header, |e| publish_events::handler(publisher, e), event)
            })
            .await
            .unwrap();
        let documents = observed.documents().await;
        let sns = only_one_named(&documents, "SNS");
        assert_eq!(sns["aws"]["operation"], "PublishBatch");
        assert_eq!(sns["trace_id"], root.as_str());
        sns["id"].as_str().unwrap().to_owned()
    };

    // The message carries the publisher's trace, with the SNS call as the parent.
    let (event, _) = pipeline.audit.receive().await.unwrap();
    let trace = &event.records[0].attributes["AWSTraceHeader"];
    assert_eq!(
        trace,
        &format!("Root={root};Parent={sns_subsegment};Sampled=1")
    );
    pipeline.audit.release(&event).await.unwrap();

    // The consumer runs in a trace of its own; its record's subsegment names the producer's.
    let observed = Observed::start("record-audit").await;
    let (consumer_header, consumer_root, _) = trace_header(true);
    let store = &pipeline.stack.store;
    pipeline
        .audit
        .deliver(|event| {
            observed.invoke(&consumer_header, |e| record_audit::handler(store, e), event)
        })
        .await
        .unwrap();
    let documents = observed.documents().await;
    let record = only_one_named(&documents, "record");
    assert_eq!(record["trace_id"], consumer_root.as_str());
    assert_eq!(record["annotations"]["producerTraceId"], root.as_str());
    assert_eq!(record["annotations"]["orderId"], id.as_str());
    assert_eq!(record["annotations"]["eventType"], "OrderPlaced");
    let invocation = &by_name(&documents, "record-audit")[0];
    assert_eq!(record["parent_id"], invocation["id"]);
    let put = &by_name(&documents, "DynamoDB")[0];
    assert_eq!(
        put["parent_id"], record["id"],
        "the write nests under its record"
    );
}
