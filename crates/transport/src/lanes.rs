//! HTTP/2 lanes: the connections of one origin, each carrying at most so many streams.
//!
//! A lane is one HTTP/2 connection made with hyper's connection API, opened when the lanes
//! before it are full: a request on it costs hyper's stream and one small future (not a pooled
//! client's checkout), and its room follows the server's `SETTINGS_MAX_CONCURRENT_STREAMS` as
//! hyper reads it. A lane's connection closes once it has carried no stream for the pool's
//! idle timeout, and is made again when needed.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use hyper::client::conn::http2;
use hyper_util::rt::TokioExecutor;
use tokio::sync::watch;
use tokio::time::Sleep;

/// What hyper is told the server's stream limit is until the server's settings say: a value no
/// server sends, so that a changed value means the settings were read ([`read_settings`]).
const UNREAD: usize = 1_048_583;

/// How long a new connection waits for the server's settings before it is used anyway (they
/// are the server's first frame, so they come within a round trip).
const SETTINGS_WAIT: Duration = Duration::from_secs(2);

/// A lane: a connection, and the streams in flight on it (waiting ones included).
pub(crate) struct Lane {
    connection: State,
    in_flight: Arc<AtomicUsize>,
}

/// The state of a lane's connection.
enum State {
    /// Not connected (yet, or any more).
    Idle,
    /// Being connected; dropping the sender wakes the requests waiting for it.
    Connecting(watch::Sender<()>),
    Ready {
        sender: http2::SendRequest<Full<Bytes>>,
        limit: Arc<dyn StreamLimit>,
    },
}

/// What a request finds on its lane.
pub(crate) enum Found {
    /// The lane's connection, to send the request on (in the caller's future, so that a
    /// request costs one allocation).
    Sent(
        http2::SendRequest<Full<Bytes>>,
        http::Request<Full<Bytes>>,
        Slot,
    ),
    /// The lane is connecting: wait for it, holding a place on it (so that the requests
    /// after this one fill other lanes). `connect` is set for the request that started the
    /// connection: it has the connection made.
    Wait {
        request: http::Request<Full<Bytes>>,
        changed: watch::Receiver<()>,
        reserved: Slot,
        connect: bool,
    },
}

impl Lane {
    pub(crate) fn new() -> Self {
        Self {
            connection: State::Idle,
            in_flight: Arc::default(),
        }
    }

    /// Whether the lane has an open connection.
    pub(crate) fn is_ready(&self) -> bool {
        matches!(&self.connection, State::Ready { sender, .. } if !sender.is_closed())
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// The server's stream limit on this lane's connection, once its settings are read
    /// (`usize::MAX` when the server sets none).
    pub(crate) fn server_limit(&self) -> Option<usize> {
        match &self.connection {
            State::Ready { limit, .. } => {
                let max = limit.max_streams();
                (max != UNREAD).then_some(max.max(1))
            }
            _ => None,
        }
    }

    /// Whether the lane takes one more stream: at most `limit`, and at most what the server
    /// allows, read on this lane's connection or, until then, `learned` on the origin's others.
    pub(crate) fn has_room(&self, limit: usize, learned: Option<usize>) -> bool {
        let server = self.server_limit().or(learned).unwrap_or(usize::MAX);
        self.in_flight() < limit.min(server)
    }

    /// A place on this lane for one stream.
    pub(crate) fn slot(&self) -> Slot {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Slot(self.in_flight.clone())
    }

    /// Sends `request` on this lane, or says to wait for its connection.
    pub(crate) fn send(&mut self, mut request: http::Request<Full<Bytes>>) -> Found {
        match &mut self.connection {
            State::Ready { sender, .. } if !sender.is_closed() => {
                *request.version_mut() = http::Version::HTTP_2;
                Found::Sent(sender.clone(), request, self.slot())
            }
            State::Connecting(connecting) => {
                let changed = connecting.subscribe();
                Found::Wait {
                    request,
                    changed,
                    reserved: self.slot(),
                    connect: false,
                }
            }
            State::Idle | State::Ready { .. } => {
                let (connecting, changed) = watch::channel(());
                self.connection = State::Connecting(connecting);
                Found::Wait {
                    request,
                    changed,
                    reserved: self.slot(),
                    connect: true,
                }
            }
        }
    }

    /// The lane's connection is made: `sender` sends on it, its driver runs apart.
    pub(crate) fn connected(
        &mut self,
        sender: http2::SendRequest<Full<Bytes>>,
        limit: Arc<dyn StreamLimit>,
    ) {
        self.connection = State::Ready { sender, limit };
    }

    /// The lane's connection could not be made.
    pub(crate) fn failed(&mut self) {
        self.connection = State::Idle;
    }

    /// The lane's streams in flight, shared (what its connection's driver watches).
    pub(crate) fn load(&self) -> Arc<AtomicUsize> {
        self.in_flight.clone()
    }
}

/// A lane's connection once made: what sends on it, and the server's stream limit on it.
pub(crate) type Connected = (http2::SendRequest<Full<Bytes>>, Arc<dyn StreamLimit>);

/// A connection's view of the server's stream limit, read live.
pub(crate) trait StreamLimit: Send + Sync {
    /// The server's `SETTINGS_MAX_CONCURRENT_STREAMS` as hyper's HTTP/2 layer last read it.
    fn max_streams(&self) -> usize;
}

type Shared<T> = Arc<Mutex<Pin<Box<http2::Connection<T, Full<Bytes>, TokioExecutor>>>>>;

impl<T> StreamLimit for Mutex<Pin<Box<http2::Connection<T, Full<Bytes>, TokioExecutor>>>>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    fn max_streams(&self) -> usize {
        // hyper's connection task (its own, spawned) updates the settings the request side
        // reads here; the lock is only shared with the driver's polls.
        self.lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .current_max_send_streams()
    }
}

