//! Envelope encryption with KMS: how card data is sealed before it is stored.
//!
//! KMS `Encrypt` takes at most 4 KB of plaintext, and every call is a network round trip that is
//! billed and throttled: KMS keys are for encrypting *keys*, not data. Hence envelope encryption:
//!
//! ```text
//! seal:  GenerateDataKey(AES_256, context) -> plaintext key + encrypted key (edk)
//!        AES-256-GCM(plaintext key, fresh nonce, aad = order id) over the card -> ct
//!        store {v, keyId, edk, nonce, ct}; the plaintext key is wiped, never stored
//! open:  Decrypt(edk, same context) -> plaintext key -> AES-256-GCM decrypt(ct, aad) -> card
//! ```
//!
//! The encrypted data key is stored beside the data; the plaintext key never is. Only a caller
//! allowed `kms:Decrypt` on the key can unwrap the `edk`, so IAM decides who can read card data.
//!
//! Two bindings make a sealed value useless anywhere else:
//!
//! - the **encryption context** `{app, purpose}` goes to KMS with `GenerateDataKey` and must match
//!   exactly on `Decrypt`, or KMS refuses; it is logged in CloudTrail and can be required by IAM
//!   conditions (`kms:EncryptionContext:purpose`);
//! - the **order id** is AES-GCM associated data: authenticated, not encrypted. A ciphertext copied
//!   onto another order fails its tag check, as does any changed byte of `nonce` or `ct`.
//!
//! Data keys are cached within limits (see [`super::key_cache`]), so KMS sees one call per 100
//! orders rather than one per order.

use std::collections::HashMap;
use std::time::Instant;

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use aws_sdk_kms::Client;
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use super::key_cache::{CachePolicy, CacheStats, DataKey, DataKeyCache};
use crate::config::EnvelopeConfig;
use crate::domain::{OrderId, PaymentCard};

/// The stored form's version. 1: AES-256-GCM, 96-bit random nonce, 128-bit tag appended to `ct`.
/// A new algorithm would be version 2, and old records would still say how to open them.
pub const FORMAT_VERSION: u8 = 1;

/// The application named in every encryption context.
pub const APP: &str = "orders-on-lambda";
/// The purpose of the card-data context.
pub const CARD_PURPOSE: &str = "payment-card";

/// A sealed value as stored in the order item (`encryptedPayment`); binary fields are base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub v: u8,
    /// The ARN of the KMS key that encrypted the data key.
    pub key_id: String,
    /// The encrypted data key: a KMS ciphertext blob.
    pub edk: String,
    pub nonce: String,
    /// The AES-GCM ciphertext with its authentication tag.
    pub ct: String,
}

/// The encryption context: non-secret key-value pairs that KMS binds to a ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionContext(HashMap<String, String>);

impl EncryptionContext {
    pub fn new(app: &str, purpose: &str) -> Self {
        Self(HashMap::from([
            ("app".to_owned(), app.to_owned()),
            ("purpose".to_owned(), purpose.to_owned()),
        ]))
    }

    /// The context of card data: `{app: orders-on-lambda, purpose: payment-card}`.
    pub fn payment_card() -> Self {
        Self::new(APP, CARD_PURPOSE)
    }
}

