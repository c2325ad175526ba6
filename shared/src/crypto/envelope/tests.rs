//! Unit tests of `envelope.rs`.

//! The cipher against KMS mocked at the SDK level: a fixed data key, and a `Decrypt` that
//! checks the blob and the context as KMS does. (The integration tests use moto's real KMS.)
use super::*;
use aws_sdk_kms::operation::decrypt::{DecryptError, DecryptOutput};
use aws_sdk_kms::operation::generate_data_key::GenerateDataKeyOutput;
use aws_sdk_kms::types::error::InvalidCiphertextException;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use chrono::NaiveDate;

const KEY_ARN: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const DATA_KEY: [u8; 32] = [7; 32];
const EDK: &[u8] = b"kms-ciphertext-of-the-data-key";

fn generate_rule() -> Rule {
    mock!(Client::generate_data_key)
        .match_requests(|req| {
            req.key_spec() == Some(&DataKeySpec::Aes256)
                && req.encryption_context() == Some(&EncryptionContext::payment_card().0)
        })
        .then_output(|| {
            GenerateDataKeyOutput::builder()
                .plaintext(Blob::new(DATA_KEY))
                .ciphertext_blob(Blob::new(EDK))
                .key_id(KEY_ARN)
                .build()
        })
}

/// KMS decrypts only its own blob, under the context it was generated with.
fn decrypt_rules() -> [Rule; 2] {
    let accept = mock!(Client::decrypt)
        .match_requests(|req| {
            req.ciphertext_blob().map(Blob::as_ref) == Some(EDK)
                && req.encryption_context() == Some(&EncryptionContext::payment_card().0)
                && req.key_id() == Some(KEY_ARN)
        })
        .then_output(|| {
            DecryptOutput::builder()
                .plaintext(Blob::new(DATA_KEY))
                .build()
        });
    let refuse = mock!(Client::decrypt).then_error(|| {
        DecryptError::InvalidCiphertextException(InvalidCiphertextException::builder().build())
    });
    [accept, refuse]
}

fn cipher_with(rules: &[&Rule], policy: CachePolicy) -> EnvelopeCipher {
    let client = mock_client!(aws_sdk_kms, RuleMode::MatchAny, rules);
    EnvelopeCipher::new(client, KEY_ARN, EncryptionContext::payment_card(), policy)
}

/// KMS that generates the one data key and decrypts only its blob: its rules, to count the calls
/// each one answered.
struct Kms {
    generate: Rule,
    accept: Rule,
    refuse: Rule,
}

impl Kms {
    fn new() -> Self {
        let [accept, refuse] = decrypt_rules();
        Self {
            generate: generate_rule(),
            accept,
            refuse,
        }
    }

    /// A cipher that seals and opens through this KMS.
    fn cipher(&self, policy: CachePolicy) -> EnvelopeCipher {
        cipher_with(&[&self.generate, &self.accept, &self.refuse], policy)
    }
}

fn card() -> PaymentCard {
    let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    PaymentCard::parse("4539 1488 0343 6467", "12/29", today).unwrap()
}

fn flip(base64: &str, index: usize) -> String {
    let mut bytes = BASE64.decode(base64).unwrap();
    bytes[index] ^= 0x01;
    BASE64.encode(bytes)
}

#[tokio::test]
async fn a_sealed_card_opens_for_its_order_only() {
    let kms = Kms::new();
    let cipher = kms.cipher(CachePolicy::DEFAULT);
    let order = OrderId::new();
    let envelope = cipher.seal_card(&card(), order).await.unwrap();

    assert_eq!(envelope.v, FORMAT_VERSION);
    assert_eq!(envelope.key_id, KEY_ARN);
    assert_eq!(BASE64.decode(&envelope.edk).unwrap(), EDK);
    assert_eq!(BASE64.decode(&envelope.nonce).unwrap().len(), 12);
    let stored = serde_json::to_string(&envelope).unwrap();
    assert!(!stored.contains("4539"), "no digits in the clear: {stored}");

    assert_eq!(cipher.open_card(&envelope, order).await.unwrap(), card());
    // Copied onto another order, the ciphertext fails its tag check (AAD = order id).
    let elsewhere = cipher.open_card(&envelope, OrderId::new()).await;
    assert!(
        matches!(elsewhere, Err(CryptoError::NotAuthentic)),
        "{elsewhere:?}"
    );
}

#[tokio::test]
async fn any_changed_byte_of_nonce_or_ct_is_refused() {
    let kms = Kms::new();
    let cipher = kms.cipher(CachePolicy::DEFAULT);
    let envelope = cipher.seal(b"secret", b"order-1").await.unwrap();
    for i in 0..BASE64.decode(&envelope.nonce).unwrap().len() {
        let tampered = Envelope {
            nonce: flip(&envelope.nonce, i),
            ..envelope.clone()
        };
        let result = cipher.open(&tampered, b"order-1").await;
        assert!(
            matches!(result, Err(CryptoError::NotAuthentic)),
            "nonce[{i}]"
        );
    }
    for i in 0..BASE64.decode(&envelope.ct).unwrap().len() {
        let tampered = Envelope {
            ct: flip(&envelope.ct, i),
            ..envelope.clone()
        };
        let result = cipher.open(&tampered, b"order-1").await;
        assert!(matches!(result, Err(CryptoError::NotAuthentic)), "ct[{i}]");
    }
    // A changed edk is a different blob: KMS refuses it.
    let tampered = Envelope {
        edk: flip(&envelope.edk, 3),
        ..envelope.clone()
    };
    let result = cipher.open(&tampered, b"order-1").await;
    assert!(
        matches!(result, Err(CryptoError::KeyService { .. })),
        "{result:?}"
    );
    assert_eq!(
        &*cipher.open(&envelope, b"order-1").await.unwrap(),
        b"secret"
    );
}

