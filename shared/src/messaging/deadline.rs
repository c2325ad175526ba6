//! The invocation's deadline: a batch loop stops taking records before Lambda stops the function.
//!
//! Lambda gives every invocation a deadline (`Lambda-Runtime-Deadline-Ms`, epoch milliseconds:
//! `LambdaEvent.context.deadline`): the start plus the function's `Timeout`. At the deadline
//! Lambda stops the function, whatever it was doing, and the invocation fails as a whole:
//!
//! - an SQS batch comes back *entire* after the visibility timeout: the records that had
//!   succeeded run again, and every message's receive count goes up, toward `maxReceiveCount` and
//!   the dead-letter queue, though most of them never failed;
//! - a stream batch is retried from its start, and the retry counts toward `MaximumRetryAttempts`;
//! - the invocation counts as a function *error*: the alias errors alarm that watches a canary
//!   deployment sees it, and can roll a healthy version back.
//!
//! So a batch loop looks at the time before each record: when no more than [`RECORD_RESERVE`] is
//! left, it takes no new record and reports every record it has not touched as failed. Lambda
//! then deletes what succeeded and redelivers only the rest; the function answers in time, and
//! nothing counts as an error. (For a stream, reporting the first untouched record is enough: a
//! stream retries from the first failed record.)

use std::time::{Duration, SystemTime};

use crate::config::SDK_OPERATION_TIMEOUT;

/// How much time must be left to start one more record: one record's worst case, a dependency
/// that stops answering, which the SDK gives up on after its operation timeout; the function then
/// still has time to answer. A record is a few calls, each answered in milliseconds when its
/// dependency is well: the first call to a stuck one fails the record, so one operation timeout
/// is the bound that matters.
pub const RECORD_RESERVE: Duration = SDK_OPERATION_TIMEOUT;

/// When the invocation must have answered, and how much time a record may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    at: SystemTime,
    reserve: Duration,
}

impl Deadline {
    /// The deadline Lambda gave this invocation, with [`RECORD_RESERVE`].
    pub fn of(context: &lambda_runtime::Context) -> Self {
        Self::at(context.deadline(), RECORD_RESERVE)
    }

    /// A deadline at `at`, keeping `reserve` for the record in flight.
    pub fn at(at: SystemTime, reserve: Duration) -> Self {
        Self { at, reserve }
    }

    /// The time left before the deadline (zero once it has passed).
    pub fn remaining(&self) -> Duration {
        self.at
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
    }

    /// Whether there is time to start one more record and still answer before the deadline.
    pub fn has_time_for_another(&self) -> bool {
        self.remaining() > self.reserve
    }
}

/// The context Lambda passes with an invocation that has `remaining` left: its deadline is
/// Lambda's `Lambda-Runtime-Deadline-Ms`, epoch milliseconds. For tests, and whatever plays
/// Lambda outside of it.
pub fn context_expiring_in(remaining: Duration) -> lambda_runtime::Context {
    let mut context = lambda_runtime::Context::default();
    context.deadline = (SystemTime::now() + remaining)
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64;
    context
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_starts_only_while_more_than_the_reserve_is_left() {
        let reserve = Duration::from_secs(4);
        let now = SystemTime::now();
        assert!(Deadline::at(now + Duration::from_secs(10), reserve).has_time_for_another());
        assert!(!Deadline::at(now + Duration::from_secs(3), reserve).has_time_for_another());
        let past = Deadline::at(now - Duration::from_secs(1), reserve);
        assert!(!past.has_time_for_another());
        assert_eq!(past.remaining(), Duration::ZERO);
    }

    #[test]
    fn the_deadline_is_lambdas_epoch_milliseconds() {
        let deadline = Deadline::of(&context_expiring_in(Duration::from_secs(10)));
        assert!(deadline.remaining() > Duration::from_secs(9));
        assert!(deadline.remaining() <= Duration::from_secs(10));
        assert!(deadline.has_time_for_another());
    }
}
