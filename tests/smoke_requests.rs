//! Each smoke request of the pre-traffic hook (`functions/pre-traffic-check`), sent to the real
//! handler it is meant for, in-process, and its answer serialised as the function's runtime sends
//! it back to Lambda: the hook's check must pass on it. (Here, where every function crate is
//! linked already, so that the hook's own tests need none of them.) No moto needed here.
//!
//! The handlers get mocked AWS clients. A client without rules panics on any call, which proves
//! a request is refused before any AWS call (create-order, list-orders, the consumers). The
//! functions that do reach DynamoDB (get-order, update-order, cancel-order) get the one answer
//! DynamoDB gives for an order id that has no item: no item for `GetItem`, and
//! `ConditionalCheckFailedException` without an old item for a conditional `UpdateItem` (so no
//! write happened).

use std::future::Future;
use std::time::Duration;

use aws_lambda_events::dynamodb::Event as StreamEvent;
use aws_lambda_events::sns::SnsEvent;
use aws_lambda_events::sqs::SqsEvent;
use aws_sdk_dynamodb::Client as DynamoDb;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, Context, Error, LambdaEvent, Request, Response, Service, service_fn};
use orders_shared::crypto::EnvelopeCipher;
use orders_shared::messaging::EventPublisher;
use orders_shared::webhook::{MerchantWebhook, SigningKey};
use orders_shared::{Config, EnvelopeConfig, OrderStore};
use pre_traffic_check::{SMOKE_TESTS, SmokeTest};
use serde::de::DeserializeOwned;
use serde_json::Value;

fn test_of(binary: &str) -> &'static SmokeTest {
    SMOKE_TESTS
        .iter()
        .find(|test| test.binary == binary)
        .unwrap_or_else(|| panic!("no smoke test for {binary}"))
}

fn store(rules: &[&Rule]) -> OrderStore {
    let config = Config {
        table_name: "orders".into(),
        idempotency_ttl: Duration::from_secs(24 * 60 * 60),
    };
    OrderStore::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, rules),
        &config,
    )
}

/// A cipher whose KMS client panics if it is called.
fn cipher() -> EnvelopeCipher {
    let config = EnvelopeConfig::from_lookup(|name| {
        (name == "PAYMENT_KEY_ID").then(|| "alias/orders-payment".to_owned())
    })
    .unwrap();
    EnvelopeCipher::for_cards(mock_client!(aws_sdk_kms, []), &config)
}

/// Runs an API handler as `lambda_http::run` does: the proxy event is parsed as on Lambda, and
/// the response becomes the proxy response the runtime sends back. (`Adapter` and
/// `LambdaRequest` are `lambda_http`'s own, hidden from its docs: the runtime's exact path.)
async fn api_answer<F, Fut>(event: &Value, handler: F) -> Vec<u8>
where
    F: FnMut(Request) -> Fut,
    Fut: Future<Output = Result<Response<Body>, Error>> + Send,
{
    let request: LambdaRequest = serde_json::from_value(event.clone()).unwrap();
    let mut adapter = lambda_http::Adapter::from(service_fn(handler));
    let response = adapter
        .call(LambdaEvent::new(request, Context::default()))
        .await
        .unwrap();
    serde_json::to_vec(&response).unwrap()
}

/// A batch smoke request, as the runtime hands it to a consumer.
fn batch_event<T: DeserializeOwned>(test: &SmokeTest) -> LambdaEvent<T> {
    LambdaEvent::new(
        serde_json::from_value(test.request()).unwrap(),
        Context::default(),
    )
}

/// The hook's check passes on `answer` (shown when it does not), and the handler made each of
/// the calls `called` allows, once.
fn assert_passes(test: &SmokeTest, answer: &[u8], called: &[&Rule]) {
    assert_eq!(
        test.check(answer),
        Ok(()),
        "{}",
        String::from_utf8_lossy(answer)
    );
    for rule in called {
        assert_eq!(rule.num_calls(), 1);
    }
}

/// The smoke event's fresh order id, and the DynamoDB key of that order.
fn order_pk(event: &Value) -> String {
    format!(
        "ORDER#{}",
        event["pathParameters"]["orderId"].as_str().unwrap()
    )
}

#[tokio::test]
async fn create_order_refuses_an_empty_order_before_any_aws_call() {
    let test = test_of("create-order");
    let (store, cipher) = (store(&[]), cipher());
    let answer = api_answer(&test.request(), |request| {
        create_order::handler(&store, &cipher, request)
    })
    .await;
    assert_passes(test, &answer, &[]);
}

