//! [`Driver`]: the I/O around a [`Call`]. It sends what the call says through the client's
//! connector, gives it what comes back, and tells it the time (the runtime's, through `rt`).
//! The call decides everything else: which attempt, where, when, and what counts as an answer.
//!
//! The clock is read only when the driver is about to wait (and when a timer fires), not per
//! read: the call measures its deadlines from the next time given.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use gptproto_proto::call::{Call, Event, IoErrorKind};
use gptproto_transport::{
    BoxFuture, FreshConnection, ResponseBody, TransportError, TransportErrorKind,
};
use http_body::Body;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::meta::ResponseMeta;
use crate::redact::redacted;
use crate::rt::{Instant, Sleep};

type InFlight =
    BoxFuture<'static, std::result::Result<http::Response<ResponseBody>, TransportError>>;

/// One call's I/O: its request in flight, its response body, its timer.
pub(crate) struct Driver {
    call: Box<Call>,
    client: Client,
    /// The call's clock starts here (the call's times are durations since).
    origin: Instant,
    in_flight: Option<InFlight>,
    body: Option<ResponseBody>,
    timer: Timer,
    /// Whether the call was given the time since its last input.
    timed: bool,
    /// The transport's error the call was last told of: the cause of the call's error.
    transport_error: Option<TransportError>,
    /// The last attempt's URL (after redirects): what an error names.
    sent_to: Option<http::Uri>,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("attempts", &self.call.attempts())
            .field("in_flight", &self.in_flight.is_some())
            .field("body_open", &self.body.is_some())
            .finish_non_exhaustive()
    }
}

impl Driver {
    /// Drives `call` (whose start time is `origin`) with `client`'s connector.
    pub(crate) fn new(client: &Client, call: Call, origin: Instant) -> Self {
        Self {
            call: Box::new(call),
            client: client.clone(),
            origin,
            in_flight: None,
            body: None,
            timer: Timer::default(),
            timed: false,
            transport_error: None,
            sent_to: None,
        }
    }

    pub(crate) fn call(&self) -> &Call {
        &self.call
    }

    pub(crate) fn call_mut(&mut self) -> &mut Call {
        &mut self.call
    }

