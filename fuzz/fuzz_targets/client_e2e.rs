//! The real client end to end, in the style of h2's `fuzz_e2e`: gptproto's `Client` (retries,
//! deadlines, the stream decoder, classification) over hyper's HTTP/1.1 or HTTP/2 client
//! connection, over an in-memory socket whose every read and write the fuzz input chooses: how
//! many bytes each takes, when it is `Pending`, when a write fails; the server's bytes are
//! fuzz-chosen too. Time is tokio's, paused: deadlines pass in virtual time.
//!
//! Invariants: no panic; no hang (the call ends within its 60 s total deadline, checked by an
//! outer hour); every outcome typed (a completion or whole stream, or an error that is a
//! network, protocol, API or timeout error — never a configuration, validation or misuse
//! error, which the server's bytes cannot cause).
//!
//! The input: `[flags, control length (u16 LE), control bytes..., server bytes...]`; flags bit
//! 0 chooses HTTP/2, bit 1 a streamed call, bits 2-3 the retries (0-3).
#![no_main]

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use gptproto::{ChatRequest, Client};
use gptproto_transport::{BoxFuture, HttpConnector, ResponseBody, TransportError};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

#[derive(Debug)]
struct Input {
    http2: bool,
    stream: bool,
    retries: u32,
    control: Bytes,
    server: Bytes,
}

impl Input {
    fn parse(raw: &[u8]) -> Option<Self> {
        let (&flags, rest) = raw.split_first()?;
        if rest.len() < 2 {
            return None;
        }
        let length = usize::from(u16::from_le_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let (control, server) = rest[2..].split_at(length);
        Some(Self {
            http2: flags & 1 != 0,
            stream: flags & 2 != 0,
            retries: u32::from((flags >> 2) & 3),
            control: Bytes::copy_from_slice(control),
            server: Bytes::copy_from_slice(server),
        })
    }
}

/// A socket that plays the server's bytes, its reads and writes shaped by the control bytes
/// (once they run out: whole reads and writes, no `Pending`).
struct FuzzIo {
    server: Bytes,
    control: Bytes,
    next: usize,
}

impl FuzzIo {
    fn new(input: &Input) -> Self {
        Self {
            server: input.server.clone(),
            control: input.control.clone(),
            next: 0,
        }
    }

    fn control(&mut self) -> Option<u8> {
        let byte = self.control.get(self.next).copied();
        self.next += 1;
        byte
    }
}

impl AsyncRead for FuzzIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let take = match self.control() {
            Some(byte) if byte % 4 == 0 => {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Some(byte) => usize::from(byte % 64) + 1,
            None => usize::MAX,
        };
        let take = take.min(buf.remaining()).min(self.server.len());
        let piece = self.server.split_to(take);
        buf.put_slice(&piece);
        Poll::Ready(Ok(())) // 0 bytes: the server closed
    }
}

impl AsyncWrite for FuzzIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.control() {
            Some(byte) if byte % 5 == 0 => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Some(byte) if byte % 31 == 1 => {
                Poll::Ready(Err(io::Error::from(io::ErrorKind::ConnectionReset)))
            }
            Some(byte) => Poll::Ready(Ok(data.len().min(usize::from(byte) * 8 + 1))),
            None => Poll::Ready(Ok(data.len())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Each request on a new in-memory connection playing the same bytes.
#[derive(Debug)]
struct FuzzConnector(Arc<Input>);

impl HttpConnector for FuzzConnector {
    fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> BoxFuture<'static, Result<http::Response<ResponseBody>, TransportError>> {
        let input = Arc::clone(&self.0);
        Box::pin(async move {
            let io = TokioIo::new(FuzzIo::new(&input));
            let request = request.map(Full::new);
            let response = if input.http2 {
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

async fn call(client: &Client, stream: bool) -> Result<(), gptproto::Error> {
    let request = ChatRequest::new("m").user("hi");
    if stream {
        let mut chunks = client.chat_stream(request).await?;
        while let Some(chunk) = chunks.next().await {
            chunk?;
        }
    } else {
        client.chat(request).await?;
    }
    Ok(())
}

fuzz_target!(|raw: &[u8]| {
    let Some(input) = Input::parse(raw) else {
        return;
    };
    let (stream, retries) = (input.stream, input.retries);
    RUNTIME.with(|runtime| runtime.block_on(async {
        let client = Client::builder()
            .ignore_env()
            .base_url("https://fuzz.test/v1")
            .api_key("sk-fuzz")
            .connector(Arc::new(FuzzConnector(Arc::new(input))))
            .max_retries(retries)
            .timeout(Duration::from_secs(60))
            .retry_jitter_seed(1)
            .build()
            .expect("a client");
        let outcome = tokio::time::timeout(Duration::from_secs(3600), call(&client, stream))
            .await
            .expect("the call ended by its total deadline");
        if let Err(error) = outcome {
            assert!(!error.to_string().is_empty());
            use gptproto::ErrorKind;
            assert!(
                matches!(
                    error.kind(),
                    ErrorKind::Connect
                        | ErrorKind::Network
                        | ErrorKind::Interrupted
                        | ErrorKind::Truncated
                        | ErrorKind::AnswerLimit
                        | ErrorKind::Protocol
                        | ErrorKind::Redirect
                        | ErrorKind::Api
                        | ErrorKind::Timeout
                ),
                "the server's bytes caused {:?}: {error:?}",
                error.kind()
            );
        }
    }));
});

thread_local! {
    /// One runtime for every input (its clock paused; its connection tasks end with their
    /// input's bytes).
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
}
