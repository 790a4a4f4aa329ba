//! [`Client::batch`]: many chat requests through a rate-limited API, as fast as its limits allow,
//! each result yielded as it completes.
//!
//! The pacing and the concurrency are the core's, a
//! [`RateLimiter`](gptproto_proto::ratelimit::RateLimiter) per model ([`ModelLimits`]:
//! requests and tokens per minute, given as a ceiling, told by the server's headers, or
//! probed; requests in flight, what the server sustains; each model's apart); the
//! classification of failures is the core's [`FailureClass`] and the wait before
//! a retry the client's [`RetryPolicy`](crate::RetryPolicy). This module drives them: it feeds
//! the limiter requests, sends what it admits, gives back every outcome, and holds the two
//! decisions that are the run's own — how many times one line is retried, and stopping before
//! the token budget would be passed.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use futures_util::stream::{FuturesUnordered, StreamExt};
use gptproto_proto::failure::FailureClass;
use gptproto_proto::price::{Cost, PriceTable};
use gptproto_proto::ratelimit::{
    Admission, ModelLimits, Outcome, RateLimitConfig, RateLimitHeaders, Ticket,
};
use gptproto_proto::wire::{ChatCompletion, ChatRequest, Usage};
use gptproto_transport::BoxFuture;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::meta::ResponseMeta;
use crate::rt::{self, Instant, Sleep};

mod spend;

use spend::Spend;

impl Client {
    /// A batch of requests under rate limits: set the limits you know, then
    /// [`run`](BatchBuilder::run) it over a stream of `(custom_id, request)`.
    ///
    /// ```no_run
    /// use futures_util::StreamExt;
    /// use gptproto::{ChatRequest, Client};
    ///
    /// # async fn demo() -> Result<(), gptproto::Error> {
    /// let client = Client::new()?;
    /// let tickets = ["my order never came", "how do I reset my password?"];
    /// let requests = tickets.into_iter().enumerate().map(|(i, text)| {
    ///     let request = ChatRequest::new("qwen-turbo")
    ///         .system("Label the support ticket: billing, shipping, account or other.")
    ///         .user(text)
    ///         .max_tokens(5);
    ///     (format!("ticket-{i}"), request)
    /// });
    /// let mut results = client
    ///     .batch()
    ///     .requests_per_minute(600)
    ///     .tokens_per_minute(100_000)
    ///     .run_iter(requests);
    /// while let Some(result) = results.next().await {
    ///     match &result.outcome {
    ///         Ok((answer, _)) => println!("{}: {}", result.custom_id, answer.text().unwrap_or("")),
    ///         Err(error) => eprintln!("{}: {error}", result.custom_id),
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn batch(&self) -> BatchBuilder {
        BatchBuilder {
            client: self.clone(),
            limits: RateLimitConfig::default(),
            max_retries: 8,
            budget_tokens: None,
            prices: PriceTable::new(),
            max_cost: None,
            fallbacks: Vec::new(),
        }
    }
}

/// Configures a batch ([`Client::batch`]).
#[derive(Debug)]
#[must_use]
pub struct BatchBuilder {
    client: Client,
    limits: RateLimitConfig,
    max_retries: u32,
    budget_tokens: Option<u64>,
    prices: PriceTable,
    max_cost: Option<f64>,
    fallbacks: Vec<String>,
}

impl BatchBuilder {
    /// Requests per minute, each model's ceiling (a server's lower limit, told by its
    /// `x-ratelimit-*` headers or its 429s, lowers it; without it: learned from the headers,
    /// or probed). Each model of the batch is paced apart, as providers limit them.
    pub fn requests_per_minute(mut self, limit: u64) -> Self {
        self.limits.requests_per_minute = Some(limit);
        self
    }

    /// Tokens per minute, each model's ceiling (without it: learned from the server's
    /// headers, or found by the 429s that name it).
    pub fn tokens_per_minute(mut self, limit: u64) -> Self {
        self.limits.tokens_per_minute = Some(limit);
        self
    }

    /// The most requests in flight. By default, as many as the server sustains: learned from
    /// its answers' latency (Little's law: in flight = throughput × latency; past the server's
    /// slots, more in flight only queues), from 4 up to 1,024 — see
    /// [`RateLimiter`](gptproto_proto::ratelimit::RateLimiter)'s documentation. Each model has
    /// its own.
    pub fn concurrency(mut self, limit: usize) -> Self {
        self.limits.concurrency = Some(limit.max(1));
        self
    }

