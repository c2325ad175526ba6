//! Throttling: API Gateway's token buckets, and the `429` a request over them gets before any
//! function runs.
//!
//! Exam: API Gateway throttles with the *token bucket* algorithm. A bucket holds at most *burst*
//! tokens and starts full; it is refilled at *rate* tokens per second; each request takes one
//! token, and a request that finds the bucket empty gets `429 Too Many Requests` (the `THROTTLED`
//! gateway response). So a quiet client may send `burst` requests at once, and then `rate` a
//! second. The burst is the bucket's size, not a number of requests in flight: a slow function
//! does not use up the burst, and many quick calls do.
//!
//! The limits, in the order API Gateway applies them (its guide, "How throttling limit settings
//! are applied"); a request must find a token in every bucket that applies to it:
//!
//! | limit                                          | bucket                        | here                     |
//! |------------------------------------------------|-------------------------------|--------------------------|
//! | the usage plan's `Throttle`                    | one per API key               | 25/s, burst 50           |
//! | the usage plan's `Quota` ([`quota`](super::quota)) | one count per API key and period | 10,000 a `DAY`   |
//! | a method's own `MethodSettings` entry          | that method's                 | `POST /orders`: 10/s, burst 20 |
//! | the stage's default (`ResourcePath: /*`, `HttpMethod: *`) | one per method, each with these limits | 50/s, burst 100 |
//! | the account, per Region, across all its APIs   | one                           | 10,000/s, burst 5,000    |
//!
//! A method's limits and the account's are the same for every caller: one client's burst can
//! throttle the others. Only the usage plan's limits are per client, and they need an API key to
//! tell clients apart. Exam: API keys meter and throttle clients; they do not authenticate anyone.
//!
//! Where the 429 comes in the request's checks: after the route, the authorizer (401) and the API
//! key (403), before the integration ([`access`](super::access)). The usage plan's limits cannot
//! come earlier: they are per key, and an API may take its key from the authorizer
//! (`apiKeySource: AUTHORIZER`). AWS does not document whether the method's and the account's
//! buckets are checked before the authorizer; locally they are checked with the usage plan's,
//! after it, so a refused request (401, 403) takes no token. A request that one bucket refuses
//! takes a token from none (each is checked, then all are taken), and a throttled request does not
//! count against the quota. The local stack's buckets are exact; AWS calls its limits targets,
//! applied "on a best-effort basis".
//!
//! Not played locally: a CORS preflight's and an unknown route's own method buckets (they take a
//! token from the account's bucket only), the usage plan's per-method throttles
//! (`ApiStages.Throttle`), and Regional throttling above the account.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use super::quota::{Quota, QuotaCount};

/// Exam: the account-level limit, per Region, across all of the account's APIs: 10,000 requests
/// per second with a burst (bucket size) of 5,000. A quota AWS raises on request.
pub const ACCOUNT_LIMIT: RateLimit = RateLimit {
    rate_per_second: 10_000.0,
    burst: 5_000,
};

/// A throttling limit: `ThrottlingRateLimit` / `RateLimit` and `ThrottlingBurstLimit` /
/// `BurstLimit`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Tokens added to the bucket every second: the steady rate.
    pub rate_per_second: f64,
    /// The bucket's size: how many requests may come at once after a quiet spell.
    pub burst: u32,
}

/// One token bucket.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    limit: RateLimit,
    tokens: f64,
    refilled_at: Instant,
}

impl TokenBucket {
    /// A bucket that starts full at `now`.
    pub fn full(limit: RateLimit, now: Instant) -> Self {
        Self {
            limit,
            tokens: f64::from(limit.burst),
            refilled_at: now,
        }
    }

    /// Adds the tokens the rate has earned since the last refill, up to the burst.
    fn refill(&mut self, now: Instant) {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens =
            (self.tokens + elapsed * self.limit.rate_per_second).min(f64::from(self.limit.burst));
        self.refilled_at = self.refilled_at.max(now);
    }

    /// Whether a request at `now` would find a token (none is taken).
    pub fn has_token(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= 1.0
    }

    /// Takes a token if there is one at `now`.
    pub fn try_take(&mut self, now: Instant) -> bool {
        let has = self.has_token(now);
        if has {
            self.tokens -= 1.0;
        }
        has
    }

    /// The whole tokens in the bucket at `now`.
    pub fn available(&mut self, now: Instant) -> u32 {
        self.refill(now);
        self.tokens.floor() as u32
    }
}

/// A method's own `MethodSettings` entry. `ResourcePath` `/~1orders` is the resource `/orders`
/// (each `/` of the path is escaped `~1`); `HttpMethod` `*` is every method of the resource.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodThrottle {
    pub http_method: String,
    /// The resource's path, unescaped: `/orders/{orderId}`.
    pub resource: String,
    pub limit: RateLimit,
}

