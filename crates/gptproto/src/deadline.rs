//! [`Deadline`]: the whole call's deadline, and how long each step may wait within it.

use std::time::Duration;

use crate::error::TimeoutKind;
use crate::rt::Instant;

/// The whole call's deadline: when it passes, and the total it was set from (which the
/// timeout error names).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    pub(crate) at: Instant,
    pub(crate) total: Duration,
}

impl Deadline {
    pub(crate) fn after(total: Duration) -> Self {
        Self {
            at: Instant::now() + total,
            total,
        }
    }

    pub(crate) fn remaining(self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }
}

/// How long one step may wait: its own limit (a timeout of `kind`), cut by the call's deadline.
pub(crate) fn step_wait(
    limit: Option<Duration>,
    kind: TimeoutKind,
    deadline: Option<Deadline>,
) -> Option<(Duration, TimeoutKind)> {
    let remaining = deadline.map(Deadline::remaining);
    match (limit, remaining) {
        (Some(limit), Some(remaining)) if remaining < limit => {
            Some((remaining, TimeoutKind::Total))
        }
        (Some(limit), _) => Some((limit, kind)),
        (None, Some(remaining)) => Some((remaining, TimeoutKind::Total)),
        (None, None) => None,
    }
}

/// The duration a timeout error names: the whole call's total for the deadline, the wait
/// otherwise.
pub(crate) fn reported(kind: TimeoutKind, wait: Duration, deadline: Option<Deadline>) -> Duration {
    match (kind, deadline) {
        (TimeoutKind::Total, Some(deadline)) => deadline.total,
        _ => wait,
    }
}
