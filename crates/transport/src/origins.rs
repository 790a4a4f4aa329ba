//! What the transport knows of each HTTPS origin: the protocol its server chose by ALPN, and,
//! for HTTP/2, the connections (lanes) its streams are spread over.
//!
//! hyper-util's pool, left alone, has two habits that hurt with many concurrent streams:
//! - Before it knows that an origin speaks HTTP/2, every request that finds no idle connection
//!   starts a TCP and TLS connection of its own; a burst of 1,000 requests makes 1,000 TLS
//!   handshakes, all but one thrown away once the first negotiates `h2`.
//! - Once it does know, it sends every request on one HTTP/2 connection; past the server's
//!   `SETTINGS_MAX_CONCURRENT_STREAMS` (100 to 256 on common servers) the extra requests wait
//!   inside hyper until a stream ends, which for long LLM streams is a long time.
//!
//! So, per origin (`host:port`):
//! - **Unknown**: the first request makes one connection, offering `h2` and `http/1.1` by
//!   ALPN (the *probe*); it and the requests after it wait for that handshake (not for a
//!   response). If the server chose HTTP/2, the connection is lane 0; if it chose HTTP/1.1,
//!   the connection is let go (one handshake spent, once) and the requests go to the shared
//!   pool; if it failed, the waiting requests go to the shared pool, each with its own
//!   connection and error.
//! - **HTTP/1.1**: every request goes to the shared hyper-util pool (one connection per open
//!   stream anyway).
//! - **HTTP/2**: requests fill *lanes* ([`crate::lanes`]), each one HTTP/2 connection of at
//!   most `streams_per_connection` streams and at most what the server allows, a new lane
//!   opened when the others are full.
//!
//! Every connection the transport makes reports its ALPN here, so the knowledge follows the
//! server: a connection that negotiates HTTP/1.1 turns an HTTP/2 origin to HTTP/1.1 and the
//! reverse, and a failed connection makes the origin unknown again (unless its HTTP/2
//! connections still work).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::Full;
use hyper::client::conn::http2;
use hyper_util::client::legacy::connect::Connection;
use hyper_util::client::legacy::{Client, ResponseFuture};
use tokio::sync::watch;
use tower_service::Service;

use crate::lanes::{self, Connected, Found, Lane, Slot};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How many origins are remembered; past this, origins with nothing in flight are forgotten.
const MAX_ORIGINS: usize = 64;
/// The most lanes (HTTP/2 connections) per origin; past this, the least busy lane takes more.
const MAX_LANES: usize = 256;
/// How many times a request waits for a lane (whose connection failed) before it goes through
/// the shared pool.
const MAX_WAITS: usize = 4;

/// The origin key of a URI: `host:port`, lower case, the port explicit.
pub(crate) fn origin_key(uri: &Uri) -> Option<Box<str>> {
    let host = uri.host()?;
    let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
        Some("http") => 80,
        _ => 443,
    });
    Some(format!("{}:{port}", host.to_ascii_lowercase()).into_boxed_str())
}

/// What is known of an origin's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Unknown,
    Http1,
    Http2,
}

struct Origin {
    protocol: Protocol,
    lanes: Vec<Lane>,
    /// The lowest stream limit the origin's connections have had once their settings were read:
    /// what a lane whose own limit is not known yet is held to.
    learned: Option<usize>,
}

impl Origin {
    fn busy(&self) -> bool {
        self.lanes.iter().any(|lane| lane.in_flight() > 0)
    }

    /// The lane with room for one more stream, a new one if all are full.
    fn lane_with_room(&mut self, limit: usize) -> usize {
        let learned = self.learned;
        if let Some(free) = self
            .lanes
            .iter()
            .position(|lane| lane.has_room(limit, learned))
        {
            return free;
        }
        if self.lanes.len() < MAX_LANES {
            self.lanes.push(Lane::new());
            return self.lanes.len() - 1;
        }
        (0..self.lanes.len())
            .min_by_key(|&at| self.lanes[at].in_flight())
            .unwrap_or(0)
    }
}

/// The per-origin knowledge, shared by the transport and the connectors that report to it.
pub(crate) struct Registry {
    origins: Mutex<HashMap<Box<str>, Origin>>,
    /// What a new origin starts as: `Unknown`, or the one protocol offered.
    first: Protocol,
}

impl Registry {
    fn with<T>(&self, key: &str, f: impl FnOnce(&mut Origin) -> T) -> T {
        let mut origins = self
            .origins
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if !origins.contains_key(key) && origins.len() >= MAX_ORIGINS {
            origins.retain(|_, origin| origin.busy());
        }
        let origin = origins.entry(key.into()).or_insert_with(|| Origin {
            protocol: self.first,
            lanes: Vec::new(),
            learned: None,
        });
        f(origin)
    }
}