/// The stage's throttling and the usage plan's limits, as the template sets them.
#[derive(Debug, Clone, PartialEq)]
pub struct ThrottleSettings {
    /// The account's limit (every API of the account shares it).
    pub account: RateLimit,
    /// `MethodSettings` `/*` `*`: the limits of each method without an entry of its own.
    pub stage_default: Option<RateLimit>,
    pub methods: Vec<MethodThrottle>,
    /// The usage plan's `Throttle`, for each of its API keys.
    pub per_key: Option<RateLimit>,
    /// The usage plan's `Quota`, for each of its API keys.
    pub quota: Option<Quota>,
}

impl Default for ThrottleSettings {
    /// No limits but the account's.
    fn default() -> Self {
        Self {
            account: ACCOUNT_LIMIT,
            stage_default: None,
            methods: Vec::new(),
            per_key: None,
            quota: None,
        }
    }
}

impl ThrottleSettings {
    /// The limit of the method `http_method` on `resource`: its own entry, else the stage's.
    pub fn method_limit(&self, http_method: &str, resource: &str) -> Option<RateLimit> {
        self.methods
            .iter()
            .find(|entry| {
                entry.resource == resource
                    && (entry.http_method == "*"
                        || entry.http_method.eq_ignore_ascii_case(http_method))
            })
            .map(|entry| entry.limit)
            .or(self.stage_default)
    }
}

/// Why a request was throttled, worded as API Gateway's execution log words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Throttled {
    #[error("API Key {key_id} exceeded quota limit: Key quota exhausted ({limit} per {period})")]
    Quota {
        key_id: String,
        limit: u64,
        period: &'static str,
    },
    #[error("API Key {key_id} exceeded throttle limit: Key throttle limit exceeded")]
    Key { key_id: String },
    #[error("method {method} {resource} exceeded its throttle limit")]
    Method { method: String, resource: String },
    #[error("the account's throttle limit was exceeded")]
    Account,
}

/// The method a request is for, and the API key it was admitted with.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub http_method: &'a str,
    /// The route's resource path (`/orders/{orderId}`), not the request's path.
    pub resource: &'a str,
    pub api_key_id: Option<&'a str>,
}

/// The stage's buckets and the keys' quota counts, as they run.
#[derive(Debug)]
pub struct Throttles {
    settings: ThrottleSettings,
    state: Mutex<Buckets>,
}

#[derive(Debug)]
struct Buckets {
    account: TokenBucket,
    /// By (method, resource).
    methods: HashMap<(String, String), TokenBucket>,
    /// By API key id.
    keys: HashMap<String, TokenBucket>,
    quotas: HashMap<String, QuotaCount>,
}

impl Throttles {
    /// Every bucket full at `now`, every quota unused.
    pub fn new(settings: ThrottleSettings, now: Instant) -> Self {
        let account = TokenBucket::full(settings.account, now);
        Self {
            settings,
            state: Mutex::new(Buckets {
                account,
                methods: HashMap::new(),
                keys: HashMap::new(),
                quotas: HashMap::new(),
            }),
        }
    }

    /// Admits `caller`'s request at `now` (`today` for the quota's calendar period), or says
    /// which limit refuses it. An admitted request takes a token from each of its buckets and
    /// counts against its key's quota; a refused one changes nothing.
    pub fn admit(
        &self,
        caller: Caller<'_>,
        now: Instant,
        today: SystemTime,
    ) -> Result<(), Throttled> {
        let settings = &self.settings;
        let mut guard = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let buckets = &mut *guard;

        let key_id = caller
            .api_key_id
            .filter(|_| settings.per_key.is_some() || settings.quota.is_some());
        if let (Some(key_id), Some(quota)) = (key_id, settings.quota) {
            let count = buckets
                .quotas
                .entry(key_id.to_owned())
                .or_insert_with(|| QuotaCount::new(quota, today));
            if count.remaining(today) == 0 {
                return Err(Throttled::Quota {
                    key_id: key_id.to_owned(),
                    limit: quota.limit,
                    period: quota.period.name(),
                });
            }
        }
        let mut key_bucket = match (key_id, settings.per_key) {
            (Some(key_id), Some(limit)) => Some(
                buckets
                    .keys
                    .entry(key_id.to_owned())
                    .or_insert_with(|| TokenBucket::full(limit, now)),
            ),
            _ => None,
        };
        if let (Some(bucket), Some(key_id)) = (key_bucket.as_mut(), key_id)
            && !bucket.has_token(now)
        {
            return Err(Throttled::Key {
                key_id: key_id.to_owned(),
            });
        }
        let mut method_bucket = settings
            .method_limit(caller.http_method, caller.resource)
            .map(|limit| {
                buckets
                    .methods
                    .entry((caller.http_method.to_owned(), caller.resource.to_owned()))
                    .or_insert_with(|| TokenBucket::full(limit, now))
            });
        if let Some(bucket) = method_bucket.as_mut()
            && !bucket.has_token(now)
        {
            return Err(Throttled::Method {
                method: caller.http_method.to_owned(),
                resource: caller.resource.to_owned(),
            });
        }
        if !buckets.account.has_token(now) {
            return Err(Throttled::Account);
        }

        // Every bucket has a token: take them, and count the request.
        buckets.account.try_take(now);
        if let Some(bucket) = method_bucket {
            bucket.try_take(now);
        }
        if let Some(bucket) = key_bucket {
            bucket.try_take(now);
        }
        if let Some(count) = key_id.and_then(|key_id| buckets.quotas.get_mut(key_id)) {
            count.record(today);
        }
        Ok(())
    }

