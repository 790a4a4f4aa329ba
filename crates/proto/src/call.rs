//! [`Call`]: one whole call as a state machine — attempts, retries, redirects, deadlines and the
//! answer — that any runtime drives.
//!
//! The machine decides everything that makes a call correct: what to send and where (each
//! attempt, each redirect, credentials dropped across origins), when a failed attempt is sent
//! again and after how long (the [retry policy](crate::retry), `Retry-After`,
//! `x-should-retry`), the four deadlines (response head, idle, body, total), how much of an
//! error body is read, a JSON answer where a stream was asked for, reading on after `[DONE]`,
//! and the bound of a streamed answer. The driver moves bytes and tells the time:
//!
//! - [`poll_transmit`](Call::poll_transmit): a request to send (a new connection or a pooled
//!   one, as the driver likes; [`Transmit::fresh_connection`] asks for a new one).
//! - [`handle_head`](Call::handle_head), [`push_body`](Call::push_body),
//!   [`handle_end`](Call::handle_end), [`handle_io_error`](Call::handle_io_error): what the
//!   connection gave. Read the body only while [`wants_body`](Call::wants_body) (and drop it,
//!   closing the exchange, once it is false).
//! - [`poll_event`](Call::poll_event): what happened, until `None`: a retry ahead, the answer's
//!   head, chunks (lent, no allocation), the completion, the end, or the final error.
//! - [`handle_timeout`](Call::handle_timeout): the time, the one place it enters. Give it when
//!   [`poll_timeout`](Call::poll_timeout)'s time comes (it may be in the past: then at once),
//!   and whenever the driver is about to wait (after its reads, before it sleeps): deadlines
//!   that start with an input (sending, a response head, a read) are measured from the next
//!   time given, so that sending and pushing bytes need no clock. Nothing inside reads one.
//!
//! Time is a [`Duration`] since an origin of the driver's choosing (its clock's, or the call's
//! start), never going back; the wall clock (for `Retry-After` dates) and the random seed of
//! the backoff's jitter are given once, in [`Start`].
//!
//! The crate's documentation has the loop whole, as a test.
//!
//! `docs/embedding.md` in the repository has the loop on `std`, tokio, smol, a browser and an
//! embedded executor.

mod body;
mod deadline;
mod redirect;
mod replay;
mod restream;

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri};

use crate::error::MAX_REDIRECTS;
pub use crate::error::{IoErrorKind, TimeoutKind};
use crate::exchange::{
    ClientConfig, SECRET_HEADERS, api_error, classify_response, is_event_stream,
};
use crate::retry::{Failure, RetryDecision, RetryPolicy};
use crate::stream::{ChunkRef, Step, StreamDecoder};
use crate::wire::ChatCompletion;
use crate::{ChatRequest, DEFAULT_MAX_ANSWER_BYTES, Error, ErrorKind};
use body::Collected;
use deadline::Deadline;
pub use deadline::Timeouts;

/// The most bytes of an error response's body read (the start of a larger one is classified).
pub const ERROR_BODY_LIMIT: usize = 1024 * 1024;
/// How long a stream reads on after `[DONE]` for its body to end: servers end it right after
/// (HTTP/2's END_STREAM, HTTP/1.1's last chunk), and reading to there ends the exchange cleanly
/// (no RST_STREAM; an HTTP/1.1 connection can be reused). Past this, or [`DRAIN_LIMIT`], the
/// body is dropped.
pub const DRAIN_WAIT: Duration = Duration::from_millis(250);
/// The most bytes read after `[DONE]`: what the stream decoder takes after it
/// ([`AFTER_DONE_LIMIT`](crate::stream::AFTER_DONE_LIMIT)), one bound.
pub const DRAIN_LIMIT: usize = crate::stream::AFTER_DONE_LIMIT;
/// How often one attempt is sent again, without counting as a retry, when the driver reports
/// it was not processed ([`IoErrorKind::NotProcessed`]).
const MAX_RESENDS: u32 = 8;

/// What a call allows: its deadlines, its retries and the size of what it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallOptions {
    /// The deadlines.
    pub timeouts: Timeouts,
    /// When and how often a failed attempt is sent again.
    pub retry: RetryPolicy,
    /// The largest non-streamed response body read (64 MiB).
    pub max_body: usize,
    /// The most a streamed answer holds once accumulated (64 MiB); past it the stream ends with
    /// an [answer-limit error](Error::is_answer_limit) carrying what arrived.
    pub max_answer: usize,
}

