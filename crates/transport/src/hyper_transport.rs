//! [`HyperTransport`]: hyper-util's pooled client over hyper-rustls.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::lanes::{KeepAlive, Slot, SlotBody};
use crate::origin::origin_key;
use crate::origins::{Origins, Routed, read_head};
use crate::proxy::{Proxy, ProxyConnector};
use crate::routing::Ask;
use crate::scheme::check_scheme;
use crate::tls::{self, Roots};
use crate::{
    BoxFuture, FreshConnection, HttpConnector, ResponseBody, TransportError, TransportErrorKind,
};

/// The default transport: one connection pool, HTTP/1.1 and HTTP/2 by ALPN, rustls, proxies.
///
/// Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct HyperTransport {
    /// For `https://`: the shared pool and the HTTP/2 lanes of each origin (see
    /// [`Origins`]), made at the first `https://` request: the roots are loaded then, once, and
    /// a command that only talks plain `http://` to a local server never reads them.
    https: Arc<LazyHttps>,
    /// For `http://`: a pool of its own, so that plain connections do not carry room for the
    /// TLS state (a few KiB per connection, which counts with hundreds of streams open).
    plain: Client<ProxyConnector, Full<Bytes>>,
    proxy: Proxy,
    allow_insecure_http: bool,
    /// The roots trusted, in words: what a certificate error names.
    roots: Arc<str>,
}

impl fmt::Debug for HyperTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HyperTransport")
            .field("proxy", &self.proxy)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .finish_non_exhaustive()
    }
}

/// Builds a [`HyperTransport`].
#[derive(Debug, Clone)]
pub struct HyperTransportBuilder {
    roots: Roots,
    proxy: Proxy,
    connect_timeout: Option<Duration>,
    pool_idle_timeout: Duration,
    pool_max_idle_per_host: usize,
    http2: bool,
    http1: bool,
    http2_streams_per_connection: usize,
    http2_lanes: bool,
    http2_keep_alive: Option<KeepAlive>,
    allow_insecure_http: bool,
}

impl Default for HyperTransportBuilder {
    fn default() -> Self {
        Self {
            roots: Roots::Default,
            proxy: Proxy::from_env(),
            connect_timeout: Some(Duration::from_secs(5)),
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: usize::MAX,
            http2: true,
            http1: true,
            http2_streams_per_connection: 100,
            http2_lanes: true,
            http2_keep_alive: Some(KeepAlive {
                interval: Duration::from_secs(10),
                timeout: Duration::from_secs(10),
            }),
            allow_insecure_http: false,
        }
    }
}

impl HyperTransportBuilder {
    /// Which certificate authorities to trust.
    #[must_use]
    pub fn roots(mut self, roots: Roots) -> Self {
        self.roots = roots;
        self
    }

