//! Rate-limit math for batches, as a state machine: requests in, admissions out, answers'
//! headers and usage back in. Like the retry policy it never sleeps and reads no clock: every
//! call takes `now`, a [`Duration`] since any origin the caller chooses (a run's start).
//!
//! - **Two budgets**, requests and tokens per minute, each paced as a bucket that refills at the
//!   limit's rate and holds one *window* of it (1 s by default: providers enforce per-minute
//!   limits over short windows). Buckets **start empty**: a run ramps up, it never bursts a
//!   minute's worth.
//! - **Reservations**: a request reserves its estimated prompt (text counted without a
//!   tokenizer, calibrated per model from `usage.prompt_tokens`) plus the output charged at
//!   admission (`max_tokens` × `n`: OpenAI counts it whether or not it is generated; the model's
//!   learned average when unset). Its answer *settles* the prompt part; unused output is given
//!   back only with [`RateLimitConfig::charge_unused_output`] off.
//! - **First come, first served**: admission is in order, and a request larger than a whole
//!   window goes alone when its bucket is full (then its debt is paid back): never starved by
//!   small ones, never deadlocked.
//! - **What the server says**: `x-ratelimit-limit-*` set a limit that was not given, and lower
//!   one that was (a limit given is a ceiling, not the truth: a model behind an aggregator may
//!   be allowed less than the key); what is `remaining` lowers a budget that another client of
//!   the same key is spending; a 429 pauses its budget, and holds every admission, for the
//!   server's hint (`retry-after-ms`, `retry-after`, "try again in 84ms"), else until its
//!   `x-ratelimit-reset-*`, else for a wait that doubles from 1 s with each 429 that comes
//!   after the last wait, up to a minute (a per-minute window passes). A 429 for a limit given
//!   and not told turns it into a probed one, never above what was given.
//! - **No headers at all** (DashScope sends none): with no limit given or told, one request
//!   goes until the first answer, then the request rate is probed: it doubles each second until
//!   a 429 (slow start), then grows by 1/14 of its last cut each second and is cut to
//!   0.7× on a 429 (at most once a second). A limit that is neither given nor told is not paced
//!   until a 429 names it (`type: tokens|requests`, or its message); it then starts from 0.7× the
//!   rate that was reached, and is probed the same way. A probed rate grows only while it is
//!   what holds requests back: never past twice what was sent in the last second.
//! - **What the server sustains in flight** (Little's law: in flight = throughput × latency):
//!   past its slots, more requests in flight only queue and slow every answer. The limit on
//!   requests in flight grows while answers come back as fast (per generated token, when the
//!   usage says) as they did unqueued, and is cut to 0.8× (once a round) when they take twice
//!   that; [`RateLimitConfig::concurrency`] fixes it instead.
//!
//! ```
//! use std::time::Duration;
//! use gptproto_proto::ChatRequest;
//! use gptproto_proto::ratelimit::{Admission, Outcome, RateLimitConfig, RateLimitHeaders, RateLimiter};
//!
//! let mut config = RateLimitConfig::default();
//! config.requests_per_minute = Some(600); // 10 a second
//! let mut limiter = RateLimiter::new(config);
//! for (key, text) in ["a", "b"].into_iter().enumerate() {
//!     let reservation = limiter.reserve(&ChatRequest::new("qwen-turbo").user(text).max_tokens(100));
//!     limiter.enqueue(key as u64, reservation);
//! }
//! // The bucket starts empty: the first request goes after a tenth of a second.
//! let Admission::WaitUntil(at) = limiter.poll(Duration::ZERO) else { panic!() };
//! assert_eq!(at, Duration::from_millis(100));
//! let Admission::Admit(ticket) = limiter.poll(at) else { panic!() };
//! // ... send it; when its answer comes:
//! limiter.settle(&ticket, Duration::from_millis(400), &Outcome::Answered {
//!     usage: None,
//!     headers: RateLimitHeaders::default(),
//! });
//! ```

mod bucket;
mod concurrency;
mod estimate;
mod headers;
mod models;

use std::collections::VecDeque;
use std::time::Duration;

use bucket::Bucket;
use concurrency::ConcurrencyLimit;
use estimate::Estimator;
pub use estimate::Reservation;
pub(crate) use headers::limit_kind;
pub(crate) use headers::try_again_in;
pub use headers::{LimitKind, RateLimitHeaders};
pub use models::ModelLimits;

use crate::wire::{ChatRequest, Usage};