#[tokio::test]
async fn list_orders_refuses_an_empty_page_before_any_aws_call() {
    let test = test_of("list-orders");
    let store = store(&[]);
    let answer = api_answer(&test.request(), |request| {
        list_orders::handler(&store, request)
    })
    .await;
    assert_passes(test, &answer, &[]);
}

#[tokio::test]
async fn get_order_finds_no_order_with_a_fresh_id() {
    let test = test_of("get-order");
    let event = test.request();
    let pk = order_pk(&event);
    let read = mock!(DynamoDb::get_item)
        .match_requests(move |request| {
            request.key().and_then(|key| key.get("pk")) == Some(&AttributeValue::S(pk.clone()))
        })
        .then_output(|| GetItemOutput::builder().build());
    let store = store(&[&read]);
    let answer = api_answer(&event, |request| get_order::handler(&store, request)).await;
    assert_passes(test, &answer, &[&read]);
}

/// The smoke test of a function that writes conditionally, its event, and a store whose one rule
/// is the conditional `UpdateItem` of the fresh order: DynamoDB refuses it, and there is no old
/// item to return. The rule matches only an update conditional on the version
/// (`#version IN (...)`).
fn conditional_update_of_nothing(binary: &str) -> (&'static SmokeTest, Value, Rule, OrderStore) {
    let test = test_of(binary);
    let event = test.request();
    let pk = order_pk(&event);
    let update = mock!(DynamoDb::update_item)
        .match_requests(move |request| {
            request.key().and_then(|key| key.get("pk")) == Some(&AttributeValue::S(pk.clone()))
                && request
                    .condition_expression()
                    .is_some_and(|condition| condition.contains("#version IN ("))
        })
        .then_error(|| {
            UpdateItemError::ConditionalCheckFailedException(
                ConditionalCheckFailedException::builder()
                    .message("The conditional request failed")
                    .build(),
            )
        });
    let store = store(&[&update]);
    (test, event, update, store)
}

#[tokio::test]
async fn update_order_writes_nothing_to_a_fresh_id() {
    let (test, event, update, store) = conditional_update_of_nothing("update-order");
    let answer = api_answer(&event, |request| update_order::handler(&store, request)).await;
    assert_passes(test, &answer, &[&update]);
}

#[tokio::test]
async fn cancel_order_writes_nothing_to_a_fresh_id() {
    let (test, event, update, store) = conditional_update_of_nothing("cancel-order");
    let answer = api_answer(&event, |request| cancel_order::handler(&store, request)).await;
    assert_passes(test, &answer, &[&update]);
}

#[tokio::test]
async fn publish_events_answers_an_empty_stream_batch_without_publishing() {
    let test = test_of("publish-events");
    let publisher = EventPublisher::new(
        mock_client!(aws_sdk_sns, []),
        "arn:aws:sns:us-east-1:123456789012:orders-events",
    );
    let event: LambdaEvent<StreamEvent> = batch_event(test);
    let response = publish_events::handler(&publisher, event).await.unwrap();
    assert_passes(test, &serde_json::to_vec(&response).unwrap(), &[]);
}

#[tokio::test]
async fn fulfill_order_answers_an_empty_queue_batch_without_any_call() {
    let test = test_of("fulfill-order");
    let (store, cipher) = (store(&[]), cipher());
    let event: LambdaEvent<SqsEvent> = batch_event(test);
    let response = fulfill_order::handler(&store, &cipher, event)
        .await
        .unwrap();
    assert_passes(test, &serde_json::to_vec(&response).unwrap(), &[]);
}

#[tokio::test]
async fn record_audit_answers_an_empty_queue_batch_without_any_call() {
    let test = test_of("record-audit");
    let event: LambdaEvent<SqsEvent> = batch_event(test);
    let response = record_audit::handler(&store(&[]), event).await.unwrap();
    assert_passes(test, &serde_json::to_vec(&response).unwrap(), &[]);
}

#[tokio::test]
async fn notify_merchant_answers_an_empty_topic_batch_without_any_call() {
    let test = test_of("notify-merchant");
    // Port 9 (discard): nothing answers there, so a call would fail the handler.
    let key = SigningKey::new("smoke").unwrap();
    let webhook = MerchantWebhook::new("http://127.0.0.1:9/webhook", key).unwrap();
    let event: LambdaEvent<SnsEvent> = batch_event(test);
    let response: () = notify_merchant::handler(&webhook, event).await.unwrap();
    assert_passes(test, &serde_json::to_vec(&response).unwrap(), &[]);
}