    /// Which proxy to use ([`Proxy::from_env`] by default).
    #[must_use]
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = proxy;
        self
    }

    /// The connect timeout (5 s by default, as openai-python; `None` for none): TCP, and for
    /// `https://` the proxy tunnel, the TLS handshake and the HTTP/2 handshake too.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.connect_timeout = timeout.into();
        self
    }

    /// How long an idle pooled connection is kept (90 s by default).
    #[must_use]
    pub fn pool_idle_timeout(mut self, timeout: Duration) -> Self {
        self.pool_idle_timeout = timeout;
        self
    }

    /// The most idle connections kept per host (unbounded by default).
    #[must_use]
    pub fn pool_max_idle_per_host(mut self, max: usize) -> Self {
        self.pool_max_idle_per_host = max;
        self
    }

    /// Only HTTP/1.1 (no HTTP/2 in ALPN).
    #[must_use]
    pub fn http1_only(mut self) -> Self {
        self.http1 = true;
        self.http2 = false;
        self
    }

    /// Only HTTP/2.
    #[must_use]
    pub fn http2_only(mut self) -> Self {
        self.http1 = false;
        self.http2 = true;
        self
    }

    /// The most streams sent on one HTTP/2 connection (100 by default, which common servers
    /// allow: nginx 128, Go 250, hyper 200, h2o 100); more streams open more connections to
    /// the same origin instead of waiting inside one for the server's
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`.
    #[must_use]
    pub fn http2_streams_per_connection(mut self, streams: usize) -> Self {
        self.http2_streams_per_connection = streams.max(1);
        self
    }

    /// Whether HTTP/2 streams are spread over lanes (the default) or sent as hyper-util's pool
    /// alone sends them: `false` puts every stream to an origin on one HTTP/2 connection, and
    /// past the server's `SETTINGS_MAX_CONCURRENT_STREAMS` the others wait inside it until
    /// streams end (what RFC 9113 §5.1.2 asks of a client that opens no other connection);
    /// an origin's first burst then starts a TLS connection per request until one negotiates
    /// `h2`. For servers that object to several connections from one client.
    #[must_use]
    pub fn http2_lanes(mut self, lanes: bool) -> Self {
        self.http2_lanes = lanes;
        self
    }

    /// HTTP/2 PINGs while streams are open: after `interval` (10 s by default) with nothing
    /// received, a PING; no answer within `timeout` (10 s) closes the connection and fails its
    /// streams, instead of waiting for their response or idle timeouts (600 s by default) and
    /// sending retries on a connection gone silent. `None` sends no PINGs.
    #[must_use]
    pub fn http2_keep_alive(mut self, keep_alive: Option<KeepAlive>) -> Self {
        self.http2_keep_alive = keep_alive;
        self
    }

    /// Allows plain `http://` to hosts that are not loopback (refused by default: the API key
    /// would travel in clear).
    #[must_use]
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Builds the transport: sets up the pools. The TLS roots are loaded at the first
    /// `https://` request, once. Without TLS roots or a crypto provider (features off, or no
    /// system roots), plain `http://` to a local server works, and each `https://` request
    /// fails with the reason.
    pub fn build(self) -> Result<HyperTransport, TransportError> {
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(self.connect_timeout);
        let proxied = ProxyConnector {
            http: tcp,
            proxy: self.proxy.clone(),
        };
        let mut pool = Client::builder(TokioExecutor::new());
        pool.timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(self.pool_idle_timeout)
            .pool_max_idle_per_host(self.pool_max_idle_per_host)
            .http2_only(!self.http1);
        if let Some(keep_alive) = self.http2_keep_alive {
            pool.http2_keep_alive_interval(keep_alive.interval)
                .http2_keep_alive_timeout(keep_alive.timeout);
        }
        let roots = self.roots.describe().into();
        let plain = pool.build(proxied.clone());
        let make = move || {
            let tls = tls::client_config(&self.roots).map_err(|error| {
                tracing::debug!(%error, "TLS unavailable: only plain http will work");
                Arc::<str>::from(error.to_string())
            })?;
            Ok(Arc::new(Origins::new(
                |offered| https_connector(tls.clone(), proxied.clone(), offered),
                |connector| pool.build(connector),
                (self.http1, self.http2),
                self.http2_streams_per_connection,
                (self.pool_idle_timeout, self.http2_keep_alive),
                self.connect_timeout,
                self.http2_lanes,
            )))
        };
        let https = LazyHttps {
            made: OnceLock::new(),
            make: Mutex::new(Some(Box::new(make))),
        };
        Ok(HyperTransport {
            https: Arc::new(https),
            plain,
            proxy: self.proxy,
            allow_insecure_http: self.allow_insecure_http,
            roots,
        })
    }
}

/// The pool and lanes of `https://` origins.
type HttpsOrigins = Arc<Origins<HttpsConnector<ProxyConnector>>>;

/// The `https://` side of a [`HyperTransport`], made once, at its first use.
struct LazyHttps {
    /// The origins, or why TLS is unavailable (no roots, no crypto provider): plain `http://`
    /// to a local server still works, and each `https://` request gets that error.
    made: OnceLock<Result<HttpsOrigins, Arc<str>>>,
    /// What makes them (from the builder's settings); taken when they are made.
    make: Mutex<Option<MakeHttps>>,
}

/// Makes the `https://` side: loads the roots, builds the TLS configuration and the origins.
type MakeHttps = Box<dyn FnOnce() -> Result<HttpsOrigins, Arc<str>> + Send>;

impl LazyHttps {
    /// The origins, made on the first call.
    fn get(&self) -> &Result<HttpsOrigins, Arc<str>> {
        self.made.get_or_init(|| {
            let make = self
                .make
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
                .expect("made once: OnceLock runs one initialiser");
            make()
        })
    }
}

/// The TLS connector offering `(http1, http2)` by ALPN.
fn https_connector(
    tls: rustls::ClientConfig,
    proxied: ProxyConnector,
    (http1, http2): (bool, bool),
) -> HttpsConnector<ProxyConnector> {
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only();
    match (http1, http2) {
        (true, true) => builder
            .enable_http1()
            .enable_http2()
            .wrap_connector(proxied),
        (false, true) => builder.enable_http2().wrap_connector(proxied),
        _ => builder.enable_http1().wrap_connector(proxied),
    }
}

