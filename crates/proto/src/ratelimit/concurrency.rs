//! How many requests the server sustains at once, learned from its answers' latency.
//!
//! Little's law: requests in flight = throughput × latency. Past the number of requests a
//! server works on at once (its slots), more in flight adds no throughput: the extra requests
//! wait in its queue and every answer's latency grows in proportion. So the limit grows while
//! answers come back as fast as they did when nothing queued (the *baseline* latency), and is
//! cut when the recent latency reaches twice that: in flight then stays near throughput ×
//! baseline × 2 — the server's slots, with as many again queued so that none idles — however
//! fast a rate limit would allow.
//!
//! Like the rest of the limiter it reads no clock: each answer brings its latency.

use std::time::Duration;

/// The limit before any answer: a few requests go while the latency is unknown.
const INITIAL: f64 = 4.0;
/// The least it is cut to.
const MIN: f64 = 2.0;
/// The most it grows to.
const MAX: f64 = 1024.0;
/// Recent latency this many times the baseline means the server is queueing.
const QUEUEING: f64 = 2.0;
/// Recent latency this many times the baseline ends the slow start.
const SLOW_START_ENDS: f64 = 1.25;
/// A cut keeps this share of the limit.
const CUT: f64 = 0.8;
/// The weight of an answer in the recent latency (about the last 16 answers: an average of
/// answers long and short, not one of them).
const RECENT_WEIGHT: f64 = 1.0 / 16.0;
/// Answers averaged at the initial limit, before anything grows: their mean is the first
/// baseline (with few in flight, the long answers are counted as well as the short ones that
/// come back first).
const WARM_UP: u32 = 16;
/// What reading the prompt and starting the answer cost, in generated tokens (a guess that
/// only evens out short answers against long ones).
const FIRST_TOKEN_EQUIVALENT: u64 = 16;
/// Answers at the floor, still queueing, after which the server is taken to be that slow now.
const RELEARN: u32 = 16;

/// The limit on requests in flight, as a state machine fed each answer's latency.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ConcurrencyLimit {
    limit: f64,
    /// Seconds (per token, when answers say how many) answers take when nothing queues: the
    /// least recent latency, from the mean of the first answers on.
    baseline: Option<f64>,
    /// Seconds (per token, when answers say how many) answers took lately: an average over
    /// the last few.
    recent: Option<f64>,
    /// Answers averaged into `recent`, up to [`WARM_UP`].
    answers: u32,
    /// Grows by one an answer (doubling per round trip) until the server first queues.
    slow_start: bool,
    /// Answers since the last cut: one cut a round (as many answers as the limit).
    since_cut: f64,
    /// Answers in a row at the floor with the server queueing.
    at_floor: u32,
}

impl Default for ConcurrencyLimit {
    fn default() -> Self {
        Self {
            limit: INITIAL,
            baseline: None,
            recent: None,
            answers: 0,
            slow_start: true,
            since_cut: 0.0,
            at_floor: 0,
        }
    }
}

impl ConcurrencyLimit {
    /// The most requests in flight now.
    pub(crate) fn get(&self) -> usize {
        self.limit as usize
    }

    /// The latency of answers when the load was lightest, once known.
    pub(crate) fn baseline(&self) -> Option<Duration> {
        self.baseline.map(Duration::from_secs_f64)
    }

    /// An answer of `output_tokens` (when the usage said) came after `latency`, with
    /// `in_flight` requests out when it did (itself included).
    pub(crate) fn answered(
        &mut self,
        latency: Duration,
        output_tokens: Option<u64>,
        in_flight: usize,
    ) {
        // Per token generated when the usage says how many: answers long and short then take
        // about the same, and only a queue makes them all slower.
        let tokens = output_tokens.map_or(1.0, |tokens| (tokens + FIRST_TOKEN_EQUIVALENT) as f64);
        let sample = latency.as_secs_f64().max(1e-6) / tokens;
        self.answers = (self.answers + 1).min(WARM_UP);
        // The plain mean of the first answers, then a moving average.
        let weight = (1.0 / f64::from(self.answers)).max(RECENT_WEIGHT);
        let recent = average(self.recent, sample, weight);
        self.recent = Some(recent);
        self.since_cut += 1.0;
        let binding = in_flight as f64 + 1.0 >= self.limit;
        if self.answers < WARM_UP {
            return;
        }
        let baseline = self
            .baseline
            .map_or(recent, |baseline| baseline.min(recent));
        self.baseline = Some(baseline);
        if recent < QUEUEING * baseline {
            self.at_floor = 0;
            if recent >= SLOW_START_ENDS * baseline {
                // A queue is forming: grow gently from here (doubling would overshoot by a
                // whole round before the averages show it).
                self.slow_start = false;
            }
            if binding {
                // The limit held requests back and nothing queues: try more.
                let step = if self.slow_start {
                    1.0
                } else {
                    1.0 / self.limit
                };
                self.limit = (self.limit + step).min(MAX);
            }
            return;
        }
        self.slow_start = false;
        if self.limit <= MIN {
            // Queueing with next to nothing in flight: the server is slower now, not full.
            self.at_floor += 1;
            if self.at_floor >= RELEARN {
                self.baseline = Some(recent);
                self.at_floor = 0;
            }
        } else if self.since_cut >= self.limit {
            self.limit = (self.limit * CUT).max(MIN);
            self.since_cut = 0.0;
        }
    }
}

