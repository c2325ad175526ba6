//! `notify-merchant` against a real HTTP webhook on loopback and its signing key in Secrets
//! Manager (moto): what the merchant receives, and what makes Lambda retry.
//!
//! The webhook here is a small axum server that records each request and answers the status a
//! test sets. The key is read as the function's init reads it (`read_signing_key`), then checked
//! as a merchant checks it (`SigningKey::verify` with the value it was given).

use std::sync::{Arc, Mutex};

use aws_lambda_events::sns::SnsEvent;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use lambda_runtime::{Context, LambdaEvent};
use notify_merchant::NotifyError;
use orders_shared::domain::{EventType, OrderEvent, OrderId};
use orders_shared::webhook::{
    DEFAULT_TOLERANCE, DeliveryError, EVENT_ID_HEADER, MerchantWebhook, SIGNATURE_HEADER,
    SigningKey, read_signing_key,
};
use orders_tests::moto::workspace_root;
use orders_tests::{TestStack, moto_sdk_config};
use serde_json::json;

/// What the webhook received, and the status it answers with.
#[derive(Clone, Default)]
struct Webhook {
    received: Arc<Mutex<Vec<(HeaderMap, String)>>>,
    answer: Arc<Mutex<u16>>,
}

impl Webhook {
    /// Listens on a free loopback port; answers 204 until told otherwise.
    async fn start() -> (Self, String) {
        let webhook = Webhook::default();
        *webhook.answer.lock().unwrap() = 204;
        let app = axum::Router::new()
            .route("/webhook", axum::routing::post(receive))
            .with_state(webhook.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/webhook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (webhook, url)
    }

    fn answer_with(&self, status: u16) {
        *self.answer.lock().unwrap() = status;
    }

    fn received(&self) -> Vec<(HeaderMap, String)> {
        self.received.lock().unwrap().clone()
    }
}

async fn receive(State(webhook): State<Webhook>, headers: HeaderMap, body: String) -> StatusCode {
    webhook.received.lock().unwrap().push((headers, body));
    let status = *webhook.answer.lock().unwrap();
    StatusCode::from_u16(status).unwrap()
}

/// The signing key in Secrets Manager, as CloudFormation's generated secret holds it: its ARN.
async fn secret(value: &str) -> String {
    let secrets = aws_sdk_secretsmanager::Client::new(&moto_sdk_config().await);
    let name = format!("merchant-webhook-{}", OrderId::new());
    let created = secrets
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .unwrap();
    created.arn.unwrap()
}

/// An order event as SNS delivers it to the function: a confirmed order of the stack's table.
async fn confirmed_order_event(stack: &TestStack) -> OrderEvent {
    let created = stack.create(&orders_tests::one_book_order()).await;
    let id = OrderId::parse(&created.order_id()).unwrap();
    let order = stack.store.get(id, true).await.unwrap().expect("the order");
    OrderEvent::new("evt-confirmed-1", EventType::OrderConfirmed, order)
}

/// The SNS event Lambda hands the function (`events/notify-merchant.json`), carrying `message`.
fn sns_event(message: &str) -> LambdaEvent<SnsEvent> {
    let path = workspace_root().join("events/notify-merchant.json");
    let mut event: SnsEvent =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    event.records[0].sns.message = message.to_owned();
    LambdaEvent::new(event, Context::default())
}

#[tokio::test]
async fn the_merchant_gets_the_event_unchanged_signed_with_the_key_from_secrets_manager() {
    let stack = TestStack::start().await;
    let (webhook, url) = Webhook::start().await;
    let arn = secret("merchant-shared-key-0123456789").await;
    let secrets = aws_sdk_secretsmanager::Client::new(&moto_sdk_config().await);
    let key = read_signing_key(&secrets, &arn).await.expect("the key");
    let function = MerchantWebhook::new(url, key).unwrap();
    let event = confirmed_order_event(&stack).await;
    let message = serde_json::to_string(&event).unwrap();

    notify_merchant::handler(&function, sns_event(&message))
        .await
        .expect("a 2xx answer is a delivery");

    let received = webhook.received();
    assert_eq!(received.len(), 1);
    let (headers, body) = &received[0];
    assert_eq!(body, &message, "the body is the event as SNS delivered it");
    assert_eq!(headers[EVENT_ID_HEADER], "evt-confirmed-1");
    assert_eq!(headers["content-type"], "application/json");
    // The merchant checks with the value it was given, now.
    let merchant = SigningKey::new("merchant-shared-key-0123456789").unwrap();
    let signature = headers[SIGNATURE_HEADER].to_str().unwrap();
    let now = chrono::Utc::now().timestamp();
    assert_eq!(
        merchant.verify(signature, body.as_bytes(), now, DEFAULT_TOLERANCE),
        Ok(())
    );
    // No card number reaches the merchant: the event shows the card as last4 and brand only.
    assert!(!body.contains("4111111111111111"), "{body}");
    assert!(body.contains("cardLast4"), "{body}");
}

#[tokio::test]
async fn an_answer_other_than_2xx_is_an_error_lambda_retries() {
    let stack = TestStack::start().await;
    let (webhook, url) = Webhook::start().await;
    let function = MerchantWebhook::new(url, SigningKey::new("k").unwrap()).unwrap();
    let message = serde_json::to_string(&confirmed_order_event(&stack).await).unwrap();

    for status in [503, 400, 302] {
        webhook.answer_with(status);
        let error = notify_merchant::notify(&function, "msg-1", &message)
            .await
            .expect_err("not delivered");
        match &error {
            NotifyError::NotDelivered {
                event_id,
                event_type,
                cause: DeliveryError::Refused { status: got },
            } => {
                assert_eq!(
                    (event_id.as_str(), event_type.as_str()),
                    ("evt-confirmed-1", "OrderConfirmed")
                );
                assert_eq!(*got, status, "a redirect is not followed either");
            }
            other => panic!("{status}: {other}"),
        }
        // The handler returns it to Lambda: the invocation fails, and Lambda retries it.
        let failed = notify_merchant::handler(&function, sns_event(&message)).await;
        assert!(failed.is_err(), "{status}");
    }
    assert_eq!(webhook.received().len(), 6);
}

#[tokio::test]
async fn a_message_that_is_not_an_order_event_fails_without_a_call() {
    let (webhook, url) = Webhook::start().await;
    let function = MerchantWebhook::new(url, SigningKey::new("k").unwrap()).unwrap();
    let error = notify_merchant::notify(&function, "msg-2", r#"{"hello": "world"}"#)
        .await
        .expect_err("refused");
    assert!(
        matches!(&error, NotifyError::NotAnOrderEvent { message_id, .. } if message_id == "msg-2"),
        "{error}"
    );
    assert!(webhook.received().is_empty());
}

#[tokio::test]
async fn a_webhook_nobody_listens_on_is_unreachable() {
    // Bind, then drop: the port is free and refuses connections.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/webhook");
    let function = MerchantWebhook::new(url, SigningKey::new("k").unwrap()).unwrap();
    let message = json!({"not": "used"}).to_string();
    let error = function.deliver("evt-x", &message, 0).await.unwrap_err();
    assert!(matches!(error, DeliveryError::Unreachable(_)), "{error}");
}