impl Registry {
    /// A connection to `key` was made; `h2` says whether it negotiated HTTP/2.
    fn connected(&self, key: &str, h2: bool) {
        self.with(key, |origin| {
            origin.protocol = if h2 { Protocol::Http2 } else { Protocol::Http1 };
        });
    }

    /// A connection to `key` failed: what was known may be stale, unless the origin's HTTP/2
    /// connections still work.
    fn failed(&self, key: &str) {
        let first = self.first;
        self.with(key, |origin| {
            if !origin.lanes.iter().any(Lane::is_ready) {
                origin.protocol = first;
            }
        });
    }
}

/// A connector that reports each connection's protocol (or failure) to the [`Registry`].
pub(crate) struct Reporting<C> {
    inner: C,
    registry: Weak<Registry>,
}

impl<C: Clone> Clone for Reporting<C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            registry: self.registry.clone(),
        }
    }
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
        let registry = self.registry.clone();
        let connecting = self.inner.call(destination);
        Box::pin(async move {
            let connection = connecting.await.map_err(Into::into);
            if let (Some(key), Some(registry)) = (key, registry.upgrade()) {
                match &connection {
                    Ok(io) => registry.connected(&key, io.connected().is_negotiated_h2()),
                    Err(_) => registry.failed(&key),
                }
            }
            connection
        })
    }
}

/// The HTTPS side of the transport: the shared pool, the HTTP/2 lanes, and the registry.
pub(crate) struct Origins<C> {
    shared: Client<Reporting<C>, Full<Bytes>>,
    registry: Arc<Registry>,
    /// Connects a probe: `h2` and `http/1.1` offered by ALPN.
    probe_connector: Reporting<C>,
    /// Connects the lanes of an HTTP/2 origin: only `h2` offered.
    lane_connector: Reporting<C>,
    streams_per_connection: usize,
    idle_timeout: Duration,
}

/// The future of a response head: from the shared pool, or a request to send on a lane (sent
/// in the caller's future, which then holds it whole: one allocation per request).
#[allow(clippy::large_enum_variant)]
pub(crate) enum Head {
    Pool(ResponseFuture),
    Lane(http2::SendRequest<Full<Bytes>>, http::Request<Full<Bytes>>),
}

/// Where a request went: its response, and the lane slot it holds while its body is open.
pub(crate) struct Dispatched {
    pub(crate) head: Head,
    pub(crate) slot: Option<Slot>,
}

/// What became of a request: sent, or waiting for a lane's connection.
pub(crate) enum Routed {
    Sent(Dispatched),
    Waiting(Waiting),
}

/// A request waiting for its lane's connection (which it has made when `connect` is set),
/// holding a place on that lane.
pub(crate) struct Waiting {
    request: http::Request<Full<Bytes>>,
    changed: watch::Receiver<()>,
    reserved: Slot,
    connect: Option<LaneJob>,
}

/// The making of a lane's connection. Dropped unfinished (its task never ran, or was
/// cancelled), it lets the lane go: idle again, its waiting requests woken.
pub(crate) struct LaneJob {
    key: Box<str>,
    at: usize,
    /// The lane's streams in flight, which its connection's driver watches.
    in_flight: Arc<AtomicUsize>,
    /// A probe: the origin's protocol is not known yet.
    probe: bool,
    registry: Weak<Registry>,
    finished: bool,
}

impl LaneJob {
    /// Tells the lane how its connection went (and so wakes its waiting requests).
    fn finish(&mut self, made: Option<Connected>) {
        self.finished = true;
        let Some(registry) = self.registry.upgrade() else {
            return;
        };
        registry.with(&self.key, |origin| {
            let Some(lane) = origin.lanes.get_mut(self.at) else {
                return;
            };
            match made {
                Some((sender, limit)) => {
                    lane.connected(sender, limit);
                    if let Some(read) = lane.server_limit() {
                        origin.learned = Some(origin.learned.map_or(read, |known| known.min(read)));
                    }
                }
                None => lane.failed(),
            }
        });
    }
}

