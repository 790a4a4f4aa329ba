//! [`Bucket`]: one budget (requests or tokens) as a bucket that refills at a rate up to a
//! capacity, starts empty, may go into debt for a request larger than it, and can be paused.

use std::time::Duration;

/// Slack for float rounding when comparing a level with a cost (units).
const EPSILON: f64 = 1e-6;

/// A refilling budget. A `rate` of `None` is no limit (every cost admitted at once).
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    /// Units per second.
    rate: Option<f64>,
    /// What the bucket can hold: the rate times the window.
    capacity: f64,
    window: Duration,
    /// Units available at `at`; negative after a cost larger than the capacity (a debt).
    level: f64,
    at: Duration,
    /// No admission before this time (a server's retry hint).
    paused_until: Duration,
}

impl Bucket {
    /// An empty bucket refilling at `rate` per second, holding `rate × window`.
    pub(crate) fn new(rate: Option<f64>, window: Duration, now: Duration) -> Self {
        let mut bucket = Self {
            rate: None,
            capacity: 0.0,
            window,
            level: 0.0,
            at: now,
            paused_until: Duration::ZERO,
        };
        bucket.set_rate(rate, now);
        bucket
    }

    pub(crate) fn rate(&self) -> Option<f64> {
        self.rate
    }

    /// Paces at `rate` per second from `now` (what was earned so far kept, up to the new
    /// capacity).
    pub(crate) fn set_rate(&mut self, rate: Option<f64>, now: Duration) {
        self.refill(now);
        self.rate = rate.filter(|rate| rate.is_finite() && *rate > 0.0);
        self.capacity = self
            .rate
            .map_or(0.0, |rate| rate * self.window.as_secs_f64());
        self.level = self.level.min(self.capacity);
    }

    fn refill(&mut self, now: Duration) {
        if now > self.at {
            if let Some(rate) = self.rate {
                let earned = rate * (now - self.at).as_secs_f64();
                self.level = (self.level + earned).min(self.capacity);
            }
            self.at = now;
        }
    }

    /// The level at `now`.
    #[cfg(test)]
    pub(crate) fn level(&mut self, now: Duration) -> f64 {
        self.refill(now);
        self.level
    }

    /// When `cost` can be admitted: `None` if now. A cost larger than the whole capacity is
    /// admitted when the bucket is full (alone, then paid back as a debt).
    pub(crate) fn ready_at(&mut self, cost: f64, now: Duration) -> Option<Duration> {
        self.refill(now);
        let Some(rate) = self.rate else {
            return (now < self.paused_until).then_some(self.paused_until);
        };
        let needed = cost.min(self.capacity);
        // Refilling starts now, or when a pause ends.
        let from = now.max(self.at);
        let filled_at = if self.level + EPSILON * needed.max(1.0) >= needed {
            from
        } else {
            from + Duration::from_secs_f64((needed - self.level) / rate)
        };
        let at = filled_at.max(self.paused_until);
        (at > now).then_some(at)
    }

    /// Takes `cost` (call after [`ready_at`](Self::ready_at) said now).
    pub(crate) fn take(&mut self, cost: f64, now: Duration) {
        self.refill(now);
        if self.rate.is_some() {
            self.level -= cost;
        }
    }

    /// Takes `more` units (negative: gives them back), as a settlement corrects a reservation.
    pub(crate) fn adjust(&mut self, more: f64, now: Duration) {
        self.refill(now);
        if self.rate.is_some() {
            self.level = (self.level - more).min(self.capacity);
        }
    }

    /// Lowers the level to at most `level` (never raises it).
    pub(crate) fn lower_to(&mut self, level: f64, now: Duration) {
        self.refill(now);
        self.level = self.level.min(level);
    }

    /// Admits nothing before `until`, and empties the bucket (a server that said wait has no
    /// budget left to spend at once when the wait ends).
    pub(crate) fn pause_until(&mut self, until: Duration, now: Duration) {
        self.refill(now);
        self.paused_until = self.paused_until.max(until);
        self.level = self.level.min(0.0);
        // The wait itself earns nothing.
        self.at = self.at.max(until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn starts_empty_and_refills_at_its_rate_up_to_its_window() {
        let mut bucket = Bucket::new(Some(10.0), SECOND, Duration::ZERO);
        assert_eq!(
            bucket.ready_at(1.0, Duration::ZERO),
            Some(Duration::from_millis(100))
        );
        assert_eq!(bucket.level(Duration::from_millis(500)), 5.0);
        assert_eq!(
            bucket.level(Duration::from_secs(60)),
            10.0,
            "capped at rate × window"
        );
    }

    #[test]
    fn a_cost_larger_than_the_capacity_goes_alone_when_full_and_is_paid_back() {
        let mut bucket = Bucket::new(Some(10.0), SECOND, Duration::ZERO);
        assert_eq!(bucket.ready_at(25.0, Duration::ZERO), Some(SECOND));
        bucket.take(25.0, SECOND);
        assert_eq!(bucket.level(SECOND), -15.0);
        // The next unit waits for the debt and itself: 1.6 s.
        assert_eq!(
            bucket.ready_at(1.0, SECOND),
            Some(Duration::from_millis(2600))
        );
    }

    #[test]
    fn a_pause_holds_admissions_and_earns_nothing() {
        let mut bucket = Bucket::new(Some(10.0), SECOND, Duration::ZERO);
        bucket.pause_until(Duration::from_secs(3), SECOND);
        assert_eq!(
            bucket.ready_at(1.0, Duration::from_secs(2)),
            Some(Duration::from_millis(3100))
        );
    }

    #[test]
    fn no_rate_is_no_limit() {
        let mut bucket = Bucket::new(None, SECOND, Duration::ZERO);
        assert_eq!(bucket.ready_at(1e9, Duration::ZERO), None);
        bucket.take(1e9, Duration::ZERO);
        assert_eq!(bucket.ready_at(1e9, Duration::ZERO), None);
    }
}
