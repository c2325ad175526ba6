//! Throttling: API Gateway's limits, each a token bucket ([`token_bucket`](super::token_bucket)),
//! and the `429 Too Many Requests` (`THROTTLED`) a request that finds one empty gets before any
//! function runs; and the usage plan's quota ([`quota`](super::quota)), `429 Limit Exceeded`
//! (`QUOTA_EXCEEDED`).
//!
//! Exam: API Gateway throttles with the *token bucket* algorithm: rate = tokens added a second,
//! burst = the bucket's size (it starts full), not a number of requests in flight. Over it: 429.
//! The account's default, per Region and across all its APIs, is 10,000 requests a second with a
//! burst of 5,000.
//!
//! What a request must pass, in the order the local stack checks it; the buckets in the order
//! API Gateway's guide applies them ("How throttling limit settings are applied"):
//!
//! | limit                                          | per                           | this template            |
//! |------------------------------------------------|-------------------------------|--------------------------|
//! | the usage plan's `Quota`                       | API key and period            | 10,000 a `DAY`           |
//! | the usage plan's `Throttle`                    | API key                       | 25/s, burst 50           |
//! | a method's own `MethodSettings` entry          | method                        | `POST /orders`: 10/s, burst 20 |
//! | the stage's default (`ResourcePath: /*`, `HttpMethod: *`) | method (each its own bucket) | 50/s, burst 100 |
//! | the account                                    | Region                        | 10,000/s, burst 5,000    |
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
//! after it, so a refused request (401, 403) takes no token. The quota comes first, so a client
//! out of quota always gets `QUOTA_EXCEEDED` (AWS documents no order between the two). A request
//! that one bucket refuses takes a token from none (each is checked, then all are taken), and a
//! throttled request does not count against the quota. The local stack's buckets are exact; AWS calls its limits targets,
//! applied "on a best-effort basis".
//!
//! Not played locally: a CORS preflight's and an unknown route's own method buckets (they take a
//! token from the account's bucket only), the usage plan's per-method throttles
//! (`ApiStages.Throttle`), and Regional throttling above the account.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use super::quota::{Quota, QuotaCount};
pub use super::token_bucket::{ACCOUNT_LIMIT, RateLimit, TokenBucket};

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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_gateway::quota::QuotaPeriod;
    use crate::api_gateway::token_bucket::tests::{POST_ORDERS, ms};
    use std::time::Duration;

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
        let quota = |limit| ThrottleSettings {
            quota: Some(Quota {
                limit,
                period: QuotaPeriod::Day,
            }),
            ..template_limits()
        };
        let throttles = Throttles::new(quota(3), start);
        let today = SystemTime::UNIX_EPOCH + Duration::from_secs(20_000 * 86_400 + 3600);
        for _ in 0..3 {
            throttles
                .admit(call("GET", "/orders", Some("key-a")), start, today)
                .unwrap();
        }
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

        // 100 requests at once: the key's bucket (burst 50) throttles 50, which use no quota.
        let throttles = Throttles::new(quota(60), start);
        let at_once: Vec<_> = (0..100)
            .map(|_| throttles.admit(call("GET", "/orders", Some("key-a")), start, today))
            .collect();
        assert_eq!(at_once.iter().filter(|r| r.is_ok()).count(), 50);
        // Ten seconds on, the bucket is full again and the quota has 10 requests left.
        let later = start + Duration::from_secs(10);
        let answers: Vec<_> = (0..12)
            .map(|_| throttles.admit(call("GET", "/orders", Some("key-a")), later, today))
            .collect();
        assert_eq!(answers.iter().filter(|r| r.is_ok()).count(), 10);
        assert!(matches!(answers[10], Err(Throttled::Quota { .. })));
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
