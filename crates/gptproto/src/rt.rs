//! The one place the client meets its runtime: the clock, timers and randomness. Everything
//! else (deadlines, retries, idle and total timeouts of streams) is written against this
//! module, which takes them from tokio on native targets and from the JavaScript host on
//! wasm32 (`setTimeout`, `performance.now()`, `Date.now()`, `crypto.getRandomValues`).
//!
//! Nothing is spawned: every timer is polled by the call or stream that owns it, so there is no
//! executor to abstract over, only time.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

#[cfg(not(target_arch = "wasm32"))]
#[path = "rt/native.rs"]
mod host;
#[cfg(target_arch = "wasm32")]
#[path = "rt/web.rs"]
mod host;

pub(crate) use host::{Instant, Sleep, random, system_now};

/// Waits `duration`.
pub(crate) fn sleep(duration: Duration) -> Sleep {
    Sleep::until(Instant::now() + duration)
}

/// `future`, or [`Elapsed`] if it has not finished after `duration`.
pub(crate) fn timeout<F: Future + Unpin>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: sleep(duration),
    }
}

/// The time given to a [`timeout`] passed first.
#[derive(Debug)]
pub(crate) struct Elapsed;

/// The future of [`timeout`].
pub(crate) struct Timeout<F> {
    future: F,
    sleep: Sleep,
}

impl<F: Future + Unpin> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(output) = Pin::new(&mut self.future).poll(cx) {
            return Poll::Ready(Ok(output));
        }
        self.sleep.poll_elapsed(cx).map(|()| Err(Elapsed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_timeout_gives_the_futures_output_or_elapses_after_its_duration() {
        let ready = timeout(Duration::from_secs(1), std::future::ready(7)).await;
        assert_eq!(ready.ok(), Some(7));
        let started = Instant::now();
        let never = std::future::pending::<()>();
        assert!(timeout(Duration::from_millis(40), never).await.is_err());
        assert!(started.elapsed() >= Duration::from_millis(40));
    }

    #[tokio::test]
    async fn a_reset_sleep_ends_at_its_new_instant() {
        let started = Instant::now();
        let mut sleep = sleep(Duration::from_secs(600));
        sleep.reset(started + Duration::from_millis(30));
        (&mut sleep).await;
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(30) && waited < Duration::from_secs(60));
    }
}
