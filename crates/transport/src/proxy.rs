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
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower_service::Service;

use crate::BoxFuture;
use crate::origin::origin_key;

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
        if destination
            .host()
            .is_none_or(crate::scheme::is_loopback_host)
        {
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
        let explicit = self.proxy.all.is_some();
        let mut http = self.http.clone();
        Box::pin(async move {
            let Some((proxy, auth)) = intercept else {
                return Ok(ProxyStream {
                    io: http.call(destination).await?,
                    absolute_form: false,
                });
            };
            // Named (where it was set looked up) only when it failed.
            let failure = |problem| ProxyFailure {
                named: Named::of(&proxy, explicit, &destination),
                problem,
            };
            let reached = http
                .call(proxy.clone())
                .await
                .map_err(|error| failure(Problem::Unreachable(error.into())))?;
            if destination.scheme_str() == Some("https") {
                tracing::debug!(proxy = %redacted(&proxy), "connecting through a CONNECT tunnel");
                let tunnel = connect_tunnel(reached.into_inner(), &destination, auth.as_ref())
                    .await
                    .map_err(failure)?;
                Ok(ProxyStream {
                    io: TokioIo::new(tunnel),
                    absolute_form: false,
                })
            } else {
                tracing::debug!(proxy = %redacted(&proxy), "sending through an HTTP proxy");
                Ok(ProxyStream {
                    io: reached,
                    absolute_form: true,
                })
            }
        })
    }
}

/// The most a proxy's answer to `CONNECT` may take before its end (its head).
const MAX_CONNECT_ANSWER: usize = 16 * 1024;

/// Asks the proxy on `io` for a tunnel to `destination`; the tunnel, or what the proxy did.
async fn connect_tunnel(
    mut io: TcpStream,
    destination: &Uri,
    auth: Option<&HeaderValue>,
) -> Result<TcpStream, Problem> {
    let host = destination.host().unwrap_or_default();
    let port = destination.port_u16().unwrap_or(443);
    let authority = format!("{host}:{port}");
    let mut head = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n").into_bytes();
    if let Some(auth) = auth {
        head.extend_from_slice(b"Proxy-Authorization: ");
        head.extend_from_slice(auth.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    io.write_all(&head).await.map_err(Problem::Io)?;
    // The answer's head, read to its blank line and no further: the tunnel's bytes follow.
    let mut answer = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\r\n\r\n") {
        if answer.len() >= MAX_CONNECT_ANSWER {
            return Err(Problem::Garbled(format!(
                "an answer to CONNECT longer than {MAX_CONNECT_ANSWER} bytes"
            )));
        }
        if io.read(&mut byte).await.map_err(Problem::Io)? == 0 {
            return Err(Problem::Closed);
        }
        answer.push(byte[0]);
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut headers);
    if !matches!(parsed.parse(&answer), Ok(httparse::Status::Complete(_))) {
        return Err(Problem::Garbled(format!(
            "not an HTTP answer: {:?}",
            String::from_utf8_lossy(&answer[..answer.len().min(64)])
        )));
    }
    match parsed.code.unwrap_or_default() {
        200..=299 => Ok(io),
        status => Err(Problem::Refused {
            status,
            reason: parsed.reason.unwrap_or_default().to_owned(),
            target: authority,
        }),
    }
}

/// A proxy, named for an error message: its URL without credentials, and where it was set.
#[derive(Debug)]
struct Named {
    /// `http://host:port`.
    proxy: String,
    /// `from HTTPS_PROXY`, `set by the program`.
    origin: String,
}

impl Named {
    /// The proxy at `proxy`, set by the program (`explicit`) or read from the variable for
    /// `destination`'s scheme that names it.
    fn of(proxy: &Uri, explicit: bool, destination: &Uri) -> Self {
        let origin = if explicit {
            "set by the program".to_owned()
        } else {
            let variables: &[&str] = if destination.scheme_str() == Some("https") {
                &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
            } else {
                &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
            };
            let wanted = origin_key(proxy);
            variables
                .iter()
                .find(|name| {
                    std::env::var(name).is_ok_and(|value| {
                        let value = if value.contains("://") {
                            value
                        } else {
                            format!("http://{value}")
                        };
                        value
                            .parse::<Uri>()
                            .is_ok_and(|uri| origin_key(&uri) == wanted)
                    })
                })
                .map_or_else(
                    || "from the environment".to_owned(),
                    |name| format!("from {name}"),
                )
        };
        Self {
            proxy: redacted(proxy),
            origin,
        }
    }
}

/// What went wrong with the proxy.
#[derive(Debug)]
enum Problem {
    /// It could not be reached (refused, no route, a name that does not resolve, a timeout).
    Unreachable(BoxError),
    /// It answered `CONNECT` with this status.
    Refused {
        status: u16,
        reason: String,
        target: String,
    },
    /// It closed the connection before answering.
    Closed,
    /// Its answer was not HTTP, or too long.
    Garbled(String),
    /// Writing or reading failed mid-way.
    Io(std::io::Error),
}

/// A failure to go through a proxy, naming the proxy (never its credentials) and where it
/// was set.
#[derive(Debug)]
pub(crate) struct ProxyFailure {
    named: Named,
    problem: Problem,
}

impl ProxyFailure {
    /// Whether the proxy turned the request away for its configuration (407, or 401 as
    /// tinyproxy answers: credentials missing or wrong; 403: not allowed there): sending again
    /// will not help. (An answer to `CONNECT` is the proxy's own, never the server's.)
    pub(crate) fn is_config(&self) -> bool {
        matches!(
            self.problem,
            Problem::Refused {
                status: 401 | 403 | 407,
                ..
            }
        )
    }
}

impl fmt::Display for ProxyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Named { proxy, origin } = &self.named;
        match &self.problem {
            Problem::Unreachable(_) => write!(f, "cannot reach the proxy {proxy} ({origin})"),
            Problem::Refused {
                status,
                reason,
                target,
            } => {
                write!(
                    f,
                    "the proxy {proxy} ({origin}) answered {status} {reason} to CONNECT {target}"
                )?;
                match status {
                    401 | 407 => f.write_str(
                        " (its credentials are missing or wrong: they go in the proxy's URL, \
                         http://user:password@host:port)",
                    ),
                    403 => f.write_str(" (the proxy does not allow it)"),
                    _ => Ok(()),
                }
            }
            Problem::Closed => write!(
                f,
                "the proxy {proxy} ({origin}) closed the connection without answering CONNECT"
            ),
            Problem::Garbled(what) => write!(f, "the proxy {proxy} ({origin}) sent {what}"),
            Problem::Io(_) => write!(f, "the connection to the proxy {proxy} ({origin}) failed"),
        }
    }
}

/// The proxy's failure somewhere in `error`'s chain: what it says, and whether it is the
/// configuration's ([`ProxyFailure::is_config`]).
pub(crate) fn proxy_failure(error: &(dyn std::error::Error + 'static)) -> Option<(String, bool)> {
    crate::error::causes(error)
        .find_map(|cause| cause.downcast_ref::<ProxyFailure>())
        .map(|failure| (failure.to_string(), failure.is_config()))
}

impl std::error::Error for ProxyFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.problem {
            Problem::Unreachable(error) => Some(&**error),
            Problem::Io(error) => Some(error),
            _ => None,
        }
    }
}

/// A proxy URI without its credentials, for logs and errors: `http://host:port`.
fn redacted(uri: &Uri) -> String {
    format!(
        "{}://{}",
        uri.scheme_str().unwrap_or("http"),
        origin_key(uri).unwrap_or_default()
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
