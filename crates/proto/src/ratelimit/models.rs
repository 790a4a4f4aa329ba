//! [`ModelLimits`]: a [`RateLimiter`] per model, for a batch whose lines ask different models
//! (or move to a fallback model): each model's limits — given, told by its answers' headers,
//! or probed — and its in-flight limit are kept apart, as providers keep them (OpenAI's limits
//! are per model; a model behind an aggregator has its own). A 429 for one model slows only
//! that model.
//!
//! Requests wait in their model's queue; [`poll`](ModelLimits::poll) admits the oldest head
//! (by key: the order they were queued in) that its model's budgets allow now, so that a model
//! that must wait never holds back another. The limits given are each model's ceiling.

use std::time::Duration;

use super::concurrency::ConcurrencyLimit;
use super::estimate::Estimator;
use super::{Admission, Outcome, RateLimitConfig, RateLimiter, Reservation, Ticket};
use crate::wire::ChatRequest;

/// A [`RateLimiter`] per model, for a batch whose lines ask different models (or move to a
/// fallback model): each model's limits — given (a ceiling for each), told by its answers'
/// headers, or probed — and its in-flight limit are kept apart, as providers keep them. A 429
/// for one model slows only that model. Requests wait in their model's queue;
/// [`poll`](Self::poll) admits the oldest head (by key) that its model's budgets allow now.
///
/// ```
/// use std::time::Duration;
/// use gptproto_proto::ChatRequest;
/// use gptproto_proto::ratelimit::{Admission, ModelLimits, Outcome, RateLimitConfig, RateLimitHeaders};
///
/// let mut limits = ModelLimits::new(RateLimitConfig::default());
/// let fast = ChatRequest::new("qwen-turbo").user("a");
/// let slow = ChatRequest::new("qwen-max").user("b");
/// limits.enqueue(0, &fast);
/// limits.enqueue(1, &slow);
/// let Admission::Admit(first) = limits.poll(Duration::ZERO) else { panic!() };
/// assert_eq!(limits.model_of(&first), "qwen-turbo");
/// // Each model probes on its own: qwen-max's first request goes too.
/// let Admission::Admit(second) = limits.poll(Duration::ZERO) else { panic!() };
/// assert_eq!(limits.model_of(&second), "qwen-max");
/// let answered = Outcome::Answered { usage: None, headers: RateLimitHeaders::default() };
/// limits.settle(&first, Duration::from_millis(300), &answered);
/// ```
#[derive(Debug, Clone)]
pub struct ModelLimits {
    config: RateLimitConfig,
    /// Each model's name and limiter, in the order first seen (a batch asks a few models).
    models: Vec<(String, RateLimiter)>,
}

impl ModelLimits {
    /// No model yet: each gets a limiter of `config` when first asked.
    pub fn new(config: RateLimitConfig) -> Self {
        Self {
            config,
            models: Vec::new(),
        }
    }

    /// The index of `model`'s limiter, made if new.
    fn lane(&mut self, model: &str) -> usize {
        match self.models.iter().position(|(name, _)| name == model) {
            Some(lane) => lane,
            None => {
                self.models
                    .push((model.to_owned(), RateLimiter::new(self.config.clone())));
                self.models.len() - 1
            }
        }
    }

    /// What `request` is expected to cost, by its model's calibration so far.
    pub fn reserve(&self, request: &ChatRequest) -> Reservation {
        match self.models.iter().find(|(name, _)| *name == request.model) {
            Some((_, limiter)) => limiter.reserve(request),
            // A model not seen yet: the estimate of no calibration.
            None => Estimator::default().reserve(request),
        }
    }

    /// Queues `request` under `key` (keys grow in the order requests are read: the oldest
    /// goes first), in its model's queue.
    pub fn enqueue(&mut self, key: u64, request: &ChatRequest) {
        let lane = self.lane(&request.model);
        let limiter = &mut self.models[lane].1;
        let reservation = limiter.reserve(request);
        limiter.enqueue(key, reservation);
    }

    /// Queues an admitted request to be sent again, first in its model's queue.
    pub fn requeue(&mut self, ticket: Ticket) {
        if let Some((_, limiter)) = self.models.get_mut(ticket.lane) {
            limiter.requeue(ticket);
        }
    }

    /// The model `ticket` was admitted for.
    pub fn model_of(&self, ticket: &Ticket) -> &str {
        self.models
            .get(ticket.lane)
            .map_or("", |(name, _)| name.as_str())
    }

