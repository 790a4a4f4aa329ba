//! The in-repo test server: a real hyper server on a loopback TCP port, optionally behind TLS
//! with a certificate authority made by rcgen, answering each request with a scripted
//! [`Reply`] and recording what it received. Also a minimal HTTP `CONNECT` proxy.
//!
//! Used by the client's, the CLI's and the benchmarks' tests; not published.

mod proxy;
mod reply;
mod tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Method, Uri};
use http_body_util::BodyExt;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use proxy::TestProxy;
pub use reply::{Ending, Reply, sse_body};
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

type Handler = dyn Fn(&Recorded) -> Reply + Send + Sync;

/// How a TLS test server differs from the defaults.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// Offer `h2` by ALPN (with `http/1.1`); `false` offers only `http/1.1`. Default `true`.
    pub http2: bool,
    /// The server's `SETTINGS_MAX_CONCURRENT_STREAMS` (hyper's default, 200, when `None`).
    pub max_concurrent_streams: Option<u32>,
}

impl Default for TlsOptions {
    fn default() -> Self {
        Self {
            http2: true,
            max_concurrent_streams: None,
        }
    }
}

/// A running test server. Stops when dropped.
#[derive(Debug)]
pub struct TestServer {
    address: SocketAddr,
    tls: Option<TestCa>,
    requests: Arc<Mutex<Vec<Recorded>>>,
    connections: Arc<AtomicUsize>,
    abandoned: Arc<AtomicUsize>,
    stop: watch::Sender<bool>,
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
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let abandoned = Arc::new(AtomicUsize::new(0));
        let (stop, mut stopped) = watch::channel(false);
        let (tls, acceptor, stream_limit) = match tls {
            None => (None, None, None),
            Some((ca, options)) => {
                let mut config = ca.server_config();
                if !options.http2 {
                    config.alpn_protocols = vec![b"http/1.1".to_vec()];
                }
                let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
                (Some(ca), Some(acceptor), options.max_concurrent_streams)
            }
        };
        let (recorded, counted, dropped) =
            (requests.clone(), connections.clone(), abandoned.clone());
        tokio::spawn(async move {
            loop {
                let (tcp, _) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(_) => continue,
                    },
                    _ = stopped.changed() => return,
                };
                let _ = tcp.set_nodelay(true);
                counted.fetch_add(1, Ordering::SeqCst);
                let handler = handler.clone();
                let recorded = recorded.clone();
                let dropped = dropped.clone();
                let acceptor = acceptor.clone();
                let mut stopped = stopped.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let handler = handler.clone();
                        let recorded = recorded.clone();
                        let dropped = dropped.clone();
                        async move {
                            Ok::<_, Infallible>(answer(request, &handler, &recorded, dropped).await)
                        }
                    });
                    let mut builder = auto::Builder::new(TokioExecutor::new());
                    if let Some(limit) = stream_limit {
                        builder.http2().max_concurrent_streams(limit);
                    }
                    match acceptor {
                        Some(acceptor) => {
                            let Ok(tls) = acceptor.accept(tcp).await else {
                                return;
                            };
                            let connection = builder.serve_connection(TokioIo::new(tls), service);
                            tokio::select! { _ = connection => {}, _ = stopped.changed() => {} }
                        }
                        None => {
                            let connection = builder.serve_connection(TokioIo::new(tcp), service);
                            tokio::select! { _ = connection => {}, _ = stopped.changed() => {} }
                        }
                    }
                });
            }
        });
        Self {
            address,
            tls,
            requests,
            connections,
            abandoned,
            stop,
        }
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

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("not poisoned").clone()
    }

    /// How many replies the client stopped reading before their end (a dropped stream, a
    /// cancelled call).
    pub fn abandoned(&self) -> usize {
        self.abandoned.load(Ordering::SeqCst)
    }

    /// How many TCP connections were accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn answer(
    request: http::Request<hyper::body::Incoming>,
    handler: &Arc<Handler>,
    recorded: &Arc<Mutex<Vec<Recorded>>>,
    abandoned: Arc<AtomicUsize>,
) -> http::Response<reply::ReplyBody> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let request = {
        let mut requests = recorded.lock().expect("not poisoned");
        let request = Recorded {
            index: requests.len(),
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body,
            version: parts.version,
        };
        requests.push(request.clone());
        request
    };
    let reply = handler(&request);
    if !reply.head_delay().is_zero() {
        tokio::time::sleep(reply.head_delay()).await;
    }
    reply.into_response(abandoned)
}
