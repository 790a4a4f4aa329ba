//! The one place the client meets its runtime: the clock, timers and randomness. Everything
//! else (deadlines, retries, idle and total timeouts of streams) is written against this
//! module, which takes them from tokio on native targets and from the JavaScript host on
//! wasm32 (`setTimeout`, `performance.now()`, `Date.now()`, `crypto.getRandomValues`).
//!
//! On native targets both the clock ([`Instant`]) and the timers are tokio's: under a paused
//! runtime (`#[tokio::test(start_paused = true)]`) deadlines, backoffs and idle timeouts run in
//! virtual time. The retry jitter is drawn from [`Jitter`], which a client can seed
//! (`ClientBuilder::retry_jitter_seed`), so that such runs are also repeatable.
//!
//! Nothing is spawned: every timer is polled by the call or stream that owns it, so there is no
//! executor to abstract over, only time. What the time means (deadlines, backoffs) is the
//! call machine's, in the core; this module only tells it the time and wakes it.

use std::fmt;
use std::sync::{Mutex, PoisonError};

#[cfg(not(target_arch = "wasm32"))]
#[path = "rt/native.rs"]
mod host;
#[cfg(target_arch = "wasm32")]
#[path = "rt/web.rs"]
mod host;

pub(crate) use host::{Instant, Sleep, system_now};

/// The random draws of the retry policy's jitter: the process's generator, or a generator of
/// the client's own from a seed.
pub(crate) struct Jitter(Option<Mutex<fastrand::Rng>>);

impl Jitter {
    /// From `seed`, or the process's generator without one.
    pub(crate) fn new(seed: Option<u64>) -> Self {
        Self(seed.map(|seed| Mutex::new(fastrand::Rng::with_seed(seed))))
    }

    /// A uniform draw in `[0, 1)`.
    pub(crate) fn draw(&self) -> f64 {
        match &self.0 {
            Some(rng) => rng.lock().unwrap_or_else(PoisonError::into_inner).f64(),
            None => fastrand::f64(),
        }
    }

    /// A seed for a call's own draws.
    pub(crate) fn seed(&self) -> u64 {
        match &self.0 {
            Some(rng) => rng.lock().unwrap_or_else(PoisonError::into_inner).u64(..),
            None => fastrand::u64(..),
        }
    }
}

impl fmt::Debug for Jitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Jitter(seeded)"
        } else {
            "Jitter(process)"
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Waits `duration`.
    fn sleep(duration: Duration) -> Sleep {
        Sleep::until(Instant::now() + duration)
    }

    #[test]
    fn a_seeded_jitter_repeats_its_draws() {
        let draws = |jitter: Jitter| (0..8).map(|_| jitter.draw()).collect::<Vec<_>>();
        assert_eq!(draws(Jitter::new(Some(7))), draws(Jitter::new(Some(7))));
        assert_ne!(draws(Jitter::new(Some(7))), draws(Jitter::new(Some(8))));
        assert!(
            draws(Jitter::new(None))
                .iter()
                .all(|draw| (0.0..1.0).contains(draw))
        );
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[tokio::test(start_paused = true)]
    async fn under_a_paused_runtime_time_is_virtual() {
        let started = Instant::now();
        let real = std::time::Instant::now();
        sleep(Duration::from_secs(3600)).await;
        assert_eq!(started.elapsed(), Duration::from_secs(3600));
        assert!(real.elapsed() < Duration::from_secs(5));
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
