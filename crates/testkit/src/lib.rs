//! The in-repo test server: a real hyper server on a loopback TCP port, optionally behind TLS
//! with a certificate authority made by rcgen, answering each request with a scripted
//! [`Reply`] and recording what it received. Also a minimal HTTP `CONNECT` proxy, and an
//! HTTP/2 server that writes its frames itself ([`FrameServer`]) for GOAWAY and refused streams
//! on cue, and a real nginx in front of it ([`Nginx`]).
//!
//! Used by the client's, the CLI's and the benchmarks' tests; not published.

mod connection;
mod fault;
pub mod fixtures;
mod frame_server;
mod interop;
mod limited;
mod memory;
mod nginx;
mod otlp;
pub mod providers;
mod proxy;
mod reply;
mod scenarios;
mod serve;
mod tinyproxy;
mod tls;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Uri};
use tokio::net::TcpListener;
use tokio::sync::watch;

use serve::Shared;

pub use fault::{At, ConnectionPlan, Fault, FaultProxy, Shape};
pub use frame_server::{FRAME_SERVER_BODY, FrameScript, FrameServer};
pub use limited::{LimitedApi, Limits, Served, server_prompt_tokens};
pub use memory::{MemoryConnector, MemoryReply, Scripted, Step, Taken};
pub use nginx::{Nginx, NginxSite, REQUIRE_NGINX};
pub use otlp::{OtlpReceiver, Received};
pub use proxy::TestProxy;
pub use reply::{Ending, Gate, Reply, sse_body};
pub use scenarios::{HOLD_GIVE_UP, STALL, Scenarios};
pub use tinyproxy::{REQUIRE_TINYPROXY, Tinyproxy};
pub use tls::TestCa;

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Its position among the requests this server received (0-based).
    pub index: usize,
    /// The method.
    pub method: Method,
    /// The request target.
    pub uri: Uri,
    /// The headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
    /// The HTTP version.
    pub version: http::Version,
}

impl Recorded {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the request body is JSON")
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

/// A host name that resolves nowhere but through the [`TestProxy`] (which reaches every host on
/// loopback), and that the test CA's certificate names: a proxied request's destination.
pub const PROXIED_HOST: &str = "proxied.test";

pub(crate) type Handler = dyn Fn(&Recorded) -> Reply + Send + Sync;

/// How a TLS test server differs from the defaults.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// Offer `h2` by ALPN (with `http/1.1`); `false` offers only `http/1.1`. Default `true`.
    pub http2: bool,
    /// The server's `SETTINGS_MAX_CONCURRENT_STREAMS` (hyper's default, 200, when `None`).
    pub max_concurrent_streams: Option<u32>,
    /// Shuts a connection down gracefully (a GOAWAY on HTTP/2) once it has carried no request
    /// for this long, as nginx's `keepalive_timeout` does. `None` (the default): kept open.
    pub idle_timeout: Option<Duration>,
}

impl Default for TlsOptions {
    fn default() -> Self {
        Self {
            http2: true,
            max_concurrent_streams: None,
            idle_timeout: None,
        }
    }
}