    /// A request that no method takes (a CORS preflight, an unknown route): only the account's
    /// bucket applies locally.
    pub fn admit_unrouted(&self, now: Instant) -> Result<(), Throttled> {
        let mut buckets = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.account.try_take(now) {
            Ok(())
        } else {
            Err(Throttled::Account)
        }
    }

    /// What is left of `key_id`'s quota in the period of `today` (`GetUsage`'s `remaining`);
    /// `None` without a quota.
    pub fn remaining_quota(&self, key_id: &str, today: SystemTime) -> Option<u64> {
        let quota = self.settings.quota?;
        let mut buckets = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Some(match buckets.quotas.get_mut(key_id) {
            Some(count) => count.remaining(today),
            None => quota.limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_gateway::quota::QuotaPeriod;
    use std::time::Duration;

    const POST_ORDERS: RateLimit = RateLimit {
        rate_per_second: 10.0,
        burst: 20,
    };

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_full_bucket_lets_the_burst_through_at_once_then_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::full(POST_ORDERS, start);
        let at_once = (0..50).filter(|_| bucket.try_take(start)).count();
        assert_eq!(at_once, 20, "the burst is the bucket's size");
        // 10 a second: one token every 100 ms.
        assert!(!bucket.try_take(start + ms(99)));
        assert!(bucket.try_take(start + ms(100)));
        assert!(!bucket.try_take(start + ms(150)));
        let one_second_later = start + ms(1100);
        let refilled = (0..50)
            .filter(|_| bucket.try_take(one_second_later))
            .count();
        assert_eq!(refilled, 10, "a second of rate, no more");
    }

    #[test]
    fn a_quiet_bucket_refills_to_its_burst_and_no_further() {
        let start = Instant::now();
        let mut bucket = TokenBucket::full(POST_ORDERS, start);
        for _ in 0..20 {
            assert!(bucket.try_take(start));
        }
        assert_eq!(bucket.available(start + Duration::from_secs(60)), 20);
        // A clock read out of order (another thread's earlier `now`) adds nothing.
        assert_eq!(bucket.available(start), 20);
    }

    #[test]
    fn a_zero_burst_refuses_everything() {
        let start = Instant::now();
        let limit = RateLimit {
            rate_per_second: 5.0,
            burst: 0,
        };
        let mut bucket = TokenBucket::full(limit, start);
        assert!(!bucket.try_take(start + Duration::from_secs(10)));
    }

    fn template_limits() -> ThrottleSettings {
        ThrottleSettings {
            account: ACCOUNT_LIMIT,
            stage_default: Some(RateLimit {
                rate_per_second: 50.0,
                burst: 100,
            }),
            methods: vec![MethodThrottle {
                http_method: "POST".into(),
                resource: "/orders".into(),
                limit: POST_ORDERS,
            }],
            per_key: Some(RateLimit {
                rate_per_second: 25.0,
                burst: 50,
            }),
            quota: None,
        }
    }

    fn call<'a>(method: &'a str, resource: &'a str, key: Option<&'a str>) -> Caller<'a> {
        Caller {
            http_method: method,
            resource,
            api_key_id: key,
        }
    }

    #[test]
    fn each_method_has_its_own_bucket_with_its_own_or_the_stages_limits() {
        let settings = template_limits();
        assert_eq!(settings.method_limit("POST", "/orders"), Some(POST_ORDERS));
        assert_eq!(
            settings.method_limit("GET", "/orders"),
            settings.stage_default
        );
        let start = Instant::now();
        let throttles = Throttles::new(settings, start);
        let now = SystemTime::now();
        let creates = (0..30)
            .filter(|_| {
                throttles
                    .admit(call("POST", "/orders", None), start, now)
                    .is_ok()
            })
            .count();
        assert_eq!(creates, 20);
        assert_eq!(
            throttles.admit(call("POST", "/orders", None), start, now),
            Err(Throttled::Method {
                method: "POST".into(),
                resource: "/orders".into()
            })
        );
        // The stage default is per method: the creates used none of the list's 100.
        let lists = (0..150)
            .filter(|_| {
                throttles
                    .admit(call("GET", "/orders", None), start, now)
                    .is_ok()
            })
            .count();
        assert_eq!(lists, 100);
    }