fn average(previous: Option<f64>, sample: f64, weight: f64) -> f64 {
    previous.map_or(sample, |previous| previous + weight * (sample - previous))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server with `slots` workers, each answer taking `service(i)` of work: requests beyond
    /// the slots wait. Run in virtual time, the limit deciding what is sent; returns the most
    /// in flight after the ramp, and the answers a second.
    fn run(
        slots: usize,
        service: impl Fn(usize) -> (f64, Option<u64>),
        answers: usize,
    ) -> (usize, f64) {
        let mut limit = ConcurrencyLimit::default();
        // (admitted at, done at) of requests in flight; the slots' next free times.
        let mut flying: Vec<(f64, f64, Option<u64>)> = Vec::new();
        let mut free = vec![0.0_f64; slots];
        let (mut now, mut done, mut sent, mut most) = (0.0_f64, 0, 0, 0);
        let mut first_half_end = 0.0;
        while done < answers {
            while flying.len() < limit.get() {
                let slot = (0..slots)
                    .min_by(|a, b| free[*a].total_cmp(&free[*b]))
                    .unwrap();
                let start = free[slot].max(now);
                let (seconds, tokens) = service(sent);
                free[slot] = start + seconds;
                flying.push((now, free[slot], tokens));
                sent += 1;
            }
            if done > answers / 2 {
                most = most.max(flying.len());
            }
            let next = (0..flying.len())
                .min_by(|a, b| flying[*a].1.total_cmp(&flying[*b].1))
                .unwrap();
            let (admitted, at, tokens) = flying.swap_remove(next);
            now = at;
            limit.answered(
                Duration::from_secs_f64(at - admitted),
                tokens,
                flying.len() + 1,
            );
            done += 1;
            if done == answers / 2 {
                first_half_end = now;
            }
        }
        let rate = (answers - answers / 2) as f64 / (now - first_half_end);
        (most, rate)
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "thousands of simulated answers: too slow under Miri (and no unsafe code here)"
    )]
    fn in_flight_stays_near_the_servers_slots_and_their_throughput_is_kept() {
        // The case: 4 slots; a limit that doubled without bound had 194 in flight.
        let (most, rate) = run(4, |_| (0.5, None), 2_000);
        assert!(most <= 12, "{most} in flight for 4 slots");
        assert!(rate >= 4.0 / 0.5 * 0.95, "{rate:.2} answers/s of 8");
        let (most, rate) = run(64, |_| (0.2, Some(20)), 20_000);
        assert!((64..=192).contains(&most), "{most} in flight for 64 slots");
        assert!(rate >= 64.0 / 0.2 * 0.95, "{rate:.1} answers/s of 320");
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "thousands of simulated answers: too slow under Miri (and no unsafe code here)"
    )]
    fn answers_of_mixed_lengths_are_not_taken_for_queueing() {
        // A server with room for everything, answers of 5 to 200 tokens (0.1 s to 2 s): the
        // limit must keep growing with the load, not collapse on the long ones.
        let service = |i: usize| {
            let tokens = [5, 25, 200, 15, 85, 5, 145, 35][i % 8];
            (0.05 + 0.01 * tokens as f64, Some(tokens))
        };
        let (most, rate) = run(10_000, service, 20_000);
        assert!(most >= 200, "{most} in flight");
        assert!(rate >= 300.0, "{rate:.1} answers/s");
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "thousands of simulated answers: too slow under Miri (and no unsafe code here)"
    )]
    fn a_cut_never_goes_below_the_floor_and_a_slower_server_is_learned() {
        let mut limit = ConcurrencyLimit::default();
        for _ in 0..100 {
            limit.answered(Duration::from_millis(100), None, limit.get());
        }
        let grown = limit.get();
        assert!(grown > 50, "{grown}");
        let mut least = grown;
        for _ in 0..2_000 {
            limit.answered(Duration::from_secs(5), None, limit.get());
            least = least.min(limit.get());
        }
        assert_eq!(least, MIN as usize);
        let baseline = limit.baseline().unwrap();
        assert!(baseline > Duration::from_secs(4), "{baseline:?}");
        assert!(limit.get() > MIN as usize, "grows again: {}", limit.get());
    }
}
