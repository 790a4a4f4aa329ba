//! How an HTTPS request reaches a connection: the shared hyper-util pool, or an HTTP/2 lane of
//! its origin. The rules are [`crate::routing`]'s; this is the shell that follows them with
//! sockets and tasks.
//!
//! hyper-util's pool, left alone, has two habits that hurt with many concurrent streams:
//! before it knows that an origin speaks HTTP/2, every request that finds no idle connection
//! starts a TLS connection of its own (a burst of 1,000 requests makes 1,000 handshakes); once
//! it knows, it sends every request on one HTTP/2 connection, and past the server's
//! `SETTINGS_MAX_CONCURRENT_STREAMS` the rest wait inside hyper until a stream ends. So an
//! origin's first requests wait for one probe connection (which, when the server chooses
//! HTTP/1.1, the pool then takes for the first of them), and an HTTP/2 origin's streams are
//! spread over lanes. Every connection the transport makes reports its ALPN to the routing,
//! so the knowledge follows the server.
//!
//! A request that the server provably did not process is sent again, on another connection,
//! without the caller seeing it (RFC 9113 §8.7): one queued on a connection that closed before
//! sending it (hyper hands it back), one on a stream above the last stream id of the server's
//! GOAWAY, or one refused with `REFUSED_STREAM`. Nothing else is resent here.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::TrySendError;
use hyper_util::client::legacy::connect::Connection;
use hyper_util::client::legacy::{Client, ResponseFuture};
use tower_service::Service;

use crate::error::BoxError;
use crate::lanes::{self, LaneTask, SharedError, Slot, Table, Waiters};
use crate::origin::origin_key;
use crate::routing::{Ask, LaneId, Protocol, Route};
use crate::{TransportError, TransportErrorKind};

/// How many times a request may be routed again (after waiting for a lane's connection, or
/// after being turned away unprocessed) before it goes through the shared pool.
const MAX_TURNS: usize = 8;

/// A connector that bounds each connection's making (TCP, a proxy tunnel, TLS) by the connect
/// timeout and reports its protocol (or failure) to the routing.
pub(crate) struct Reporting<C> {
    inner: C,
    table: Weak<Table>,
    timeout: Option<Duration>,
    /// Connections made by a probe that found HTTP/1.1, for the pool's next connection to the
    /// same origin (shared by every connector of the transport).
    parked: Arc<Parked>,
}

/// A probe's HTTP/1.1 connection, waiting for the pool: the request that waited for the probe
/// goes through the pool next, and its connection is this one instead of a second handshake.
/// Kept at most [`PARKED_FOR`]; one per origin.
#[derive(Default)]
pub(crate) struct Parked(std::sync::Mutex<Vec<ParkedConnection>>);

/// A parked connection: its origin, since when, and the connection (the connector's type).
type ParkedConnection = (Box<str>, tokio::time::Instant, Box<dyn Any + Send>);

/// How long a probe's HTTP/1.1 connection waits for the pool to take it.
const PARKED_FOR: Duration = Duration::from_secs(5);

impl Parked {
    fn put<T: Send + 'static>(&self, key: Box<str>, io: T) {
        let mut parked = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        parked.retain(|(parked_key, at, _)| *parked_key != key && at.elapsed() < PARKED_FOR);
        parked.push((key, tokio::time::Instant::now(), Box::new(io)));
    }

    fn take<T: 'static>(&self, key: &str) -> Option<T> {
        let mut parked = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        parked.retain(|(_, at, _)| at.elapsed() < PARKED_FOR);
        let position = parked
            .iter()
            .position(|(parked_key, ..)| &**parked_key == key)?;
        let (.., io) = parked.swap_remove(position);
        io.downcast::<T>().ok().map(|io| *io)
    }
}

impl<C: Clone> Clone for Reporting<C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            table: self.table.clone(),
            timeout: self.timeout,
            parked: self.parked.clone(),
        }
    }
}

/// `connecting`, given at most `timeout`: past it, an `io::ErrorKind::TimedOut` error saying
/// what did not finish in time (so that the error is known as a timeout by its type).
async fn within<T>(
    timeout: Option<Duration>,
    what: &str,
    connecting: impl Future<Output = Result<T, BoxError>>,
) -> Result<T, BoxError> {
    let Some(limit) = timeout else {
        return connecting.await;
    };
    tokio::time::timeout(limit, connecting)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("{what} did not finish within {limit:?}"),
            )
            .into())
        })
}