    /// How often one request is sent again after a 429, a 5xx or a broken connection (8),
    /// waiting as the client's [`RetryPolicy`](crate::RetryPolicy) says (a 429 for the
    /// server's window). What [`FailureClass`] calls permanent (a bad request, a wrong key, an
    /// exhausted quota, `x-should-retry: false`) is never retried.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Whether output reserved as `max_tokens` stays charged when fewer were generated (`true`,
    /// as OpenAI counts `max_tokens` toward the limit at admission).
    pub fn charge_unused_output(mut self, charged: bool) -> Self {
        self.limits.charge_unused_output = charged;
        self
    }

    /// Stops dispatching before the tokens used plus those reserved in flight would pass
    /// `tokens`; what was not sent is left (see [`BatchStream::stop_reason`]).
    pub fn budget_tokens(mut self, tokens: u64) -> Self {
        self.budget_tokens = Some(tokens);
        self
    }

    /// Another model for a line whose model fails in a way another could fix, after its
    /// retries ([`fails_over`](gptproto_proto::failure::fails_over): missing, down,
    /// overloaded, rate limited); repeatable, tried in
    /// order, each with the retries of [`max_retries`](Self::max_retries). The line's answer
    /// names the model that answered.
    pub fn fallback(mut self, model: impl Into<String>) -> Self {
        self.fallbacks.push(model.into());
        self
    }

    /// The prices the batch's cost is counted at ([`BatchStream::cost`]).
    pub fn prices(mut self, prices: PriceTable) -> Self {
        self.prices = prices;
        self
    }

    /// Stops dispatching before what the answers cost plus the most the requests in flight
    /// can cost (their prompt estimates and reserved output, at the [`prices`](Self::prices))
    /// would pass `amount`; what was not sent is left ([`StopReason::CostReached`]). Models
    /// without a price count nothing.
    pub fn max_cost(mut self, amount: f64) -> Self {
        self.max_cost = Some(amount);
        self
    }

    /// Runs the batch over `requests`, read only as fast as they can be sent.
    pub fn run<S>(self, requests: S) -> BatchStream
    where
        S: Stream<Item = (String, ChatRequest)> + Send + 'static,
    {
        BatchStream {
            client: self.client,
            input: Some(Box::pin(requests)),
            limiter: ModelLimits::new(self.limits),
            jobs: HashMap::new(),
            next_key: 0,
            in_flight: FuturesUnordered::new(),
            delayed: Vec::new(),
            timer: None,
            started: Instant::now(),
            ready: VecDeque::new(),
            stop: None,
            max_retries: self.max_retries,
            fallbacks: self.fallbacks,
            spend: Spend::new(self.budget_tokens, self.prices, self.max_cost),
            stats: BatchStats::default(),
        }
    }

    /// [`run`](Self::run) over an iterator.
    pub fn run_iter<I>(self, requests: I) -> BatchStream
    where
        I: IntoIterator<Item = (String, ChatRequest)>,
        I::IntoIter: Send + 'static,
    {
        self.run(futures_util::stream::iter(requests))
    }
}

/// One request's result.
#[derive(Debug)]
#[non_exhaustive]
pub struct BatchResult {
    /// The caller's id of the request.
    pub custom_id: String,
    /// Attempts made (1 when it was not sent again).
    pub attempts: u32,
    /// The answer and its response's head, or why it failed for good.
    pub outcome: Result<(ChatCompletion, ResponseMeta)>,
}

impl BatchResult {
    /// The server's request id of the answer or of the error response.
    pub fn request_id(&self) -> Option<&str> {
        match &self.outcome {
            Ok((_, meta)) => meta.request_id(),
            Err(error) => error.request_id(),
        }
    }

    /// The answer's usage.
    pub fn usage(&self) -> Option<&Usage> {
        self.outcome.as_ref().ok()?.0.usage.as_ref()
    }
}

/// Why a batch stopped dispatching before the end of its input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The server refused the key (401) or its permission (403): every other request would
    /// fail the same way. The error's message.
    Unauthorized(String),
    /// The token budget would have been passed.
    BudgetReached,
    /// The next request could have passed [`BatchBuilder::max_cost`].
    CostReached,
    /// [`BatchStream::stop`] was called.
    Stopped,
}

