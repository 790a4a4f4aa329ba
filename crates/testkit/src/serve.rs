//! How the test server accepts and serves connections, and the controls a test has over them:
//! a GOAWAY to every open connection, an idle timeout, and stopping and listening again.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::connection::{Activity, Busy, Meter, Metered};
use crate::{Handler, Recorded, reply};

/// What every connection of one server shares.
pub(crate) struct Shared {
    pub(crate) handler: Arc<Handler>,
    pub(crate) recorded: Mutex<Vec<Recorded>>,
    /// TCP connections accepted.
    pub(crate) accepted: AtomicUsize,
    /// Connections open now.
    pub(crate) open: AtomicUsize,
    pub(crate) abandoned: Arc<AtomicUsize>,
    pub(crate) acceptor: Option<tokio_rustls::TlsAcceptor>,
    pub(crate) stream_limit: Option<u32>,
    pub(crate) idle_timeout: Option<Duration>,
    /// Bumped to send every open connection a graceful shutdown (GOAWAY on HTTP/2).
    pub(crate) goaway: watch::Sender<u64>,
    /// Answers as a server that browsers may call from any origin ([`crate::TestServer::allow_cors`]).
    pub(crate) cors: AtomicBool,
    /// Each connection's meter, by the client's address.
    pub(crate) meters: Mutex<HashMap<SocketAddr, Arc<Meter>>>,
}

/// The response headers a page may read (CORS hides every other but a few).
const EXPOSED_HEADERS: &str =
    "retry-after, retry-after-ms, x-request-id, x-should-retry, openai-processing-ms";

/// The answer to a CORS preflight: any origin, the methods and headers a client sends.
fn preflight() -> http::Response<reply::ReplyBody> {
    http::Response::builder()
        .status(http::StatusCode::NO_CONTENT)
        .header("access-control-allow-origin", "*")
        .header("access-control-allow-methods", "POST, GET, OPTIONS")
        // Named, not `*`: a wildcard does not cover `Authorization`.
        .header(
            "access-control-allow-headers",
            "authorization, content-type, x-request-id, x-stainless-retry-count",
        )
        .header("access-control-max-age", "600")
        .body(reply::ReplyBody::empty())
        .expect("a valid response")
}

/// Accepts connections until `stop` turns true; then every connection accepted here closes at
/// once (no GOAWAY, no TLS close_notify: a killed server).
pub(crate) fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        loop {
            let (tcp, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(_) => continue,
                },
                _ = stop.changed() => return,
            };
            let _ = tcp.set_nodelay(true);
            shared.accepted.fetch_add(1, Ordering::SeqCst);
            let shared = shared.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                shared.open.fetch_add(1, Ordering::SeqCst);
                let _open = Decrement(&shared.open);
                let meter = Arc::new(Meter::default());
                shared
                    .meters
                    .lock()
                    .expect("not poisoned")
                    .insert(peer, meter.clone());
                let _forget = Forget(&shared, peer);
                let tcp = Metered {
                    inner: tcp,
                    meter: meter.clone(),
                };
                match shared.acceptor.clone() {
                    Some(acceptor) => {
                        let Ok(tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        serve(TokioIo::new(tls), &shared, stop, meter).await;
                    }
                    None => serve(TokioIo::new(tcp), &shared, stop, meter).await,
                }
            });
        }
    });
}

/// Forgets a connection's meter when it ends.
struct Forget<'a>(&'a Shared, SocketAddr);

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.0.meters.lock().expect("not poisoned").remove(&self.1);
    }
}

struct Decrement<'a>(&'a AtomicUsize);

impl Drop for Decrement<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serves one connection until it ends, the server stops, or it is shut down gracefully (a
/// GOAWAY asked for, or idle for the idle timeout).
async fn serve<I>(io: I, shared: &Arc<Shared>, mut stop: watch::Receiver<bool>, meter: Arc<Meter>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::default());
    let service = {
        let shared = shared.clone();
        let activity = activity.clone();
        service_fn(move |request| {
            let shared = shared.clone();
            let busy = Busy::new(activity.clone());
            let meter = meter.clone();
            async move { Ok::<_, Infallible>(answer(request, &shared, busy, meter).await) }
        })
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    if let Some(limit) = shared.stream_limit {
        builder.http2().max_concurrent_streams(limit);
    }
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let mut goaway = shared.goaway.subscribe();
    let idle_timeout = shared.idle_timeout.unwrap_or(Duration::MAX);
    let check = (idle_timeout / 8).clamp(Duration::from_millis(5), Duration::from_secs(3600));
    let mut shutting_down = false;
    loop {
        tokio::select! {
            _ = connection.as_mut() => return,
            _ = stop.changed() => return,
            changed = goaway.changed(), if !shutting_down => {
                if changed.is_ok() {
                    shutting_down = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
            () = tokio::time::sleep(check), if !shutting_down => {
                if activity.idle_for().is_some_and(|idle| idle >= idle_timeout) {
                    shutting_down = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

async fn answer(
    request: http::Request<hyper::body::Incoming>,
    shared: &Shared,
    busy: Busy,
    meter: Arc<Meter>,
) -> http::Response<reply::ReplyBody> {
    let cors = shared.cors.load(Ordering::SeqCst);
    if cors && request.method() == http::Method::OPTIONS {
        return preflight();
    }
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let request = {
        let mut requests = shared.recorded.lock().expect("not poisoned");
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
    let reply = (shared.handler)(&request);
    if !reply.head_delay().is_zero() {
        tokio::time::sleep(reply.head_delay()).await;
    }
    // The head's mark: everything before it (the handshake, earlier responses) is written.
    meter.mark();
    let mut response = reply.into_response(shared.abandoned.clone(), busy, Some(meter));
    if cors {
        let headers = response.headers_mut();
        headers.insert(
            "access-control-allow-origin",
            http::HeaderValue::from_static("*"),
        );
        headers.insert(
            "access-control-expose-headers",
            http::HeaderValue::from_static(EXPOSED_HEADERS),
        );
    }
    response
}
