//! The token bucket, the algorithm of every API Gateway throttling limit
//! ([`throttling`](super::throttling)).
//!
//! Exam: a bucket holds at most *burst* tokens and starts full; it is refilled at *rate* tokens a
//! second; each request takes one, and a request that finds it empty is throttled (429). So after
//! a quiet spell a client may send `burst` requests at once, then `rate` a second. The burst is
//! the bucket's size, not a number of requests in flight.

use std::time::Instant;

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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::time::Duration;

    /// The template's limit of `POST /orders`, for the throttling tests too.
    pub(crate) const POST_ORDERS: RateLimit = RateLimit {
        rate_per_second: 10.0,
        burst: 20,
    };

    pub(crate) fn ms(n: u64) -> Duration {
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

    /// Exam: the notes' "5K maximum concurrent requests" is the account bucket's size: 5,000
    /// requests may arrive at once, then 10,000 a second (one every 100 µs) follow.
    #[test]
    fn the_account_default_lets_5000_through_at_once_then_10000_a_second() {
        let start = Instant::now();
        let mut bucket = TokenBucket::full(ACCOUNT_LIMIT, start);
        let at_once = (0..6_000).filter(|_| bucket.try_take(start)).count();
        assert_eq!(at_once, 5_000);
        let in_a_tenth_of_a_second = (0..6_000)
            .filter(|_| bucket.try_take(start + ms(100)))
            .count();
        assert_eq!(in_a_tenth_of_a_second, 1_000);
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
}
