//! Data-key caching: fewer KMS calls, within limits that keep the keys safe.
//!
//! Without a cache, every order costs a `GenerateDataKey` call and every decryption a `Decrypt`:
//! KMS bills per request and throttles per account and Region (a shared quota of thousands of
//! requests per second). The AWS Encryption SDK's caching materials manager solves this by reusing
//! a data key, within security thresholds; this cache follows its rules:
//!
//! - **encrypt**: one data key is reused for at most `max_messages` messages and `max_age`; then a
//!   fresh one is generated. `max_messages = 0` turns caching off (one key per message).
//! - **decrypt**: the plaintext key of an encrypted data key (`edk`) is kept for `max_age`, so
//!   reading many records sealed under one data key costs one `Decrypt`.
//! - **bounded**: at most `capacity` decryption keys, the least recently used evicted first.
//!
//! Plaintext keys live in [`zeroize::Zeroizing`] buffers: when an entry expires or is evicted its
//! key is wiped from memory. Hits and misses are counted ([`CacheStats`]) and reported as the
//! `DataKeyCacheHits` / `DataKeyCacheMisses` metrics. The cache is shared by every request of an execution environment, so it is
//! thread-safe: a `Mutex`, held only for a lookup and never across an `.await`.

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lru::LruCache;
use zeroize::Zeroizing;

use crate::telemetry::metrics::{self, Metric};

/// How far a data key may be reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    /// Messages encrypted under one data key before a new one is generated; 0 disables caching.
    pub max_messages: u64,
    /// How long any cached key may be used.
    pub max_age: Duration,
    /// The most decryption keys held at once.
    pub capacity: NonZeroUsize,
}

impl CachePolicy {
    /// 100 messages or 5 minutes per data key, 1,000 decryption keys: 100 times fewer KMS calls,
    /// while a data key protects at most 100 cards. (AES-GCM with random 96-bit nonces is safe for
    /// far more: NIST's bound is 2^32 messages per key.)
    pub const DEFAULT: Self = Self {
        max_messages: 100,
        max_age: Duration::from_secs(300),
        capacity: NonZeroUsize::new(1000).unwrap(),
    };

    /// No caching: every message gets its own data key, every decryption calls KMS.
    pub const DISABLED: Self = Self {
        max_messages: 0,
        ..Self::DEFAULT
    };

    fn enabled(&self) -> bool {
        self.max_messages > 0
    }
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A data key from KMS: the plaintext (wiped on drop) and the encrypted copy stored beside the data.
#[derive(Clone)]
pub(crate) struct DataKey {
    pub plaintext: Zeroizing<[u8; 32]>,
    /// The KMS ciphertext of the key (`edk`): only KMS can turn it back into `plaintext`.
    pub encrypted: Vec<u8>,
    /// The ARN of the KMS key that encrypted it.
    pub key_arn: String,
}

/// Hit and miss counts since the cache was made. A miss is a KMS call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub encrypt_hits: u64,
    pub encrypt_misses: u64,
    pub decrypt_hits: u64,
    pub decrypt_misses: u64,
}

/// The data key in use for encryption, with how often and since when it has been used.
struct InUse {
    key: DataKey,
    created: Instant,
    messages: u64,
}

/// A decryption key and when it was cached.
struct Remembered {
    plaintext: Zeroizing<[u8; 32]>,
    created: Instant,
}

pub(crate) struct DataKeyCache {
    policy: CachePolicy,
    /// All messages share one encryption context, so one data key is in use at a time.
    encrypting: Mutex<Option<InUse>>,
    /// Keyed by the encrypted data key: the same `edk` always decrypts to the same key.
    decrypting: Mutex<LruCache<Vec<u8>, Remembered>>,
    encrypt_hits: AtomicU64,
    encrypt_misses: AtomicU64,
    decrypt_hits: AtomicU64,
    decrypt_misses: AtomicU64,
}

impl DataKeyCache {
    pub fn new(policy: CachePolicy) -> Self {
        Self {
            policy,
            encrypting: Mutex::new(None),
            decrypting: Mutex::new(LruCache::new(policy.capacity)),
            encrypt_hits: AtomicU64::new(0),
            encrypt_misses: AtomicU64::new(0),
            decrypt_hits: AtomicU64::new(0),
            decrypt_misses: AtomicU64::new(0),
        }
    }

    /// The data key to encrypt one more message with, if the one in use is still within its
    /// limits; `None` (a miss) means: generate a new one and [`Self::start_using`] it.
    pub fn key_for_encryption(&self, now: Instant) -> Option<DataKey> {
        let mut in_use = lock(&self.encrypting);
        let reusable = in_use.as_ref().is_some_and(|entry| {
            entry.messages < self.policy.max_messages
                && now.duration_since(entry.created) < self.policy.max_age
        });
        if !reusable {
            // Expired or used up: drop (and wipe) it now rather than when it is replaced.
            *in_use = None;
            self.encrypt_misses.fetch_add(1, Ordering::Relaxed);
            metrics::count(Metric::DataKeyCacheMisses, 1);
            return None;
        }
        let entry = in_use.as_mut().expect("checked above");
        entry.messages += 1;
        self.encrypt_hits.fetch_add(1, Ordering::Relaxed);
        metrics::count(Metric::DataKeyCacheHits, 1);
        Some(entry.key.clone())
    }

    /// Makes a freshly generated key the one in use; it has just encrypted its first message.
    /// (Two requests that miss at once both generate a key and the later one stays: the same
    /// trade-off as the Encryption SDK's cache, which does not serialise misses either.)
    pub fn start_using(&self, key: &DataKey, now: Instant) {
        if self.policy.enabled() {
            *lock(&self.encrypting) = Some(InUse {
                key: key.clone(),
                created: now,
                messages: 1,
            });
        }
    }

