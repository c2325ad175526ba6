//! The webhook's signature: HMAC-SHA256 over the timestamp and the body, with a key both sides
//! share.
//!
//! Each notification carries `Orders-Signature: t=<unix seconds>,v1=<hex HMAC>`, where the HMAC
//! is taken over `<t>.<body>`. The merchant recomputes it with the same key: a body that was
//! changed, or signed with another key, does not match. The timestamp is signed too, so a
//! recorded request replayed later is refused once it is older than the merchant's tolerance
//! (five minutes is usual). `verify` compares in constant time: a comparison that stops at the
//! first differing byte would tell an attacker, by its timing, how much of a guess is right.

use std::fmt;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Orders-Signature";

/// How old a signed request the receiver accepts (and how far in the future, for clock skew).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

type HmacSha256 = Hmac<Sha256>;

/// The shared signing key. Its bytes are wiped when it is dropped, and `Debug` never shows them.
#[derive(Clone)]
pub struct SigningKey(Zeroizing<Vec<u8>>);

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signing key is empty")]
    EmptyKey,
    #[error("the signature header is not t=<unix seconds>,v1=<hex>")]
    Malformed,
    #[error("the signature is {age_seconds} s away from now: outside the tolerance")]
    OutsideTolerance { age_seconds: i64 },
    #[error("the signature does not match the body")]
    Mismatch,
}

impl SigningKey {
    /// A key from the secret's text (the secret's `SecretString`, used as bytes).
    pub fn new(secret: impl Into<String>) -> Result<Self, SignatureError> {
        let bytes = secret.into().into_bytes();
        if bytes.is_empty() {
            return Err(SignatureError::EmptyKey);
        }
        Ok(Self(Zeroizing::new(bytes)))
    }

    /// The `Orders-Signature` value of `body`, sent at `timestamp` (Unix seconds).
    pub fn sign(&self, timestamp: i64, body: &[u8]) -> String {
        let tag = self.mac(timestamp, body).finalize().into_bytes();
        format!("t={timestamp},v1={}", hex(&tag))
    }

    /// Checks an `Orders-Signature` value against `body`, received at `now` (Unix seconds).
    pub fn verify(
        &self,
        header: &str,
        body: &[u8],
        now: i64,
        tolerance: Duration,
    ) -> Result<(), SignatureError> {
        let (timestamp, tag) = parse_header(header).ok_or(SignatureError::Malformed)?;
        let age_seconds = now - timestamp;
        let tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
        if age_seconds.abs() > tolerance {
            return Err(SignatureError::OutsideTolerance { age_seconds });
        }
        self.mac(timestamp, body)
            .verify_slice(&tag)
            .map_err(|_| SignatureError::Mismatch)
    }

    fn mac(&self, timestamp: i64, body: &[u8]) -> HmacSha256 {
        // HMAC takes a key of any length (a longer one is hashed first): this never fails.
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC accepts any key length");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// `t=<seconds>,v1=<hex>` into the timestamp and the tag's bytes.
fn parse_header(header: &str) -> Option<(i64, Vec<u8>)> {
    let mut timestamp = None;
    let mut tag = None;
    for part in header.split(',') {
        match part.trim().split_once('=')? {
            ("t", value) => timestamp = value.parse().ok(),
            ("v1", value) => tag = unhex(value),
            _ => {}
        }
    }
    Some((timestamp?, tag?))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;
    const BODY: &[u8] = br#"{"eventType":"OrderConfirmed"}"#;

    fn key() -> SigningKey {
        SigningKey::new("whsec-test-key").unwrap()
    }

    #[test]
    fn a_signature_verifies_with_the_same_key_and_body() {
        let header = key().sign(NOW, BODY);
        assert!(header.starts_with(&format!("t={NOW},v1=")));
        assert_eq!(
            key().verify(&header, BODY, NOW + 30, DEFAULT_TOLERANCE),
            Ok(())
        );
    }

    #[test]
    fn it_is_the_hmac_sha256_of_timestamp_dot_body() {
        // Computed apart, with Python's hmac module: what any merchant's library computes.
        let expected = "75628c21266558bb40a0f6e9513ae8f3fc7012239b230b282ca09c2bc9fce9fb";
        assert_eq!(key().sign(NOW, BODY), format!("t={NOW},v1={expected}"));
    }

    #[test]
    fn a_changed_body_or_another_key_does_not_match() {
        let header = key().sign(NOW, BODY);
        let changed = br#"{"eventType":"OrderCancelled"}"#;
        assert_eq!(
            key().verify(&header, changed, NOW, DEFAULT_TOLERANCE),
            Err(SignatureError::Mismatch)
        );
        let other = SigningKey::new("another-key").unwrap();
        assert_eq!(
            other.verify(&header, BODY, NOW, DEFAULT_TOLERANCE),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_replay_older_than_the_tolerance_is_refused() {
        let header = key().sign(NOW, BODY);
        let later = NOW + 301;
        assert_eq!(
            key().verify(&header, BODY, later, DEFAULT_TOLERANCE),
            Err(SignatureError::OutsideTolerance { age_seconds: 301 })
        );
    }

    #[test]
    fn a_malformed_header_is_refused_and_an_empty_key_cannot_be_made() {
        for header in ["", "t=1", "v1=00", "t=x,v1=00", "t=1,v1=0g", "t=1,v1=abc"] {
            assert_eq!(
                key().verify(header, BODY, NOW, DEFAULT_TOLERANCE),
                Err(SignatureError::Malformed),
                "{header:?}"
            );
        }
        assert_eq!(SigningKey::new("").err(), Some(SignatureError::EmptyKey));
    }

    #[test]
    fn the_key_never_shows_in_debug_output() {
        assert_eq!(format!("{:?}", key()), "SigningKey(<redacted>)");
    }
}
