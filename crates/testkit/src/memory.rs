//! [`MemoryConnector`]: an `HttpConnector` that answers from a script, in memory, on tokio's
//! clock, so that tests of the client's retries and timeouts run under a paused runtime in
//! virtual time (an hour of backoffs in a millisecond) and deterministically.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use gptproto_transport::{BoxFuture, HttpConnector, ResponseBody, TransportError};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use tokio::time::{Instant, Sleep};

/// What the connector does with one request.
#[derive(Debug, Clone)]
pub enum Scripted {
    /// No connection: a connect error at once (the request never left).
    Refuse,
    /// A connection that never answers.
    Hang,
    /// A response head after a while, then its body.
    Respond(MemoryReply),
}

/// A response: its head, when it comes, and its body as steps.
#[derive(Debug, Clone)]
pub struct MemoryReply {
    head_after: Duration,
    status: u16,
    headers: Vec<(String, String)>,
    steps: Vec<Step>,
}

/// One step of a body.
#[derive(Debug, Clone)]
pub enum Step {
    /// These bytes, at once.
    Data(Bytes),
    /// Nothing for a while.
    Wait(Duration),
    /// These bytes every `interval`, forever (a trickle, keep-alives).
    Every(Duration, Bytes),
    /// The connection breaks (a body error).
    Break,
    /// Nothing more, and no end: the body stalls.
    Stall,
}

impl MemoryReply {
    /// `status` with a body of `steps`; the head at once.
    pub fn new(status: u16, steps: Vec<Step>) -> Self {
        Self {
            head_after: Duration::ZERO,
            status,
            headers: Vec::new(),
            steps,
        }
    }

    /// A JSON body.
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Self::new(status, vec![Step::Data(Bytes::from(body.to_string()))])
            .header("content-type", "application/json")
    }

    /// An event stream of `steps`.
    pub fn sse(steps: Vec<Step>) -> Self {
        Self::new(200, steps).header("content-type", "text/event-stream")
    }

    /// A header.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The head only after `delay`.
    #[must_use]
    pub fn head_after(mut self, delay: Duration) -> Self {
        self.head_after = delay;
        self
    }
}

/// A request the connector took, and when (on tokio's clock).
#[derive(Debug, Clone)]
pub struct Taken {
    /// When it was sent.
    pub at: Instant,
    /// The request.
    pub request: http::Request<Bytes>,
}

/// Answers each request with the next [`Scripted`] step (the last one again once the script is
/// used up), and records the requests.
#[derive(Debug, Clone, Default)]
pub struct MemoryConnector {
    shared: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    script: VecDeque<Scripted>,
    last: Option<Scripted>,
    taken: Vec<Taken>,
    /// Bodies handed out and not yet dropped.
    open_bodies: usize,
}

impl MemoryConnector {
    /// A connector answering with `script`, in order.
    pub fn new(script: impl IntoIterator<Item = Scripted>) -> Self {
        let connector = Self::default();
        connector.lock().script = script.into_iter().collect();
        connector
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The requests taken so far.
    pub fn taken(&self) -> Vec<Taken> {
        self.lock().taken.clone()
    }

    /// How many requests were taken.
    pub fn count(&self) -> usize {
        self.lock().taken.len()
    }

    /// The gaps between consecutive requests.
    pub fn gaps(&self) -> Vec<Duration> {
        let taken = self.taken();
        taken
            .windows(2)
            .map(|pair| pair[1].at.duration_since(pair[0].at))
            .collect()
    }

    /// Response bodies handed out and still alive (not dropped by the client).
    pub fn open_bodies(&self) -> usize {
        self.lock().open_bodies
    }
}

impl HttpConnector for MemoryConnector {
    fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> BoxFuture<'static, Result<http::Response<ResponseBody>, TransportError>> {
        let step = {
            let mut state = self.lock();
            state.taken.push(Taken {
                at: Instant::now(),
                request,
            });
            let next = state.script.pop_front();
            if let Some(next) = &next {
                state.last = Some(next.clone());
            }
            next.or_else(|| state.last.clone())
                .unwrap_or(Scripted::Refuse)
        };
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            match step {
                Scripted::Refuse => Err(TransportError::connect("connection refused (scripted)")),
                Scripted::Hang => std::future::pending().await,
                Scripted::Respond(reply) => {
                    tokio::time::sleep(reply.head_after).await;
                    let mut response = http::Response::builder().status(reply.status);
                    for (name, value) in &reply.headers {
                        response = response.header(name, value);
                    }
                    shared
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .open_bodies += 1;
                    let body = ScriptBody {
                        steps: reply.steps.into(),
                        sleep: None,
                        shared,
                    };
                    Ok(response
                        .body(body.boxed())
                        .expect("a scripted head is valid"))
                }
            }
        })
    }
}

/// A body that plays its steps on tokio's clock.
struct ScriptBody {
    steps: VecDeque<Step>,
    sleep: Option<Pin<Box<Sleep>>>,
    shared: Arc<Mutex<State>>,
}

impl Drop for ScriptBody {
    fn drop(&mut self) {
        self.shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .open_bodies -= 1;
    }
}

impl Body for ScriptBody {
    type Data = Bytes;
    type Error = TransportError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, TransportError>>> {
        loop {
            if let Some(sleep) = &mut self.sleep {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.sleep = None;
            }
            match self.steps.pop_front() {
                None => return Poll::Ready(None),
                Some(Step::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                Some(Step::Wait(delay)) => self.sleep = Some(Box::pin(tokio::time::sleep(delay))),
                Some(Step::Every(interval, data)) => {
                    self.steps.push_front(Step::Every(interval, data.clone()));
                    self.steps.push_front(Step::Data(data));
                    self.steps.push_front(Step::Wait(interval));
                }
                Some(Step::Break) => {
                    return Poll::Ready(Some(Err(TransportError::body(
                        "connection reset (scripted)",
                    ))));
                }
                Some(Step::Stall) => {
                    self.steps.push_front(Step::Stall);
                    return Poll::Pending;
                }
            }
        }
    }
}