    /// The plaintext of an encrypted data key seen within `max_age`, if any.
    pub fn key_for_decryption(&self, edk: &[u8], now: Instant) -> Option<Zeroizing<[u8; 32]>> {
        let mut decrypting = lock(&self.decrypting);
        let fresh = decrypting
            .get(edk)
            .filter(|entry| now.duration_since(entry.created) < self.policy.max_age)
            .map(|entry| entry.plaintext.clone());
        match fresh {
            Some(plaintext) => {
                self.decrypt_hits.fetch_add(1, Ordering::Relaxed);
                metrics::count(Metric::DataKeyCacheHits, 1);
                Some(plaintext)
            }
            None => {
                decrypting.pop(edk);
                self.decrypt_misses.fetch_add(1, Ordering::Relaxed);
                metrics::count(Metric::DataKeyCacheMisses, 1);
                None
            }
        }
    }

    /// Remembers what KMS decrypted `edk` to.
    pub fn remember(&self, edk: Vec<u8>, plaintext: &Zeroizing<[u8; 32]>, now: Instant) {
        if self.policy.enabled() {
            let entry = Remembered {
                plaintext: plaintext.clone(),
                created: now,
            };
            lock(&self.decrypting).put(edk, entry);
        }
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            encrypt_hits: self.encrypt_hits.load(Ordering::Relaxed),
            encrypt_misses: self.encrypt_misses.load(Ordering::Relaxed),
            decrypt_hits: self.decrypt_hits.load(Ordering::Relaxed),
            decrypt_misses: self.decrypt_misses.load(Ordering::Relaxed),
        }
    }
}

/// A poisoned lock only means another thread panicked mid-lookup; the map itself is still sound.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> DataKey {
        DataKey {
            plaintext: Zeroizing::new([n; 32]),
            encrypted: vec![n; 8],
            key_arn: "arn:aws:kms:us-east-1:123456789012:key/k".into(),
        }
    }

    fn policy(max_messages: u64, max_age_secs: u64, capacity: usize) -> CachePolicy {
        CachePolicy {
            max_messages,
            max_age: Duration::from_secs(max_age_secs),
            capacity: NonZeroUsize::new(capacity).unwrap(),
        }
    }

    #[test]
    fn a_data_key_encrypts_at_most_max_messages() {
        let cache = DataKeyCache::new(policy(3, 60, 10));
        let now = Instant::now();
        assert!(cache.key_for_encryption(now).is_none(), "empty: a miss");
        cache.start_using(&key(1), now);
        assert_eq!(cache.key_for_encryption(now).unwrap().plaintext[0], 1);
        assert_eq!(cache.key_for_encryption(now).unwrap().plaintext[0], 1);
        assert!(cache.key_for_encryption(now).is_none(), "3 messages used");
        cache.start_using(&key(2), now);
        assert_eq!(cache.key_for_encryption(now).unwrap().plaintext[0], 2);
        let stats = cache.stats();
        assert_eq!((stats.encrypt_hits, stats.encrypt_misses), (3, 2));
    }

    #[test]
    fn a_data_key_expires_after_max_age() {
        let cache = DataKeyCache::new(policy(100, 60, 10));
        let start = Instant::now();
        cache.start_using(&key(1), start);
        assert!(
            cache
                .key_for_encryption(start + Duration::from_secs(59))
                .is_some()
        );
        assert!(
            cache
                .key_for_encryption(start + Duration::from_secs(60))
                .is_none()
        );
    }

    #[test]
    fn max_messages_zero_disables_caching() {
        let cache = DataKeyCache::new(CachePolicy::DISABLED);
        let now = Instant::now();
        for _ in 0..5 {
            assert!(cache.key_for_encryption(now).is_none());
            cache.start_using(&key(1), now);
        }
        cache.remember(vec![1], &Zeroizing::new([1; 32]), now);
        assert!(cache.key_for_decryption(&[1], now).is_none());
        assert_eq!(
            cache.stats(),
            CacheStats {
                encrypt_misses: 5,
                decrypt_misses: 1,
                ..CacheStats::default()
            }
        );
    }

    #[test]
    fn decryption_keys_are_found_by_edk_until_they_expire() {
        let cache = DataKeyCache::new(policy(100, 60, 10));
        let start = Instant::now();
        cache.remember(vec![7; 8], &Zeroizing::new([7; 32]), start);
        assert_eq!(cache.key_for_decryption(&[7; 8], start).unwrap()[0], 7);
        assert!(cache.key_for_decryption(&[8; 8], start).is_none());
        let later = start + Duration::from_secs(61);
        assert!(cache.key_for_decryption(&[7; 8], later).is_none());
        assert!(
            cache.key_for_decryption(&[7; 8], start).is_none(),
            "an expired entry is dropped, not kept"
        );
        let stats = cache.stats();
        assert_eq!((stats.decrypt_hits, stats.decrypt_misses), (1, 3));
    }

    #[test]
    fn the_decryption_cache_is_bounded() {
        let cache = DataKeyCache::new(policy(100, 60, 2));
        let now = Instant::now();
        for n in 1..=3u8 {
            cache.remember(vec![n], &Zeroizing::new([n; 32]), now);
        }
        assert!(
            cache.key_for_decryption(&[1], now).is_none(),
            "the oldest was evicted"
        );
        assert!(cache.key_for_decryption(&[2], now).is_some());
        assert!(cache.key_for_decryption(&[3], now).is_some());
    }
}