/// Why sealing or opening failed. No variant carries plaintext or key material.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// KMS throttled the call after the SDK's retries, or did not answer in time.
    #[error("KMS {0} was throttled or timed out")]
    Throttled(&'static str),
    /// KMS refused or failed (wrong context, unknown or disabled key, no permission, ...).
    #[error("KMS {operation} failed: {cause}")]
    KeyService {
        operation: &'static str,
        cause: String,
    },
    /// The AES-GCM tag does not match: the nonce or ciphertext was altered, or the envelope
    /// belongs to another record (its associated data differs).
    #[error("the ciphertext does not authenticate: altered, or sealed for another record")]
    NotAuthentic,
    #[error("unsupported envelope version {0}")]
    UnsupportedVersion(u8),
    #[error("malformed envelope: {0}")]
    Malformed(&'static str),
    /// Decryption succeeded but the plaintext is not a card.
    #[error("the decrypted data is not a card")]
    NotACard,
    #[error("the system random number generator failed")]
    Randomness,
}

/// Seals and opens values with KMS envelope encryption. Build one in `main` and share it: its
/// data-key cache lives as long as the execution environment.
pub struct EnvelopeCipher {
    kms: Client,
    /// The KMS key (id, ARN or alias) that data keys are generated under.
    key_id: String,
    context: EncryptionContext,
    cache: DataKeyCache,
}

impl EnvelopeCipher {
    pub fn new(
        kms: Client,
        key_id: impl Into<String>,
        context: EncryptionContext,
        policy: CachePolicy,
    ) -> Self {
        Self {
            kms,
            key_id: key_id.into(),
            context,
            cache: DataKeyCache::new(policy),
        }
    }

    /// The cipher for card data, as the functions build it from their configuration.
    pub fn for_cards(kms: Client, config: &EnvelopeConfig) -> Self {
        Self::new(
            kms,
            config.key_id.clone(),
            EncryptionContext::payment_card(),
            config.cache,
        )
    }

    /// Seals an order's card. The order id is the associated data: the envelope opens only for it.
    pub async fn seal_card(
        &self,
        card: &PaymentCard,
        order: OrderId,
    ) -> Result<Envelope, CryptoError> {
        self.seal(&card.to_plaintext(), order.to_string().as_bytes())
            .await
    }

    /// Opens the card of an order (the fulfillment consumer's job: only it may `kms:Decrypt`).
    pub async fn open_card(
        &self,
        envelope: &Envelope,
        order: OrderId,
    ) -> Result<PaymentCard, CryptoError> {
        let plaintext = self.open(envelope, order.to_string().as_bytes()).await?;
        PaymentCard::from_plaintext(&plaintext).map_err(|_| CryptoError::NotACard)
    }

    /// Encrypts `plaintext` under a (possibly cached) data key, bound to `aad`.
    pub async fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Envelope, CryptoError> {
        let key = match self.cache.key_for_encryption(Instant::now()) {
            Some(key) => key,
            None => {
                let key = self.generate_data_key().await?;
                self.cache.start_using(&key, Instant::now());
                key
            }
        };
        // A fresh random nonce for every message: GCM must never see a (key, nonce) pair twice,
        // and a cached data key encrypts many messages.
        let nonce = Nonce::try_generate().map_err(|_| CryptoError::Randomness)?;
        let ct = aes_256_gcm(&key.plaintext)?
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| CryptoError::Malformed("plaintext too long for AES-GCM"))?;
        Ok(Envelope {
            v: FORMAT_VERSION,
            key_id: key.key_arn.clone(),
            edk: BASE64.encode(&key.encrypted),
            nonce: BASE64.encode(nonce),
            ct: BASE64.encode(ct),
        })
    }

    /// Decrypts an envelope sealed with `aad`. Returns the plaintext (wiped when dropped) or an
    /// error, never a partial result: AES-GCM checks the tag before releasing any plaintext.
    pub async fn open(
        &self,
        envelope: &Envelope,
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if envelope.v != FORMAT_VERSION {
            return Err(CryptoError::UnsupportedVersion(envelope.v));
        }
        let edk = decode(&envelope.edk, "edk is not base64")?;
        let nonce = decode(&envelope.nonce, "nonce is not base64")?;
        let nonce = Nonce::try_from(nonce.as_slice())
            .map_err(|_| CryptoError::Malformed("nonce is not 12 bytes"))?;
        let ct = decode(&envelope.ct, "ct is not base64")?;

        let key = match self.cache.key_for_decryption(&edk, Instant::now()) {
            Some(key) => key,
            None => {
                let key = self.decrypt_data_key(&edk, &envelope.key_id).await?;
                self.cache.remember(edk, &key, Instant::now());
                key
            }
        };
        let plaintext = aes_256_gcm(&key)?
            .decrypt(&nonce, Payload { msg: &ct, aad })
            .map_err(|_| CryptoError::NotAuthentic)?;
        Ok(Zeroizing::new(plaintext))
    }

    /// Cache hits and misses so far (each miss was one KMS call).
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }

    async fn generate_data_key(&self) -> Result<DataKey, CryptoError> {
        const OPERATION: &str = "GenerateDataKey";
        let output = self
            .kms
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(self.context.0.clone()))
            .send()
            .await
            .map_err(|error| kms_failure(OPERATION, error))?;
        let incomplete = |what| CryptoError::KeyService {
            operation: OPERATION,
            cause: format!("the response has no {what}"),
        };
        let plaintext = output.plaintext.ok_or_else(|| incomplete("Plaintext"))?;
        Ok(DataKey {
            plaintext: key_bytes(plaintext)?,
            encrypted: output
                .ciphertext_blob
                .ok_or_else(|| incomplete("CiphertextBlob"))?
                .into_inner(),
            key_arn: output.key_id.ok_or_else(|| incomplete("KeyId"))?,
        })
    }

    async fn decrypt_data_key(
        &self,
        edk: &[u8],
        key_id: &str,
    ) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
        const OPERATION: &str = "Decrypt";
        // The encryption context must be the one used to generate the key, or KMS refuses.
        // Naming the key (KeyId) makes KMS refuse a ciphertext from any other key.
        let output = self
            .kms
            .decrypt()
            .ciphertext_blob(Blob::new(edk))
            .key_id(key_id)
            .set_encryption_context(Some(self.context.0.clone()))
            .send()
            .await
            .map_err(|error| kms_failure(OPERATION, error))?;
        let plaintext = output.plaintext.ok_or(CryptoError::KeyService {
            operation: OPERATION,
            cause: "the response has no Plaintext".into(),
        })?;
        key_bytes(plaintext)
    }
}

/// The AES-256-GCM cipher of a data key (its key schedule is wiped when dropped).
fn aes_256_gcm(key: &[u8; 32]) -> Result<Aes256Gcm, CryptoError> {
    Aes256Gcm::new_from_slice(key)
        .map_err(|_| CryptoError::Malformed("the data key is not 256 bits"))
}

/// Moves a plaintext key out of the SDK's buffer into a wiped-on-drop array, wiping the buffer.
fn key_bytes(blob: Blob) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let mut bytes = blob.into_inner();
    let key = <[u8; 32]>::try_from(bytes.as_slice())
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Malformed("the data key is not 256 bits"));
    bytes.zeroize();
    key
}

fn decode(text: &str, problem: &'static str) -> Result<Vec<u8>, CryptoError> {
    BASE64
        .decode(text)
        .map_err(|_| CryptoError::Malformed(problem))
}

/// Throttling, or no answer within the SDK's operation timeout, is worth a retry later (a 503 to
/// an API client); anything else is not.
fn kms_failure<E, R>(operation: &'static str, error: SdkError<E, R>) -> CryptoError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match error.code() {
        Some("ThrottlingException") => CryptoError::Throttled(operation),
        _ if matches!(error, SdkError::TimeoutError(_)) => CryptoError::Throttled(operation),
        _ => CryptoError::KeyService {
            operation,
            cause: DisplayErrorContext(&error).to_string(),
        },
    }
}

#[cfg(test)]
mod tests;
