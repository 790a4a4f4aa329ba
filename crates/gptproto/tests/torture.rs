//! I/O torture, as curl's torture runs do it: a call is run once counting the fallible I/O
//! operations on its connection (each read, write, flush and shutdown that completes), then
//! once per operation, making exactly that one fail. Every run must end — an answer or a typed
//! error, never a panic or a hang — and leave no task behind. The client side is the real
//! client over hyper's HTTP/1.1 and HTTP/2 client connections; the server side a real hyper
//! server; between them an in-memory pipe whose client end is the tortured one.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use gptproto::{Client, HttpConnector, ResponseBody, TransportError};
use gptproto_testkit::fixtures::{chunk, completion};
use gptproto_transport::BoxFuture;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};

mod support;
use support::{call_text, descriptors, tasks};

/// Counts the operations that complete; makes the `fail_at`-th one (0-based) fail instead.
#[derive(Debug, Default)]
struct Plan {
    operations: AtomicUsize,
    fail_at: Option<usize>,
    failed: Mutex<Option<&'static str>>,
}

impl Plan {
    /// Whether this operation fails.
    fn fails(&self, what: &'static str) -> bool {
        let index = self.operations.fetch_add(1, Ordering::SeqCst);
        let fails = self.fail_at == Some(index);
        if fails {
            *self.failed.lock().unwrap() = Some(what);
        }
        fails
    }
}

fn injected() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "injected failure")
}

struct Tortured {
    io: DuplexStream,
    plan: Arc<Plan>,
}

impl AsyncRead for Tortured {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if polled.is_ready() && self.plan.fails("read") {
            return Poll::Ready(Err(injected()));
        }
        polled
    }
}

impl AsyncWrite for Tortured {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, data);
        if polled.is_ready() && self.plan.fails("write") {
            return Poll::Ready(Err(injected()));
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_flush(cx);
        if polled.is_ready() && self.plan.fails("flush") {
            return Poll::Ready(Err(injected()));
        }
        polled
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_shutdown(cx);
        if polled.is_ready() && self.plan.fails("shutdown") {
            return Poll::Ready(Err(injected()));
        }
        polled
    }
}

/// The server's answer: an event stream of four chunks in four frames, or a JSON completion.
async fn answer(
    request: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<http_body_util::combinators::BoxBody<Bytes, io::Error>>, io::Error> {
    let body = request
        .into_body()
        .collect()
        .await
        .map_err(io::Error::other)?
        .to_bytes();
    let streamed =
        serde_json::from_slice::<serde_json::Value>(&body).map_err(io::Error::other)?["stream"]
            .as_bool()
            .unwrap_or(false);
    let (content_type, frames) = if streamed {
        let events = ["a", "b", "c"]
            .iter()
            .map(|text| chunk(text, None))
            .chain([chunk("", Some("stop"))])
            .map(|event| Bytes::from(format!("data: {event}\n\n")))
            .chain([Bytes::from_static(b"data: [DONE]\n\n")])
            .collect::<Vec<_>>();
        ("text/event-stream", events)
    } else {
        (
            "application/json",
            vec![Bytes::from(completion(&["abc"]).to_string())],
        )
    };
    let frames = futures_util::stream::iter(frames.into_iter().map(|data| Ok(Frame::data(data))));
    Ok(http::Response::builder()
        .header("content-type", content_type)
        .body(BodyExt::boxed(StreamBody::new(frames)))
        .expect("a response"))
}

/// Each request on a new in-memory connection to a hyper server, its client end tortured.
#[derive(Debug)]
struct TortureConnector {
    http2: bool,
    plan: Arc<Plan>,
}

impl HttpConnector for TortureConnector {
    fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> BoxFuture<'static, Result<http::Response<ResponseBody>, TransportError>> {
        let (client_end, server_end) = tokio::io::duplex(4096);
        let http2 = self.http2;
        tokio::spawn(async move {
            let service = hyper::service::service_fn(answer);
            let io = TokioIo::new(server_end);
            let _ = if http2 {
                hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(io, service)
                    .await
            } else {
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await
            };
        });
        let io = TokioIo::new(Tortured {
            io: client_end,
            plan: self.plan.clone(),
        });
        Box::pin(async move {
            let request = request.map(Full::new);
            let response = if http2 {
                let (mut sender, connection) =
                    hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                        .await
                        .map_err(TransportError::connect)?;
                tokio::spawn(connection);
                sender.send_request(request).await
            } else {
                let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
                    .await
                    .map_err(TransportError::connect)?;
                tokio::spawn(connection);
                sender.send_request(request).await
            }
            .map_err(TransportError::request)?;
            Ok(response.map(|body| body.map_err(TransportError::body).boxed()))
        })
    }
}

fn client(http2: bool, plan: Arc<Plan>) -> Client {
    Client::builder()
        .ignore_env()
        .base_url("https://torture.test/v1")
        .api_key("sk-test")
        .connector(Arc::new(TortureConnector { http2, plan }))
        .max_retries(0)
        .idle_timeout(Duration::from_secs(2))
        .response_timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

/// Panics anywhere in the process (a spawned connection task's too, which tokio would catch).
static PANICS: AtomicUsize = AtomicUsize::new(0);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_each_io_operation_in_turn_ends_typed_and_leaves_no_task() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));
    for http2 in [false, true] {
        for streamed in [true, false] {
            let label = format!(
                "{} {}",
                if http2 { "HTTP/2" } else { "HTTP/1.1" },
                if streamed { "streamed" } else { "JSON" }
            );
            let counting = Arc::new(Plan::default());
            assert_eq!(
                call_text(&client(http2, counting.clone()), streamed)
                    .await
                    .unwrap(),
                "abc"
            );
            let operations = counting.operations.load(Ordering::SeqCst);
            let baseline = tasks();
            let baseline_descriptors = descriptors();
            let (mut answered, mut failed) = (0, 0);
            for fail_at in 0..operations {
                let plan = Arc::new(Plan {
                    fail_at: Some(fail_at),
                    ..Plan::default()
                });
                let outcome = tokio::time::timeout(
                    Duration::from_secs(10),
                    call_text(&client(http2, plan.clone()), streamed),
                )
                .await
                .unwrap_or_else(|_| panic!("{label}: failing operation {fail_at} hung the call"));
                match outcome {
                    Ok(text) => {
                        // A failure the call did not need (a flush after the last write, the
                        // read of the connection's end): the whole answer.
                        assert_eq!(text, "abc", "{label}: operation {fail_at}");
                        answered += 1;
                    }
                    Err(error) => {
                        assert!(
                            error.is_network() || error.is_timeout(),
                            "{label}: operation {fail_at} ({:?}) ended with {error:#}",
                            plan.failed.lock().unwrap()
                        );
                        failed += 1;
                    }
                }
                let settled = async {
                    while tasks() > baseline || descriptors() > baseline_descriptors {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                };
                tokio::time::timeout(Duration::from_secs(5), settled)
                    .await
                    .unwrap_or_else(|_| {
                        panic!(
                            "{label}: operation {fail_at} left {} tasks ({baseline} before)",
                            tasks()
                        )
                    });
            }
            println!(
                "{label}: {operations} I/O operations; each failed in turn: {failed} typed errors, {answered} whole answers, no panic, no hang, no task or descriptor left"
            );
            assert!(failed > 0, "{label}: no failure mattered");
            assert_eq!(PANICS.load(Ordering::SeqCst), 0, "{label}: a task panicked");
        }
    }
}
