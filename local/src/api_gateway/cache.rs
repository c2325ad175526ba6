//! The stage's cache: API Gateway answering a method from its cache, without the function.
//!
//! Exam: API Gateway caching (REST APIs), the rules to know:
//!
//! - A cache is provisioned **per stage** (`CacheClusterEnabled`, `CacheClusterSize` from 0.5 to
//!   237 GB) and **billed by the hour** while it exists, used or not (no free tier): this template
//!   provisions it only when `ApiCacheEnabled=true`.
//! - Each method caches if its `MethodSettings` say so (`CachingEnabled`), for `CacheTtlInSeconds`:
//!   **300 s by default, 3,600 at most, 0 = no caching**.
//! - The cache key is the method and the values of its **cache-key parameters** (the request
//!   parameters marked `Caching: true`), nothing else: not the caller, unless a parameter names
//!   it. Requests equal in those values share one entry, whoever sends them (see
//!   GetOrderFunction's `RequestParameters` in `template.yaml`: the `Authorization` header is one).
//! - A hit is answered before the integration: the function does not run, so whatever it would
//!   check or change (ownership, a newer version) is not seen until the entry expires.
//! - A client asks for a fresh answer with **`Cache-Control: max-age=0`**. With per-key
//!   invalidation requiring authorization (the default, and what a stage that CloudFormation
//!   deploys gets: its `MethodSetting` has no property to change it), the header is honoured only
//!   for a caller allowed `execute-api:InvalidateCache`, which is an IAM policy, so a caller
//!   signed with SigV4. Any other caller's header is ignored (the request is answered as if it had
//!   none) and the response carries `Warning: 199 Cache-control headers were ignored because the
//!   caller was unauthorized.` (`SUCCEED_WITH_RESPONSE_HEADER`). This template's callers are
//!   customers signed in with Cognito: they have no IAM identity, so they cannot invalidate.
//! - Metrics: **`CacheHitCount`** and **`CacheMissCount`** (CloudWatch, per stage and method);
//!   the local stack prints `cache hit` or `cache miss` on each cached method's log line.
//! - A whole stage's cache is flushed with `FlushStageCache` (the console's "Flush entire cache").
//!
//! What is stored: a response of the integration with a 2xx status, of at most 1,048,576 bytes
//! (API Gateway's largest cacheable response). AWS does not document which status codes it
//! caches (users report error responses being cached too); locally only successes are, so an
//! error never outlives its cause. The cache comes after the method's checks and limits
//! (authorizer, API key, throttles, quota): a hit is still authorized and counted. Not played
//! locally: the cluster's capacity (no entry is evicted before its TTL), `CacheDataEncrypted`
//! (entries live in this process's memory), `FlushStageCache`, and the other unauthorized
//! strategies (`FAIL_WITH_403`, `SUCCEED_WITHOUT_RESPONSE_HEADER`), which no CloudFormation
//! property sets.
//! The clock is the caller's (`now`), so expiry is tested without waiting.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use super::cache_settings::{CacheSettings, CachedMethod, DEFAULT_TTL, KeyParameter, MAX_TTL};

use axum::body::{Body, Bytes};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{StatusCode, Uri};
use axum::response::Response;

/// The largest response API Gateway caches, in bytes.
pub const MAX_CACHED_RESPONSE_BYTES: usize = 1_048_576;
/// The header API Gateway adds when it ignores an unauthorized caller's `Cache-Control`.
pub const UNAUTHORIZED_CACHE_CONTROL_WARNING: &str =
    "199 Cache-control headers were ignored because the caller was unauthorized.";

/// What a cached method's entries are keyed by: the method and its key parameters' values (a
/// parameter the request does not carry is `None`, not the empty string).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    http_method: String,
    resource: String,
    values: Vec<Option<String>>,
}

/// What a request carries that a cache key can name.
pub struct KeySource<'a> {
    pub path_parameters: &'a HashMap<String, String>,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
}

