//! The stack's merchant: the webhook receiver ([`crate::merchant_webhook`]) started before the
//! deploy, so that its URL can be the template's `MerchantWebhookUrl` and `make dev` deploys
//! `notify-merchant`; after the deploy it gets the key from the secret CloudFormation generated.
//!
//! A `MerchantWebhookUrl` the user gives (`--parameter-overrides` or
//! `ORDERS_LOCAL_PARAMETER_OVERRIDES`) wins, and then no receiver starts: the notifications go to
//! that webhook (empty: no notifier at all, the template's default), and the key is theirs to read
//! (`aws secretsmanager get-secret-value --secret-id <MerchantWebhookSecret's ARN>`).

use aws_config::SdkConfig;
use orders_shared::webhook::read_signing_key;

use super::{StackConfig, StackError};
use crate::cloudformation::Deployed;
use crate::merchant_webhook::MerchantReceiver;

/// The template's parameter that names the webhook.
pub const WEBHOOK_URL_PARAMETER: &str = "MerchantWebhookUrl";

/// The secret the notifications are signed with (its `!Ref` is its ARN).
const SIGNING_SECRET: &str = "MerchantWebhookSecret";

/// Starts the receiver and gives its URL as `MerchantWebhookUrl`, unless the user gave one.
pub(super) async fn start_receiver(
    config: &mut StackConfig,
) -> Result<Option<MerchantReceiver>, StackError> {
    let given = config
        .parameter_overrides
        .iter()
        .any(|(name, _)| name == WEBHOOK_URL_PARAMETER);
    if given {
        return Ok(None);
    }
    let receiver = MerchantReceiver::start(config.merchant, config.logs.clone())
        .await
        .map_err(StackError::cannot_listen(
            "the merchant's webhook receiver",
            config.merchant,
            "ORDERS_LOCAL_MERCHANT",
        ))?;
    config
        .parameter_overrides
        .push((WEBHOOK_URL_PARAMETER.to_owned(), receiver.webhook_url()));
    Ok(Some(receiver))
}

/// Gives the receiver the deployed secret's value: what the merchant is handed on AWS.
pub(super) async fn give_key(
    receiver: Option<&MerchantReceiver>,
    deployed: &Deployed,
    aws: &SdkConfig,
) -> Result<(), StackError> {
    let Some(receiver) = receiver else {
        return Ok(());
    };
    let arn = deployed.secret_arn(SIGNING_SECRET).ok_or_else(|| {
        StackError::Resources(format!(
            "{WEBHOOK_URL_PARAMETER} was given but the stack has no {SIGNING_SECRET} to sign with"
        ))
    })?;
    let secrets = aws_sdk_secretsmanager::Client::new(aws);
    let key = read_signing_key(&secrets, arn)
        .await
        .map_err(|error| StackError::Resources(error.to_string()))?;
    receiver.set_key(key);
    Ok(())
}
