//! The call's deadlines: [`Timeouts`], and when each passes on the call's clock.

use std::time::Duration;

use crate::error::TimeoutKind;

/// The deadlines of a call. `None` means no deadline of that kind.
///
/// ```
/// use std::time::Duration;
/// use gptproto_proto::call::Timeouts;
///
/// let mut timeouts = Timeouts::default();
/// timeouts.total = Some(Duration::from_secs(120));
/// assert_eq!(timeouts.response, Some(Duration::from_secs(600)));
/// assert_eq!(Timeouts::none().idle, None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// From sending (each attempt) until the response head: 600 s by default, as the official
    /// SDKs.
    pub response: Option<Duration>,
    /// Between two reads of the response body: 600 s by default. Keep-alive comments count as
    /// reads (the connection is alive); they do not extend the body's or the total deadline.
    pub idle: Option<Duration>,
    /// Reading the response body, from its head to its end, streamed or not: 2 h by default
    /// (the longest answers today, 128k tokens at 20 tokens a second, take under 2 h). It
    /// bounds a server that trickles forever (each piece inside the idle timeout, or
    /// keep-alive comments only), which the idle timeout alone does not.
    pub body: Option<Duration>,
    /// The whole call, retries and the streamed body included: none by default.
    pub total: Option<Duration>,
}

/// The default of [`Timeouts::body`].
const BODY_TIMEOUT: Duration = Duration::from_secs(2 * 3600);

impl Default for Timeouts {
    /// The official SDKs' deadlines (response head 600 s, idle 600 s, no total), and a body
    /// read in at most 2 h.
    fn default() -> Self {
        Self {
            response: Some(Duration::from_secs(600)),
            idle: Some(Duration::from_secs(600)),
            body: Some(BODY_TIMEOUT),
            total: None,
        }
    }
}

impl Timeouts {
    /// No deadline at all.
    pub fn none() -> Self {
        Self {
            response: None,
            idle: None,
            body: None,
            total: None,
        }
    }
}

/// A deadline on the call's clock: when it passes, the duration it was set from (which the
/// timeout error names), and which one it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Deadline {
    pub(super) at: Duration,
    pub(super) after: Duration,
    pub(super) kind: TimeoutKind,
}

impl Deadline {
    /// `kind`'s deadline, `after` from `now` (none when `after` is none).
    pub(super) fn of(kind: TimeoutKind, after: Option<Duration>, now: Duration) -> Option<Self> {
        after.map(|after| Self {
            at: now.saturating_add(after),
            after,
            kind,
        })
    }

    /// The one that passes first; on a tie, `a` (the step's own over the one that cuts it).
    pub(super) fn sooner(a: Option<Self>, b: Option<Self>) -> Option<Self> {
        match (a, b) {
            (Some(a), Some(b)) => Some(if b.at < a.at { b } else { a }),
            (a, b) => a.or(b),
        }
    }
}
