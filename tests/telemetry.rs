//! X-Ray documents, logs and metrics of real invocations: the handlers run in-process against moto
//! inside `Telemetry::traced_request`, as `main` runs them, and the local stack's X-Ray daemon
//! (on a free port of the test's own) receives what they send.

use lambda_http::http::Method;
use lambda_http::{Context, Request, RequestExt};
use orders_tests::observed::{Observed, by_name, trace_header};
use orders_tests::{CUSTOMER, Reply, SignedIn, TestStack};
use serde_json::{Value, json};

const CARD: &str = orders_tests::TEST_CARD;

/// A request as Lambda delivers it: with its context (request id, trace header).
fn with_context(request: Request, trace_header: &str) -> Request {
    let mut context = Context::default();
    context.request_id = "req-1234".into();
    context.xray_trace_id = Some(trace_header.into());
    request.with_lambda_context(context)
}

fn create_request(trace_header: &str) -> Request {
    let body = orders_tests::one_book_order();
    with_context(
        SignedIn::customer(CUSTOMER)
            .request(Method::POST, "/orders")
            .body(body.to_string().as_bytes())
            .to_request(),
        trace_header,
    )
}

/// `POST /orders` with a card, as one traced invocation under `trace_header`.
async fn traced_create(observed: &Observed, stack: &TestStack, trace_header: &str) -> Reply {
    let invocation = observed
        .telemetry
        .traced_request(create_request(trace_header), |request| {
            create_order::handler(&stack.store, &stack.cipher, request)
        });
    Reply::from(invocation.await)
}

#[tokio::test]
async fn a_sampled_create_sends_subsegments_for_the_invocation_and_every_aws_call() {
    let stack = TestStack::start().await;
    let observed = Observed::start("create-order").await;
    let (header, root, parent) = trace_header(true);

    let reply = traced_create(&observed, &stack, &header).await;
    assert_eq!(reply.status, 201, "{:#}", reply.body);
    let documents = observed.documents().await;

    for document in &documents {
        assert_eq!(document["type"], "subsegment", "{document}");
        assert_eq!(document["trace_id"], root.as_str(), "{document}");
    }
    let invocation = by_name(&documents, "create-order");
    assert_eq!(invocation.len(), 1, "{documents:#?}");
    let invocation = invocation[0];
    assert_eq!(
        invocation["parent_id"],
        parent.as_str(),
        "nested under Lambda's segment"
    );
    assert_eq!(invocation["annotations"]["orderId"], reply.body["orderId"]);
    assert_eq!(invocation["annotations"]["coldStart"], true);
    let metadata = invocation["metadata"].to_string();
    assert!(
        metadata.contains("req-1234"),
        "the request id is metadata: {invocation}"
    );
    assert!(
        invocation["annotations"].get("requestId").is_none(),
        "and not indexed"
    );

    let kms = by_name(&documents, "KMS");
    let dynamodb = by_name(&documents, "DynamoDB");
    assert_eq!(kms.len(), 1, "one GenerateDataKey: {documents:#?}");
    assert_eq!(dynamodb.len(), 1, "one PutItem: {documents:#?}");
    assert_eq!(kms[0]["aws"]["operation"], "GenerateDataKey");
    assert_eq!(dynamodb[0]["aws"]["operation"], "PutItem");
    assert_eq!(dynamodb[0]["aws"]["table_name"], stack.table.as_str());
    for call in [kms[0], dynamodb[0]] {
        assert_eq!(call["namespace"], "aws");
        assert_eq!(call["parent_id"], invocation["id"]);
        assert!(
            call.get("fault").is_none() && call.get("error").is_none(),
            "{call}"
        );
    }

    let text = format!("{documents:?}");
    assert!(
        !text.contains(CARD) && !text.contains(&CARD[..8]),
        "no card data in traces"
    );
    let log_text = observed.logs.text();
    assert!(!log_text.contains(&CARD[..8]), "no card data in logs");
}

