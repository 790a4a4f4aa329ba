//! Proxies: which destinations go through which proxy, and the connector that goes there.
//!
//! HTTPS destinations are reached through an HTTP `CONNECT` tunnel (TLS runs end to end, the
//! proxy sees no plaintext); plain HTTP destinations are sent to the proxy in absolute form.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderValue, Uri};
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower_service::Service;

use crate::BoxFuture;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Which requests go through a proxy.
///
/// Loopback destinations (`localhost`, `*.localhost`, `127.0.0.0/8`, `::1`) never do, whatever
/// the environment or the proxy set says, as Go's `ProxyFromEnvironment` decides: a local model
/// server is on this machine, and a proxy in between would see its traffic (the API key with
/// it, over plain `http://`).
///
/// ```
/// use gptproto_transport::Proxy;
///
/// let proxy = Proxy::all("http://proxy.internal:3128").no_proxy("localhost,.internal");
/// assert!(proxy.uri_for(&"https://gptproto.com/v1".parse().unwrap()).is_some());
/// assert!(proxy.uri_for(&"https://api.internal/v1".parse().unwrap()).is_none());
/// assert!(proxy.uri_for(&"http://127.0.0.1:8080/v1".parse().unwrap()).is_none());
/// ```
#[derive(Clone)]
pub struct Proxy {
    matcher: Option<Arc<Matcher>>,
    all: Option<String>,
    no_proxy: Option<String>,
}

impl Proxy {
    /// The proxies named by `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` (upper or
    /// lower case), as curl reads them. The default.
    pub fn from_env() -> Self {
        Self {
            matcher: Some(Arc::new(Matcher::from_env())),
            all: None,
            no_proxy: None,
        }
    }

    /// No proxy, whatever the environment says.
    pub fn none() -> Self {
        Self {
            matcher: None,
            all: None,
            no_proxy: None,
        }
    }

    /// Every request through the proxy at `url` (`http://host:port`, credentials allowed as
    /// `http://user:password@host:port`).
    pub fn all(url: impl Into<String>) -> Self {
        Self {
            matcher: None,
            all: Some(url.into()),
            no_proxy: None,
        }
        .rebuild()
    }

    /// Hosts that bypass the proxy, comma-separated as in `NO_PROXY` (`localhost,.internal,10.0.0.0/8`).
    #[must_use]
    pub fn no_proxy(mut self, hosts: impl Into<String>) -> Self {
        self.no_proxy = Some(hosts.into());
        self.rebuild()
    }

    fn rebuild(mut self) -> Self {
        if let Some(all) = &self.all {
            let mut builder = Matcher::builder().all(all.clone());
            if let Some(no) = &self.no_proxy {
                builder = builder.no(no.clone());
            }
            self.matcher = Some(Arc::new(builder.build()));
        }
        self
    }

    /// The proxy to use for `destination`, if any.
    pub fn uri_for(&self, destination: &Uri) -> Option<Uri> {
        self.intercept(destination).map(|(uri, _)| uri)
    }

    pub(crate) fn intercept(&self, destination: &Uri) -> Option<(Uri, Option<HeaderValue>)> {
        if destination.host().is_none_or(crate::is_loopback_host) {
            return None;
        }
        let intercept = self.matcher.as_ref()?.intercept(destination)?;
        Some((intercept.uri().clone(), intercept.basic_auth().cloned()))
    }
}

impl Default for Proxy {
    fn default() -> Self {
        Self::from_env()
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Proxy URLs may carry credentials: show only whether a proxy is set.
        match (&self.matcher, &self.all) {
            (None, _) => f.write_str("Proxy(none)"),
            (Some(_), Some(_)) => f.write_str("Proxy(explicit)"),
            (Some(_), None) => f.write_str("Proxy(from environment)"),
        }
    }
}

/// Connects directly, through a `CONNECT` tunnel, or to an HTTP proxy, as [`Proxy`] says.
#[derive(Clone)]
pub(crate) struct ProxyConnector {
    pub(crate) http: HttpConnector,
    pub(crate) proxy: Proxy,
}

impl Service<Uri> for ProxyConnector {
    type Response = ProxyStream;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<ProxyStream, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, destination: Uri) -> Self::Future {
        let intercept = self.proxy.intercept(&destination);
        let mut http = self.http.clone();
        Box::pin(async move {
            match intercept {
                None => Ok(ProxyStream {
                    io: http.call(destination).await?,
                    absolute_form: false,
                }),
                Some((proxy, auth)) if destination.scheme_str() == Some("https") => {
                    tracing::debug!(proxy = %redacted(&proxy), "connecting through a CONNECT tunnel");
                    let mut tunnel = Tunnel::new(proxy, http);
                    if let Some(auth) = auth {
                        tunnel = tunnel.with_auth(auth);
                    }
                    Ok(ProxyStream {
                        io: tunnel.call(destination).await?,
                        absolute_form: false,
                    })
                }
                Some((proxy, _)) => {
                    tracing::debug!(proxy = %redacted(&proxy), "sending through an HTTP proxy");
                    Ok(ProxyStream {
                        io: http.call(proxy).await?,
                        absolute_form: true,
                    })
                }
            }
        })
    }
}

/// A proxy URI without its credentials, for logs.
fn redacted(uri: &Uri) -> String {
    format!(
        "{}://{}",
        uri.scheme_str().unwrap_or("http"),
        uri.host().unwrap_or("")
    )
}

pin_project_lite::pin_project! {
    /// A connection made by [`ProxyConnector`]. When it goes to an HTTP proxy for a plain HTTP
    /// destination, hyper is told to send requests in absolute form.
    pub(crate) struct ProxyStream {
        #[pin]
        io: TokioIo<TcpStream>,
        absolute_form: bool,
    }
}

impl Connection for ProxyStream {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.absolute_form)
    }
}

impl Read for ProxyStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.project().io.poll_read(cx, buf)
    }
}

impl Write for ProxyStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.project().io.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.project().io.poll_write_vectored(cx, bufs)
    }
}