/// Counts of a batch so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchStats {
    /// Requests sent (attempts).
    pub sent: u64,
    /// Attempts answered 429.
    pub rate_limited: u64,
    /// Attempts sent again (after a 429, a 5xx, a broken connection).
    pub retried: u64,
    /// Requests answered.
    pub succeeded: u64,
    /// Requests failed for good.
    pub failed: u64,
    /// Prompt tokens of the answers.
    pub prompt_tokens: u64,
    /// Completion tokens of the answers.
    pub completion_tokens: u64,
    /// Lines moved to a fallback model ([`BatchBuilder::fallback`]).
    pub failed_over: u64,
}

struct Job {
    custom_id: String,
    request: ChatRequest,
    attempts: u32,
    /// Attempts made before the line moved to its current model.
    attempts_before: u32,
    /// The next fallback to move to.
    next_fallback: usize,
}

/// The requests a batch reads: `(custom_id, request)`.
type Input = Pin<Box<dyn Stream<Item = (String, ChatRequest)> + Send>>;

type Sent = BoxFuture<'static, (Ticket, Result<(ChatCompletion, ResponseMeta)>)>;

/// How many times the concurrency a batch holds queued, when a model told to wait holds its
/// lines back and the others' are read past them.
const MAX_HELD: usize = 16;

/// A running batch: a [`Stream`] of [`BatchResult`]s, in the order they complete.
///
/// It reads its input only as fast as requests can be sent, and keeps at most the concurrency
/// (plus as many queued; while a model waits out a 429, up to 16 times as many, so that the
/// other models' lines are read past its own) in memory, whatever the input's size; a consumer
/// that stops polling stops the batch. Dropping it cancels the requests in flight.
pub struct BatchStream {
    client: Client,
    input: Option<Input>,
    limiter: ModelLimits,
    jobs: HashMap<u64, Job>,
    next_key: u64,
    in_flight: FuturesUnordered<Sent>,
    /// Sent again after a backoff (5xx, broken connections): (when, ticket).
    delayed: Vec<(Duration, Ticket)>,
    timer: Option<Sleep>,
    started: Instant,
    ready: VecDeque<BatchResult>,
    stop: Option<StopReason>,
    max_retries: u32,
    /// Models a line moves to, in order, when its own fails in a way another could fix.
    fallbacks: Vec<String>,
    /// The token and cost budgets, and what counts against them.
    spend: Spend,
    stats: BatchStats,
}

impl std::fmt::Debug for BatchStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchStream")
            .field("queued", &self.limiter.queued())
            .field("in_flight", &self.in_flight.len())
            .field("stats", &self.stats)
            .field("stop", &self.stop)
            .finish_non_exhaustive()
    }
}

impl BatchStream {
    /// Stops dispatching: nothing more is read or sent; the requests in flight finish and are
    /// yielded, then the stream ends.
    pub fn stop(&mut self) {
        self.halt(StopReason::Stopped);
    }

    /// Why the batch stopped before the end of its input, if it did.
    pub fn stop_reason(&self) -> Option<&StopReason> {
        self.stop.as_ref()
    }

    /// The counts so far.
    pub fn stats(&self) -> BatchStats {
        self.stats
    }

    /// What the answers cost so far, at the batch's [`prices`](BatchBuilder::prices).
    pub fn cost(&self) -> Cost {
        self.spend.cost()
    }

