//! A usage plan's quota: how many requests each API key may make per day, week or month.
//!
//! Exam: a usage plan has a throttle (a token bucket per key, [`throttling`](super::throttling))
//! and a *quota*, `Limit` requests per `Period` (`DAY`, `WEEK` or `MONTH`) for each of its API
//! keys. The request over the quota gets `429` with the `QUOTA_EXCEEDED` gateway response
//! (`Limit Exceeded`) until the next period starts; the plan's owner can see a key's usage and
//! what remains (`GetUsage`), and grant more (`UpdateUsage`). The template's plan allows 10,000
//! requests a day.
//!
//! Periods are calendar periods in UTC here: a day from midnight, a week from Sunday (the
//! `Offset` 0 of a `WEEK`), a month from its first day. The template sets no `Offset`, and the
//! local stack plays none.

use std::time::SystemTime;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

/// `Quota.Period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaPeriod {
    Day,
    Week,
    Month,
}

impl QuotaPeriod {
    /// The template's word for it: `DAY`, `WEEK`, `MONTH`; `None` for anything else.
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "DAY" => Some(QuotaPeriod::Day),
            "WEEK" => Some(QuotaPeriod::Week),
            "MONTH" => Some(QuotaPeriod::Month),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            QuotaPeriod::Day => "DAY",
            QuotaPeriod::Week => "WEEK",
            QuotaPeriod::Month => "MONTH",
        }
    }

    /// The first day of the period `now` is in (UTC).
    pub fn start(self, now: SystemTime) -> NaiveDate {
        let today = DateTime::<Utc>::from(now).date_naive();
        match self {
            QuotaPeriod::Day => today,
            QuotaPeriod::Week => {
                today - Duration::days(i64::from(today.weekday().num_days_from_sunday()))
            }
            QuotaPeriod::Month => today.with_day(1).unwrap_or(today),
        }
    }
}

/// `Quota`: `limit` requests per `period`, for each API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u64,
    pub period: QuotaPeriod,
}

/// One API key's use of the quota in the current period.
#[derive(Debug, Clone)]
pub struct QuotaCount {
    quota: Quota,
    period_start: NaiveDate,
    used: u64,
}

impl QuotaCount {
    /// An unused quota, in the period of `now`.
    pub fn new(quota: Quota, now: SystemTime) -> Self {
        Self {
            quota,
            period_start: quota.period.start(now),
            used: 0,
        }
    }

    /// A new period starts the count again.
    fn roll(&mut self, now: SystemTime) {
        let start = self.quota.period.start(now);
        if start > self.period_start {
            self.period_start = start;
            self.used = 0;
        }
    }

    /// The requests left in the period of `now`.
    pub fn remaining(&mut self, now: SystemTime) -> u64 {
        self.roll(now);
        self.quota.limit.saturating_sub(self.used)
    }

    /// Counts a request admitted at `now`.
    pub fn record(&mut self, now: SystemTime) {
        self.roll(now);
        self.used += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `YYYY-MM-DD hh:mm` UTC.
    fn at(date: &str, time: &str) -> SystemTime {
        let parsed = DateTime::parse_from_rfc3339(&format!("{date}T{time}:00Z")).unwrap();
        SystemTime::from(parsed.with_timezone(&Utc))
    }

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn periods_are_utc_days_weeks_from_sunday_and_months() {
        // 2026-11-25 is a Wednesday.
        let now = at("2026-11-25", "23:59");
        assert_eq!(QuotaPeriod::Day.start(now), date("2026-11-25"));
        assert_eq!(QuotaPeriod::Week.start(now), date("2026-11-22"));
        assert_eq!(QuotaPeriod::Month.start(now), date("2026-11-01"));
        assert_eq!(
            QuotaPeriod::Week.start(at("2026-11-22", "00:00")),
            date("2026-11-22"),
            "a Sunday starts its own week"
        );
        assert_eq!(QuotaPeriod::parse("WEEK"), Some(QuotaPeriod::Week));
        assert_eq!(QuotaPeriod::parse("YEAR"), None);
    }

    #[test]
    fn the_limit_holds_for_the_period_and_the_next_one_starts_again() {
        let quota = Quota {
            limit: 2,
            period: QuotaPeriod::Month,
        };
        let mut count = QuotaCount::new(quota, at("2026-11-01", "00:00"));
        count.record(at("2026-11-01", "00:00"));
        count.record(at("2026-11-15", "12:00"));
        assert_eq!(count.remaining(at("2026-11-30", "23:59")), 0);
        assert_eq!(count.remaining(at("2026-12-01", "00:00")), 2);
        count.record(at("2026-12-02", "08:00"));
        assert_eq!(count.remaining(at("2026-12-31", "08:00")), 1);
    }

    #[test]
    fn a_clock_read_from_an_earlier_period_does_not_reset_the_count() {
        let quota = Quota {
            limit: 1,
            period: QuotaPeriod::Day,
        };
        let mut count = QuotaCount::new(quota, at("2026-11-02", "00:01"));
        count.record(at("2026-11-02", "00:01"));
        assert_eq!(count.remaining(at("2026-11-01", "23:59")), 0);
    }
}
