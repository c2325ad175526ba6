//! The merchant's webhook receiver (`orders_local::merchant_webhook`): what it accepts, refuses and
//! records, sent to by `notify-merchant`'s own sender (`orders_shared::webhook::MerchantWebhook`);
//! and, on a whole local stack, an order confirmed reaching it signed, and a cancellation during
//! an outage tried 3 times and then recorded in `MerchantNotificationFailureQueue`; with the
//! user's own (here empty) `MerchantWebhookUrl`, no receiver and no notifier.

use std::time::Duration;

use orders_local::lambda::LogOutput;
use orders_local::merchant_webhook::{Arrival, MerchantReceiver, Verdict};
use orders_local::stack::{Stack, WEBHOOK_URL_PARAMETER};
use orders_shared::webhook::{
    DeliveryError, EVENT_ID_HEADER, MerchantWebhook, SIGNATURE_HEADER, SigningKey,
};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support;
use crate::support::api_client::{ApiRequest, send};

const KEY: &str = "the-key-both-sides-share";

fn event(event_id: &str, event_type: &str) -> String {
    json!({
        "eventId": event_id,
        "eventType": event_type,
        "orderId": "0194d1c2-0000-7000-8000-000000000001",
        "version": 3,
        "occurredAt": "2026-11-30T06:00:00Z",
        "order": {}
    })
    .to_string()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A receiver on a free port that has the key.
async fn receiver() -> MerchantReceiver {
    let receiver = MerchantReceiver::start("127.0.0.1:0".parse().unwrap(), LogOutput::Discard)
        .await
        .expect("the receiver listens");
    receiver.set_key(SigningKey::new(KEY).unwrap());
    receiver
}

/// What notify-merchant uses to POST, pointed at `receiver`, signing with `key`.
fn sender(receiver: &MerchantReceiver, key: &str) -> MerchantWebhook {
    MerchantWebhook::new(receiver.webhook_url(), SigningKey::new(key).unwrap()).unwrap()
}

/// A POST to the webhook with the given signature header, and the answer's status and body.
async fn post(
    receiver: &MerchantReceiver,
    event_id: &str,
    signature: Option<String>,
    body: &str,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(receiver.webhook_url())
        .header(EVENT_ID_HEADER, event_id)
        .body(body.to_owned());
    if let Some(signature) = signature {
        request = request.header(SIGNATURE_HEADER, signature);
    }
    let answer = request.send().await.expect("the receiver answers");
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

fn verdicts(arrivals: &[Arrival]) -> Vec<Verdict> {
    arrivals.iter().map(|arrival| arrival.verdict).collect()
}

#[tokio::test]
async fn a_signed_notification_is_delivered_and_its_repeat_acknowledged_without_counting_twice() {
    let receiver = receiver().await;
    let webhook = sender(&receiver, KEY);
    let body = event("evt-1", "OrderConfirmed");
    assert_eq!(webhook.deliver("evt-1", &body, now()).await.unwrap(), 200);
    // At least once: Lambda may run the same event again; the merchant answers 200, does nothing.
    assert_eq!(webhook.deliver("evt-1", &body, now()).await.unwrap(), 200);
    let other = event("evt-2", "OrderCancelled");
    assert_eq!(webhook.deliver("evt-2", &other, now()).await.unwrap(), 200);

    let arrivals = receiver.arrivals();
    assert_eq!(
        verdicts(&arrivals),
        [Verdict::Delivered, Verdict::Repeat, Verdict::Delivered]
    );
    assert!(arrivals.iter().all(Arrival::verified));
    assert_eq!(arrivals[0].event_id.as_deref(), Some("evt-1"));
    assert_eq!(arrivals[0].event_type.as_deref(), Some("OrderConfirmed"));
    assert_eq!(
        arrivals[0].order_id.as_deref(),
        Some("0194d1c2-0000-7000-8000-000000000001")
    );
    assert_eq!(arrivals[2].event_type.as_deref(), Some("OrderCancelled"));
    receiver.shutdown().await;
}

#[tokio::test]
async fn another_key_a_changed_body_a_stale_or_no_signature_is_refused_401() {
    let receiver = receiver().await;
    let body = event("evt-1", "OrderConfirmed");

    let refused = sender(&receiver, "not-the-key")
        .deliver("evt-1", &body, now())
        .await
        .unwrap_err();
    assert!(
        matches!(refused, DeliveryError::Refused { status: 401 }),
        "{refused}"
    );

    let key = SigningKey::new(KEY).unwrap();
    let signed = key.sign(now(), body.as_bytes());
    let tampered = body.replace("OrderConfirmed", "OrderCancelled");
    let (status, answer) = post(&receiver, "evt-1", Some(signed), &tampered).await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (401, &json!("BadSignature"))
    );
    assert_eq!(
        answer["error"]["message"],
        "the signature does not match the body"
    );

    // A recorded request replayed ten minutes later: outside the five minutes' tolerance.
    let stale = key.sign(now() - 600, body.as_bytes());
    let (status, answer) = post(&receiver, "evt-1", Some(stale), &body).await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (401, &json!("BadSignature"))
    );
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("outside the tolerance"),
        "{answer}"
    );

    let (status, answer) = post(&receiver, "evt-1", None, &body).await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (401, &json!("MissingSignature"))
    );

    let arrivals = receiver.arrivals();
    assert_eq!(verdicts(&arrivals), [Verdict::BadSignature; 4]);
    assert!(!arrivals.iter().any(Arrival::verified));
    // None of them counts as received: the real one is still new.
    let delivered = sender(&receiver, KEY).deliver("evt-1", &body, now()).await;
    assert_eq!(delivered.unwrap(), 200);
    assert_eq!(receiver.arrivals()[4].verdict, Verdict::Delivered);
    receiver.shutdown().await;
}

