//! The HTTP transport of gptproto: hyper 1 (hyper-util's pooled client, and HTTP/2 connections
//! of its own) over hyper-rustls.
//!
//! - HTTP/1.1 and HTTP/2, chosen by ALPN; connections reused, shared by every clone.
//! - An origin's first burst of requests waits for one connection to learn the server's
//!   protocol, instead of each making a TLS connection of its own.
//! - HTTP/2 streams are spread over connections of at most 100 streams each (and at most what
//!   the server allows; [`HyperTransportBuilder::http2_streams_per_connection`]): with hundreds
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

#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod hyper_transport;
mod lanes;
mod origins;
mod proxy;
mod routing;
mod tls;

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

pub use error::{TransportError, TransportErrorKind};
pub use hyper_transport::{HyperTransport, HyperTransportBuilder};
pub use proxy::Proxy;
pub use rustls::RootCertStore;
pub use tls::Roots;

/// A response body: a stream of byte frames, boxed.
pub type ResponseBody = http_body_util::combinators::BoxBody<Bytes, TransportError>;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the client needs from HTTP: send a request, get the response head and a body to read.
///
/// The default is [`HyperTransport`]; a test can answer from memory, a user can plug in their
/// own stack. The body is read lazily: dropping it closes the exchange.
pub trait HttpConnector: Send + Sync + std::fmt::Debug + 'static {
    /// Sends `request`. Errors before a response head are [`TransportError`]s; the body's
    /// errors arrive while reading it.
    fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> BoxFuture<'static, Result<http::Response<ResponseBody>, TransportError>>;
}

/// Whether `host` (a URI host) is a loopback address or `localhost`.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|address| address.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "127.0.0.1",
            "127.9.9.9",
            "[::1]",
            "::1",
            "api.localhost",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "gptproto.com",
            "10.0.0.1",
            "192.168.1.2",
            "localhost.evil.com",
            "[::2]",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