impl HyperTransport {
    /// A builder with the defaults: webpki roots (or the enabled feature's), proxies from the
    /// environment, a 5 s connect timeout, HTTP/1.1 and HTTP/2.
    pub fn builder() -> HyperTransportBuilder {
        HyperTransportBuilder::default()
    }
}

impl HttpConnector for HyperTransport {
    fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> BoxFuture<'static, Result<http::Response<ResponseBody>, TransportError>> {
        if let Err(error) = check_scheme(request.uri(), self.allow_insecure_http) {
            return Box::pin(std::future::ready(Err(error)));
        }
        if request.uri().scheme_str() == Some("http") {
            let mut request = request.map(Full::new);
            if let Some((_, Some(auth))) = self.proxy.intercept(request.uri()) {
                request
                    .headers_mut()
                    .insert(http::header::PROXY_AUTHORIZATION, auth);
            }
            let response = self.plain.request(request);
            return Box::pin(async move {
                let head = read_head(response.await).map_err(tls_answered_plain_http)?;
                Ok(head.map(|body| boxed(body, None)))
            });
        }
        let origins = match self.https.get() {
            Ok(origins) => origins.clone(),
            Err(reason) => {
                let error = TransportError::new(TransportErrorKind::Config, &**reason);
                return Box::pin(std::future::ready(Err(error)));
            }
        };
        let roots = self.roots.clone();
        let key = origin_key(request.uri()).unwrap_or_default();
        let fresh = request.extensions().get::<FreshConnection>().is_some();
        let ask = if fresh { Ask::Fresh } else { Ask::First };
        // Most requests go at once, and their future holds only the response's; one that goes
        // on a lane holds its request until the head, to send it again if it was turned away.
        match origins.route(&key, ask) {
            Routed::Pool => {
                let response = origins.pooled(request.map(Full::new));
                Box::pin(async move {
                    let head =
                        read_head(response.await).map_err(|error| error.with_roots(&roots))?;
                    Ok(head.map(|body| boxed(body, None)))
                })
            }
            routed => Box::pin(async move {
                let (head, slot) = origins
                    .on_lanes(key, request, routed, fresh)
                    .await
                    .map_err(|error| error.with_roots(&roots))?;
                Ok(head.map(|body| boxed(body, slot)))
            }),
        }
    }
}

fn boxed(body: Incoming, slot: Option<Slot>) -> ResponseBody {
    SlotBody::new(body, slot)
        .map_err(TransportError::body)
        .boxed()
}

/// A plain-HTTP request whose answer did not begin as HTTP does (`HTTP/1.x`): most likely a TLS
/// server's alert, the base URL's `http://` meant for an `https://` port. Said so, as the
/// configuration's error (sending it again cannot help); any other failure as it was.
fn tls_answered_plain_http(error: TransportError) -> TransportError {
    let not_http = crate::error::causes(&error)
        .filter_map(|cause| cause.downcast_ref::<hyper::Error>())
        .any(|hyper| hyper.is_parse() && hyper.to_string() == "invalid HTTP version parsed");
    if !not_http {
        return error;
    }
    TransportError::new(
        TransportErrorKind::Config,
        "the server did not answer in HTTP: an http:// URL for a TLS port? (then the base URL \
         is https://)",
    )
    .with_source(error)
}

#[cfg(test)]
mod tests {
    use gptproto_testkit::fixtures::post;
    use gptproto_testkit::{Reply, TestServer};
    use rustls::RootCertStore;
    use serde_json::json;

    use super::*;

    #[tokio::test]
    async fn the_tls_side_is_made_at_the_first_https_request_only() {
        let transport = HyperTransport::builder()
            .proxy(Proxy::none())
            .roots(Roots::Custom(RootCertStore::empty()))
            .build()
            .unwrap();
        let server = TestServer::start(|_| Reply::json(200, &json!({"ok": true}))).await;
        let response = transport.send(post(&server.base_url())).await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            transport.https.made.get().is_none(),
            "plain http loaded no roots"
        );
        // Nothing listens there: the request fails, but the TLS side was made for it.
        let _ = transport.send(post("https://127.0.0.1:1/v1")).await;
        assert!(matches!(transport.https.made.get(), Some(Ok(_))));
    }
}