#[tokio::test]
async fn a_signed_request_without_an_event_id_or_order_event_is_400() {
    let receiver = receiver().await;
    let key = SigningKey::new(KEY).unwrap();
    let body = event("evt-1", "OrderConfirmed");
    let answer = reqwest::Client::new()
        .post(receiver.webhook_url())
        .header(SIGNATURE_HEADER, key.sign(now(), body.as_bytes()))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 400);
    let not_an_event = r#"{"hello":"merchant"}"#;
    let signature = key.sign(now(), not_an_event.as_bytes());
    let (status, answer) = post(&receiver, "evt-2", Some(signature), not_an_event).await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (400, &json!("NotAnOrderEvent"))
    );
    assert_eq!(verdicts(&receiver.arrivals()), [Verdict::Malformed; 2]);
    receiver.shutdown().await;
}

#[tokio::test]
async fn during_an_outage_every_post_is_503_and_counted_and_the_control_api_switches_it() {
    let receiver = receiver().await;
    let http = reqwest::Client::new();
    let control = |method: Method, path: &str| {
        http.request(method, format!("{}{path}", receiver.base_url()))
            .send()
    };
    let webhook = sender(&receiver, KEY);
    let body = event("evt-1", "OrderCancelled");

    let on = control(Method::PUT, "/outage").await.unwrap();
    assert_eq!(on.status().as_u16(), 200);
    for _ in 0..3 {
        let refused = webhook.deliver("evt-1", &body, now()).await.unwrap_err();
        assert!(
            matches!(refused, DeliveryError::Refused { status: 503 }),
            "{refused}"
        );
    }
    // Even a bad signature gets 503: a merchant that is down checks nothing.
    let (status, _) = post(&receiver, "evt-1", None, &body).await;
    assert_eq!(status, 503);

    let listed: Value = control(Method::GET, "/received")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["outage"], true);
    let arrivals = listed["arrivals"].as_array().unwrap();
    assert_eq!(arrivals.len(), 4);
    assert!(
        arrivals
            .iter()
            .all(|a| a["verdict"] == "outage" && a["status"] == 503 && a["eventId"] == "evt-1"),
        "{listed}"
    );

    let off = control(Method::DELETE, "/outage").await.unwrap();
    assert_eq!(off.status().as_u16(), 200);
    assert_eq!(webhook.deliver("evt-1", &body, now()).await.unwrap(), 200);
    let wrong = control(Method::GET, "/outage").await.unwrap();
    assert_eq!(wrong.status().as_u16(), 405);
    receiver.shutdown().await;
}

#[tokio::test]
async fn before_the_stack_gives_the_key_a_notification_is_503_so_lambda_retries() {
    let receiver = MerchantReceiver::start("127.0.0.1:0".parse().unwrap(), LogOutput::Discard)
        .await
        .unwrap();
    let body = event("evt-1", "OrderConfirmed");
    let refused = sender(&receiver, KEY)
        .deliver("evt-1", &body, now())
        .await
        .unwrap_err();
    assert!(
        matches!(refused, DeliveryError::Refused { status: 503 }),
        "{refused}"
    );
    assert_eq!(verdicts(&receiver.arrivals()), [Verdict::NoKey]);
    receiver.shutdown().await;
}