impl CachedMethod {
    /// The request's key for this method.
    pub fn key(&self, request: &KeySource) -> CacheKey {
        let query: Vec<(String, String)> =
            axum::extract::Query::try_from_uri(request.uri).map_or_else(|_| Vec::new(), |q| q.0);
        let values = self
            .key_parameters
            .iter()
            .map(|parameter| match parameter {
                KeyParameter::Path(name) => request.path_parameters.get(name).cloned(),
                // The last value, as `queryStringParameters` has it.
                KeyParameter::QueryString(name) => query
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, value)| value.clone()),
                KeyParameter::Header(name) => request
                    .headers
                    .get(name)
                    .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned()),
            })
            .collect();
        CacheKey {
            http_method: self.http_method.clone(),
            resource: self.resource.clone(),
            values,
        }
    }
}

/// A response as the cache keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl CachedResponse {
    pub fn to_response(&self) -> Response {
        let mut response = Response::new(Body::from(self.body.clone()));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers.clone();
        response
    }
}

/// What the caller's `Cache-Control` asks, and what API Gateway does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// No `max-age=0`: the cache answers if it has an entry.
    Cached,
    /// `max-age=0` from a caller allowed `execute-api:InvalidateCache`: the integration answers,
    /// and its answer replaces the entry.
    Invalidate,
    /// `max-age=0` from any other caller: ignored, with the `Warning` header.
    IgnoredWithWarning,
}

/// What `Cache-Control` asks of the cache. `may_invalidate`: the caller is allowed
/// `execute-api:InvalidateCache` (requires authorization, the default of a stage CloudFormation
/// deploys).
pub fn freshness(headers: &HeaderMap, may_invalidate: bool) -> Freshness {
    let asks_fresh = headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|directive| directive.trim().eq_ignore_ascii_case("max-age=0"));
    match (asks_fresh, may_invalidate) {
        (false, _) => Freshness::Cached,
        (true, true) => Freshness::Invalidate,
        (true, false) => Freshness::IgnoredWithWarning,
    }
}

/// Adds API Gateway's warning that it ignored the caller's `Cache-Control`.
pub fn add_ignored_warning(response: &mut Response) {
    response.headers_mut().insert(
        header::WARNING,
        HeaderValue::from_static(UNAUTHORIZED_CACHE_CONTROL_WARNING),
    );
}

struct Entry {
    response: CachedResponse,
    expires: Instant,
}

/// The stage's cache: its entries, each until its method's TTL has passed.
pub struct StageCache {
    settings: CacheSettings,
    entries: Mutex<HashMap<CacheKey, Entry>>,
}

