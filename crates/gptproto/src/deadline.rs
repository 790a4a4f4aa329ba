//! [`Deadline`]: the whole call's deadline (or its body's), and how long each step may wait
//! within it.

use std::time::Duration;

use crate::error::TimeoutKind;
use crate::rt::Instant;

/// A deadline: when it passes, the duration it was set from (which the timeout error names),
/// and which timeout it is ([`TimeoutKind::Total`] or [`TimeoutKind::Body`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    pub(crate) at: Instant,
    pub(crate) total: Duration,
    pub(crate) kind: TimeoutKind,
}

impl Deadline {
    /// The whole call's deadline, from now.
    pub(crate) fn after(total: Duration) -> Self {
        Self {
            at: Instant::now() + total,
            total,
            kind: TimeoutKind::Total,
        }
    }

    /// A body's deadline, from now (its head).
    pub(crate) fn body(limit: Duration) -> Self {
        Self {
            kind: TimeoutKind::Body,
            ..Self::after(limit)
        }
    }

    /// The one that passes first.
    pub(crate) fn sooner(a: Option<Self>, b: Option<Self>) -> Option<Self> {
        match (a, b) {
            (Some(a), Some(b)) => Some(if b.at < a.at { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    pub(crate) fn remaining(self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }
}

/// How long one step may wait: its own limit (a timeout of `kind`), cut by the deadline.
pub(crate) fn step_wait(
    limit: Option<Duration>,
    kind: TimeoutKind,
    deadline: Option<Deadline>,
) -> Option<(Duration, TimeoutKind)> {
    let cut = deadline.map(|deadline| (deadline.remaining(), deadline.kind));
    match (limit, cut) {
        (Some(limit), Some((remaining, deadline_kind))) if remaining < limit => {
            Some((remaining, deadline_kind))
        }
        (Some(limit), _) => Some((limit, kind)),
        (None, cut) => cut,
    }
}

/// The duration a timeout error names: the deadline's own duration when it passed, the wait
/// otherwise.
pub(crate) fn reported(kind: TimeoutKind, wait: Duration, deadline: Option<Deadline>) -> Duration {
    match deadline {
        Some(deadline) if deadline.kind == kind => deadline.total,
        _ => wait,
    }
}