/// The limits and how to treat them.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RateLimitConfig {
    /// Requests per minute; `None`: learned from the server's headers, or probed.
    pub requests_per_minute: Option<u64>,
    /// Tokens per minute; `None`: learned from the server's headers, or probed.
    pub tokens_per_minute: Option<u64>,
    /// How much of its rate a budget may spend at once (1 s).
    pub window: Duration,
    /// Whether output reserved but not generated stays spent (`true`: OpenAI charges
    /// `max_tokens` at admission). `false` gives it back when the answer settles.
    pub charge_unused_output: bool,
    /// The request rate a probe starts at, per second, when no limit is given or told (1).
    pub probe_rate: f64,
    /// The most requests in flight; `None` (the default): as many as the server sustains,
    /// learned from its answers' latency (see the module's documentation).
    pub concurrency: Option<usize>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            requests_per_minute: None,
            tokens_per_minute: None,
            window: Duration::from_secs(1),
            charge_unused_output: true,
            probe_rate: 1.0,
            concurrency: None,
        }
    }
}

/// What [`RateLimiter::poll`] says.
#[derive(Debug, PartialEq)]
pub enum Admission {
    /// Send this request now; give the ticket back to [`RateLimiter::settle`] with its outcome.
    Admit(Ticket),
    /// Nothing may go before this time.
    WaitUntil(Duration),
    /// Nothing may go until an answer settles (the first request of a probe is in flight).
    WaitForAnswer,
    /// No request is waiting.
    Idle,
}

/// An admitted request: its reservation and when it went.
#[derive(Debug, PartialEq)]
pub struct Ticket {
    key: u64,
    reservation: Reservation,
    admitted_at: Duration,
    /// Which model's limiter admitted it ([`ModelLimits`]; 0 for a lone limiter).
    lane: usize,
}

impl Ticket {
    /// The key it was queued under.
    pub fn key(&self) -> u64 {
        self.key
    }

    /// When it was admitted.
    pub fn admitted_at(&self) -> Duration {
        self.admitted_at
    }

    /// What it reserved.
    pub fn reservation(&self) -> &Reservation {
        &self.reservation
    }
}

/// How a request ended, as the limiter needs to know it.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// The server answered (any status but 429): its headers and, if it reported it, the usage.
    Answered {
        /// The answer's usage.
        usage: Option<&'a Usage>,
        /// Its `x-ratelimit-*` headers.
        headers: RateLimitHeaders,
    },
    /// A 429.
    RateLimited {
        /// Which limit, if it said (as [`FailureClass::RateLimited`](crate::failure::FailureClass::RateLimited) tells it).
        kind: Option<LimitKind>,
        /// How long it asked to wait ([`Failure::retry_hint`](crate::failure::Failure::retry_hint)).
        retry_after: Option<Duration>,
        /// Its `x-ratelimit-*` headers.
        headers: RateLimitHeaders,
    },
    /// No answer (a connection error, a timeout): nothing learned.
    NoAnswer,
}

/// How a budget's rate is known.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Source {
    /// Given in the configuration: kept whatever the server says.
    Given,
    /// Told by the server's `x-ratelimit-limit-*` header.
    Told,
    /// Not known: unpaced until the server shows it matters.
    Unknown,
    /// Probing without headers.
    Probing(Probe),
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Probe {
    slow_start: bool,
    /// The last time the rate grew.
    grown_at: Duration,
    /// The last time the rate was cut (a 429 cuts at most once a second).
    cut_at: Duration,
    /// The rate right after the last cut (the additive step is 1/14 of it).
    floor: f64,
}

/// A budget: its bucket, how its rate is known, and what was admitted recently (to measure the
/// rate reached, and to age the server's `remaining`).
#[derive(Debug, Clone)]
struct Budget {
    kind: LimitKind,
    bucket: Bucket,
    source: Source,
    /// The rate given (per second): a ceiling that nothing the server says raises.
    ceiling: Option<f64>,
    /// (when, units) admitted over the last [`HISTORY`].
    admitted: VecDeque<(Duration, f64)>,
}

/// The first wait after a 429 that says nothing of when to come back.
const UNHINTED_WAIT: Duration = Duration::from_secs(1);
/// The longest: a per-minute window has passed.
pub const MAX_UNHINTED_WAIT: Duration = Duration::from_secs(60);

/// How long admissions are remembered.
const HISTORY: Duration = Duration::from_secs(10);
/// How much a 429 cuts a probed rate.
const DECREASE: f64 = 0.7;