impl Default for CallOptions {
    fn default() -> Self {
        Self {
            timeouts: Timeouts::default(),
            retry: RetryPolicy::default(),
            max_body: 64 * 1024 * 1024,
            max_answer: DEFAULT_MAX_ANSWER_BYTES,
        }
    }
}

/// What the call expects of a successful response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expect {
    /// A chat completion, read whole ([`Event::Completion`]); an event-stream body is
    /// accumulated into one.
    Completion,
    /// A streamed chat completion of `choices` choices ([`Event::Chunk`]s, then
    /// [`Event::Done`]); a JSON answer is replayed as chunks.
    Stream {
        /// The request's `n`.
        choices: u32,
    },
    /// Any body, read whole ([`Event::Body`]): for a `GET /models`, say.
    Body,
}

/// What the call is given once: the time it starts (on the driver's clock), the wall clock at
/// that moment (for `Retry-After` dates), and the seed of the backoff's jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start {
    /// The time now, on the driver's clock.
    pub now: Duration,
    /// The wall clock now.
    pub wall_clock: SystemTime,
    /// Seeds the random draws of the retry backoff's jitter.
    pub seed: u64,
}

/// A request to send: one attempt, or one hop of it after a redirect.
#[derive(Debug)]
#[non_exhaustive]
pub struct Transmit {
    /// The request (its body shares the call's: no copy).
    pub request: http::Request<Bytes>,
    /// Which attempt it is, from 1 (a redirect's hop and a resend keep their attempt's number).
    pub attempt: u32,
    /// Send it on a new connection: the previous attempt got no response head in time, and
    /// the connection that carried it may be the reason.
    pub fresh_connection: bool,
}

/// What [`Call::poll_event`] gives.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// Attempt `attempt` failed with `error` and will be sent again after `after`
    /// ([`Call::poll_transmit`] gives it when the time has come).
    Retrying {
        /// The attempt that failed, from 1.
        attempt: u32,
        /// The wait before the next one.
        after: Duration,
        /// Why it failed.
        error: Error,
    },
    /// The answer's response head (a 2xx): nothing is retried from here.
    Response {
        /// Its status.
        status: StatusCode,
        /// Its headers.
        headers: &'a HeaderMap,
    },
    /// A chunk of a streamed answer, lent until the next poll.
    Chunk(ChunkRef<'a>),
    /// The whole completion ([`Expect::Completion`]). The call is over.
    Completion(Box<ChatCompletion>),
    /// The whole body of a 2xx ([`Expect::Body`]). The call is over.
    Body(Bytes),
    /// The streamed answer is complete ([`Expect::Stream`]); its accumulation is
    /// [`Call::into_completion`]. The call is over.
    Done,
    /// The call failed for good. It is over.
    Failed(Error),
}

/// What happened, waiting to be polled (chunks are not queued: the decoder lends them).
#[derive(Debug)]
enum Queued {
    Retrying {
        attempt: u32,
        after: Duration,
        error: Error,
    },
    Response,
    Completion(Box<ChatCompletion>),
    Body(Bytes),
    Done,
    Failed(Error),
}

/// A response head.
#[derive(Debug)]
struct Head {
    status: StatusCode,
    headers: HeaderMap,
}

/// The timing of a body being read, measured from times given after the events (see
/// [`Call::handle_timeout`]): the body's deadline from its head, the idle one from the last
/// read.
#[derive(Debug, Clone, Copy, Default)]
struct Reading {
    /// When the head came (`None` until the next time given).
    head_at: Option<Duration>,
    /// When the body was last read.
    idle_from: Duration,
    /// Bytes came since `idle_from` was set.
    activity: bool,
}

impl Reading {
    /// Whether a time is due: the head's, or a read's.
    fn needs_time(&self) -> bool {
        self.head_at.is_none() || self.activity
    }

    fn tick(&mut self, now: Duration) {
        if self.head_at.is_none() {
            self.head_at = Some(now);
            self.idle_from = now;
        }
        if self.activity {
            self.idle_from = now;
            self.activity = false;
        }
    }
}