/// Polls `check` every 200 ms for up to a minute (the stream, SNS, the retries: seconds).
async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "within a minute: {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The order event in an invocation record: the record's request payload is the SNS event.
fn sns_message(record: &Value) -> Value {
    let message = record["requestPayload"]["Records"][0]["Sns"]["Message"]
        .as_str()
        .unwrap_or("null");
    serde_json::from_str(message).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_stack_a_confirmed_order_reaches_the_merchant_signed_and_an_outage_ends_in_the_failure_queue()
 {
    let stack = support::stack::start("merchant").await;
    let merchant = stack.merchant().expect("the stack starts its merchant");
    assert!(
        stack
            .deployed()
            .function_name("NotifyMerchantFunction")
            .is_some(),
        "the receiver's URL was given as MerchantWebhookUrl: the notifier is deployed"
    );
    let ada = support::stack::signed_in(&stack, "ada-merchant@example.com").await;
    let http = reqwest::Client::new();
    let order = r#"{"items":[{"sku":"BOOK-1","quantity":1,"unitPriceCents":1250}],"payment":{"cardNumber":"4111 1111 1111 1111","expiry":"12/35"}}"#;
    let created = send(
        &http,
        &stack.api_url(),
        &ada,
        &ApiRequest::new(Method::POST, "/orders")
            .header("content-type", "application/json")
            .body(order),
    )
    .await;
    assert_eq!(created.status.as_u16(), 201, "{}", created.describe());
    let id = created.json().unwrap()["orderId"]
        .as_str()
        .unwrap()
        .to_owned();

    // Placed, then confirmed by fulfill-order: only OrderConfirmed passes the filter policy.
    let confirmed = eventually("the merchant receives OrderConfirmed", async || {
        merchant.arrivals().into_iter().find(|arrival| {
            arrival.order_id.as_deref() == Some(id.as_str())
                && arrival.event_type.as_deref() == Some("OrderConfirmed")
        })
    })
    .await;
    assert_eq!(confirmed.verdict, Verdict::Delivered, "{confirmed:?}");
    assert!(confirmed.verified());
    let of_order: Vec<Arrival> = merchant
        .arrivals()
        .into_iter()
        .filter(|arrival| arrival.order_id.as_deref() == Some(id.as_str()))
        .collect();
    assert_eq!(
        of_order.len(),
        1,
        "OrderPlaced is filtered out: {of_order:?}"
    );

    // The merchant is down: the cancellation is tried 3 times, then recorded.
    merchant.set_outage(true);
    let read = send(
        &http,
        &stack.api_url(),
        &ada,
        &ApiRequest::new(Method::GET, format!("/orders/{id}?consistent=true")),
    )
    .await;
    let etag = read.header("etag").expect("an ETag").to_owned();
    let cancelled = send(
        &http,
        &stack.api_url(),
        &ada,
        &ApiRequest::new(Method::POST, format!("/orders/{id}/cancel")).header("if-match", etag),
    )
    .await;
    assert_eq!(cancelled.status.as_u16(), 200, "{}", cancelled.describe());

    let sqs = aws_sdk_sqs::Client::new(stack.aws());
    let queue = stack
        .deployed()
        .queue_url("MerchantNotificationFailureQueue")
        .expect("the failure queue")
        .to_owned();
    let record = eventually("a record in MerchantNotificationFailureQueue", async || {
        let received = sqs
            .receive_message()
            .queue_url(&queue)
            .send()
            .await
            .expect("ReceiveMessage");
        let body = received.messages().first()?.body()?.to_owned();
        Some(serde_json::from_str::<Value>(&body).expect("the record is JSON"))
    })
    .await;
    merchant.set_outage(false);

    let event = sns_message(&record);
    assert_eq!(
        (&event["orderId"], &event["eventType"]),
        (&json!(id), &json!("OrderCancelled")),
        "{record}"
    );
    assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
    let attempts: Vec<Verdict> = merchant
        .arrivals()
        .into_iter()
        .filter(|arrival| arrival.event_id.as_deref() == event["eventId"].as_str())
        .map(|arrival| arrival.verdict)
        .collect();
    assert_eq!(attempts, [Verdict::Outage; 3]);
    stack.shutdown().await;
}

/// The user's `MerchantWebhookUrl` wins: empty (the template's default), no notifier is deployed
/// and the stack starts no receiver of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_url_the_user_gives_wins_and_empty_deploys_no_notifier() {
    let mut config = support::stack::test_stack_config("no-merchant");
    config
        .parameter_overrides
        .push((WEBHOOK_URL_PARAMETER.to_owned(), String::new()));
    let stack = Stack::start(config)
        .await
        .unwrap_or_else(|error| panic!("the stack starts without a notifier: {error}"));
    let deployed = stack.deployed();
    let notifier = [
        deployed.function_name("NotifyMerchantFunction"),
        deployed.secret_arn("MerchantWebhookSecret"),
        deployed.queue_url("MerchantNotificationFailureQueue"),
    ]
    .map(|physical| physical.map(str::to_owned));
    let merchant = stack.merchant().is_some();
    let banner = stack.banner();
    stack.shutdown().await;
    assert_eq!(notifier, [None, None, None]);
    assert!(!merchant, "no receiver of the stack's own");
    assert!(!banner.contains("Merchant "), "{banner}");
}