    /// The reservation of the request that goes next: the oldest head of any model.
    pub fn next_reservation(&self) -> Option<&Reservation> {
        self.models
            .iter()
            .filter_map(|(_, limiter)| limiter.queue.front())
            .min_by_key(|(key, _)| *key)
            .map(|(_, reservation)| reservation)
    }

    /// Drops every queued request, returning their keys.
    pub fn clear_queue(&mut self) -> Vec<u64> {
        let mut keys: Vec<u64> = self
            .models
            .iter_mut()
            .flat_map(|(_, limiter)| limiter.clear_queue())
            .collect();
        keys.sort_unstable();
        keys
    }

    /// Requests queued, all models.
    pub fn queued(&self) -> usize {
        self.models
            .iter()
            .map(|(_, limiter)| limiter.queued())
            .sum()
    }

    /// Requests queued for models that may send now (not waiting out a 429): what a reader of
    /// requests keeps ahead of the sending, so that a model told to wait does not keep the
    /// others' requests from being read.
    pub fn queued_ready(&self, now: Duration) -> usize {
        self.models
            .iter()
            .filter(|(_, limiter)| !limiter.is_paused(now))
            .map(|(_, limiter)| limiter.queued())
            .sum()
    }

    /// Requests admitted and not settled, all models.
    pub fn in_flight(&self) -> usize {
        self.models
            .iter()
            .map(|(_, limiter)| limiter.in_flight())
            .sum()
    }

    /// The most requests in flight now, all models (each its own limit); before any request,
    /// one model's.
    pub fn concurrency_limit(&self) -> usize {
        if self.models.is_empty() {
            return self
                .config
                .concurrency
                .unwrap_or_else(|| ConcurrencyLimit::default().get())
                .max(1);
        }
        self.models
            .iter()
            .map(|(_, limiter)| limiter.concurrency_limit())
            .sum()
    }

    /// The paced rates now, per minute, of every model together (`None`: a budget no model
    /// paces).
    pub fn rates_per_minute(&self) -> (Option<f64>, Option<f64>) {
        self.models
            .iter()
            .map(|(_, limiter)| limiter.rates_per_minute())
            .fold(
                (None, None),
                |(requests, tokens), (more_requests, more_tokens)| {
                    (add(requests, more_requests), add(tokens, more_tokens))
                },
            )
    }

    /// Each model's paced rates, per minute, in the order first seen.
    pub fn rates_by_model(&self) -> impl Iterator<Item = (&str, (Option<f64>, Option<f64>))> {
        self.models
            .iter()
            .map(|(name, limiter)| (name.as_str(), limiter.rates_per_minute()))
    }

    /// Admits the oldest queued request whose model's budgets allow it now, or says until when
    /// (or what) to wait: the soonest time any model's head may go.
    pub fn poll(&mut self, now: Duration) -> Admission {
        // One model (the common batch): its limiter's answer, without sorting heads.
        if let [(_, limiter)] = self.models.as_mut_slice() {
            return limiter.poll(now);
        }
        let mut heads: Vec<(u64, usize)> = self
            .models
            .iter()
            .enumerate()
            .filter_map(|(lane, (_, limiter))| limiter.queue.front().map(|(key, _)| (*key, lane)))
            .collect();
        heads.sort_unstable();
        let mut soonest: Option<Duration> = None;
        let mut waits_for_answer = false;
        for (_, lane) in heads {
            match self.models[lane].1.poll(now) {
                Admission::Admit(mut ticket) => {
                    ticket.lane = lane;
                    return Admission::Admit(ticket);
                }
                Admission::WaitUntil(at) => {
                    soonest = Some(soonest.map_or(at, |soonest| soonest.min(at)));
                }
                Admission::WaitForAnswer => waits_for_answer = true,
                Admission::Idle => {}
            }
        }
        match soonest {
            Some(at) => Admission::WaitUntil(at),
            None if waits_for_answer => Admission::WaitForAnswer,
            None => Admission::Idle,
        }
    }

    /// Takes an admitted request's outcome back, to its model's limiter.
    pub fn settle(&mut self, ticket: &Ticket, now: Duration, outcome: &Outcome<'_>) {
        if let Some((_, limiter)) = self.models.get_mut(ticket.lane) {
            limiter.settle(ticket, now, outcome);
        }
    }
}