impl Budget {
    fn new(kind: LimitKind, per_minute: Option<u64>, window: Duration) -> Self {
        let rate = per_minute.map(|limit| limit as f64 / 60.0);
        Self {
            kind,
            bucket: Bucket::new(rate, window, Duration::ZERO),
            source: if rate.is_some() {
                Source::Given
            } else {
                Source::Unknown
            },
            ceiling: rate,
            admitted: VecDeque::new(),
        }
    }

    fn cost(&self, ticket_tokens: u64) -> f64 {
        match self.kind {
            LimitKind::Requests => 1.0,
            LimitKind::Tokens => ticket_tokens as f64,
        }
    }

    fn take(&mut self, cost: f64, now: Duration) {
        self.bucket.take(cost, now);
        self.admitted.push_back((now, cost));
        while self
            .admitted
            .front()
            .is_some_and(|(at, _)| now.saturating_sub(*at) > HISTORY)
        {
            self.admitted.pop_front();
        }
    }

    fn admitted_since(&self, since: Duration) -> f64 {
        self.admitted
            .iter()
            .filter(|(at, _)| *at > since)
            .map(|(_, units)| units)
            .sum()
    }

    /// Units per second admitted over the history (or since the first admission).
    fn measured_rate(&self, now: Duration) -> Option<f64> {
        let first = self.admitted.front()?.0;
        let span = now.saturating_sub(first).as_secs_f64().max(1.0);
        Some(self.admitted_since(first.saturating_sub(Duration::from_nanos(1))) / span)
    }

    /// Reads the server's headers: the limit told sets the rate, never above the one given;
    /// what is `remaining` (after the request admitted at `admitted_at`, aged since) lowers the
    /// bucket.
    fn read(&mut self, headers: &RateLimitHeaders, admitted_at: Duration, now: Duration) {
        if let Some(limit) = headers.limit(self.kind).filter(|limit| *limit > 0) {
            let told = limit as f64 / 60.0;
            let rate = self.ceiling.map_or(told, |ceiling| ceiling.min(told));
            if self.bucket.rate() != Some(rate) {
                self.bucket.set_rate(Some(rate), now);
            }
            self.source = if Some(rate) == self.ceiling {
                Source::Given
            } else {
                Source::Told
            };
        }
        if let (Some(remaining), Some(rate)) = (headers.remaining(self.kind), self.bucket.rate()) {
            if remaining == 0 {
                let reset = headers.reset(self.kind).unwrap_or(Duration::ZERO);
                let until = admitted_at + reset.max(Duration::from_secs_f64(1.0 / rate));
                if until > now {
                    self.bucket.pause_until(until, now);
                }
            } else {
                let earned = rate * now.saturating_sub(admitted_at).as_secs_f64();
                let left = remaining as f64 + earned - self.admitted_since(admitted_at);
                self.bucket.lower_to(left, now);
            }
        }
    }

    /// A 429 for this budget: wait as long as the server said (or the limiter decided), and
    /// if probing, cut the rate (once a second); a limit given, that the server did not tell,
    /// is probed from here, under what was given.
    fn rate_limited(&mut self, wait: Duration, now: Duration) {
        self.bucket.pause_until(now + wait, now);
        let rate = match (self.source, self.bucket.rate()) {
            (Source::Told, _) => return,
            (Source::Given, Some(given)) => given * DECREASE,
            (Source::Probing(probe), Some(rate)) => {
                if now.saturating_sub(probe.cut_at) < Duration::from_secs(1) && !probe.slow_start {
                    return;
                }
                rate * DECREASE
            }
            // Unknown so far: start from what was being sent.
            _ => self.measured_rate(now).unwrap_or(1.0) * DECREASE,
        };
        self.bucket.set_rate(Some(rate), now);
        self.bucket.lower_to(0.0, now);
        self.source = Source::Probing(Probe {
            slow_start: false,
            grown_at: now,
            cut_at: now,
            floor: rate,
        });
    }

    /// An answer that was not a 429: a probed rate grows.
    fn answered(&mut self, now: Duration) {
        let Source::Probing(mut probe) = self.source else {
            return;
        };
        let Some(rate) = self.bucket.rate() else {
            return;
        };
        let elapsed = now.saturating_sub(probe.grown_at);
        let grown = if probe.slow_start {
            if elapsed < Duration::from_secs(1) {
                return;
            }
            rate * 2.0
        } else {
            rate + probe.floor / 14.0 * elapsed.as_secs_f64()
        };
        let grown = self.ceiling.map_or(grown, |ceiling| grown.min(ceiling));
        // No higher than twice what went this last second: past that the rate holds nothing
        // back (the server's concurrency does), and a pace it never reached says nothing.
        let sent = self.admitted_since(now.saturating_sub(Duration::from_secs(1)));
        let grown = grown.min((2.0 * sent).max(rate));
        probe.grown_at = now;
        self.source = Source::Probing(probe);
        self.bucket.set_rate(Some(grown), now);
    }
}