impl<C> Service<Uri> for Reporting<C>
where
    C: Service<Uri> + Send + 'static,
    C::Response: Connection + Send + 'static,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, destination: Uri) -> Self::Future {
        let key = origin_key(&destination);
        if let Some(io) = key
            .as_deref()
            .and_then(|key| self.parked.take::<C::Response>(key))
        {
            // The probe's connection (its protocol already reported).
            return Box::pin(async move { Ok(io) });
        }
        tracing::debug!(origin = key.as_deref(), "connecting");
        let table = self.table.clone();
        let connecting = self.inner.call(destination);
        let timeout = self.timeout;
        Box::pin(async move {
            let connecting = async { connecting.await.map_err(Into::into) };
            let connection = within(timeout, "connecting (TCP, proxy, TLS)", connecting).await;
            if let (Some(key), Some(table)) = (key, table.upgrade()) {
                let mut routing = table.lock();
                match &connection {
                    Ok(io) if io.connected().is_negotiated_h2() => {
                        routing.negotiated(&key, Protocol::Http2);
                    }
                    Ok(_) => routing.negotiated(&key, Protocol::Http1),
                    Err(_) => routing.connect_failed(&key),
                }
            }
            connection
        })
    }
}

/// The HTTPS side of the transport: the shared pool, the lanes, and their routing.
pub(crate) struct Origins<C> {
    shared: Client<Reporting<C>, Full<Bytes>>,
    table: Arc<Table>,
    /// Connects a probe: `h2` and `http/1.1` offered by ALPN.
    probe_connector: Reporting<C>,
    /// Connects the lanes of an HTTP/2 origin: only `h2` offered.
    lane_connector: Reporting<C>,
    idle_timeout: Duration,
    keep_alive: Option<lanes::KeepAlive>,
    connect_timeout: Option<Duration>,
    /// `false`: every request through the shared pool (no lanes, no probe).
    lanes: bool,
}

/// Where the routing sent a request.
pub(crate) enum Routed {
    Pool,
    /// On an open lane: send on `sender`, holding `slot` until the body ends.
    Lane {
        sender: lanes::Sender,
        slot: Slot,
    },
    /// Wait for a lane's connection (made by `connect` when set), holding a place on it.
    Wait {
        outcome: tokio::sync::watch::Receiver<Option<SharedError>>,
        place: Slot,
        connect: Option<LaneJob>,
    },
}

/// The making of a lane's connection. Dropped unfinished (the request that was to start it was
/// dropped first), it lets the lane go, and its waiters route again.
pub(crate) struct LaneJob {
    table: Weak<Table>,
    lane: LaneId,
    probe: bool,
    finished: bool,
}

impl LaneJob {
    fn fail(mut self, why: Option<SharedError>) {
        self.finished = true;
        if let Some(table) = self.table.upgrade() {
            table.fail(self.lane, why);
        }
    }
}

impl Drop for LaneJob {
    fn drop(&mut self) {
        if !self.finished
            && let Some(table) = self.table.upgrade()
        {
            table.fail(self.lane, None);
        }
    }
}

/// A response head with the slot its body holds.
pub(crate) type Head = (http::Response<Incoming>, Option<Slot>);

