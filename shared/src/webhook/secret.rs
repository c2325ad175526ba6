//! The signing key, read from Secrets Manager once per execution environment.
//!
//! Exam: secrets are read at init, not per invocation, and not from an environment variable.
//! The function is given the secret's ARN (`WEBHOOK_SECRET_ARN`); `main` calls
//! [`read_signing_key`] once, before the runtime's loop, so every warm invocation reuses the key
//! and only a cold start pays for a `GetSecretValue` (priced per 10,000 calls, and throttled per
//! second if called per invocation). A rotated secret reaches new execution environments; the
//! ones already running keep the key they read, which is why a rotation keeps the previous
//! version valid for a while (`AWSPREVIOUS`).

use super::signature::{SignatureError, SigningKey};

/// Why the key could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The call failed; `cause` is the SDK error with its chain (never the secret's value).
    #[error("GetSecretValue {secret_id} failed: {cause}")]
    Unreadable { secret_id: String, cause: String },
    #[error("the secret {secret_id} has no SecretString (a binary secret is not a signing key)")]
    NotAString { secret_id: String },
    #[error("the secret {secret_id}: {cause}")]
    NotAKey {
        secret_id: String,
        cause: SignatureError,
    },
}

/// The current version (`AWSCURRENT`) of the secret `secret_id` (its ARN or name), as the key.
pub async fn read_signing_key(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<SigningKey, SecretError> {
    let answer = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|error| SecretError::Unreadable {
            secret_id: secret_id.to_owned(),
            cause: aws_sdk_secretsmanager::error::DisplayErrorContext(error).to_string(),
        })?;
    let text = answer
        .secret_string
        .ok_or_else(|| SecretError::NotAString {
            secret_id: secret_id.to_owned(),
        })?;
    SigningKey::new(text).map_err(|cause| SecretError::NotAKey {
        secret_id: secret_id.to_owned(),
        cause,
    })
}

#[cfg(test)]
mod tests {
    use aws_sdk_secretsmanager::operation::get_secret_value::{
        GetSecretValueError, GetSecretValueOutput,
    };
    use aws_sdk_secretsmanager::types::error::ResourceNotFoundException;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    use super::*;
    use crate::webhook::signature::DEFAULT_TOLERANCE;

    const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhook-AbCdEf";

    #[tokio::test]
    async fn the_secret_string_is_the_key() {
        let rule = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
            .match_requests(|request| request.secret_id() == Some(ARN))
            .then_output(|| {
                GetSecretValueOutput::builder()
                    .secret_string("shared-with-the-merchant")
                    .build()
            });
        let client = mock_client!(aws_sdk_secretsmanager, RuleMode::Sequential, [&rule]);
        let key = read_signing_key(&client, ARN).await.unwrap();
        let expected = SigningKey::new("shared-with-the-merchant").unwrap();
        let header = expected.sign(1, b"{}");
        assert_eq!(key.verify(&header, b"{}", 1, DEFAULT_TOLERANCE), Ok(()));
    }

    #[tokio::test]
    async fn a_missing_secret_names_itself_and_a_binary_one_is_refused() {
        let missing = mock!(aws_sdk_secretsmanager::Client::get_secret_value).then_error(|| {
            GetSecretValueError::ResourceNotFoundException(
                ResourceNotFoundException::builder()
                    .message("Secrets Manager can't find the specified secret.")
                    .build(),
            )
        });
        let binary = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
            .then_output(|| GetSecretValueOutput::builder().build());
        let client = mock_client!(
            aws_sdk_secretsmanager,
            RuleMode::Sequential,
            [&missing, &binary]
        );
        let error = read_signing_key(&client, ARN).await.unwrap_err();
        assert!(matches!(error, SecretError::Unreadable { .. }), "{error}");
        assert!(error.to_string().contains(ARN), "{error}");
        let error = read_signing_key(&client, ARN).await.unwrap_err();
        assert!(matches!(error, SecretError::NotAString { .. }), "{error}");
    }
}