/// The rate limiter of a batch: reservations queue in order; [`poll`](Self::poll) admits them
/// as the budgets allow; [`settle`](Self::settle) takes each outcome back.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    config: RateLimitConfig,
    requests: Budget,
    tokens: Budget,
    queue: VecDeque<(u64, Reservation)>,
    in_flight: usize,
    /// How many the server sustains in flight, learned (unless the configuration fixes it).
    concurrency: ConcurrencyLimit,
    estimator: Estimator,
    /// An answer (any) has been seen: the probe's first request is over.
    answered_once: bool,
    /// No admission before this time: the last 429's hint (whichever budget it named, the
    /// server refuses everything until then).
    paused_until: Duration,
    /// The wait after a 429 that says nothing of when to come back (doubles, up to a minute;
    /// back to its start after an answer), and when the last one came.
    unhinted_wait: Duration,
    unhinted_at: Option<Duration>,
}

impl RateLimiter {
    /// A limiter with empty budgets.
    pub fn new(config: RateLimitConfig) -> Self {
        Self {
            requests: Budget::new(
                LimitKind::Requests,
                config.requests_per_minute,
                config.window,
            ),
            tokens: Budget::new(LimitKind::Tokens, config.tokens_per_minute, config.window),
            queue: VecDeque::new(),
            in_flight: 0,
            concurrency: ConcurrencyLimit::default(),
            estimator: Estimator::default(),
            answered_once: false,
            paused_until: Duration::ZERO,
            unhinted_wait: UNHINTED_WAIT,
            unhinted_at: None,
            config,
        }
    }

    /// What `request` is expected to cost (calibrated by the answers settled so far).
    pub fn reserve(&self, request: &ChatRequest) -> Reservation {
        self.estimator.reserve(request)
    }

    /// Queues a request's reservation, last, under the caller's `key` (its ticket names it).
    pub fn enqueue(&mut self, key: u64, reservation: Reservation) {
        self.queue.push_back((key, reservation));
    }

    /// Queues a request to be sent again (after a 429 or a server error), first: it was
    /// admitted before those behind it.
    pub fn requeue(&mut self, ticket: Ticket) {
        self.queue.push_front((ticket.key, ticket.reservation));
    }

    /// The reservation of the request that goes next.
    pub fn next_reservation(&self) -> Option<&Reservation> {
        self.queue.front().map(|(_, reservation)| reservation)
    }

    /// Drops every queued request (none was admitted), returning their keys in order.
    pub fn clear_queue(&mut self) -> Vec<u64> {
        self.queue.drain(..).map(|(key, _)| key).collect()
    }

    /// Requests queued and not admitted.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Requests admitted and not settled.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Whether the server said to wait (a 429's hint, or the limiter's wait after one) and
    /// the wait is not over at `now`.
    pub fn is_paused(&self, now: Duration) -> bool {
        self.paused_until > now
    }

    /// The most requests in flight now: the configuration's, or what the server was found to
    /// sustain.
    pub fn concurrency_limit(&self) -> usize {
        self.config
            .concurrency
            .unwrap_or_else(|| self.concurrency.get())
            .max(1)
    }

    /// The latency of an answer when the server does not queue it, per generated token when
    /// answers report their usage (what [`concurrency_limit`](Self::concurrency_limit) is
    /// learned against); `None` before enough answers.
    pub fn unqueued_latency(&self) -> Option<Duration> {
        self.concurrency.baseline()
    }

    /// The paced rates now, per minute (`None`: not paced).
    pub fn rates_per_minute(&self) -> (Option<f64>, Option<f64>) {
        (
            self.requests.bucket.rate().map(|rate| rate * 60.0),
            self.tokens.bucket.rate().map(|rate| rate * 60.0),
        )
    }

