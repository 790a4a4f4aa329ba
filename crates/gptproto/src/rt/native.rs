//! Time on native targets: tokio's clock and timers (so that a paused tokio runtime drives
//! every deadline and backoff of the client in virtual time), and the system's wall clock.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::SystemTime;

pub(crate) use tokio::time::Instant;

/// A timer that ends at an instant, which can be moved.
#[derive(Debug)]
pub(crate) struct Sleep(Pin<Box<tokio::time::Sleep>>);

impl Sleep {
    /// Ends at `at`.
    pub(crate) fn until(at: Instant) -> Self {
        Self(Box::pin(tokio::time::sleep_until(at)))
    }

    /// Ends at `at` instead.
    pub(crate) fn reset(&mut self, at: Instant) {
        self.0.as_mut().reset(at);
    }

    /// Ready once the instant has passed.
    pub(crate) fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.poll_elapsed(cx)
    }
}

/// The wall clock (for `retry-after` dates).
pub(crate) fn system_now() -> SystemTime {
    SystemTime::now()
}
