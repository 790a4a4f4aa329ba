//! The HTTP transport of gptproto: hyper 1 (hyper-util's pooled client, and HTTP/2 connections
//! of its own) over hyper-rustls; on `wasm32`, the host's `fetch` (`FetchTransport`).
//!
//! - HTTP/1.1 and HTTP/2, chosen by ALPN; connections reused, shared by every clone.
//! - An origin's first burst of requests waits for one connection to learn the server's
//!   protocol, instead of each making a TLS connection of its own.
//! - HTTP/2 streams are spread over connections of at most 100 streams each (and at most what
//!   the server allows; `HyperTransportBuilder::http2_streams_per_connection`): with hundreds
//!   of long streams open, none waits inside one connection for another to end.
//! - TLS by rustls: the roots and the crypto provider are features (see below), or custom roots
//!   in code.
//! - Proxies: `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` are honoured by default
//!   (HTTPS goes through a `CONNECT` tunnel), or set in code.
//! - Plain `http://` is sent only to loopback addresses unless explicitly allowed.
//! - [`HttpConnector`] is the small trait the client drives, so that tests and users can bring
//!   their own HTTP.
//!
//! ```no_run
//! use gptproto_transport::{HttpConnector, HyperTransport};
//!
//! # async fn demo() -> Result<(), gptproto_transport::TransportError> {
//! let transport = HyperTransport::builder().build()?;
//! let request = http::Request::post("https://gptproto.com/v1/chat/completions")
//!     .body(bytes::Bytes::from_static(b"{}"))
//!     .unwrap();
//! let response = transport.send(request).await?;
//! println!("{}", response.status());
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//! - `webpki-roots` (default): trust the Mozilla roots compiled into the binary.
//! - `native-roots`: trust the operating system's roots.
//! - `ring` (default) or `aws-lc-rs`: rustls's crypto provider.
//!
//! # WebAssembly
//! On `wasm32` targets the transport is `FetchTransport`: the JavaScript host's `fetch` (a
//! browser, Node, Deno, a worker), the response body read through its `ReadableStream` as it
//! arrives. The host makes the connections, does TLS with its own roots and chooses proxies, so
//! `HyperTransport`, `Roots` and `Proxy` do not exist there, and the features above change
//! nothing.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod classify;
mod error;

// The built-in transport of native targets: hyper over rustls, with tokio.
#[cfg(not(target_arch = "wasm32"))]
mod hyper_transport;
#[cfg(not(target_arch = "wasm32"))]
mod lanes;
#[cfg(not(target_arch = "wasm32"))]
mod origin;
#[cfg(not(target_arch = "wasm32"))]
mod origins;
#[cfg(not(target_arch = "wasm32"))]
mod proxy;
#[cfg(not(target_arch = "wasm32"))]
mod routing;
mod scheme;
#[cfg(not(target_arch = "wasm32"))]
mod tls;

// The built-in transport of wasm32: the JavaScript host's fetch.
#[cfg(target_arch = "wasm32")]
mod fetch;

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

pub use error::{TransportError, TransportErrorKind};
#[cfg(target_arch = "wasm32")]
#[cfg_attr(docsrs, doc(cfg(target_arch = "wasm32")))]
pub use fetch::{FetchTransport, FetchTransportBuilder};
#[cfg(not(target_arch = "wasm32"))]
#[cfg_attr(docsrs, doc(cfg(not(target_arch = "wasm32"))))]
pub use hyper_transport::{HyperTransport, HyperTransportBuilder};
#[cfg(not(target_arch = "wasm32"))]
#[cfg_attr(docsrs, doc(cfg(not(target_arch = "wasm32"))))]
pub use lanes::KeepAlive;
#[cfg(not(target_arch = "wasm32"))]
#[cfg_attr(docsrs, doc(cfg(not(target_arch = "wasm32"))))]
pub use proxy::Proxy;
/// rustls's store of trust anchors, re-exported as it is, on purpose: it is what
/// [`Roots::Custom`] and [`Roots::DefaultPlus`] carry and what [`Roots::read_pem`] fills, and
/// what a user who already has roots (from `webpki-roots`, a platform store, their own PEMs)
/// holds. Wrapping it would copy its API for nothing, and would not spare our users a rustls
/// major release: TLS is rustls's here (the crypto provider features name it), so a rustls
/// major release is a major release of this crate, with or without a wrapper.
#[cfg(not(target_arch = "wasm32"))]
#[cfg_attr(docsrs, doc(cfg(not(target_arch = "wasm32"))))]
pub use rustls::RootCertStore;
#[cfg(not(target_arch = "wasm32"))]
#[cfg_attr(docsrs, doc(cfg(not(target_arch = "wasm32"))))]
pub use tls::Roots;

/// A request extension that asks for a new connection: the request's previous attempt got no
/// response head in time, and the connection that carried it may be why. Connectors that pool
/// connections honour it by not reusing one for this request (the built-in transport opens a
/// new HTTP/2 connection, or takes none from its HTTP/1.1 pool); others may ignore it.
///
/// ```
/// let mut request = http::Request::new(bytes::Bytes::new());
/// request.extensions_mut().insert(gptproto_transport::FreshConnection);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FreshConnection;

/// A response body: a stream of byte frames, boxed.
pub type ResponseBody = http_body_util::combinators::BoxBody<Bytes, TransportError>;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the client needs from HTTP: send a request, get the response head and a body to read.
///
/// The default is `HyperTransport` (`FetchTransport` on wasm32); a test can answer from memory, a user can plug in their
/// own stack. The body is read lazily: dropping it closes the exchange.
pub trait HttpConnector: Send + Sync + std::fmt::Debug + 'static {
    /// Sends `request`. Errors before a response head are [`TransportError`]s; the body's
    /// errors arrive while reading it.
    fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> BoxFuture<'static, Result<http::Response<ResponseBody>, TransportError>>;
}