impl StageCache {
    pub fn new(settings: CacheSettings) -> Self {
        Self {
            settings,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The method's caching, if the stage caches it.
    pub fn method(&self, http_method: &str, resource: &str) -> Option<&CachedMethod> {
        self.settings
            .methods
            .iter()
            .find(|m| m.http_method.eq_ignore_ascii_case(http_method) && m.resource == resource)
    }

    /// The entry for `key`, if it has not expired at `now`.
    pub fn lookup(&self, key: &CacheKey, now: Instant) -> Option<CachedResponse> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(key) {
            Some(entry) if now < entry.expires => Some(entry.response.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Keeps `response` for `ttl` from `now`, replacing any entry for `key`, if it is a success
    /// small enough to cache; returns whether it was kept. Expired entries are dropped on the way.
    pub fn store(
        &self,
        key: CacheKey,
        ttl: Duration,
        response: &CachedResponse,
        now: Instant,
    ) -> bool {
        if ttl.is_zero()
            || !response.status.is_success()
            || response.body.len() > MAX_CACHED_RESPONSE_BYTES
        {
            return false;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, entry| now < entry.expires);
        entries.insert(
            key,
            Entry {
                response: response.clone(),
                expires: now + ttl,
            },
        );
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get_order(ttl: u64) -> CachedMethod {
        CachedMethod {
            http_method: "GET".into(),
            resource: "/orders/{orderId}".into(),
            ttl: Duration::from_secs(ttl),
            key_parameters: [
                "method.request.path.orderId",
                "method.request.querystring.consistent",
                "method.request.header.Authorization",
            ]
            .iter()
            .map(|name| KeyParameter::parse(name).unwrap())
            .collect(),
        }
    }

    fn key(method: &CachedMethod, order: &str, query: &str, token: Option<&str>) -> CacheKey {
        let path_parameters = HashMap::from([("orderId".to_owned(), order.to_owned())]);
        let uri: Uri = format!("/orders/{order}{query}").parse().unwrap();
        let mut headers = HeaderMap::new();
        if let Some(token) = token {
            headers.insert("authorization", HeaderValue::from_str(token).unwrap());
        }
        method.key(&KeySource {
            path_parameters: &path_parameters,
            uri: &uri,
            headers: &headers,
        })
    }

    fn answer(status: u16, body: &str) -> CachedResponse {
        CachedResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_owned()),
        }
    }

    fn cache(method: CachedMethod) -> StageCache {
        StageCache::new(CacheSettings {
            methods: vec![method],
        })
    }

    #[test]
    fn a_stored_answer_is_a_hit_until_its_ttl_has_passed() {
        let method = get_order(60);
        let cache = cache(method.clone());
        let start = Instant::now();
        let a = key(&method, "1", "", Some("token-a"));
        assert_eq!(
            cache.lookup(&a, start),
            None,
            "a miss before anything is stored"
        );
        assert!(cache.store(a.clone(), method.ttl, &answer(200, "order 1"), start));
        let hit = cache.lookup(&a, start + Duration::from_secs(59)).unwrap();
        assert_eq!(hit.body, "order 1");
        assert_eq!(
            cache.lookup(&a, start + Duration::from_secs(60)),
            None,
            "expired"
        );
        assert_eq!(cache.lookup(&a, start), None, "an expired entry is gone");
    }

    #[test]
    fn every_key_parameter_is_part_of_the_key_and_nothing_else_is() {
        let method = get_order(60);
        let cache = cache(method.clone());
        let now = Instant::now();
        let stored = key(&method, "1", "?consistent=true", Some("token-a"));
        assert!(cache.store(stored.clone(), method.ttl, &answer(200, "order 1"), now));
        for other in [
            key(&method, "2", "?consistent=true", Some("token-a")),
            key(&method, "1", "", Some("token-a")),
            key(&method, "1", "?consistent=false", Some("token-a")),
            // Exam: another caller's token is another entry: no customer reads another's.
            key(&method, "1", "?consistent=true", Some("token-b")),
            key(&method, "1", "?consistent=true", None),
        ] {
            assert_eq!(cache.lookup(&other, now), None, "{other:?}");
        }
        // A query parameter that is not a key parameter shares the entry.
        let with_other_query = key(&method, "1", "?consistent=true&x=1", Some("token-a"));
        assert!(cache.lookup(&with_other_query, now).is_some());
        // Without the order id in the key, every order would share one entry.
        let unkeyed = CachedMethod {
            key_parameters: Vec::new(),
            ..method
        };
        assert_eq!(key(&unkeyed, "1", "", None), key(&unkeyed, "2", "", None));
    }

    #[test]
    fn only_successes_small_enough_are_cached_and_a_ttl_of_0_caches_nothing() {
        let method = get_order(60);
        let cache = cache(method.clone());
        let now = Instant::now();
        let k = key(&method, "1", "", Some("t"));
        assert!(!cache.store(k.clone(), method.ttl, &answer(404, "not found"), now));
        assert!(!cache.store(k.clone(), method.ttl, &answer(502, "error"), now));
        let huge = "x".repeat(MAX_CACHED_RESPONSE_BYTES + 1);
        assert!(!cache.store(k.clone(), method.ttl, &answer(200, &huge), now));
        assert!(!cache.store(k.clone(), Duration::ZERO, &answer(200, "order"), now));
        assert_eq!(cache.lookup(&k, now), None);
    }

    #[test]
    fn a_stage_caches_only_the_methods_its_settings_name() {
        let cache = cache(get_order(60));
        assert!(cache.method("get", "/orders/{orderId}").is_some());
        assert!(cache.method("PATCH", "/orders/{orderId}").is_none());
        assert!(cache.method("GET", "/orders").is_none());
        assert!(
            StageCache::new(CacheSettings::default())
                .method("GET", "/orders/{orderId}")
                .is_none()
        );
    }

    #[test]
    fn max_age_0_invalidates_only_for_a_caller_allowed_to() {
        let mut headers = HeaderMap::new();
        assert_eq!(freshness(&headers, false), Freshness::Cached);
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-transform, Max-Age=0"),
        );
        assert_eq!(freshness(&headers, true), Freshness::Invalidate);
        assert_eq!(freshness(&headers, false), Freshness::IgnoredWithWarning);
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=10"),
        );
        assert_eq!(freshness(&headers, true), Freshness::Cached);
    }
}
