//! HTTP/2 lanes at run time: the [`Routing`] behind its lock, the place a stream holds on its
//! lane, and the task that drives each lane's connection.
//!
//! A lane is one HTTP/2 connection made with hyper's connection API. Its task ([`LaneTask`])
//! polls hyper's request side of it (hyper runs the I/O in a task of its own) and tells the
//! routing what happens to it:
//! - once the server's settings are read (at most [`SETTINGS_WAIT`] after the handshake), the
//!   lane opens, holding the server's stream limit; later changes of that limit follow;
//! - when the connection ends or takes no new stream (the server's GOAWAY, EOF, an error), the
//!   lane is closed at once and the connection dropped, so requests queued on it come back
//!   unsent (see `origins.rs`) instead of waiting on a channel nothing reads;
//! - once it has carried no stream for the idle timeout, it is closed the same way.
//!
//! **Lock order.** The table's lock is the transport's only lock. It is never held while
//! another is taken: hyper's connection (and its stream limit, behind h2's lock) is read by
//! the lane's task outside it. Dropping a link under it (a hyper sender, a watch sender) wakes
//! tasks but takes none of ours.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use hyper::client::conn::http2;
use hyper_util::rt::TokioExecutor;
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

use crate::routing::{LaneId, Protocol, Routing};

#[cfg(test)]
mod tests;

/// What sends on an open lane.
pub(crate) type Sender = http2::SendRequest<Full<Bytes>>;

/// What the requests waiting for a lane's connection watch: `Some` error when it could not be
/// made; the sender dropped (the lane opened, or its server chose HTTP/1.1) to look again.
pub(crate) type Waiters = watch::Sender<Option<SharedError>>;

/// What hyper is told the server's stream limit is until the server's settings say: a value no
/// server sends, so that a changed value means the settings were read. hyper reads the
/// settings in a task of its own and tells no one; the lane's task looks at the limit.
/// `lane_task_reads_the_servers_settings` pins this behaviour of h2.
pub(crate) const UNREAD: usize = 1_048_583;

/// How long a new connection waits for the server's settings before it is used anyway (they
/// are the server's first frame, so they come within a round trip).
pub(crate) const SETTINGS_WAIT: Duration = Duration::from_secs(2);

/// The routing of a transport's HTTPS requests, shared by the transport, its lanes' tasks and
/// the slots of its streams.
pub(crate) struct Table {
    routing: Mutex<Routing<Waiters, Sender>>,
}