#[derive(Debug)]
enum Phase {
    /// The attempt (or its next hop) is ready: [`Call::poll_transmit`] gives it.
    Send,
    /// Sent (at `sent_at`, set from the next time given); waiting for the response head.
    AwaitHead { sent_at: Option<Duration> },
    /// An error status: reading its body (at most [`ERROR_BODY_LIMIT`]) to classify it.
    ErrorBody { body: Collected, reading: Reading },
    /// A 2xx read whole: a completion, any body, or a JSON answer to a streamed request.
    WholeBody { body: Collected, reading: Reading },
    /// A 2xx event stream, decoded as it arrives.
    Streaming { reading: Reading, body_ended: bool },
    /// After `[DONE]`: reading what is left of the body (until `until`, set at the next time
    /// given), in which a chunk of usage may come; `ended` once nothing more is read (the body
    /// ended, or the wait or the limit passed), then the decoder is stepped to its end.
    Draining {
        read: usize,
        until: Option<Duration>,
        ended: bool,
    },
    /// Waiting before the next attempt.
    Backoff { until: Duration },
    /// Over: answered or failed.
    Ended,
}

/// One call, as a state machine: see the [module documentation](self).
#[derive(Debug)]
pub struct Call {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    expect: Expect,
    options: CallOptions,
    /// The driver's time at the start, and the wall clock then.
    started: Duration,
    wall_clock: SystemTime,
    rng: u64,
    /// The latest time given.
    now: Duration,
    total: Option<Deadline>,
    /// Retries made.
    retries: u32,
    /// Resends of this attempt ([`IoErrorKind::NotProcessed`]).
    resends: u32,
    /// This hop's URI, the redirects followed in this attempt, and whether one left the
    /// planned origin (the credentials then stay dropped for the attempt).
    hop: Uri,
    redirects: usize,
    credentials_dropped: bool,
    fresh_connection: bool,
    /// The head of the latest response (the answer's, or an error's).
    head: Option<Head>,
    phase: Phase,
    /// Boxed: made only when a stream starts, so that a call waiting for its head stays small.
    decoder: Option<Box<StreamDecoder>>,
    /// The decoder holds a chunk not yet lent.
    chunk_pending: bool,
    /// Whether a chat call not streamed may be sent again streamed, when the server answers
    /// only that way (see [`ApiError::requires_streaming`](crate::ApiError::requires_streaming)).
    may_restream: bool,
    queue: VecDeque<Queued>,
}

impl Call {
    /// A chat-completion call: `request` validated by `config`'s rules and built (the auth
    /// header, the default headers), streamed if it asks to be.
    ///
    /// A call not streamed that asks for thinking, to a provider that thinks only when
    /// streamed ([`ProviderProfile::thinking_streams_only`](crate::provider::ProviderProfile::thinking_streams_only)),
    /// is streamed underneath and its answer folded into one [`Event::Completion`]; one that
    /// any server refuses so (a 400 that [requires streaming](crate::ApiError::requires_streaming))
    /// is sent again that way, once, without counting as a retry.
    pub fn chat(
        config: &ClientConfig,
        request: &ChatRequest,
        options: CallOptions,
        start: Start,
    ) -> Result<Self, Error> {
        let expect = if request.is_stream() {
            Expect::Stream {
                choices: request.n.unwrap_or(1),
            }
        } else {
            Expect::Completion
        };
        Self::chat_with(config, request, &HeaderMap::new(), expect, options, start)
    }

    /// [`chat`](Self::chat) with per-call headers over the config's, expecting `expect`: a
    /// [completion](Expect::Completion) (a streamed request's answer folded into one) or a
    /// [stream](Expect::Stream).
    pub fn chat_with(
        config: &ClientConfig,
        request: &ChatRequest,
        extra_headers: &HeaderMap,
        expect: Expect,
        options: CallOptions,
        start: Start,
    ) -> Result<Self, Error> {
        if expect != Expect::Completion || request.is_stream() {
            let built = config.build_request_with_headers(request, extra_headers)?;
            return Ok(Self::new(built, expect, options, start));
        }
        let thinks_streamed_only =
            config.profile().thinking_streams_only && request.enable_thinking == Some(true);
        let built = if thinks_streamed_only {
            config.build_request_with_headers(&request.clone().stream(true), extra_headers)?
        } else {
            config.build_request_with_headers(request, extra_headers)?
        };
        let mut call = Self::new(built, expect, options, start);
        call.may_restream = !thinks_streamed_only;
        Ok(call)
    }

