//! Retry decisions and backoff, as pure functions: the caller supplies the attempt count, the
//! failure, the current time and a random number, and gets a delay back.
//!
//! The policy is the official SDKs' (openai-python, openai-node):
//! - retried: what [`FailureClass::of`] calls retryable (connection errors, timeouts, 408, 409,
//!   429 and 5xx, but not a 429 for an exhausted quota or balance or a request too large; the
//!   `x-should-retry: true|false` header overrides the status);
//! - 2 retries by default;
//! - delay `min(0.5 s × 2^retries, 8 s)` times a jitter factor in `[0.75, 1]`;
//! - the server's hint (`retry-after-ms`, `retry-after` as seconds or HTTP date, else "try
//!   again in 680ms" in the message) is used instead when it is more than 0 and at most 60 s.
//!
//! A streamed response that has started is never retried: that is the caller's rule to keep
//! (the answer so far has been delivered), and [`Failure`] has no variant for it.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use gptproto_proto::retry::{Failure, RetryDecision, RetryPolicy};
//!
//! let policy = RetryPolicy::default();
//! let now = SystemTime::now();
//! // First retry after a connection error, with the largest jitter draw:
//! assert_eq!(
//!     policy.decide(0, &Failure::Connect, now, 0.0),
//!     RetryDecision::Retry { after: Duration::from_millis(500) }
//! );
//! // The retries are used up:
//! assert!(matches!(policy.decide(2, &Failure::Connect, now, 0.0), RetryDecision::GiveUp { .. }));
//! ```

use std::time::{Duration, SystemTime};

pub use crate::failure::Failure;
use crate::failure::FailureClass;

/// How often and how long to wait before retrying. Start from [`Default`] (the SDKs') or
/// [`never`](Self::never) and set the fields to change.
///
/// ```
/// use std::time::Duration;
/// use gptproto_proto::retry::RetryPolicy;
///
/// let mut policy = RetryPolicy::default();
/// policy.max_retries = 5;
/// policy.max_delay = Duration::from_secs(20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Retries after the first attempt (2).
    pub max_retries: u32,
    /// The first computed delay (0.5 s), doubled on each retry.
    pub initial_delay: Duration,
    /// The largest computed delay (8 s).
    pub max_delay: Duration,
    /// The largest server hint honoured (60 s); a longer or zero hint is replaced by the
    /// computed delay.
    pub max_server_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            max_server_delay: Duration::from_secs(60),
        }
    }
}

/// Whether to try again, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryDecision {
    /// Send the request again after `after`.
    Retry {
        /// How long to wait first.
        after: Duration,
    },
    /// Return the error.
    GiveUp {
        /// Why not retry.
        reason: GiveUpReason,
    },
}

/// Why a failure is not retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GiveUpReason {
    /// The retries are used up.
    RetriesExhausted,
    /// The failure is not one that a retry can fix.
    NotRetryable,
    /// The server said `x-should-retry: false`.
    ServerSaidNo,
}

impl RetryPolicy {
    /// No retries.
    pub fn never() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// Whether a failure is worth retrying at all, whatever the count
    /// ([`FailureClass::is_retryable`]).
    pub fn is_retryable(failure: &Failure<'_>) -> bool {
        FailureClass::of(failure).is_retryable()
    }

    /// Decides after `retries` retries so far (0 after the first attempt failed).
    ///
    /// `jitter` is a random number in `[0, 1)` from the caller; `now` resolves a `retry-after`
    /// HTTP date.
    pub fn decide(
        &self,
        retries: u32,
        failure: &Failure<'_>,
        now: SystemTime,
        jitter: f64,
    ) -> RetryDecision {
        if let Failure::Response(api) = failure
            && api.should_retry_header() == Some(false)
        {
            return RetryDecision::GiveUp {
                reason: GiveUpReason::ServerSaidNo,
            };
        }
        if !Self::is_retryable(failure) {
            return RetryDecision::GiveUp {
                reason: GiveUpReason::NotRetryable,
            };
        }
        if retries >= self.max_retries {
            return RetryDecision::GiveUp {
                reason: GiveUpReason::RetriesExhausted,
            };
        }
        let hint = failure
            .retry_hint(now)
            .filter(|delay| !delay.is_zero() && *delay <= self.max_server_delay);
        RetryDecision::Retry {
            after: hint.unwrap_or_else(|| self.backoff(retries, jitter)),
        }
    }

    /// The computed delay before retry number `retries + 1`:
    /// `min(initial × 2^retries, max) × (1 − 0.25 × jitter)`.
    pub fn backoff(&self, retries: u32, jitter: f64) -> Duration {
        let doubled = self
            .initial_delay
            .saturating_mul(2u32.saturating_pow(retries.min(31)));
        let capped = doubled.min(self.max_delay);
        let factor = 1.0 - 0.25 * jitter.clamp(0.0, 1.0);
        capped.mul_f64(factor)
    }
}

#[cfg(test)]
mod tests;
