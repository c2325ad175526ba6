//! How a function runs on Lambda: the init phase once, then one invocation at a time.
//!
//! Lambda starts an execution environment and runs `main` once: the **init phase**. What `main`
//! builds there (the configuration, the SDK clients and their connection pools, the cipher's cache
//! of data keys) lives as long as the environment, so every warm invocation reuses it and only a
//! cold start pays for it. Each `main` therefore starts with [`init`] (telemetry, then the AWS
//! SDK's configuration), builds its clients from that configuration (the order store and the card
//! cipher with [`order_store`] and [`card_cipher`]), then hands a handler that borrows them to
//! [`serve_api`] or [`serve_events`]: the runtime's loop asks Lambda for the next event, runs the
//! handler on it inside the invocation's trace ([`Telemetry`]), and sends the answer back.
//!
//! Every `main` runs on tokio's current-thread runtime (`#[tokio::main(flavor =
//! "current_thread")]`): an execution environment is given one event at a time, so worker threads
//! would only hand that one event's work between them. One thread took a fifth less CPU per
//! warm invocation (`make bench`, `docs/performance.md`).

use std::future::Future;

use lambda_http::{Body, Request, Response};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::Cors;
use crate::config::{self, Config, ConfigError, CorsConfig, EnvelopeConfig, WebhookConfig};
use crate::crypto::EnvelopeCipher;
use crate::store::OrderStore;
use crate::telemetry::{self, Telemetry, aws_calls};
use crate::webhook::{self, MerchantWebhook};

/// The first steps of every function's init phase: telemetry, so that all that follows is logged
/// and traced, then the AWS SDK's configuration (region, credentials, timeouts), which every
/// client of the function shares.
pub async fn init() -> Result<(Telemetry, aws_config::SdkConfig), ConfigError> {
    let telemetry = telemetry::init();
    let aws = config::aws_sdk_config().await?;
    Ok((telemetry, aws))
}

/// The orders table as every function that reads or writes it builds it: a traced DynamoDB
/// client, and the table named in the environment ([`Config`]).
pub fn order_store(aws: &aws_config::SdkConfig) -> Result<OrderStore, ConfigError> {
    Ok(OrderStore::new(
        aws_calls::dynamodb_client(aws),
        &Config::from_env()?,
    ))
}

/// The card cipher of the functions that seal or open card data: a traced KMS client, and the
/// key and data-key cache named in the environment ([`EnvelopeConfig`]).
pub fn card_cipher(aws: &aws_config::SdkConfig) -> Result<EnvelopeCipher, ConfigError> {
    Ok(EnvelopeCipher::for_cards(
        aws_calls::kms_client(aws),
        &EnvelopeConfig::from_env()?,
    ))
}

/// The merchant webhook of `notify-merchant`: its URL from the environment ([`WebhookConfig`]),
/// and its signing key read from Secrets Manager, here, once per execution environment.
pub async fn merchant_webhook(aws: &aws_config::SdkConfig) -> Result<MerchantWebhook, Error> {
    let config = WebhookConfig::from_env()?;
    let secrets = aws_calls::secrets_manager_client(aws);
    let key = webhook::read_signing_key(&secrets, &config.secret_arn).await?;
    Ok(MerchantWebhook::new(config.url, key)?)
}

/// Runs an API function: each REST proxy event becomes a [`Request`] for `handler`, and its
/// response, with the CORS headers ([`Cors`]), becomes the proxy response API Gateway returns.
pub async fn serve_api<F, Fut>(telemetry: &Telemetry, handler: F) -> Result<(), Error>
where
    F: Fn(Request) -> Fut + Sync,
    Fut: Future<Output = Result<Response<Body>, Error>> + Send,
{
    let cors = Cors::new(&CorsConfig::from_env());
    lambda_http::run(lambda_http::service_fn(|request| {
        cors.around(telemetry.traced_request(request, &handler))
    }))
    .await
}

/// Runs an event function (a stream or queue batch, a CodeDeploy hook): each event is
/// deserialised into `T` for `handler`, and its answer serialised back to Lambda.
pub async fn serve_events<T, R, F, Fut>(telemetry: &Telemetry, handler: F) -> Result<(), Error>
where
    T: DeserializeOwned,
    R: Serialize,
    F: Fn(LambdaEvent<T>) -> Fut,
    Fut: Future<Output = Result<R, Error>>,
{
    lambda_runtime::run(service_fn(|event| telemetry.traced_event(event, &handler))).await
}