    /// A call sending `request` (as built by [`ClientConfig`]), expecting `expect`.
    pub fn new(
        request: http::Request<Bytes>,
        expect: Expect,
        options: CallOptions,
        start: Start,
    ) -> Self {
        let (parts, body) = request.into_parts();
        Self {
            method: parts.method,
            hop: parts.uri.clone(),
            uri: parts.uri,
            headers: parts.headers,
            body,
            expect,
            total: Deadline::of(TimeoutKind::Total, options.timeouts.total, start.now),
            options,
            started: start.now,
            wall_clock: start.wall_clock,
            rng: start.seed,
            now: start.now,
            retries: 0,
            resends: 0,
            redirects: 0,
            credentials_dropped: false,
            fresh_connection: false,
            head: None,
            phase: Phase::Send,
            decoder: None,
            chunk_pending: false,
            may_restream: false,
            queue: VecDeque::new(),
        }
    }

    /// The next request to send, when one is due: the first attempt, a redirect's target, a
    /// resend, or a retry once its wait is over (after the [time](Self::handle_timeout) when
    /// it ends). Its response-head deadline runs from the next time given.
    #[must_use = "a transmit is the request to send"]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if !matches!(self.phase, Phase::Send) {
            return None;
        }
        let mut request = http::Request::new(self.body.clone());
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.hop.clone();
        *request.headers_mut() = self.headers.clone();
        if self.credentials_dropped {
            for name in SECRET_HEADERS {
                request.headers_mut().remove(name);
            }
        }
        self.phase = Phase::AwaitHead { sent_at: None };
        Some(Transmit {
            request,
            attempt: self.attempts(),
            fresh_connection: std::mem::take(&mut self.fresh_connection),
        })
    }

    /// The response head of the request sent. Ignored unless a head is awaited.
    pub fn handle_head(&mut self, status: StatusCode, headers: HeaderMap) {
        if !matches!(self.phase, Phase::AwaitHead { .. }) {
            return;
        }
        let reading = Reading::default();
        if status.is_redirection() {
            self.redirect(status, &headers);
        } else if !status.is_success() {
            self.phase = Phase::ErrorBody {
                body: Collected::default(),
                reading,
            };
        } else if matches!(self.expect, Expect::Stream { .. }) && !is_json_answer(&headers) {
            self.start_stream(reading, false);
            self.queue.push_back(Queued::Response);
        } else {
            // A JSON answer to a streamed request is announced once it has been classified.
            if !matches!(self.expect, Expect::Stream { .. }) {
                self.queue.push_back(Queued::Response);
            }
            self.phase = Phase::WholeBody {
                body: Collected::default(),
                reading,
            };
        }
        if status.is_success() {
            // Nothing is sent again once the answer's head came: the request's parts go (a
            // long stream holds only what it reads).
            self.headers = HeaderMap::new();
            self.body = Bytes::new();
        }
        self.head = Some(Head { status, headers });
    }

    /// A piece of the response body. Ignored unless the body is [wanted](Self::wants_body).
    pub fn push_body(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        let max_body = self.options.max_body;
        match &mut self.phase {
            Phase::ErrorBody { body, reading } => {
                reading.activity = true;
                if !body.push(bytes, ERROR_BODY_LIMIT) {
                    self.settle_error_body();
                }
            }
            Phase::WholeBody { body, reading } => {
                reading.activity = true;
                if !body.push(bytes, max_body) {
                    self.fail(Error::new(ErrorKind::BodyTooLarge { limit: max_body }));
                }
            }
            Phase::Streaming {
                reading,
                body_ended: false,
            } => {
                reading.activity = true;
                if let Some(decoder) = &mut self.decoder {
                    decoder.push(bytes);
                }
            }
            Phase::Draining {
                read, ended: false, ..
            } => {
                *read += bytes.len();
                if *read > DRAIN_LIMIT {
                    self.end_drain();
                } else if let Some(decoder) = &mut self.decoder {
                    decoder.push(bytes);
                }
            }
            _ => {}
        }
    }

    /// The response body ended. Ignored unless the body is [wanted](Self::wants_body).
    pub fn handle_end(&mut self) {
        match &mut self.phase {
            Phase::ErrorBody { .. } => self.settle_error_body(),
            Phase::WholeBody { .. } => self.settle_whole_body(),
            Phase::Streaming { body_ended, .. } if !*body_ended => {
                *body_ended = true;
                if let Some(decoder) = &mut self.decoder {
                    decoder.finish();
                }
            }
            Phase::Draining { ended: false, .. } => self.end_drain(),
            _ => {}
        }
    }

    /// The connection failed: `kind` says when and how, `message` what happened (it becomes the
    /// error's text). Ignored unless a head or a body is awaited.
    pub fn handle_io_error(&mut self, kind: IoErrorKind, message: &str) {
        match &self.phase {
            Phase::AwaitHead { .. } => {
                match kind {
                    IoErrorKind::NotProcessed if self.resends < MAX_RESENDS => {
                        self.resends += 1;
                        self.phase = Phase::Send;
                    }
                    IoErrorKind::Unusable => self.fail(Error::connection(kind, message, 0, None)),
                    // Resent too often: as if no connection could be made.
                    IoErrorKind::NotProcessed | IoErrorKind::Connect => self
                        .failed_attempt(Error::connection(IoErrorKind::Connect, message, 0, None)),
                    IoErrorKind::Request | IoErrorKind::Body => self
                        .failed_attempt(Error::connection(IoErrorKind::Request, message, 0, None)),
                }
            }
            // What was read of an error body is classified; the status says the rest.
            Phase::ErrorBody { .. } => self.settle_error_body(),
            Phase::WholeBody { .. } => {
                self.fail(Error::connection(IoErrorKind::Body, message, 0, None));
            }
            Phase::Streaming {
                body_ended: false, ..
            } => {
                let (chunks, partial) = self.progress();
                self.fail(Error::connection(
                    IoErrorKind::Body,
                    message,
                    chunks,
                    partial,
                ));
            }
            // What comes after `[DONE]` is not the answer's (but for usage that came whole).
            Phase::Draining { ended: false, .. } => self.end_drain(),
            _ => {}
        }
    }

    /// The time: deadlines that passed by `now` are handled (a retry's wait ends, an attempt
    /// or the call times out), and deadlines measured from the last read are set from `now`.
    /// Call it when [`poll_timeout`](Self::poll_timeout)'s time has come, and whenever the
    /// driver is about to wait (after reading, before sleeping).
    pub fn handle_timeout(&mut self, now: Duration) {
        self.tick(now);
        while let Some(passed) = self.next_deadline().filter(|at| at.0 <= self.now) {
            self.expire(passed.1);
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next, at the latest; in the
    /// past (the last time given) when it is due at once. `None` once the call is over, or
    /// while it has nothing to wait for.
    #[must_use = "the machine needs the time when this comes"]
    pub fn poll_timeout(&self) -> Option<Duration> {
        if self.needs_time() {
            return Some(self.now);
        }
        self.next_deadline().map(|(at, _)| at)
    }

    /// What happened, until `None` (then send, read or wait, as the other methods say).
    #[must_use = "events are only produced by polling"]
    pub fn poll_event(&mut self) -> Option<Event<'_>> {
        if self.queue.is_empty() && matches!(self.phase, Phase::Streaming { .. }) {
            self.step_stream();
        }
        // After `[DONE]` (perhaps just now): a chunk of usage that came after it, or the end.
        if self.queue.is_empty()
            && !self.chunk_pending
            && matches!(self.phase, Phase::Draining { .. })
        {
            self.step_drain();
        }
        let queued = self.queue.pop_front();
        Some(match queued {
            Some(Queued::Retrying {
                attempt,
                after,
                error,
            }) => Event::Retrying {
                attempt,
                after,
                error,
            },
            Some(Queued::Response) => {
                let head = self.head.as_ref()?;
                Event::Response {
                    status: head.status,
                    headers: &head.headers,
                }
            }
            Some(Queued::Completion(completion)) => Event::Completion(completion),
            Some(Queued::Body(body)) => Event::Body(body),
            Some(Queued::Done) => Event::Done,
            Some(Queued::Failed(error)) => Event::Failed(error),
            // A chunk was decoded (see `step_stream`): lend it.
            None if self.chunk_ready() => Event::Chunk(self.decoder.as_ref()?.lent()),
            None => return None,
        })
    }

    /// Whether the request sent is waiting for its response head. Once `false`, drop a request
    /// still in flight (closing its exchange): its attempt is over.
    pub fn awaits_head(&self) -> bool {
        matches!(self.phase, Phase::AwaitHead { .. })
    }

    /// Whether the driver should go on reading the response body. Once `false`, drop the body
    /// (closing the exchange if it has not ended).
    pub fn wants_body(&self) -> bool {
        match &self.phase {
            Phase::ErrorBody { .. } | Phase::WholeBody { .. } => true,
            Phase::Draining { ended, .. } => !ended,
            Phase::Streaming { body_ended, .. } => !body_ended,
            _ => false,
        }
    }

    /// Whether the call is over (answered or failed; the last event may still be queued).
    pub fn is_over(&self) -> bool {
        matches!(self.phase, Phase::Ended)
    }

    /// Attempts made so far (1 until a retry).
    pub fn attempts(&self) -> u32 {
        self.retries + 1
    }

    /// The status and headers of the latest response: the answer's, or the error's that
    /// failed the call.
    pub fn response_head(&self) -> Option<(StatusCode, &HeaderMap)> {
        self.head.as_ref().map(|head| (head.status, &head.headers))
    }

    /// Chunks of the streamed answer decoded so far.
    pub fn chunks(&self) -> u64 {
        self.decoder.as_ref().map_or(0, |decoder| decoder.chunks())
    }

    /// The streamed answer's outline so far (id, model, finish reasons, usage: no text
    /// copied).
    pub fn outline(&self) -> Option<crate::accumulate::AnswerOutline<'_>> {
        self.decoder.as_ref()?.outline()
    }

    /// The streamed answer accumulated so far.
    pub fn snapshot(&self) -> Option<ChatCompletion> {
        self.decoder.as_ref()?.snapshot()
    }

    /// The streamed answer, accumulated: an error unless it is complete.
    pub fn into_completion(mut self) -> Result<ChatCompletion, Error> {
        self.take_completion()
    }

    /// [`into_completion`](Self::into_completion) in place: the answer is taken out, and the
    /// call streams nothing more.
    pub fn take_completion(&mut self) -> Result<ChatCompletion, Error> {
        match self.decoder.take() {
            Some(decoder) => (*decoder).into_completion(),
            None => Err(Error::misuse(
                "into_completion of a call that streamed nothing",
            )),
        }
    }

    /// Takes the time: deadlines waiting for it are measured from it.
    fn tick(&mut self, now: Duration) {
        self.now = self.now.max(now);
        let now = self.now;
        match &mut self.phase {
            Phase::AwaitHead { sent_at } if sent_at.is_none() => *sent_at = Some(now),
            Phase::ErrorBody { reading, .. }
            | Phase::WholeBody { reading, .. }
            | Phase::Streaming { reading, .. } => reading.tick(now),
            Phase::Draining {
                until,
                ended: false,
                ..
            } if until.is_none() => {
                *until = Some(now.saturating_add(DRAIN_WAIT));
            }
            _ => {}
        }
    }

    /// Whether a deadline waits to be set from the next time given.
    fn needs_time(&self) -> bool {
        match &self.phase {
            Phase::AwaitHead { sent_at } => sent_at.is_none(),
            Phase::ErrorBody { reading, .. }
            | Phase::WholeBody { reading, .. }
            | Phase::Streaming { reading, .. } => reading.needs_time(),
            Phase::Draining { until, ended, .. } => until.is_none() && !ended,
            _ => false,
        }
    }

    /// The deadline that passes next, and what passes then.
    fn next_deadline(&self) -> Option<(Duration, Expiry)> {
        let deadline = |deadline: Option<Deadline>| deadline.map(|d| (d.at, Expiry::Timeout(d)));
        let timeouts = &self.options.timeouts;
        match &self.phase {
            Phase::Send => deadline(self.total),
            Phase::AwaitHead { sent_at } => {
                let response = sent_at
                    .and_then(|sent| Deadline::of(TimeoutKind::Response, timeouts.response, sent));
                deadline(Deadline::sooner(response, self.total))
            }
            Phase::ErrorBody { reading, .. }
            | Phase::WholeBody { reading, .. }
            | Phase::Streaming { reading, .. } => {
                let Some(head_at) = reading.head_at else {
                    return deadline(self.total);
                };
                let idle = Deadline::of(TimeoutKind::Idle, timeouts.idle, reading.idle_from);
                let body = Deadline::of(TimeoutKind::Body, timeouts.body, head_at);
                deadline(Deadline::sooner(idle, Deadline::sooner(self.total, body)))
            }
            Phase::Draining { ended: true, .. } => None,
            Phase::Draining { until, .. } => until.map(|at| (at, Expiry::Drained)),
            Phase::Backoff { until } => match self.total {
                Some(total) if total.at < *until => deadline(Some(total)),
                _ => Some((*until, Expiry::Waited)),
            },
            Phase::Ended => None,
        }
    }

    fn expire(&mut self, expiry: Expiry) {
        match expiry {
            Expiry::Waited => {
                self.phase = Phase::Send;
                self.resends = 0;
                self.redirects = 0;
                self.credentials_dropped = false;
                self.hop = self.uri.clone();
            }
            Expiry::Drained => self.end_drain(),
            Expiry::Timeout(deadline) => self.timed_out(deadline),
        }
    }

    fn timed_out(&mut self, deadline: Deadline) {
        let timeout = |partial| Error::timeout(deadline.kind, deadline.after, partial);
        match &self.phase {
            Phase::AwaitHead { .. } if deadline.kind == TimeoutKind::Response => {
                self.fresh_connection = true;
                self.failed_attempt(timeout(None));
            }
            Phase::ErrorBody { .. } => self.settle_error_body(),
            Phase::Streaming { .. } => {
                let partial = self.snapshot();
                self.fail(timeout(partial));
            }
            _ => self.fail(timeout(None)),
        }
    }

    /// A 307/308 is followed (at most [`MAX_REDIRECTS`] an attempt); any other redirect ends
    /// the call.
    fn redirect(&mut self, status: StatusCode, headers: &HeaderMap) {
        let location = headers
            .get(http::header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        let followed = matches!(
            status,
            StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
        );
        let target = followed
            .then(|| redirect::resolve(&self.hop, location))
            .flatten();
        let Some(target) = target else {
            return self.fail(Error::redirect(status.as_u16(), location, false));
        };
        if self.redirects >= MAX_REDIRECTS {
            return self.fail(Error::redirect(status.as_u16(), location, true));
        }
        self.redirects += 1;
        if !redirect::same_origin(&self.hop, &target) {
            self.credentials_dropped = true;
        }
        self.hop = target;
        self.phase = Phase::Send;
    }

    /// An error status's body is read (or as much as was): classify it, and retry or fail.
    fn settle_error_body(&mut self) {
        let Phase::ErrorBody { body, .. } = std::mem::replace(&mut self.phase, Phase::Ended) else {
            return;
        };
        let Some(head) = &self.head else { return };
        let api = api_error(head.status, &head.headers, &body.into_bytes());
        if self.may_restream && api.requires_streaming() {
            self.may_restream = false;
            if let Some(streamed) = restream::streamed(&self.body) {
                self.body = streamed;
                self.headers.insert(
                    http::header::ACCEPT,
                    http::HeaderValue::from_static("text/event-stream"),
                );
                self.hop = self.uri.clone();
                self.redirects = 0;
                self.credentials_dropped = false;
                self.phase = Phase::Send;
                return;
            }
        }
        self.failed_attempt(api.into());
    }

    /// A whole 2xx body is read: the answer, or why it is not one.
    fn settle_whole_body(&mut self) {
        let Phase::WholeBody { body, reading } = std::mem::replace(&mut self.phase, Phase::Ended)
        else {
            return;
        };
        let body = body.into_bytes();
        let Some(head) = &self.head else { return };
        match self.expect {
            Expect::Body => self.queue.push_back(Queued::Body(body)),
            Expect::Completion => match classify_response(head.status, &head.headers, &body) {
                Ok(completion) => self
                    .queue
                    .push_back(Queued::Completion(Box::new(completion))),
                Err(error) => self.fail(error),
            },
            Expect::Stream { .. } => match classify_response(head.status, &head.headers, &body) {
                Ok(completion) => {
                    self.start_stream(reading, true);
                    if let Some(decoder) = &mut self.decoder {
                        decoder.push(replay::as_event_stream(&completion));
                        decoder.finish();
                    }
                    self.queue.push_back(Queued::Response);
                }
                Err(error) => self.fail(error),
            },
        }
    }

    fn start_stream(&mut self, reading: Reading, body_ended: bool) {
        let choices = match self.expect {
            Expect::Stream { choices } => choices,
            _ => 1,
        };
        self.decoder = Some(Box::new(
            StreamDecoder::new()
                .expect_choices(choices)
                .accumulating()
                .max_answer_bytes(self.options.max_answer),
        ));
        self.phase = Phase::Streaming {
            reading,
            body_ended,
        };
    }

    /// Moves the stream on by one item: a chunk (left in the decoder, to be lent), `[DONE]`
    /// (then the body is drained), the end, or an error (queued).
    fn step_stream(&mut self) {
        let Phase::Streaming { body_ended, .. } = self.phase else {
            return;
        };
        let Some(decoder) = &mut self.decoder else {
            return;
        };
        match decoder.step() {
            Ok(Some(Step::Chunk)) => self.chunk_pending = true,
            Ok(Some(Step::Done)) => {
                self.phase = Phase::Draining {
                    read: 0,
                    until: None,
                    ended: body_ended,
                };
            }
            Ok(None) if body_ended => self.finish_stream(),
            Ok(None) => {}
            Err(error) => self.fail(error),
        }
    }

    /// After `[DONE]`: a chunk of usage that came after it (lent like any chunk), or, once
    /// nothing more is read, the end.
    fn step_drain(&mut self) {
        let Phase::Draining { ended, .. } = self.phase else {
            return;
        };
        let Some(decoder) = &mut self.decoder else {
            return self.finish_stream();
        };
        match decoder.step() {
            Ok(Some(Step::Chunk)) => self.chunk_pending = true,
            _ if ended => self.finish_stream(),
            _ => {}
        }
    }

    /// Nothing more is read after `[DONE]`: what the decoder holds is stepped to its end.
    fn end_drain(&mut self) {
        if let Phase::Draining { ended, .. } = &mut self.phase {
            *ended = true;
            if let Some(decoder) = &mut self.decoder {
                decoder.finish();
            }
        }
    }

    fn chunk_ready(&mut self) -> bool {
        std::mem::take(&mut self.chunk_pending)
    }

    /// The streamed answer is over: complete.
    fn finish_stream(&mut self) {
        self.phase = Phase::Ended;
        self.queue.push_back(Queued::Done);
    }

    /// What a stream had delivered: its chunks, and their accumulation.
    fn progress(&self) -> (u64, Option<ChatCompletion>) {
        (self.chunks(), self.snapshot())
    }

    /// An attempt failed with `error`: retried after the policy's wait, if that fits before
    /// the call's deadline, else the call fails with it.
    fn failed_attempt(&mut self, error: Error) {
        let failure = match error.kind() {
            ErrorKind::Api(api) => Failure::Response(api),
            ErrorKind::Timeout { .. } => Failure::Timeout,
            ErrorKind::Connection {
                kind: IoErrorKind::Connect,
                ..
            } => Failure::Connect,
            ErrorKind::Connection { .. } => Failure::Disconnected,
            _ => return self.fail(error),
        };
        let wall_clock = self.wall_clock + self.now.saturating_sub(self.started);
        let jitter = self.draw();
        let decision = self
            .options
            .retry
            .decide(self.retries, &failure, wall_clock, jitter);
        match decision {
            RetryDecision::Retry { after }
                if self
                    .total
                    .is_none_or(|total| self.now.saturating_add(after) < total.at) =>
            {
                self.queue.push_back(Queued::Retrying {
                    attempt: self.attempts(),
                    after,
                    error,
                });
                self.retries += 1;
                self.phase = Phase::Backoff {
                    until: self.now.saturating_add(after),
                };
            }
            _ => self.fail(error),
        }
    }

    fn fail(&mut self, error: Error) {
        self.phase = Phase::Ended;
        self.queue.push_back(Queued::Failed(error));
    }

    /// A uniform draw in `[0, 1)` (splitmix64 over the seed).
    fn draw(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What passes at a deadline.
#[derive(Debug, Clone, Copy)]
enum Expiry {
    Timeout(Deadline),
    /// A retry's wait is over.
    Waited,
    /// The drain after `[DONE]` is over.
    Drained,
}

/// A JSON body where a stream was asked for (`content-type` names JSON, not an event stream).
fn is_json_answer(headers: &HeaderMap) -> bool {
    let json = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.contains("json"));
    json && !is_event_stream(headers)
}

#[cfg(test)]
mod tests;
