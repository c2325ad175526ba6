//! Cryptography: card data is sealed with KMS envelope encryption before it is stored.
//!
//! - [`envelope`]: `GenerateDataKey` + AES-256-GCM, the stored form `{v, keyId, edk, nonce, ct}`,
//!   the encryption context and the associated data that bind a ciphertext to its order;
//! - [`key_cache`]: data-key caching, as the AWS Encryption SDK's caching manager does it.
//!
//! Who may do what is decided by IAM, not by this code: `create-order` may only generate data keys
//! (`kms:GenerateDataKey`); only the fulfillment consumer may `kms:Decrypt`.

pub mod envelope;
pub mod key_cache;

pub use envelope::{CryptoError, EncryptionContext, Envelope, EnvelopeCipher};
pub use key_cache::{CachePolicy, CacheStats};