    /// Admits the first queued request if both budgets allow it now, or says until when (or
    /// what) to wait.
    pub fn poll(&mut self, now: Duration) -> Admission {
        let Some((_, reservation)) = self.queue.front() else {
            return Admission::Idle;
        };
        let probing = self.requests.source == Source::Unknown
            && self.tokens.source == Source::Unknown
            && !self.answered_once;
        if (probing && self.in_flight > 0) || self.in_flight >= self.concurrency_limit() {
            return Admission::WaitForAnswer;
        }
        let tokens = reservation.tokens();
        let request_cost = self.requests.cost(tokens);
        let token_cost = self.tokens.cost(tokens);
        let ready = [
            self.requests.bucket.ready_at(request_cost, now),
            self.tokens.bucket.ready_at(token_cost, now),
            (self.paused_until > now).then_some(self.paused_until),
        ];
        if let Some(at) = ready.into_iter().flatten().max() {
            return Admission::WaitUntil(at);
        }
        let (key, reservation) = self.queue.pop_front().expect("the queue has a head");
        self.requests.take(request_cost, now);
        self.tokens.take(token_cost, now);
        self.in_flight += 1;
        Admission::Admit(Ticket {
            key,
            reservation,
            admitted_at: now,
            lane: 0,
        })
    }

    /// Takes an admitted request's outcome back. The ticket stays the caller's: drop it, or
    /// [`requeue`](Self::requeue) it to send the request again.
    pub fn settle(&mut self, ticket: &Ticket, now: Duration, outcome: &Outcome<'_>) {
        let in_flight = self.in_flight;
        self.in_flight = self.in_flight.saturating_sub(1);
        match *outcome {
            Outcome::Answered { usage, headers } => {
                self.answered_once = true;
                self.unhinted_wait = UNHINTED_WAIT;
                self.unhinted_at = None;
                self.concurrency.answered(
                    now.saturating_sub(ticket.admitted_at),
                    usage.map(|usage| usage.completion_tokens),
                    in_flight,
                );
                self.read_headers(&headers, ticket.admitted_at, now);
                if let Some(usage) = usage {
                    self.settle_usage(ticket, usage, now);
                }
                if self.requests.source == Source::Unknown
                    && self.tokens.source == Source::Unknown
                    && headers.is_empty()
                {
                    // No limit given and none told: probe the request rate.
                    self.requests.source = Source::Probing(Probe {
                        slow_start: true,
                        grown_at: now,
                        cut_at: now,
                        floor: self.config.probe_rate,
                    });
                    self.requests
                        .bucket
                        .set_rate(Some(self.config.probe_rate), now);
                }
                self.requests.answered(now);
                self.tokens.answered(now);
            }
            Outcome::RateLimited {
                kind,
                retry_after,
                headers,
            } => {
                self.answered_once = true;
                self.read_headers(&headers, ticket.admitted_at, now);
                let kind = kind.unwrap_or(
                    if self.tokens.source == Source::Given && self.requests.source != Source::Given
                    {
                        LimitKind::Tokens
                    } else {
                        LimitKind::Requests
                    },
                );
                let wait = retry_after
                    .or_else(|| headers.reset(kind).filter(|reset| !reset.is_zero()))
                    .unwrap_or_else(|| self.unhinted(now));
                self.paused_until = self.paused_until.max(now + wait);
                match kind {
                    LimitKind::Requests => self.requests.rate_limited(wait, now),
                    LimitKind::Tokens => self.tokens.rate_limited(wait, now),
                }
            }
            Outcome::NoAnswer => {}
        }
    }

    /// The wait after a 429 that gave no hint: doubled when it came after the last wait was
    /// over (a burst of 429s for requests sent together counts once), up to
    /// [`MAX_UNHINTED_WAIT`].
    fn unhinted(&mut self, now: Duration) -> Duration {
        match self.unhinted_at {
            None => self.unhinted_at = Some(now),
            Some(at) if now >= at + self.unhinted_wait => {
                self.unhinted_wait = (self.unhinted_wait * 2).min(MAX_UNHINTED_WAIT);
                self.unhinted_at = Some(now);
            }
            Some(_) => {}
        }
        self.unhinted_wait
    }

    fn read_headers(&mut self, headers: &RateLimitHeaders, admitted_at: Duration, now: Duration) {
        if headers.is_empty() {
            return;
        }
        self.requests.read(headers, admitted_at, now);
        self.tokens.read(headers, admitted_at, now);
    }

    /// Corrects the token budget by what the answer reports, and calibrates the estimates.
    fn settle_usage(&mut self, ticket: &Ticket, usage: &Usage, now: Duration) {
        let reservation = &ticket.reservation;
        let mut more = usage.prompt_tokens as f64 - reservation.prompt as f64;
        if !self.config.charge_unused_output {
            more -= reservation.output.saturating_sub(usage.completion_tokens) as f64;
        }
        self.tokens.bucket.adjust(more, now);
        self.estimator.observe(reservation, usage);
    }
}

#[cfg(test)]
mod tests;