/// Two paces added: `None` (not paced) adds nothing.
fn add(sum: Option<f64>, rate: Option<f64>) -> Option<f64> {
    match (sum, rate) {
        (Some(sum), Some(rate)) => Some(sum + rate),
        (sum, rate) => sum.or(rate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::{LimitKind, RateLimitHeaders};

    fn request(model: &str) -> ChatRequest {
        ChatRequest::new(model).user("hi").max_tokens(10)
    }

    fn admit(limits: &mut ModelLimits, now: &mut Duration) -> Ticket {
        loop {
            match limits.poll(*now) {
                Admission::Admit(ticket) => return ticket,
                Admission::WaitUntil(at) => *now = at,
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_429_slows_only_its_model_and_the_others_go_on() {
        let mut limits = ModelLimits::new(RateLimitConfig {
            requests_per_minute: Some(600),
            ..RateLimitConfig::default()
        });
        for key in 0..40 {
            limits.enqueue(key, &request(if key % 2 == 0 { "a" } else { "b" }));
        }
        assert_eq!(limits.queued(), 40);
        let mut now = Duration::ZERO;
        let first = admit(&mut limits, &mut now);
        assert_eq!((first.key(), limits.model_of(&first)), (0, "a"));
        // Oldest first: b's head (key 1) goes next, at once (its own budget).
        let second = admit(&mut limits, &mut now);
        assert_eq!((second.key(), limits.model_of(&second)), (1, "b"));
        // Model a is refused for a minute; b is not.
        limits.settle(
            &first,
            now,
            &Outcome::RateLimited {
                kind: Some(LimitKind::Requests),
                retry_after: Some(Duration::from_secs(60)),
                headers: RateLimitHeaders::default(),
            },
        );
        limits.requeue(first);
        let answered = Outcome::Answered {
            usage: None,
            headers: RateLimitHeaders::default(),
        };
        limits.settle(&second, now, &answered);
        // b's other 19 go at its pace (10 a second) while a waits out its minute.
        let started = now;
        let sent: Vec<String> = (0..19)
            .map(|_| {
                let ticket = admit(&mut limits, &mut now);
                limits.settle(&ticket, now, &answered);
                limits.model_of(&ticket).to_owned()
            })
            .collect();
        assert!(sent.iter().all(|model| model == "b"), "{sent:?}");
        assert!(
            now - started < Duration::from_millis(2_500),
            "{:?}",
            now - started
        );
        // Then a's, once its minute is over.
        let ticket = admit(&mut limits, &mut now);
        assert_eq!(limits.model_of(&ticket), "a");
        assert!(now >= Duration::from_secs(60), "{now:?}");
        limits.settle(&ticket, now, &answered);
        limits.enqueue(100, &request("b"));
        // The server's limit for b lowers b only.
        let told = RateLimitHeaders::from_headers(&http::HeaderMap::from_iter([(
            http::HeaderName::from_static("x-ratelimit-limit-requests"),
            http::HeaderValue::from_static("60"),
        )]));
        let ticket = admit(&mut limits, &mut now);
        limits.settle(
            &ticket,
            now,
            &Outcome::Answered {
                usage: None,
                headers: told,
            },
        );
        let rates: Vec<_> = limits
            .rates_by_model()
            .map(|(m, r)| (m.to_owned(), r.0))
            .collect();
        assert_eq!(
            rates,
            [("a".to_owned(), Some(420.0)), ("b".to_owned(), Some(60.0))]
        );
        assert_eq!(limits.rates_per_minute().0, Some(480.0));
        // Cleared: every key, in order.
        let keys = limits.clear_queue();
        assert!(keys.windows(2).all(|pair| pair[0] < pair[1]), "{keys:?}");
        assert_eq!(limits.queued(), 0);
    }

    #[test]
    fn one_model_is_one_limiter() {
        let config = RateLimitConfig {
            requests_per_minute: Some(120),
            ..RateLimitConfig::default()
        };
        let mut limits = ModelLimits::new(config.clone());
        let mut single = RateLimiter::new(config);
        assert_eq!(limits.concurrency_limit(), single.concurrency_limit());
        for key in 0..5 {
            limits.enqueue(key, &request("m"));
            single.enqueue(key, single.reserve(&request("m")));
        }
        assert_eq!(limits.next_reservation(), single.next_reservation());
        for step in 0..5 {
            let now = Duration::from_millis(step * 250);
            let (ours, theirs) = (limits.poll(now), single.poll(now));
            match (&ours, &theirs) {
                (Admission::Admit(a), Admission::Admit(b)) => assert_eq!(a.key(), b.key()),
                _ => assert_eq!(ours, theirs),
            }
        }
    }
}
