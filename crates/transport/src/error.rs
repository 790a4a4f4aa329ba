//! [`TransportError`]: what went wrong moving bytes, and whether the request may have reached
//! the server.

use std::error::Error as StdError;
use std::fmt;

/// A boxed error of any kind.
pub(crate) type BoxError = Box<dyn StdError + Send + Sync>;

/// A failure of the HTTP transport.
///
/// The [`kind`](Self::kind) tells whether the request could have reached the server, which
/// decides whether retrying is safe.
#[derive(Debug)]
pub struct TransportError {
    kind: TransportErrorKind,
    message: String,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

/// The class of a [`TransportError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// No connection could be made (DNS, refused, TLS handshake, proxy tunnel): the request
    /// was not sent.
    Connect,
    /// The server's TLS certificate was not trusted (unknown issuer, expired, another name):
    /// the request was not sent, and sending it again will not help until the roots change.
    Certificate,
    /// The connection failed after the request started: it may have reached the server.
    Request,
    /// Reading the response body failed: the response had started.
    Body,
    /// The configuration is unusable (TLS roots, a proxy's URL, or credentials the proxy
    /// refused: its 407 or 403).
    Config,
    /// The request was refused before sending: plain `http://` to a host that is not loopback.
    InsecureScheme,
}

impl TransportError {
    pub(crate) fn new(kind: TransportErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn with_source(
        mut self,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        self.source = Some(source.into());
        self
    }

    /// A body error, for connectors that bring their own body type.
    pub fn body(source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self::new(TransportErrorKind::Body, "reading the response body failed").with_source(source)
    }

    /// A failure after the request started, for connectors that bring their own HTTP.
    pub fn request(source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self::new(TransportErrorKind::Request, "request failed").with_source(source)
    }

    /// The server's certificate was not trusted, for connectors that bring their own TLS: not
    /// retried.
    pub fn certificate(source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self::new(
            TransportErrorKind::Certificate,
            "the server's certificate is not trusted",
        )
        .with_source(source)
    }

    /// The connector's configuration cannot work (`message` says what is wrong, without
    /// secrets): not retried.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(TransportErrorKind::Config, message)
    }

    /// The connector refused the URL's scheme before sending (plain `http://` where it does
    /// not allow it): not retried.
    pub fn insecure_scheme(message: impl Into<String>) -> Self {
        Self::new(TransportErrorKind::InsecureScheme, message)
    }

    /// The class of error.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// No connection could be made (a certificate that was not trusted included).
    pub fn is_connect(&self) -> bool {
        matches!(
            self.kind,
            TransportErrorKind::Connect | TransportErrorKind::Certificate
        )
    }

    /// The server's TLS certificate was not trusted: not worth retrying.
    pub fn is_certificate(&self) -> bool {
        self.kind == TransportErrorKind::Certificate
    }

    /// Adds which roots were trusted to a certificate error, and how to trust another CA.
    /// (On wasm32 the host does TLS with roots of its own.)
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn with_roots(mut self, roots: &str) -> Self {
        if self.kind == TransportErrorKind::Certificate {
            self.message = format!(
                "the server's TLS certificate is not trusted (trusted roots: {roots}; to trust a \
                 private or corporate CA, add its certificate to them)"
            );
        }
        self
    }

    /// Reading the body failed.
    pub fn is_body(&self) -> bool {
        self.kind == TransportErrorKind::Body
    }

    /// Whether the request may have reached the server (false only when no connection was
    /// made, or it was refused before sending).
    pub fn may_have_reached_server(&self) -> bool {
        matches!(
            self.kind,
            TransportErrorKind::Request | TransportErrorKind::Body
        )
    }

    /// The configuration is unusable (TLS roots, proxy URL), or the request was refused before
    /// sending (plain `http://` to a remote host).
    pub fn is_config(&self) -> bool {
        matches!(
            self.kind,
            TransportErrorKind::Config | TransportErrorKind::InsecureScheme
        )
    }

    /// Whether sending again might work: not for an unusable configuration, a refused scheme
    /// or a certificate that is not trusted. (Whether it is *safe* is
    /// [`may_have_reached_server`](Self::may_have_reached_server)'s question.)
    pub fn is_retryable(&self) -> bool {
        !(self.is_config() || self.is_certificate())
    }

    /// Whether a deadline of the transport passed (connecting, the TLS handshake): known by
    /// the type of a cause (`io::ErrorKind::TimedOut`), never by its text.
    pub fn is_timeout(&self) -> bool {
        self.source
            .as_deref()
            .is_some_and(|source| causes(source).any(is_timed_out))
    }

    /// The innermost cause: what really happened (refused, reset, a certificate's problem).
    fn deepest_cause(&self) -> Option<&(dyn StdError + 'static)> {
        causes(self.source.as_deref()? as &(dyn StdError + 'static)).last()
    }
}

fn is_timed_out(error: &(dyn StdError + 'static)) -> bool {
    error
        .downcast_ref::<std::io::Error>()
        .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
}

/// Says what went wrong at this layer; the causes are [`source`](StdError::source)'s (so that
/// reporters printing the chain print each once). The alternate form (`{:#}`) adds the deepest
/// cause on the same line: `connection failed: Connection refused (os error 111)`.
impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if f.alternate()
            && let Some(deepest) = self.deepest_cause()
        {
            let deepest = deepest.to_string();
            if !self.message.contains(&deepest) {
                write!(f, ": {deepest}")?;
            }
        }
        Ok(())
    }
}

impl StdError for TransportError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn StdError + 'static))
    }
}

/// `error` and its causes. An `io::Error` wrapping another error is followed into it (its
/// `source` skips the wrapped error itself, and hyper-rustls wraps rustls's error in two).
pub(crate) fn causes<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(
        Some(error),
        |&error: &&'a (dyn StdError + 'static)| match error.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
            None => error.source(),
        },
    )
}
