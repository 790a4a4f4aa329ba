//! [`Reply`]: what the test server answers, down to how the body is cut, paced and ended.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body::Frame;
use serde_json::Value;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use crate::connection::{Busy, Meter};

/// How a reply's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Normally, after the last piece.
    Complete,
    /// The connection is reset after the last piece (a server or network failure mid-body).
    Abort,
    /// Never: the body stays open with nothing more to send (a stalled server).
    Stall,
}

/// A scripted reply.
#[derive(Debug, Clone)]
pub struct Reply {
    status: StatusCode,
    headers: Vec<(String, String)>,
    body: Bytes,
    piece_size: usize,
    delay: Duration,
    first_delay: Duration,
    linger: Duration,
    ending: Ending,
    hold: Option<Hold>,
    /// Offsets in the body where a piece must end ([`Reply::cut_at`]).
    cuts: Vec<usize>,
}

/// A point in a body where the reply waits for a [`Gate`] to open.
#[derive(Debug, Clone)]
struct Hold {
    /// Bytes sent before the wait.
    at: usize,
    gate: Gate,
    /// How long the reply waits before it gives up and aborts the body.
    give_up: Duration,
}

/// A gate a reply waits at ([`Reply::held`]) until a test opens it: the proof that a client
/// reads a body as it arrives (it sees what came before the gate while the rest is held).
#[derive(Debug, Clone, Default)]
pub struct Gate(Arc<watch::Sender<bool>>);

impl Gate {
    /// A closed gate.
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens the gate for good: every reply waiting at it goes on.
    pub fn open(&self) {
        self.0.send_replace(true);
    }

    /// Whether the gate is open.
    pub fn is_open(&self) -> bool {
        *self.0.borrow()
    }

    async fn opened(&self) {
        let mut open = self.0.subscribe();
        let _ = open.wait_for(|open| *open).await;
    }
}

/// An SSE body: each value as a `data:` event, then `data: [DONE]`.
pub fn sse_body(events: &[Value]) -> String {
    let mut body = String::new();
    for event in events {
        body += &format!("data: {event}\n\n");
    }
    body + "data: [DONE]\n\n"
}

impl Reply {
    /// A body of raw bytes with a content type.
    pub fn bytes(status: u16, content_type: &str, body: impl Into<Bytes>) -> Self {
        Self {
            status: StatusCode::from_u16(status).expect("a valid status"),
            headers: vec![("content-type".to_owned(), content_type.to_owned())],
            body: body.into(),
            piece_size: usize::MAX,
            delay: Duration::ZERO,
            first_delay: Duration::ZERO,
            linger: Duration::ZERO,
            cuts: Vec::new(),
            ending: Ending::Complete,
            hold: None,
        }
    }

    /// A JSON body.
    pub fn json(status: u16, value: &Value) -> Self {
        Self::bytes(status, "application/json", value.to_string())
    }

    /// A 200 event stream of `events` then `[DONE]`.
    pub fn sse(events: &[Value]) -> Self {
        Self::bytes(200, "text/event-stream", sse_body(events))
    }