/// A running test server. Stops when dropped.
pub struct TestServer {
    address: SocketAddr,
    tls: Option<TestCa>,
    shared: Arc<Shared>,
    /// Stops the current listener and its connections (replaced by [`TestServer::restart`]).
    stop: Mutex<watch::Sender<bool>>,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("address", &self.address)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl TestServer {
    /// Serves plain HTTP on `127.0.0.1`, answering each request with `handler`'s reply.
    pub async fn start(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Self {
        Self::spawn(Arc::new(handler), None).await
    }

    /// Serves HTTPS (HTTP/1.1 and HTTP/2 by ALPN) with a certificate for `localhost` and
    /// `127.0.0.1` issued by a fresh test CA ([`TestServer::ca`]).
    pub async fn start_tls(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Self {
        Self::start_tls_with(TlsOptions::default(), handler).await
    }

    /// Serves HTTPS as [`TestServer::start_tls`] does, with these options.
    pub async fn start_tls_with(
        options: TlsOptions,
        handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> Self {
        Self::spawn(Arc::new(handler), Some((TestCa::new(), options))).await
    }

    async fn spawn(handler: Arc<Handler>, tls: Option<(TestCa, TlsOptions)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let address = listener.local_addr().expect("bound address");
        let (tls, acceptor, options) = match tls {
            None => (None, None, TlsOptions::default()),
            Some((ca, options)) => {
                let mut config = ca.server_config();
                if !options.http2 {
                    config.alpn_protocols = vec![b"http/1.1".to_vec()];
                }
                let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
                (Some(ca), Some(acceptor), options)
            }
        };
        let shared = Arc::new(Shared {
            handler,
            recorded: Mutex::new(Vec::new()),
            accepted: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
            abandoned: Arc::new(AtomicUsize::new(0)),
            acceptor,
            stream_limit: options.max_concurrent_streams,
            idle_timeout: options.idle_timeout,
            goaway: watch::Sender::new(0),
            cors: std::sync::atomic::AtomicBool::new(false),
            meters: Mutex::new(std::collections::HashMap::new()),
        });
        let (stop, stopped) = watch::channel(false);
        serve::accept_loop(listener, shared.clone(), stopped);
        Self {
            address,
            tls,
            shared,
            stop: Mutex::new(stop),
        }
    }

    /// The base URL as reached through the [`TestProxy`]: `https://proxied.test:PORT/v1`.
    pub fn proxied_base_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{PROXIED_HOST}:{}/v1", self.address.port())
    }

    /// The base URL of the API: `http://127.0.0.1:PORT/v1`, or `https://localhost:PORT/v1`.
    pub fn base_url(&self) -> String {
        match self.tls {
            Some(_) => format!("https://localhost:{}/v1", self.address.port()),
            None => format!("http://127.0.0.1:{}/v1", self.address.port()),
        }
    }

    /// The server's address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The test CA that issued the server's certificate (TLS servers only).
    pub fn ca(&self) -> Option<&TestCa> {
        self.tls.as_ref()
    }

    /// Where the responses on the connection from `client` (the client's address, as the
    /// server saw it) began and where each piece of their bodies began, as offsets in the
    /// bytes the server wrote on that socket (TLS records included): a response's head mark,
    /// then one mark per piece. Empty for an unknown connection. A fault-injecting proxy below
    /// TLS ([`FaultProxy`]) cuts a connection at such a mark.
    pub fn marks(&self, client: SocketAddr) -> Vec<u64> {
        self.shared
            .meters
            .lock()
            .expect("not poisoned")
            .get(&client)
            .map(|meter| meter.marks())
            .unwrap_or_default()
    }

    /// Forgets the requests received so far (a long run's memory stays flat).
    pub fn clear_requests(&self) {
        self.shared.recorded.lock().expect("not poisoned").clear();
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.recorded.lock().expect("not poisoned").clone()
    }

    /// How many replies the client stopped reading before their end (a dropped stream, a
    /// cancelled call).
    pub fn abandoned(&self) -> usize {
        self.shared.abandoned.load(Ordering::SeqCst)
    }

    /// How many TCP connections were accepted.
    pub fn connections(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// How many connections are open now.
    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }

    /// Answers as an API that web pages may call from any origin: CORS preflights get a 204
    /// allowing `POST` with `Authorization` and `Content-Type`, and every response allows any
    /// origin and exposes `retry-after`, `retry-after-ms`, `x-request-id` and `x-should-retry`
    /// to the page.
    pub fn allow_cors(&self) {
        self.shared.cors.store(true, Ordering::SeqCst);
    }

    /// Shuts every open connection down gracefully, as `nginx -s reload` does: on HTTP/2 a
    /// GOAWAY, the streams in flight finish, then the connection closes (on HTTP/1.1 the
    /// connection closes after its request). New connections are served as before.
    pub fn goaway(&self) {
        self.shared
            .goaway
            .send_modify(|generation| *generation += 1);
    }

    /// Stops listening and closes every connection at once, without a GOAWAY or a TLS
    /// close_notify: a killed server. [`TestServer::restart`] listens again.
    pub fn stop(&self) {
        let _ = self.stop.lock().expect("not poisoned").send(true);
    }

    /// Listens again on the same port after [`TestServer::stop`].
    pub async fn restart(&self) {
        self.stop();
        let listener = TcpListener::bind(self.address)
            .await
            .expect("bind the same port again");
        let (stop, stopped) = watch::channel(false);
        *self.stop.lock().expect("not poisoned") = stop;
        serve::accept_loop(listener, self.shared.clone(), stopped);
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}
pub use opentelemetry_proto;
