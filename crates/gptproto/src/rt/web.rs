//! Time on wasm32, from the JavaScript host: `setTimeout` (through futures-timer),
//! `performance.now()` (web-time), `Date.now()`, and fastrand seeded by the host's
//! `crypto.getRandomValues`. (`std::time::Instant::now()` and `SystemTime::now()` panic on
//! wasm32-unknown-unknown.)

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(crate) use web_time::Instant;

/// A timer that ends at an instant, which can be moved.
#[derive(Debug)]
pub(crate) struct Sleep {
    at: Instant,
    delay: futures_timer::Delay,
}

impl Sleep {
    /// Ends at `at`.
    pub(crate) fn until(at: Instant) -> Self {
        Self {
            at,
            delay: futures_timer::Delay::new(wait_until(at)),
        }
    }

    /// Ends at `at` instead.
    pub(crate) fn reset(&mut self, at: Instant) {
        self.at = at;
        self.delay.reset(wait_until(at));
    }

    /// Ready once the instant has passed.
    pub(crate) fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match Pin::new(&mut self.delay).poll(cx) {
            Poll::Ready(()) if Instant::now() < self.at => {
                // The host's timer may fire a little early (it counts whole milliseconds).
                self.reset(self.at);
                Pin::new(&mut self.delay).poll(cx)
            }
            other => other,
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.poll_elapsed(cx)
    }
}

/// How long to ask the host's timer to wait for `at`: at most `setTimeout`'s longest delay
/// (2^31 - 1 ms, about 24.8 days; a longer one fires at once), after which it is asked again.
fn wait_until(at: Instant) -> Duration {
    const LONGEST: Duration = Duration::from_millis(i32::MAX as u64);
    at.saturating_duration_since(Instant::now()).min(LONGEST)
}

/// The wall clock (for `retry-after` dates): the host's `Date.now()`.
pub(crate) fn system_now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs_f64(js_sys::Date::now() / 1000.0)
}