impl<C> Origins<C>
where
    C: Service<Uri> + Clone + Send + Sync + 'static,
    C::Response: Connection + hyper::rt::Read + hyper::rt::Write + Send + Unpin + 'static,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    /// `connector((http1, http2))` makes a connector offering those protocols by ALPN,
    /// `build(connector)` the shared pool over one; `(http1, http2)` are the protocols offered.
    pub(crate) fn new(
        connector: impl Fn((bool, bool)) -> C,
        build: impl FnOnce(Reporting<C>) -> Client<Reporting<C>, Full<Bytes>>,
        (http1, http2): (bool, bool),
        streams_per_connection: usize,
        (idle_timeout, keep_alive): (Duration, Option<lanes::KeepAlive>),
        connect_timeout: Option<Duration>,
        lanes: bool,
    ) -> Self {
        let first = match (http1, http2) {
            (false, true) => Protocol::Http2,
            (true, false) => Protocol::Http1,
            _ => Protocol::Unknown,
        };
        let table = Arc::new(Table::new(first, streams_per_connection));
        let parked = Arc::new(Parked::default());
        let reporting = |offered| Reporting {
            inner: connector(offered),
            table: Arc::downgrade(&table),
            timeout: connect_timeout,
            parked: parked.clone(),
        };
        Self {
            shared: build(reporting((http1, http2))),
            probe_connector: reporting((http1, http2)),
            lane_connector: reporting((false, true)),
            table,
            idle_timeout,
            keep_alive,
            connect_timeout,
            lanes,
        }
    }

    /// Where a request to `key` goes, asked as `ask` says.
    pub(crate) fn route(&self, key: &str, ask: Ask) -> Routed {
        if !self.lanes {
            return Routed::Pool;
        }
        let mut routing = self.table.lock();
        let routed = match routing.route(key, ask, || Waiters::new(None)) {
            Route::Pool => Routed::Pool,
            Route::Send { lane, link } => Routed::Lane {
                sender: link.clone(),
                slot: Slot::new(&self.table, lane),
            },
            Route::Wait {
                lane,
                link,
                connect,
            } => Routed::Wait {
                outcome: link.subscribe(),
                place: Slot::new(&self.table, lane),
                connect: connect.map(|connect| LaneJob {
                    table: Arc::downgrade(&self.table),
                    lane,
                    probe: connect.probe,
                    finished: false,
                }),
            },
        };
        // What makes an origin more than one connection, when it happens: the table after the
        // choice (formatted only when the event is enabled).
        match &routed {
            Routed::Wait {
                connect: Some(_), ..
            } => {
                tracing::debug!(origin = key, ?ask, table = %routing.describe(key), "a new connection")
            }
            Routed::Pool if ask != Ask::First => tracing::debug!(
                origin = key,
                ?ask,
                table = %routing.describe(key),
                "routed again: the shared pool"
            ),
            _ => {}
        }
        routed
    }

    /// Sends through the shared pool.
    pub(crate) fn pooled(&self, request: http::Request<Full<Bytes>>) -> ResponseFuture {
        self.shared.request(request)
    }

    /// Sends a request routed to a lane (or to wait for one) until it has a response head,
    /// routing it again after a wait or when it was turned away unprocessed. A `fresh` request
    /// (asked for a connection of its own) goes, after its wait, on the lane it waited for.
    pub(crate) async fn on_lanes(
        self: Arc<Self>,
        key: Box<str>,
        request: http::Request<Bytes>,
        mut routed: Routed,
        fresh: bool,
    ) -> Result<Head, TransportError> {
        // What goes next: a copy of `request`, or the request hyper handed back unsent.
        let mut returned: Option<http::Request<Full<Bytes>>> = None;
        for _ in 0..MAX_TURNS {
            match routed {
                Routed::Pool => break,
                Routed::Lane { mut sender, slot } => {
                    let mut next = returned.take().unwrap_or_else(|| copy(&request));
                    *next.version_mut() = http::Version::HTTP_2;
                    match sender.try_send_request(next).await {
                        Ok(response) => return Ok((response, Some(slot))),
                        Err(mut error) => {
                            let away = turned_away(&error);
                            if away.is_some_and(|away| away.lane_closed) {
                                self.table.lock().closed(slot.lane());
                            }
                            drop(slot);
                            if away.is_none() {
                                return Err(lane_error(error.into_error()));
                            }
                            tracing::debug!(error = %error.error(), "HTTP/2 request not processed: sent again");
                            returned = error.take_message();
                        }
                    }
                }
                Routed::Wait {
                    mut outcome,
                    place,
                    connect,
                } => {
                    if let Some(job) = connect {
                        tokio::spawn(self.connect_lane(job, request.uri()));
                    }
                    // An error: the connection was let go unfinished; look again all the same.
                    let _ = outcome.changed().await;
                    if let Some(why) = outcome.borrow().clone() {
                        return Err(crate::classify::connect_error(
                            "connection failed",
                            Box::new(why),
                        ));
                    }
                    let waited_for = place.lane();
                    drop(place);
                    if fresh {
                        routed = self.route(&key, Ask::On(waited_for));
                        continue;
                    }
                }
            }
            routed = self.route(&key, Ask::Again);
        }
        // No lane took it: as hyper-util alone would send it (on the version it negotiates).
        tracing::debug!(
            origin = &*key,
            table = %self.table.lock().describe(&key),
            "no lane took the request: the shared pool"
        );
        let mut next = returned.unwrap_or_else(|| copy(&request));
        *next.version_mut() = request.version();
        let response = self.pooled(next).await;
        Ok((read_head(response)?, None))
    }

    /// Connects a lane and hands its connection to a [`LaneTask`] (or fails the lane).
    fn connect_lane(&self, job: LaneJob, uri: &Uri) -> impl Future<Output = ()> + Send + 'static {
        let mut connector = if job.probe {
            self.probe_connector.clone()
        } else {
            self.lane_connector.clone()
        };
        let destination = destination(uri);
        let key = origin_key(uri);
        let idle_timeout = self.idle_timeout;
        let keep_alive = self.keep_alive;
        let connect_timeout = self.connect_timeout;
        let table = self.table.clone();
        async move {
            let made = async {
                let destination = destination.ok_or("no destination")?;
                std::future::poll_fn(|cx| connector.poll_ready(cx)).await?;
                // The connector reports the server's choice to the routing, and bounds the
                // making of the connection by the connect timeout.
                let io = connector.call(destination).await?;
                if !io.connected().is_negotiated_h2() {
                    // HTTP/1.1: the waiting request goes through the pool, on this connection.
                    if let Some(key) = key {
                        connector.parked.put(key, io);
                    }
                    return Ok(None);
                }
                let handshake = async { Ok(lanes::handshake(io, keep_alive).await?) };
                Ok::<_, BoxError>(Some(
                    within(connect_timeout, "the HTTP/2 handshake", handshake).await?,
                ))
            }
            .await;
            match made {
                Ok(Some((sender, connection))) => {
                    let lane = job.lane;
                    let mut job = job;
                    job.finished = true;
                    tokio::spawn(LaneTask::new(
                        &table,
                        lane,
                        sender,
                        connection,
                        idle_timeout,
                    ));
                }
                // The server chose HTTP/1.1: the waiters look again and find the pool.
                Ok(None) => job.fail(None),
                Err(error) => {
                    tracing::debug!(%error, "no HTTP/2 connection");
                    job.fail(Some(SharedError(Arc::from(error))));
                }
            }
        }
    }
}