impl Drop for LaneJob {
    fn drop(&mut self) {
        if !self.finished {
            self.finish(None);
        }
    }
}

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
        idle_timeout: Duration,
    ) -> Self {
        let registry = Arc::new(Registry {
            origins: Mutex::new(HashMap::new()),
            first: match (http1, http2) {
                (false, true) => Protocol::Http2,
                (true, false) => Protocol::Http1,
                _ => Protocol::Unknown,
            },
        });
        let reporting = |offered| Reporting {
            inner: connector(offered),
            registry: Arc::downgrade(&registry),
        };
        Self {
            shared: build(reporting((http1, http2))),
            probe_connector: reporting((http1, http2)),
            lane_connector: reporting((false, true)),
            registry,
            streams_per_connection: streams_per_connection.max(1),
            idle_timeout,
        }
    }

    /// Sends `request` to its origin's lane or pool, or hands it back to wait (with
    /// [`Origins::after_wait`]) for a lane's connection.
    pub(crate) fn dispatch(&self, key: &str, request: http::Request<Full<Bytes>>) -> Routed {
        self.registry
            .with(key, |origin| self.route(key, origin, request, true))
    }

    /// Sends a request that waited: to a lane if the origin speaks HTTP/2 (waiting again if
    /// the lane's connection failed, a few times), else through the shared pool.
    pub(crate) async fn after_wait(&self, key: &str, mut waiting: Waiting) -> Dispatched {
        for _ in 0..MAX_WAITS {
            self.start_connecting(&mut waiting);
            // An error means the lane's connection was let go: look again all the same.
            let _ = waiting.changed.changed().await;
            let Waiting {
                request, reserved, ..
            } = waiting;
            let routed = self.registry.with(key, |origin| {
                // The place held while waiting is given back before choosing again.
                drop(reserved);
                self.route(key, origin, request, false)
            });
            match routed {
                Routed::Sent(dispatched) => return dispatched,
                Routed::Waiting(again) => waiting = again,
            }
        }
        self.start_connecting(&mut waiting);
        // No lane came up for this request: send it as hyper-util would.
        self.pooled(waiting.request)
    }

    /// Has the connection made that `waiting` is to make, if any (in a task of its own, so
    /// that the request's cancellation does not strand the others waiting for it).
    fn start_connecting(&self, waiting: &mut Waiting) {
        if let Some(job) = waiting.connect.take() {
            tokio::spawn(self.connect_lane(job, waiting.request.uri()));
        }
    }

    fn pooled(&self, request: http::Request<Full<Bytes>>) -> Dispatched {
        Dispatched {
            head: Head::Pool(self.shared.request(request)),
            slot: None,
        }
    }

    /// `first_time`: whether the request may start a probe (one that waited for a probe that
    /// failed goes through the shared pool instead).
    fn route(
        &self,
        key: &str,
        origin: &mut Origin,
        request: http::Request<Full<Bytes>>,
        first_time: bool,
    ) -> Routed {
        let at = match origin.protocol {
            Protocol::Http1 => return Routed::Sent(self.pooled(request)),
            Protocol::Unknown if !first_time => return Routed::Sent(self.pooled(request)),
            // Every request waits on the probe, lane 0.
            Protocol::Unknown => {
                if origin.lanes.is_empty() {
                    origin.lanes.push(Lane::new());
                }
                0
            }
            Protocol::Http2 => origin.lane_with_room(self.streams_per_connection),
        };
        match origin.lanes[at].send(request) {
            Found::Sent(sender, request, slot) => Routed::Sent(Dispatched {
                head: Head::Lane(sender, request),
                slot: Some(slot),
            }),
            Found::Wait {
                request,
                changed,
                reserved,
                connect,
            } => Routed::Waiting(Waiting {
                request,
                changed,
                reserved,
                connect: connect.then(|| LaneJob {
                    key: key.into(),
                    at,
                    in_flight: origin.lanes[at].load(),
                    probe: origin.protocol == Protocol::Unknown,
                    registry: Arc::downgrade(&self.registry),
                    finished: false,
                }),
            }),
        }
    }

    /// Connects a lane, and tells it how that went (waking its waiting requests).
    fn connect_lane(
        &self,
        mut job: LaneJob,
        uri: &Uri,
    ) -> impl Future<Output = ()> + Send + 'static {
        let mut connector = if job.probe {
            self.probe_connector.clone()
        } else {
            self.lane_connector.clone()
        };
        let destination = destination(uri);
        let idle_timeout = self.idle_timeout;
        let in_flight = job.in_flight.clone();
        async move {
            let made = async {
                let destination = destination.ok_or("no destination")?;
                std::future::poll_fn(|cx| connector.poll_ready(cx)).await?;
                // The connector reports the server's choice to the registry.
                let io = connector.call(destination).await?;
                if !io.connected().is_negotiated_h2() {
                    return Err("the server chose HTTP/1.1".into());
                }
                Ok::<_, BoxError>(lanes::handshake(io, idle_timeout, in_flight).await?)
            }
            .await;
            match made {
                Ok((sender, limit, driver)) => {
                    tokio::spawn(driver);
                    lanes::read_settings(&*limit).await;
                    job.finish(Some((sender, limit)));
                }
                Err(error) => {
                    tracing::debug!(%error, origin = %job.key, "no HTTP/2 connection");
                    job.finish(None);
                }
            }
        }
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
