//! The loopback server the clients talk to: hyper over HTTP/1.1, or over TLS with HTTP/2 and
//! HTTP/1.1 by ALPN, on its own thread and runtime,
//! answering every request with one scripted reply. Lean on purpose (no recording, no
//! per-request allocation beyond hyper's), so the clients' costs dominate.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use gptproto_testkit::TestCa;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio_rustls::TlsAcceptor;

/// What the server answers.
#[derive(Clone)]
pub(crate) enum Script {
    /// A 200 event stream of these pieces, each one write.
    Stream(Arc<Vec<Bytes>>),
    /// A 200 JSON body.
    Json(Bytes),
    /// A 200 event stream of this first piece, then only keep-alive comments, open until the
    /// client leaves.
    Stall(Bytes),
}

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

fn reply(script: &Script) -> http::Response<Body> {
    let (content_type, body) = match script {
        Script::Stream(pieces) => {
            let pieces = pieces.clone();
            let frames = futures_util::stream::iter(0..pieces.len())
                .map(move |i| Ok::<_, Infallible>(Frame::data(pieces[i].clone())));
            ("text/event-stream", BodyExt::boxed(StreamBody::new(frames)))
        }
        Script::Json(body) => (
            "application/json",
            http_body_util::Full::new(body.clone()).boxed(),
        ),
        Script::Stall(first) => {
            // A keep-alive comment every 10 s, so a departed client is noticed (the write
            // fails) and its connection closed.
            let first = first.clone();
            let frames = futures_util::stream::unfold(true, move |first_one| {
                let first = first.clone();
                async move {
                    let piece = if first_one {
                        first
                    } else {
                        tokio::time::sleep(std::time::Duration::from_secs(10)).await;
                        Bytes::from_static(b": keep-alive\n\n")
                    };
                    Some((Ok::<_, Infallible>(Frame::data(piece)), false))
                }
            });
            ("text/event-stream", BodyExt::boxed(StreamBody::new(frames)))
        }
    };
    http::Response::builder()
        .header(http::header::CONTENT_TYPE, content_type)
        .header("x-request-id", "req-bench")
        .body(body)
        .expect("a valid response")
}

/// Starts the server on a thread of its own, plain HTTP/1.1; it runs until the process exits.
pub(crate) fn start(script: Script) -> SocketAddr {
    spawn(script, None)
}

/// Starts the server over TLS with `ca`'s certificate, offering `h2` and `http/1.1` by ALPN
/// (hyper's defaults otherwise: at most 200 concurrent streams per HTTP/2 connection).
pub(crate) fn start_tls(script: Script, ca: &TestCa) -> SocketAddr {
    spawn(script, Some(ca.acceptor()))
}

fn spawn(script: Script, tls: Option<TlsAcceptor>) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.set_nonblocking(true).expect("non-blocking");
    let address = listener.local_addr().expect("bound address");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("the server's runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let script = script.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: http::Request<Incoming>| {
                        let script = script.clone();
                        async move {
                            // Read the request to its end, as a real server does.
                            let _ = request.into_body().collect().await;
                            Ok::<_, Infallible>(reply(&script))
                        }
                    });
                    match tls {
                        None => {
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(tcp), service)
                                .await;
                        }
                        Some(tls) => {
                            let Ok(tcp) = tls.accept(tcp).await else {
                                return;
                            };
                            let _ = auto::Builder::new(TokioExecutor::new())
                                .serve_connection(TokioIo::new(tcp), service)
                                .await;
                        }
                    }
                });
            }
        });
    });
    address
}