    /// A 200 event stream with exactly this body.
    pub fn sse_raw(body: impl Into<Bytes>) -> Self {
        Self::bytes(200, "text/event-stream", body)
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sends the body in pieces of `size` bytes (each its own write).
    #[must_use]
    pub fn in_pieces(mut self, size: usize) -> Self {
        self.piece_size = size.max(1);
        self
    }

    /// Also ends a piece at each of these body offsets (with [`paced`](Self::paced), each piece
    /// is then written on its own: its own TLS record, its own DATA frame).
    #[must_use]
    pub fn cut_at(mut self, offsets: &[usize]) -> Self {
        self.cuts = offsets.to_vec();
        self.cuts.sort_unstable();
        self
    }

    /// Waits `delay` before each piece.
    #[must_use]
    pub fn paced(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Waits `delay` before sending the response head.
    #[must_use]
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.first_delay = delay;
        self
    }

    /// Ends a complete body only `linger` after its last piece (as a server's last chunk or
    /// END_STREAM that follows `[DONE]`); a client that goes before counts as abandoned.
    #[must_use]
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// How the body ends.
    #[must_use]
    pub fn ending(mut self, ending: Ending) -> Self {
        self.ending = ending;
        self
    }

    /// Sends the first `at` bytes of the body (at least one), then waits until `gate` opens before the rest;
    /// after `give_up` without it, the body is aborted (a client that waits for the whole body
    /// before showing any of it fails).
    #[must_use]
    pub fn held(mut self, at: usize, gate: Gate, give_up: Duration) -> Self {
        self.hold = Some(Hold {
            at: at.max(1),
            gate,
            give_up,
        });
        self
    }

    /// How long before the response head is sent.
    pub fn head_delay(&self) -> Duration {
        self.first_delay
    }

    pub(crate) fn into_response(
        self,
        abandoned: std::sync::Arc<std::sync::atomic::AtomicUsize>,
        busy: Busy,
        meter: Option<Arc<Meter>>,
    ) -> http::Response<ReplyBody> {
        let (sender, receiver) = mpsc::channel(1);
        let mut builder = http::Response::builder().status(self.status);
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        let response = builder
            .body(ReplyBody {
                receiver,
                held_error: None,
                _busy: Some(busy),
            })
            .expect("a valid response");
        tokio::spawn(async move {
            let mut rest = self.body;
            let mut sent = 0;
            let mut hold = self.hold;
            while !rest.is_empty() {
                let until_hold = hold.as_ref().map_or(usize::MAX, |hold| hold.at - sent);
                let until_cut = self
                    .cuts
                    .iter()
                    .find(|&&cut| cut > sent)
                    .map_or(usize::MAX, |cut| cut - sent);
                let size = self
                    .piece_size
                    .min(until_hold)
                    .min(until_cut)
                    .min(rest.len());
                let piece = rest.split_to(size);
                sent += size;
                if !self.delay.is_zero() {
                    tokio::time::sleep(self.delay).await;
                }
                if let Some(meter) = &meter {
                    meter.mark();
                }
                if sender.send(Ok(Frame::data(piece))).await.is_err() {
                    // The client went away before the end of the body.
                    abandoned.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    return;
                }
                if let Some(held) = hold.take_if(|hold| hold.at <= sent) {
                    tokio::select! {
                        () = held.gate.opened() => {}
                        () = tokio::time::sleep(held.give_up) => {
                            let _ = sender
                                .send(Err(std::io::Error::new(
                                    std::io::ErrorKind::TimedOut,
                                    "test server: the gate was not opened in time",
                                )))
                                .await;
                            return;
                        }
                    }
                }
            }
            if let Some(meter) = &meter {
                // The end's mark, once the last piece is written (the body's own end, a last
                // chunk or END_STREAM, comes after the linger).
                tokio::time::sleep(self.delay).await;
                meter.mark();
            }
            match self.ending {
                Ending::Complete => {
                    tokio::select! {
                        () = tokio::time::sleep(self.linger) => {}
                        () = sender.closed() => {
                            abandoned.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                    }
                }
                Ending::Abort => {
                    let _ = sender
                        .send(Err(std::io::Error::new(
                            std::io::ErrorKind::ConnectionReset,
                            "test server aborts the body",
                        )))
                        .await;
                }
                Ending::Stall => {
                    sender.closed().await;
                    abandoned.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            }
        });
        response
    }
}

/// A body fed by the reply's task: backpressure through a one-slot channel.
#[derive(Debug)]
pub(crate) struct ReplyBody {
    receiver: mpsc::Receiver<Result<Frame<Bytes>, std::io::Error>>,
    /// An abort, held back for one poll: hyper flushes what it has written when the body is
    /// pending, so the data before an abort always reaches the client (without this, a loaded
    /// machine let hyper see the error first and drop the unflushed data: a flaky test).
    held_error: Option<std::io::Error>,
    /// The request counts as in flight on its connection until its body ends or is dropped.
    _busy: Option<Busy>,
}

impl ReplyBody {
    /// A body with nothing in it.
    pub(crate) fn empty() -> Self {
        let (_, receiver) = mpsc::channel(1);
        Self {
            receiver,
            held_error: None,
            _busy: None,
        }
    }
}

impl http_body::Body for ReplyBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if let Some(error) = self.held_error.take() {
            return Poll::Ready(Some(Err(error)));
        }
        match self.receiver.poll_recv(cx) {
            Poll::Ready(Some(Err(error))) => {
                self.held_error = Some(error);
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            other => other,
        }
    }
}