    #[test]
    fn the_usage_plans_throttle_is_per_key_and_counts_every_method() {
        let start = Instant::now();
        let throttles = Throttles::new(template_limits(), start);
        let now = SystemTime::now();
        let mut admitted = 0;
        for resource in ["/orders", "/orders/{orderId}"] {
            for _ in 0..40 {
                if throttles
                    .admit(call("GET", resource, Some("key-a")), start, now)
                    .is_ok()
                {
                    admitted += 1;
                }
            }
        }
        assert_eq!(admitted, 50, "the key's burst, across both methods");
        assert_eq!(
            throttles.admit(call("GET", "/orders", Some("key-a")), start, now),
            Err(Throttled::Key {
                key_id: "key-a".into()
            })
        );
        // Another key has a bucket of its own (the method's bucket still has tokens).
        assert!(
            throttles
                .admit(call("GET", "/orders/{orderId}", Some("key-b")), start, now)
                .is_ok()
        );
    }

    #[test]
    fn a_request_one_bucket_refuses_takes_no_token_from_the_others() {
        let start = Instant::now();
        let throttles = Throttles::new(template_limits(), start);
        let now = SystemTime::now();
        for _ in 0..20 {
            throttles
                .admit(call("POST", "/orders", Some("key-a")), start, now)
                .unwrap();
        }
        // 100 creates refused by the method's bucket: the key's bucket keeps its 30 tokens.
        for _ in 0..100 {
            assert!(
                throttles
                    .admit(call("POST", "/orders", Some("key-a")), start, now)
                    .is_err()
            );
        }
        let lists = (0..40)
            .filter(|_| {
                throttles
                    .admit(call("GET", "/orders", Some("key-a")), start, now)
                    .is_ok()
            })
            .count();
        assert_eq!(lists, 30);
    }

    #[test]
    fn the_quota_refuses_the_request_over_it_and_throttled_requests_do_not_count() {
        let start = Instant::now();
        let small_quota = ThrottleSettings {
            quota: Some(Quota {
                limit: 3,
                period: QuotaPeriod::Day,
            }),
            ..template_limits()
        };
        let throttles = Throttles::new(small_quota, start);
        let today = SystemTime::UNIX_EPOCH + Duration::from_secs(20_000 * 86_400 + 3600);
        assert_eq!(throttles.remaining_quota("key-a", today), Some(3));
        for _ in 0..3 {
            throttles
                .admit(call("GET", "/orders", Some("key-a")), start, today)
                .unwrap();
        }
        assert_eq!(throttles.remaining_quota("key-a", today), Some(0));
        assert_eq!(
            throttles.admit(call("GET", "/orders", Some("key-a")), start, today),
            Err(Throttled::Quota {
                key_id: "key-a".into(),
                limit: 3,
                period: "DAY"
            })
        );
        // Another key has its own count; the next day starts a new one.
        assert!(
            throttles
                .admit(call("GET", "/orders", Some("key-b")), start, today)
                .is_ok()
        );
        let tomorrow = today + Duration::from_secs(86_400);
        assert!(
            throttles
                .admit(call("GET", "/orders", Some("key-a")), start, tomorrow)
                .is_ok()
        );

        // A request the throttle refuses does not use the quota.
        let throttles = Throttles::new(
            ThrottleSettings {
                quota: Some(Quota {
                    limit: 1000,
                    period: QuotaPeriod::Day,
                }),
                ..template_limits()
            },
            start,
        );
        for _ in 0..60 {
            let _ = throttles.admit(call("GET", "/orders", Some("key-a")), start, today);
        }
        assert_eq!(throttles.remaining_quota("key-a", today), Some(950));
    }

    #[test]
    fn the_account_bucket_is_shared_by_every_method_and_unrouted_requests() {
        let start = Instant::now();
        let tiny = RateLimit {
            rate_per_second: 1.0,
            burst: 3,
        };
        let throttles = Throttles::new(
            ThrottleSettings {
                account: tiny,
                ..ThrottleSettings::default()
            },
            start,
        );
        let now = SystemTime::now();
        assert!(throttles.admit(call("GET", "/a", None), start, now).is_ok());
        assert!(
            throttles
                .admit(call("POST", "/b", None), start, now)
                .is_ok()
        );
        assert!(throttles.admit_unrouted(start).is_ok());
        assert_eq!(
            throttles.admit(call("GET", "/a", None), start, now),
            Err(Throttled::Account)
        );
        assert!(throttles.admit_unrouted(start + ms(1000)).is_ok());
    }
}