#[tokio::test]
async fn every_message_gets_a_fresh_nonce() {
    let generate = generate_rule();
    let cipher = cipher_with(&[&generate], CachePolicy::DEFAULT);
    let a = cipher.seal(b"same", b"aad").await.unwrap();
    let b = cipher.seal(b"same", b"aad").await.unwrap();
    assert_eq!(a.edk, b.edk, "one cached data key");
    assert_ne!(a.nonce, b.nonce);
    assert_ne!(a.ct, b.ct);
}

#[tokio::test]
async fn the_cache_cuts_generate_data_key_calls() {
    let generate = generate_rule();
    let cipher = cipher_with(&[&generate], CachePolicy::DEFAULT);
    for _ in 0..250 {
        cipher.seal(b"card", b"aad").await.unwrap();
    }
    assert_eq!(generate.num_calls(), 3, "100 messages per data key");
    let stats = cipher.cache_stats();
    assert_eq!((stats.encrypt_hits, stats.encrypt_misses), (247, 3));

    let generate = generate_rule();
    let uncached = cipher_with(&[&generate], CachePolicy::DISABLED);
    for _ in 0..25 {
        uncached.seal(b"card", b"aad").await.unwrap();
    }
    assert_eq!(generate.num_calls(), 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_cipher_is_shared_safely_by_concurrent_requests() {
    let kms = Kms::new();
    let cipher = std::sync::Arc::new(kms.cipher(CachePolicy::DEFAULT));
    let tasks: Vec<_> = (0..8)
        .map(|task| {
            let cipher = std::sync::Arc::clone(&cipher);
            tokio::spawn(async move {
                for i in 0..50 {
                    let aad = format!("order-{task}-{i}");
                    let envelope = cipher.seal(aad.as_bytes(), aad.as_bytes()).await.unwrap();
                    let opened = cipher.open(&envelope, aad.as_bytes()).await.unwrap();
                    assert_eq!(&*opened, aad.as_bytes());
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let stats = cipher.cache_stats();
    assert_eq!(stats.encrypt_hits + stats.encrypt_misses, 400);
    assert_eq!(stats.encrypt_misses, kms.generate.num_calls() as u64);
    // 400 messages need at least 4 data keys; when a key runs out, each of the 8 tasks that
    // misses at that moment may fetch one (at most 8 per rollover), still far below 400.
    assert!((4..=40).contains(&stats.encrypt_misses), "{stats:?}");
}

#[tokio::test]
async fn decryption_keys_are_cached_by_edk() {
    let kms = Kms::new();
    let cipher = kms.cipher(CachePolicy::DEFAULT);
    let envelope = cipher.seal(b"card", b"aad").await.unwrap();
    for _ in 0..10 {
        cipher.open(&envelope, b"aad").await.unwrap();
    }
    assert_eq!(kms.accept.num_calls(), 1);
    let stats = cipher.cache_stats();
    assert_eq!((stats.decrypt_hits, stats.decrypt_misses), (9, 1));
}

#[tokio::test]
async fn malformed_envelopes_are_errors_not_panics() {
    let cipher = cipher_with(&[], CachePolicy::DEFAULT);
    let good = Envelope {
        v: 1,
        key_id: KEY_ARN.into(),
        edk: BASE64.encode(EDK),
        nonce: BASE64.encode([0u8; 12]),
        ct: BASE64.encode([0u8; 32]),
    };
    let cases = [
        Envelope {
            v: 2,
            ..good.clone()
        },
        Envelope {
            edk: "%%".into(),
            ..good.clone()
        },
        Envelope {
            nonce: BASE64.encode([0u8; 8]),
            ..good.clone()
        },
        Envelope {
            ct: "not base64!".into(),
            ..good.clone()
        },
    ];
    for envelope in cases {
        let result = cipher.open(&envelope, b"aad").await;
        assert!(
            matches!(
                result,
                Err(CryptoError::UnsupportedVersion(2) | CryptoError::Malformed(_))
            ),
            "{result:?}"
        );
    }
}

#[tokio::test]
async fn kms_throttling_is_worth_a_retry() {
    let throttled = mock!(Client::generate_data_key).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(400).unwrap(),
            aws_smithy_types::body::SdkBody::from(
                r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
            ),
        )
    });
    let cipher = cipher_with(&[&throttled], CachePolicy::DEFAULT);
    let result = cipher.seal(b"card", b"aad").await;
    assert!(
        matches!(result, Err(CryptoError::Throttled("GenerateDataKey"))),
        "{result:?}"
    );
    assert_eq!(throttled.num_calls(), 3, "after the SDK's retries");
    assert!(matches!(
        crate::AppError::from(result.unwrap_err()),
        crate::AppError::Throttled
    ));
}
