//! The merchant webhook: order outcomes pushed to a merchant's HTTPS endpoint, signed.
//!
//! ```text
//! OrderEvents (SNS) ──filter OrderConfirmed|OrderCancelled──> notify-merchant ──POST, signed──> merchant
//!                     asynchronous invocation: 202, then        (the key: Secrets Manager,
//!                     up to 3 attempts; after that the           read once per environment)
//!                     invocation record goes to MerchantNotificationFailureQueue
//! ```
//!
//! - [`signature`]: HMAC-SHA256 over `<timestamp>.<body>`, checked in constant time, replays
//!   refused after a tolerance. The local stack's merchant receiver checks with it too.
//! - [`secret`]: the signing key, read from Secrets Manager at init.
//! - [`delivery`]: one signed POST; only a 2xx answer is a delivery.
//!
//! Exam: a function invoked asynchronously (SNS, S3, EventBridge) is retried by Lambda, not by its
//! caller: an error returned by the handler is what triggers the retries (`EventInvokeConfig`:
//! 0 to 2 retries, a maximum event age of 60 s to 6 h) and finally the on-failure destination.

pub mod delivery;
pub mod secret;
pub mod signature;

pub use delivery::{DeliveryError, EVENT_ID_HEADER, MerchantWebhook};
pub use secret::{SecretError, read_signing_key};
pub use signature::{DEFAULT_TOLERANCE, SIGNATURE_HEADER, SignatureError, SigningKey};