/// A request the server did not process, and whether its lane takes no more streams.
#[derive(Debug, Clone, Copy)]
struct TurnedAway {
    lane_closed: bool,
}

/// Whether a lane's failed request was provably not processed by the server.
fn turned_away<T>(error: &TrySendError<T>) -> Option<TurnedAway> {
    if error.message().is_some() {
        // hyper never sent it: the connection closed (or stopped taking streams) first.
        return Some(TurnedAway { lane_closed: true });
    }
    if error.error().is_user() {
        // The only user error a lane's request can meet: hyper's request side was dropped
        // holding it. Its task drops it only when the connection stopped taking streams (the
        // lane's idle close waits for no stream), and what it holds then is a stream h2 queued
        // as pending open, past the server's limit: its HEADERS never left.
        return Some(TurnedAway { lane_closed: true });
    }
    let h2 = std::error::Error::source(error.error())?.downcast_ref::<h2::Error>()?;
    if !h2.is_remote() {
        return None;
    }
    if h2.is_go_away() {
        // Above the GOAWAY's last stream id, or started after it arrived.
        return Some(TurnedAway { lane_closed: true });
    }
    (h2.is_reset() && h2.reason() == Some(h2::Reason::REFUSED_STREAM))
        .then_some(TurnedAway { lane_closed: false })
}

/// The response head, or the error classified: whether the request may have been sent.
pub(crate) fn read_head(
    response: Result<http::Response<Incoming>, hyper_util::client::legacy::Error>,
) -> Result<http::Response<Incoming>, TransportError> {
    response.map_err(|error| {
        if error.is_connect() {
            return crate::classify::connect_error("connection failed", Box::new(error));
        }
        // A head hyper could not read says so (a hostile or broken server), not just "failed".
        let hyper =
            std::error::Error::source(&error).and_then(|e| e.downcast_ref::<hyper::Error>());
        let message = match hyper {
            Some(hyper) if hyper.is_parse() => {
                "the response head could not be read (not HTTP, or over 100 headers or 400 KiB)"
            }
            _ => "request failed",
        };
        TransportError::new(TransportErrorKind::Request, message).with_source(error)
    })
}

/// A copy of `request` to send (the body is shared, not copied).
fn copy(request: &http::Request<Bytes>) -> http::Request<Full<Bytes>> {
    let mut copy = http::Request::new(Full::new(request.body().clone()));
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.headers_mut() = request.headers().clone();
    *copy.version_mut() = request.version();
    copy
}

/// An own HTTP/2 lane's error: not sent when the connection closed first, else maybe sent.
fn lane_error(error: hyper::Error) -> TransportError {
    if error.is_canceled() || error.is_closed() {
        TransportError::new(
            TransportErrorKind::Connect,
            "the HTTP/2 connection closed before the request was sent",
        )
        .with_source(error)
    } else {
        TransportError::new(TransportErrorKind::Request, "request failed").with_source(error)
    }
}

/// The scheme and authority of `uri`: where a connection goes.
fn destination(uri: &Uri) -> Option<Uri> {
    Uri::builder()
        .scheme(uri.scheme()?.clone())
        .authority(uri.authority()?.clone())
        .path_and_query("/")
        .build()
        .ok()
}