    /// Moves the I/O on: `Ready` once the call has been told something (a head, a piece of
    /// the body, an error, the time), after which it may have events; `Pending` while it
    /// waits for the network or a deadline.
    pub(crate) fn poll_input(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.call.awaits_head() {
            // The attempt is over (it timed out, say): its request is dropped.
            self.in_flight = None;
        }
        if let Some(transmit) = self.call.poll_transmit() {
            // A new attempt (or hop): what is left of the last response is dropped.
            self.body = None;
            let mut request = transmit.request;
            tracing::debug!(attempt = transmit.attempt, url = %redacted(request.uri()), "sending");
            self.sent_to = Some(request.uri().clone());
            if transmit.fresh_connection {
                request.extensions_mut().insert(FreshConnection);
            }
            self.in_flight = Some(self.client.inner.connector.send(request));
            self.timed = false;
        }
        if let Some(in_flight) = &mut self.in_flight
            && let Poll::Ready(result) = in_flight.as_mut().poll(cx)
        {
            self.in_flight = None;
            match result {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    tracing::debug!(status = parts.status.as_u16(), version = ?parts.version, "response head");
                    self.call.handle_head(parts.status, parts.headers);
                    self.body = Some(body);
                }
                Err(error) => {
                    tracing::debug!(error = %format_args!("{error:#}"), "transport error");
                    self.call
                        .handle_io_error(io_kind(&error), &error.to_string());
                    self.transport_error = Some(error);
                }
            }
            return self.told();
        }
        // A deadline that passed comes before more of the body (a piece arriving at the
        // deadline itself is not read).
        if self.timer.poll_passed(cx).is_ready() {
            self.timed = true;
            self.call.handle_timeout(self.now());
            return Poll::Ready(());
        }
        if !self.call.wants_body() {
            self.body = None;
        } else if let Some(body) = &mut self.body
            && let Poll::Ready(frame) = Pin::new(body).poll_frame(cx)
        {
            match frame {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.call.push_body(data);
                    }
                }
                Some(Err(error)) => {
                    self.body = None;
                    self.call
                        .handle_io_error(IoErrorKind::Body, &error.to_string());
                    self.transport_error = Some(error);
                }
                None => {
                    self.body = None;
                    self.call.handle_end();
                }
            }
            return self.told();
        }
        // Nothing from the network: the call is given the time before the wait (what it
        // measures from the last input starts now), and may have something to say.
        if !self.timed {
            self.timed = true;
            self.call.handle_timeout(self.now());
            return Poll::Ready(());
        }
        let Some(at) = self.call.poll_timeout() else {
            return Poll::Pending;
        };
        self.timer.arm(at, self.origin);
        ready!(self.timer.poll_passed(cx));
        self.timed = true;
        self.call.handle_timeout(self.now());
        Poll::Ready(())
    }

    /// The call was told something.
    fn told(&mut self) -> Poll<()> {
        self.timed = false;
        Poll::Ready(())
    }

    /// The call's time now.
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// Drives the call until `take` says the event it was given ends the wait: the answer's
    /// head, the completion, a body. The call's error ends it too; retries are logged.
    pub(crate) fn poll_until<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut take: impl FnMut(Event<'_>) -> Option<T>,
    ) -> Poll<Result<T>> {
        loop {
            while let Some(event) = self.call.poll_event() {
                match event {
                    Event::Failed(error) => return Poll::Ready(Err(self.error(error))),
                    Event::Retrying {
                        attempt,
                        after,
                        error,
                    } => self.retrying(attempt, after, error),
                    event => {
                        if let Some(taken) = take(event) {
                            return Poll::Ready(Ok(taken));
                        }
                    }
                }
            }
            ready!(self.poll_input(cx));
        }
    }

    fn retrying(&mut self, attempt: u32, after: Duration, error: gptproto_proto::Error) {
        let error = self.error(error);
        tracing::warn!(
            attempt,
            delay_s = after.as_secs_f64(),
            error.type = &*error.error_type(),
            %error,
            "retrying"
        );
    }

    /// The head of the answer (or of the error response that failed the call).
    pub(crate) fn response_meta(&self) -> Option<ResponseMeta> {
        let (status, headers) = self.call.response_head()?;
        Some(ResponseMeta::from_head(
            status,
            headers,
            self.client.config().provider(),
        ))
    }

    /// The call's error, in this crate's terms: a connection's failure with the transport's
    /// error as its cause, a server's error with its response's head, the attempts made.
    pub(crate) fn error(&mut self, error: gptproto_proto::Error) -> Error {
        use gptproto_proto::ErrorKind;
        let attempts = self.call.attempts();
        let error = match (error.kind(), self.transport_error.take()) {
            (
                ErrorKind::Connection {
                    kind: IoErrorKind::Body,
                    ..
                },
                Some(source),
            ) => {
                let (chunks, partial) = match error.into_kind() {
                    ErrorKind::Connection {
                        chunks, partial, ..
                    } => (chunks, partial),
                    _ => unreachable!("matched above"),
                };
                Error::interrupted(source, chunks, partial.map(|partial| *partial))
            }
            (ErrorKind::Connection { .. }, Some(source)) => Error::transport(source),
            (ErrorKind::Api(api), _) if api.status().is_some() => {
                let meta = self.response_meta();
                let error = Error::from(error);
                match meta {
                    Some(meta) => error.with_response(meta),
                    None => error,
                }
            }
            _ => Error::from(error),
        };
        let error = match &self.sent_to {
            Some(uri) => error.with_url(redacted(uri)),
            None => error,
        };
        error.with_attempts(attempts)
    }
}

/// The call's timer: a sleep set for the call's next deadline, which passes once per setting.
#[derive(Default)]
struct Timer {
    /// The call's time it is set for, until it passes.
    set: Option<Duration>,
    sleep: Option<Sleep>,
}

impl Timer {
    /// Sets it for `at` (a time of the call whose clock starts at `origin`).
    fn arm(&mut self, at: Duration, origin: Instant) {
        if self.set == Some(at) {
            return;
        }
        self.set = Some(at);
        match &mut self.sleep {
            Some(sleep) => sleep.reset(origin + at),
            None => self.sleep = Some(Sleep::until(origin + at)),
        }
    }

    /// Ready once when the time it is set for has passed.
    fn poll_passed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match (&self.set, &mut self.sleep) {
            (Some(_), Some(sleep)) => {
                ready!(sleep.poll_elapsed(cx));
                self.set = None;
                Poll::Ready(())
            }
            _ => Poll::Pending,
        }
    }
}

/// How a transport's failure counts for the call.
fn io_kind(error: &TransportError) -> IoErrorKind {
    match error.kind() {
        TransportErrorKind::Connect => IoErrorKind::Connect,
        TransportErrorKind::Body => IoErrorKind::Body,
        TransportErrorKind::Certificate
        | TransportErrorKind::Config
        | TransportErrorKind::InsecureScheme => IoErrorKind::Unusable,
        _ => IoErrorKind::Request,
    }
}