/// Makes an HTTP/2 connection over `io`: the sender, the connection's stream limit, and the
/// driver to spawn.
pub(crate) async fn handshake<T>(
    io: T,
    idle_timeout: Duration,
    in_flight: Arc<AtomicUsize>,
) -> hyper::Result<(
    http2::SendRequest<Full<Bytes>>,
    Arc<dyn StreamLimit>,
    impl Future<Output = ()> + Send + 'static,
)>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, connection) = http2::Builder::new(TokioExecutor::new())
        .timer(hyper_util::rt::TokioTimer::new())
        .initial_max_send_streams(UNREAD)
        .handshake(io)
        .await?;
    let connection: Shared<T> = Arc::new(Mutex::new(Box::pin(connection)));
    let driver = Driver {
        connection: connection.clone(),
        in_flight,
        idle_timeout,
        idle: Box::pin(tokio::time::sleep(idle_timeout)),
        was_idle: false,
    };
    Ok((sender, connection, driver))
}

/// Waits (at most [`SETTINGS_WAIT`]) until hyper has read the server's settings on a new
/// connection, so that its stream limit is known before streams are put on it: streams sent
/// past a limit the client did not know yet are refused, or wait inside hyper for others to
/// end. hyper reads the settings in a task of its own and tells no one, so this looks at the
/// limit a few times, backing off from 1 ms to 16 ms.
pub(crate) async fn read_settings(limit: &dyn StreamLimit) {
    let deadline = tokio::time::Instant::now() + SETTINGS_WAIT;
    let mut pause = Duration::from_millis(1);
    while limit.max_streams() == UNREAD && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(16));
    }
}

/// Runs a lane's connection (hyper's request side of it; hyper runs the I/O in a task of its
/// own), and closes it once it has carried no stream for the idle timeout.
struct Driver<T>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    connection: Shared<T>,
    in_flight: Arc<AtomicUsize>,
    idle_timeout: Duration,
    idle: Pin<Box<Sleep>>,
    was_idle: bool,
}

impl<T> Future for Driver<T>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let done = self
            .connection
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .as_mut()
            .poll(cx);
        if let Poll::Ready(result) = done {
            if let Err(error) = result {
                tracing::debug!(%error, "HTTP/2 lane connection ended");
            }
            return Poll::Ready(());
        }
        // Idle twice in a row, a timeout apart: close (dropping the connection sends GOAWAY).
        let this = &mut *self;
        while this.idle.as_mut().poll(cx).is_ready() {
            let idle = this.in_flight.load(Ordering::Relaxed) == 0;
            if idle && this.was_idle {
                tracing::debug!("HTTP/2 lane connection idle: closed");
                return Poll::Ready(());
            }
            this.was_idle = idle;
            let next = tokio::time::Instant::now() + this.idle_timeout;
            this.idle.as_mut().reset(next);
        }
        Poll::Pending
    }
}

/// A stream's place in a lane, given back when the stream ends or is dropped.
pub(crate) struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

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