    /// Answers whose model had no price (their cost is not in [`cost`](Self::cost)).
    pub fn unpriced(&self) -> u64 {
        self.spend.unpriced()
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The paced rates now, per minute: requests and tokens (`None`: not paced).
    pub fn rates_per_minute(&self) -> (Option<f64>, Option<f64>) {
        self.limiter.rates_per_minute()
    }

    fn halt(&mut self, reason: StopReason) {
        self.input = None;
        for key in self.limiter.clear_queue() {
            self.jobs.remove(&key);
        }
        for (_, ticket) in self.delayed.drain(..) {
            self.jobs.remove(&ticket.key());
        }
        self.stop.get_or_insert(reason);
    }

    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// The most requests in flight now (given, or what the server was found to sustain).
    pub fn concurrency_limit(&self) -> usize {
        self.limiter.concurrency_limit()
    }

    /// Reads requests from the input while fewer than the concurrency are queued for models
    /// that may send now: past the lines of a model told to wait (a 429), up to
    /// [`MAX_HELD`] times the concurrency in all.
    fn fill(&mut self, cx: &mut Context<'_>, now: Duration) -> bool {
        let mut progressed = false;
        let lookahead = self.concurrency_limit();
        while self.limiter.queued_ready(now) < lookahead
            && self.limiter.queued() < lookahead * MAX_HELD
        {
            let Some(input) = &mut self.input else {
                break;
            };
            match input.as_mut().poll_next(cx) {
                Poll::Ready(Some((custom_id, mut request))) => {
                    if request.is_stream() {
                        // The usage of a streamed answer comes only when asked for: the
                        // limiter settles by it and the stats count it (an explicit
                        // `include_usage: false` stays).
                        request = request.stream(true);
                    }
                    let key = self.next_key;
                    self.next_key += 1;
                    self.limiter.enqueue(key, &request);
                    self.jobs.insert(
                        key,
                        Job {
                            custom_id,
                            request,
                            attempts: 0,
                            attempts_before: 0,
                            next_fallback: 0,
                        },
                    );
                    progressed = true;
                }
                Poll::Ready(None) => {
                    self.input = None;
                    progressed = true;
                }
                Poll::Pending => break,
            }
        }
        progressed
    }

    /// Sends what the limiter admits, up to the concurrency; returns when to look again.
    fn dispatch(&mut self, now: Duration) -> (bool, Option<Duration>) {
        let mut progressed = false;
        while self.in_flight.len() < self.concurrency_limit() {
            if let Some(reason) = self
                .limiter
                .next_reservation()
                .and_then(|next| self.spend.would_pass(next))
            {
                self.halt(reason);
                return (true, None);
            }
            match self.limiter.poll(now) {
                Admission::Admit(ticket) => {
                    self.send(ticket);
                    progressed = true;
                }
                Admission::WaitUntil(at) => return (progressed, Some(at)),
                Admission::WaitForAnswer | Admission::Idle => break,
            }
        }
        (progressed, None)
    }

    fn send(&mut self, ticket: Ticket) {
        let Some(job) = self.jobs.get_mut(&ticket.key()) else {
            return;
        };
        job.attempts += 1;
        self.stats.sent += 1;
        if job.attempts > 1 {
            self.stats.retried += 1;
        }
        self.spend.sent(ticket.reservation());
        let request = job.request.clone();
        let client = self.client.clone();
        let future: Sent = if request.is_stream() {
            Box::pin(async move {
                let sent = client.chat_stream(request).max_retries(0).with_response();
                let result = match sent.await {
                    Ok((stream, meta)) => {
                        stream.into_completion().await.map(|answer| (answer, meta))
                    }
                    Err(error) => Err(error),
                };
                (ticket, result)
            })
        } else {
            Box::pin(async move {
                let result = client.chat(request).max_retries(0).with_response().await;
                (ticket, result)
            })
        };
        self.in_flight.push(future);
    }

    /// Takes an attempt's result: settles the limiter, and yields, retries or stops.
    fn complete(
        &mut self,
        ticket: Ticket,
        result: Result<(ChatCompletion, ResponseMeta)>,
        now: Duration,
    ) {
        let error = match &result {
            Ok((answer, meta)) => {
                let usage = answer.usage.as_ref();
                let outcome = Outcome::Answered {
                    usage,
                    headers: *meta.rate_limits(),
                };
                self.limiter.settle(&ticket, now, &outcome);
                self.spend
                    .ended(ticket.reservation(), Some((answer.model.as_str(), usage)));
                return self.finish(ticket, result);
            }
            Err(error) => error,
        };
        self.spend.ended(ticket.reservation(), None);
        let class = error.failure().map_or(FailureClass::Permanent, |failure| {
            FailureClass::of(&failure)
        });
        let outcome = limiter_outcome(error, class);
        self.limiter.settle(&ticket, now, &outcome);
        let rate_limited = matches!(class, FailureClass::RateLimited { .. });
        if rate_limited {
            self.stats.rate_limited += 1;
        }
        if class.stops_run() {
            self.halt(StopReason::Unauthorized(error.to_string()));
        }
        let attempts = self
            .jobs
            .get(&ticket.key())
            .map_or(0, |job| job.attempts - job.attempts_before);
        if self.stop.is_some() {
            return self.finish(ticket, result);
        }
        if !class.is_retryable() || attempts > self.max_retries {
            if error.fails_over() && self.move_to_fallback(ticket.key()) {
                return;
            }
            return self.finish(ticket, result);
        }
        if rate_limited {
            // The limiter paused for the server's hint: the request goes first again.
            self.limiter.requeue(ticket);
        } else {
            let policy = &self.client.inner.options.retry;
            let backoff = policy.backoff(attempts - 1, self.client.inner.jitter.draw());
            self.delayed.push((now + backoff, ticket));
        }
    }

    /// Moves line `key` to its next fallback model, queued again (last, with a reservation of
    /// its own); `false` when it has none left.
    fn move_to_fallback(&mut self, key: u64) -> bool {
        let Some(job) = self.jobs.get_mut(&key) else {
            return false;
        };
        let Some(model) = self.fallbacks.get(job.next_fallback) else {
            return false;
        };
        tracing::warn!(
            custom_id = %job.custom_id,
            model = %job.request.model,
            next = %model,
            "failing over to the next model"
        );
        job.request.model.clone_from(model);
        job.next_fallback += 1;
        job.attempts_before = job.attempts;
        self.stats.failed_over += 1;
        self.limiter.enqueue(key, &job.request);
        true
    }

    fn finish(&mut self, ticket: Ticket, outcome: Result<(ChatCompletion, ResponseMeta)>) {
        let Some(job) = self.jobs.remove(&ticket.key()) else {
            return;
        };
        match &outcome {
            Ok((answer, _)) => {
                self.stats.succeeded += 1;
                if let Some(usage) = &answer.usage {
                    self.stats.prompt_tokens += usage.prompt_tokens;
                    self.stats.completion_tokens += usage.completion_tokens;
                }
            }
            Err(_) => self.stats.failed += 1,
        }
        self.ready.push_back(BatchResult {
            custom_id: job.custom_id,
            attempts: job.attempts,
            outcome,
        });
    }

    /// Retries whose backoff is over go back in the queue, first; returns the next one's time.
    fn release_delayed(&mut self, now: Duration) -> Option<Duration> {
        let mut index = 0;
        while index < self.delayed.len() {
            if self.delayed[index].0 <= now {
                let (_, ticket) = self.delayed.swap_remove(index);
                self.limiter.requeue(ticket);
            } else {
                index += 1;
            }
        }
        self.delayed.iter().map(|(at, _)| *at).min()
    }

    fn is_done(&self) -> bool {
        self.input.is_none()
            && self.limiter.queued() == 0
            && self.in_flight.is_empty()
            && self.delayed.is_empty()
            && self.ready.is_empty()
    }
}

/// What the limiter learns from a failed attempt of class `class`.
fn limiter_outcome(error: &Error, class: FailureClass) -> Outcome<'static> {
    let headers = error
        .response_meta()
        .map_or_else(RateLimitHeaders::default, |meta| *meta.rate_limits());
    match (class, error.failure()) {
        (FailureClass::RateLimited { limit }, Some(failure)) => Outcome::RateLimited {
            kind: limit,
            retry_after: failure.retry_hint(rt::system_now()),
            headers,
        },
        _ if error.status().is_some() => Outcome::Answered {
            usage: None,
            headers,
        },
        _ => Outcome::NoAnswer,
    }
}

impl Stream for BatchStream {
    type Item = BatchResult;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<BatchResult>> {
        let this = self.get_mut();
        loop {
            if let Some(result) = this.ready.pop_front() {
                return Poll::Ready(Some(result));
            }
            let mut progressed = false;
            while let Poll::Ready(Some((ticket, result))) = this.in_flight.poll_next_unpin(cx) {
                let now = this.now();
                this.complete(ticket, result, now);
                progressed = true;
            }
            if !this.ready.is_empty() {
                continue;
            }
            let now = this.now();
            let next_retry = this.release_delayed(now);
            progressed |= this.fill(cx, now);
            let (dispatched, wait) = this.dispatch(now);
            progressed |= dispatched;
            if this.is_done() {
                return Poll::Ready(None);
            }
            if progressed {
                continue;
            }
            let Some(at) = [wait, next_retry].into_iter().flatten().min() else {
                this.timer = None;
                return Poll::Pending;
            };
            let at = this.started + at;
            let timer = this.timer.get_or_insert_with(|| Sleep::until(at));
            timer.reset(at);
            match timer.poll_elapsed(cx) {
                Poll::Ready(()) => continue,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