#[tokio::test]
async fn a_failed_call_is_flagged_and_a_version_conflict_is_annotated() {
    let stack = TestStack::start().await;
    let created = stack.create(&orders_tests::one_book_order()).await;
    let id = created.order_id();
    let observed = Observed::start("create-order").await;
    let (header, _, _) = trace_header(true);

    // A stale If-Match: DynamoDB refuses the conditional update (400).
    let request = with_context(
        SignedIn::customer(CUSTOMER)
            .request(Method::PATCH, &format!("/orders/{id}"))
            .path_parameter("orderId", &id)
            .header("if-match", "\"7\"")
            .body(json!({"note": "late"}).to_string().as_bytes())
            .to_request(),
        &header,
    );
    let reply = Reply::from(
        observed
            .telemetry
            .traced_request(request, |request| {
                update_order::handler(&stack.store, request)
            })
            .await,
    );
    reply.expect_error(412, "VersionConflict");

    let documents = observed.documents().await;
    let update = &by_name(&documents, "DynamoDB")[0];
    assert_eq!(update["aws"]["operation"], "UpdateItem");
    assert_eq!(update["error"], true, "a 4xx is an error: {update}");
    assert!(update.get("fault").is_none());
    let cause = update["cause"].to_string();
    assert!(cause.contains("ConditionalCheckFailedException"), "{cause}");
    let invocation = &by_name(&documents, "create-order")[0];
    assert_eq!(invocation["annotations"]["versionConflict"], true);
    assert_eq!(invocation["annotations"]["orderId"], id.as_str());

    // The log line of the refusal carries the invocation's fields.
    let log_text = observed.logs.text();
    let refused: Value = log_text
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["fields"]["message"] == "request refused")
        .expect("a log line for the 412");
    assert_eq!(refused["span"]["requestId"], "req-1234");
    assert_eq!(refused["span"]["function"], "create-order");
    assert!(
        refused["span"]["traceId"]
            .as_str()
            .unwrap()
            .starts_with("1-")
    );
}

#[tokio::test]
async fn nothing_is_sent_when_the_trace_is_not_sampled() {
    let stack = TestStack::start().await;
    let observed = Observed::start("create-order").await;
    let (header, _, _) = trace_header(false);
    let reply = traced_create(&observed, &stack, &header).await;
    assert_eq!(reply.status, 201);
    assert_eq!(observed.documents().await, Vec::<Value>::new());
}

#[tokio::test]
async fn an_invocation_without_a_trace_header_sends_nothing() {
    let stack = TestStack::start().await;
    let observed = Observed::start("create-order").await;
    let request = SignedIn::customer(CUSTOMER)
        .request(Method::GET, "/orders")
        .to_request();
    let reply = Reply::from(
        observed
            .telemetry
            .traced_request(request, |request| {
                list_orders::handler(&stack.store, request)
            })
            .await,
    );
    assert_eq!(reply.status, 200);
    assert_eq!(observed.documents().await, Vec::<Value>::new());
}

/// Exam: an X-Ray segment document is at most 64 KB, so long work sends its subsegments on their
/// own. Every span here is its own document, sent as it ends, with its parent's id: none nests
/// another, and each is a small fraction of the limit.
#[tokio::test]
async fn every_span_is_its_own_document_far_under_the_64_kb_limit() {
    const SEGMENT_DOCUMENT_LIMIT: usize = 64 * 1024;
    let stack = TestStack::start().await;
    let observed = Observed::start("create-order").await;
    let (header, _, _) = trace_header(true);

    let reply = traced_create(&observed, &stack, &header).await;
    assert_eq!(reply.status, 201, "{:#}", reply.body);
    let documents = observed.documents().await;
    assert!(
        documents.len() >= 3,
        "the invocation and its AWS calls: {documents:#?}"
    );
    for document in &documents {
        assert!(document.get("subsegments").is_none(), "nested: {document}");
        assert!(document["parent_id"].is_string(), "{document}");
        let size = serde_json::to_vec(document).unwrap().len();
        assert!(
            size < SEGMENT_DOCUMENT_LIMIT / 8,
            "{size} bytes: {document}"
        );
    }
}