impl Table {
    pub(crate) fn new(first: Protocol, streams_per_connection: usize) -> Self {
        Self {
            routing: Mutex::new(Routing::new(first, streams_per_connection)),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Routing<Waiters, Sender>> {
        self.routing
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// `lane`'s connection could not be made: its waiters are told why (`None`: they look
    /// again, as when the server chose HTTP/1.1).
    pub(crate) fn fail(&self, lane: LaneId, why: Option<SharedError>) {
        let waiters = self.lock().failed(lane);
        if let (Some(waiters), Some(why)) = (waiters, why) {
            waiters.send_replace(Some(why));
        }
    }
}

/// A connection error shared by every request that waited for that connection.
#[derive(Debug, Clone)]
pub(crate) struct SharedError(pub(crate) Arc<dyn std::error::Error + Send + Sync>);

impl std::fmt::Display for SharedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for SharedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// A stream's place on a lane (or a waiting request's), given back when dropped.
pub(crate) struct Slot {
    table: Weak<Table>,
    lane: LaneId,
}

impl Slot {
    /// A place already counted on `lane` by [`Routing::route`].
    pub(crate) fn new(table: &Arc<Table>, lane: LaneId) -> Self {
        Self {
            table: Arc::downgrade(table),
            lane,
        }
    }

    pub(crate) fn lane(&self) -> LaneId {
        self.lane
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(table) = self.table.upgrade() {
            table.lock().release(self.lane);
        }
    }
}

type Connection<T> = http2::Connection<T, Full<Bytes>, TokioExecutor>;

/// Makes an HTTP/2 connection over `io`: its sender, and hyper's request side of it, for a
/// [`LaneTask`] to drive.
pub(crate) async fn handshake<T>(
    io: T,
    keep_alive: Option<KeepAlive>,
) -> hyper::Result<(Sender, Connection<T>)>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let mut builder = http2::Builder::new(TokioExecutor::new());
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .initial_max_send_streams(UNREAD);
    if let Some(keep_alive) = keep_alive {
        builder
            .keep_alive_interval(keep_alive.interval)
            .keep_alive_timeout(keep_alive.timeout);
    }
    builder.handshake(io).await
}

/// HTTP/2 PINGs on a connection with streams open: one after `interval` with nothing
/// received; no answer within `timeout` closes the connection, failing its streams (their
/// requests may have reached the server), so that a connection gone silent (a stalled peer, a
/// dead network path) is not waited on for the response timeout, nor used again.
///
/// `#[non_exhaustive]`: made with [`new`](Self::new), so that a setting can be added.
///
/// ```
/// use std::time::Duration;
/// use gptproto_transport::{HyperTransport, KeepAlive};
///
/// let keep_alive = KeepAlive::new(Duration::from_secs(20), Duration::from_secs(5));
/// let transport = HyperTransport::builder().http2_keep_alive(Some(keep_alive));
/// # let _ = transport;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeepAlive {
    /// Silence before a PING.
    pub interval: std::time::Duration,
    /// How long the PING's answer may take.
    pub timeout: std::time::Duration,
}

impl KeepAlive {
    /// A PING after `interval` of silence, the connection closed if its answer takes longer
    /// than `timeout`.
    pub fn new(interval: std::time::Duration, timeout: std::time::Duration) -> Self {
        Self { interval, timeout }
    }
}

/// Drives a lane's connection and reports what becomes of it to the routing (see the module
/// docs). Dropped before its end (the runtime shutting down), it reports that too.
pub(crate) struct LaneTask<T>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    /// Dropped as soon as the lane closes: hyper then hands the requests queued on it back.
    connection: Option<Pin<Box<Connection<T>>>>,
    table: Weak<Table>,
    lane: LaneId,
    phase: Phase,
    timer: Pin<Box<Sleep>>,
    idle_timeout: Duration,
}

enum Phase {
    /// Waiting for the server's settings; the sender goes to the routing once they are read or
    /// at `until`, looked for after `pause` (doubling).
    Settling {
        sender: Sender,
        pause: Duration,
        until: Instant,
    },
    /// In use; `limit` the stream limit last told to the routing; `was_idle` whether the lane
    /// carried no stream at the last idle check.
    Open { limit: usize, was_idle: bool },
    /// Reported closed (or failed).
    Done,
}

impl<T> LaneTask<T>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    pub(crate) fn new(
        table: &Arc<Table>,
        lane: LaneId,
        sender: Sender,
        connection: Connection<T>,
        idle_timeout: Duration,
    ) -> Self {
        let pause = Duration::from_millis(1);
        Self {
            connection: Some(Box::pin(connection)),
            table: Arc::downgrade(table),
            lane,
            phase: Phase::Settling {
                sender,
                pause,
                until: Instant::now() + SETTINGS_WAIT,
            },
            timer: Box::pin(tokio::time::sleep(pause)),
            idle_timeout,
        }
    }

    /// The server's stream limit as hyper last read it, `None` until its settings are read.
    fn server_limit(&self) -> Option<usize> {
        let limit = self.connection.as_ref()?.current_max_send_streams();
        (limit != UNREAD).then_some(limit.max(1))
    }

    /// Tells the routing the lane is open; `false` if the routing has no use for it.
    fn open(&mut self, limit: Option<usize>) -> bool {
        let Phase::Settling { sender, .. } = std::mem::replace(&mut self.phase, Phase::Done) else {
            return false;
        };
        let Some(table) = self.table.upgrade() else {
            return false;
        };
        // The waiters' sender is dropped after the lock: they wake and look again.
        let opened = table.lock().opened(self.lane, limit, sender);
        if opened.is_err() {
            return false;
        }
        self.phase = Phase::Open {
            limit: limit.unwrap_or(UNREAD),
            was_idle: false,
        };
        self.timer
            .as_mut()
            .reset(Instant::now() + self.idle_timeout);
        true
    }

    /// The lane is over: the routing no longer chooses it, and the connection is let go.
    fn end(&mut self, why: Option<SharedError>) {
        let phase = std::mem::replace(&mut self.phase, Phase::Done);
        if let Some(table) = self.table.upgrade() {
            match phase {
                Phase::Settling { .. } => table.fail(self.lane, why),
                Phase::Open { .. } => table.lock().closed(self.lane),
                Phase::Done => {}
            }
        }
        self.connection = None;
    }

    /// Once the idle timeout has passed: whether the lane closes (idle at two checks in a row,
    /// or removed from the routing already).
    fn idle_check(&mut self) -> bool {
        let Phase::Open { was_idle, .. } = &mut self.phase else {
            return false;
        };
        let Some(table) = self.table.upgrade() else {
            return true;
        };
        let mut routing = table.lock();
        match routing.streams(self.lane) {
            // Closed already (a request found it going away): nothing will use it.
            None => true,
            Some(0) if *was_idle => routing.close_if_idle(self.lane),
            Some(streams) => {
                *was_idle = streams == 0;
                false
            }
        }
    }
}

