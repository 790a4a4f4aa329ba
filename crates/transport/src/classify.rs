//! A failure to connect, classified by its causes: the proxy's (named as the proxy's), a port
//! that does not speak TLS, a certificate that is not trusted, or the network's.

use std::error::Error as StdError;

use crate::error::BoxError;
use crate::{TransportError, TransportErrorKind};

impl TransportError {
    /// A connection error, for connectors that bring their own HTTP (classified as the
    /// built-in transport's are: a certificate that is not trusted is
    /// [`TransportErrorKind::Certificate`]).
    pub fn connect(source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        connect_error("connection failed", source.into())
    }
}

/// A failure to connect, classified: a certificate that was not trusted is
/// [`TransportErrorKind::Certificate`], anything else [`TransportErrorKind::Connect`].
pub(crate) fn connect_error(message: &str, source: BoxError) -> TransportError {
    // Through a proxy: the proxy's failure, named as the proxy's (a 407 or 403 is the
    // configuration's, not worth retrying).
    if let Some((failure, config)) = proxy_failure(&*source) {
        let kind = if config {
            TransportErrorKind::Config
        } else {
            TransportErrorKind::Connect
        };
        return TransportError::new(kind, failure).with_source(source);
    }
    if is_not_tls(&*source) {
        return TransportError::new(
            TransportErrorKind::Config,
            "the server did not answer in TLS: an https:// URL for a plain-HTTP port? (then \
             the base URL is http://)",
        )
        .with_source(source);
    }
    let kind = if is_untrusted_certificate(&*source) {
        TransportErrorKind::Certificate
    } else {
        TransportErrorKind::Connect
    };
    TransportError::new(kind, message).with_source(source)
}

#[cfg(not(target_arch = "wasm32"))]
use crate::proxy::proxy_failure;
#[cfg(not(target_arch = "wasm32"))]
use crate::tls::{is_not_tls, is_untrusted_certificate};

/// On wasm32 the host does TLS, and its errors do not say why (a certificate or the network).
#[cfg(target_arch = "wasm32")]
fn is_untrusted_certificate(_: &(dyn std::error::Error + 'static)) -> bool {
    false
}

/// On wasm32 the host does TLS (see [`is_untrusted_certificate`]).
#[cfg(target_arch = "wasm32")]
fn is_not_tls(_: &(dyn std::error::Error + 'static)) -> bool {
    false
}

/// On wasm32 the host does the networking, proxies included.
#[cfg(target_arch = "wasm32")]
fn proxy_failure(_: &(dyn std::error::Error + 'static)) -> Option<(String, bool)> {
    None
}