impl<T> Future for LaneTask<T>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let Some(connection) = this.connection.as_mut() else {
            return Poll::Ready(());
        };
        // hyper's request side ends when the connection does, and when the server's GOAWAY
        // (of any kind) says no new stream may start on it.
        if let Poll::Ready(result) = connection.as_mut().poll(cx) {
            let why = match result {
                Ok(()) => {
                    tracing::debug!(lane = ?this.lane, "HTTP/2 lane connection ended");
                    SharedError(Arc::new(Closed))
                }
                Err(error) => {
                    tracing::debug!(lane = ?this.lane, %error, "HTTP/2 lane connection failed");
                    SharedError(Arc::new(error))
                }
            };
            this.end(Some(why));
            return Poll::Ready(());
        }
        loop {
            let read = this.server_limit();
            match &mut this.phase {
                Phase::Settling { pause, until, .. } => {
                    if read.is_none() {
                        ready!(this.timer.as_mut().poll(cx));
                        let now = Instant::now();
                        if now < *until {
                            *pause = (*pause * 2).min(Duration::from_millis(16));
                            let next = now + *pause;
                            this.timer.as_mut().reset(next);
                            continue;
                        }
                    }
                    if !this.open(read) {
                        this.end(None);
                        return Poll::Ready(());
                    }
                }
                Phase::Open { limit, .. } => {
                    // Polled whenever a request is handed to the connection: the server's
                    // limit, if it changed since, is told before the next is routed.
                    if let Some(read) = read
                        && read != *limit
                    {
                        *limit = read;
                        if let Some(table) = this.table.upgrade() {
                            table.lock().limit_read(this.lane, read);
                        }
                    }
                    ready!(this.timer.as_mut().poll(cx));
                    if this.idle_check() {
                        tracing::debug!(lane = ?this.lane, "HTTP/2 lane connection idle: closed");
                        this.phase = Phase::Done;
                        this.connection = None;
                        return Poll::Ready(());
                    }
                    let next = Instant::now() + this.idle_timeout;
                    this.timer.as_mut().reset(next);
                }
                Phase::Done => return Poll::Ready(()),
            }
        }
    }
}

impl<T> Drop for LaneTask<T>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    fn drop(&mut self) {
        self.end(Some(SharedError(Arc::new(Closed))));
    }
}

/// The lane's connection closed before a request could use it.
#[derive(Debug)]
pub(crate) struct Closed;

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the HTTP/2 connection closed")
    }
}

impl std::error::Error for Closed {}

pin_project_lite::pin_project! {
    /// A response body holding its lane slot until it ends.
    pub(crate) struct SlotBody<B> {
        #[pin]
        body: B,
        slot: Option<Slot>,
    }
}

impl<B> SlotBody<B> {
    pub(crate) fn new(body: B, slot: Option<Slot>) -> Self {
        Self { body, slot }
    }
}

impl<B: Body> Body for SlotBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let frame = ready!(this.body.poll_frame(cx));
        if matches!(frame, None | Some(Err(_))) {
            this.slot.take();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
