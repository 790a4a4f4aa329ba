//! [`Error`]: the one error type of the client, with predicates for the questions callers ask.

use std::fmt;
use std::time::Duration;

use gptproto_proto::exchange::ApiError;
use gptproto_proto::wire::ChatCompletion;
use gptproto_transport::TransportError;

/// Everything that can go wrong with a call.
///
/// Ask it questions: [`is_timeout`](Self::is_timeout), [`is_connect`](Self::is_connect),
/// [`is_rate_limited`](Self::is_rate_limited), [`is_auth`](Self::is_auth),
/// [`is_content_policy`](Self::is_content_policy), [`is_truncated`](Self::is_truncated), ...;
/// read the server's [`status`](Self::status), [`api_error`](Self::api_error) (code, type,
/// message, param) and [`request_id`](Self::request_id). Its `Display` says what happened and
/// never contains the API key.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: Kind,
    /// Attempts made before giving up (1 when no retry happened).
    attempts: u32,
}

enum Kind {
    /// Validation, API errors, protocol errors and truncation from the sans-IO core.
    Proto(gptproto_proto::Error),
    /// The transport failed before a response head.
    Transport(TransportError),
    /// A deadline passed.
    Timeout { what: TimeoutKind, after: Duration },
    /// The body broke while it was being read.
    Interrupted {
        source: TransportError,
        chunks: u64,
        partial: Option<Box<ChatCompletion>>,
    },
    /// The client could not be built or the request not sent as configured.
    Config(String),
    /// A response body larger than allowed.
    BodyTooLarge { limit: usize },
    /// A redirect that was not followed.
    Redirect { status: u16, location: String },
    /// The tool-call loop could not go on (too many rounds, no choice).
    #[cfg(feature = "tools")]
    Tools(gptproto_tools::Error),
}

/// Which deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// No response head in time.
    Response,
    /// Nothing received for too long while reading the body.
    Idle,
    /// The whole call took too long.
    Total,
}

impl Error {
    fn new(kind: Kind) -> Self {
        Self {
            inner: Box::new(Inner { kind, attempts: 1 }),
        }
    }

    pub(crate) fn transport(error: TransportError) -> Self {
        Self::new(Kind::Transport(error))
    }

    pub(crate) fn timeout(what: TimeoutKind, after: Duration) -> Self {
        Self::new(Kind::Timeout { what, after })
    }

    pub(crate) fn interrupted(
        source: TransportError,
        chunks: u64,
        partial: Option<ChatCompletion>,
    ) -> Self {
        Self::new(Kind::Interrupted {
            source,
            chunks,
            partial: partial.map(Box::new),
        })
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::new(Kind::Config(message.into()))
    }

    pub(crate) fn body_too_large(limit: usize) -> Self {
        Self::new(Kind::BodyTooLarge { limit })
    }

    pub(crate) fn redirect(status: u16, location: impl Into<String>) -> Self {
        Self::new(Kind::Redirect {
            status,
            location: location.into(),
        })
    }

    pub(crate) fn with_attempts(mut self, attempts: u32) -> Self {
        self.inner.attempts = attempts;
        self
    }

    /// The core's error, when it is one (validation, API, protocol, truncation).
    pub fn proto(&self) -> Option<&gptproto_proto::Error> {
        match &self.inner.kind {
            Kind::Proto(error) => Some(error),
            _ => None,
        }
    }

    /// The tools' error, when the tool-call loop stopped (see [`is_max_rounds`](Self::is_max_rounds)).
    #[cfg(feature = "tools")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tools")))]
    pub fn tools_error(&self) -> Option<&gptproto_tools::Error> {
        match &self.inner.kind {
            Kind::Tools(error) => Some(error),
            _ => None,
        }
    }

    /// The tool-call loop reached its most rounds with the model still calling tools.
    #[cfg(feature = "tools")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tools")))]
    pub fn is_max_rounds(&self) -> bool {
        self.tools_error()
            .is_some_and(gptproto_tools::Error::is_max_rounds)
    }

    /// The transport's error, when the connection failed or the body broke.
    pub fn transport_error(&self) -> Option<&TransportError> {
        match &self.inner.kind {
            Kind::Transport(error) | Kind::Interrupted { source: error, .. } => Some(error),
            _ => None,
        }
    }

    /// How many attempts were made (retries + 1).
    pub fn attempts(&self) -> u32 {
        self.inner.attempts
    }

    /// The server answered with an error (status, or an error inside the stream).
    pub fn api_error(&self) -> Option<&ApiError> {
        self.proto().and_then(gptproto_proto::Error::api_error)
    }

    /// The HTTP status of the error response, if there was one.
    pub fn status(&self) -> Option<http::StatusCode> {
        match &self.inner.kind {
            Kind::Proto(error) => error.status(),
            Kind::Redirect { status, .. } => http::StatusCode::from_u16(*status).ok(),
            _ => None,
        }
    }

    /// The request id the server gave, if any.
    pub fn request_id(&self) -> Option<&str> {
        self.proto().and_then(gptproto_proto::Error::request_id)
    }

    /// A deadline passed (response, idle, total) or the connect timeout fired.
    pub fn is_timeout(&self) -> bool {
        match &self.inner.kind {
            Kind::Timeout { .. } => true,
            Kind::Transport(error) => error.is_timeout(),
            _ => false,
        }
    }

    /// Which deadline passed.
    pub fn timeout_kind(&self) -> Option<TimeoutKind> {
        match &self.inner.kind {
            Kind::Timeout { what, .. } => Some(*what),
            _ => None,
        }
    }

    /// No connection could be made (the request was not sent).
    pub fn is_connect(&self) -> bool {
        matches!(&self.inner.kind, Kind::Transport(error) if error.is_connect())
    }

    /// The server's TLS certificate was not trusted (unknown issuer, expired, another name):
    /// not retried; trust its CA with [`Roots`](crate::Roots) to go on.
    pub fn is_certificate(&self) -> bool {
        matches!(&self.inner.kind, Kind::Transport(error) if error.is_certificate())
    }

    /// The network failed: no connection, a connection lost, or a body that broke midway.
    pub fn is_network(&self) -> bool {
        matches!(
            &self.inner.kind,
            Kind::Transport(_) | Kind::Interrupted { .. }
        )
    }

    /// 401, or 403 for lack of permission.
    pub fn is_auth(&self) -> bool {
        self.api_error().is_some_and(ApiError::is_auth)
    }

    /// 429 rate limiting.
    pub fn is_rate_limited(&self) -> bool {
        self.api_error().is_some_and(ApiError::is_rate_limited)
    }

    /// Rejected by the content policy.
    pub fn is_content_policy(&self) -> bool {
        self.api_error().is_some_and(ApiError::is_content_policy)
    }

    /// Insufficient balance or quota.
    pub fn is_insufficient_balance(&self) -> bool {
        self.api_error()
            .is_some_and(ApiError::is_insufficient_balance)
    }

    /// A 5xx or a server error inside the stream.
    pub fn is_server_error(&self) -> bool {
        self.api_error().is_some_and(ApiError::is_server_error)
    }

    /// The request was rejected as invalid by the server (400, 404, 422, content policy).
    pub fn is_rejected(&self) -> bool {
        self.api_error().is_some_and(ApiError::is_rejected)
    }

    /// The request was refused by validation before it was sent.
    pub fn is_validation(&self) -> bool {
        self.proto()
            .is_some_and(gptproto_proto::Error::is_validation)
    }

    /// The stream ended early, cleanly or because the connection broke; see
    /// [`partial`](Self::partial).
    pub fn is_truncated(&self) -> bool {
        matches!(&self.inner.kind, Kind::Interrupted { .. })
            || self
                .proto()
                .is_some_and(gptproto_proto::Error::is_truncated)
    }

    /// The server's output broke the protocol: undecodable data, a truncated stream, an
    /// oversized event, a body over the limit.
    pub fn is_protocol(&self) -> bool {
        matches!(&self.inner.kind, Kind::BodyTooLarge { .. })
            || self.proto().is_some_and(gptproto_proto::Error::is_protocol)
    }

    /// The client's configuration is unusable (base URL, headers, TLS roots, key).
    pub fn is_config(&self) -> bool {
        matches!(&self.inner.kind, Kind::Config(_))
            || self.proto().is_some_and(gptproto_proto::Error::is_config)
            || matches!(&self.inner.kind, Kind::Transport(error)
                if matches!(error.kind(), gptproto_transport::TransportErrorKind::Config | gptproto_transport::TransportErrorKind::InsecureScheme))
    }

    /// What a stream delivered before it ended early.
    pub fn partial(&self) -> Option<&ChatCompletion> {
        match &self.inner.kind {
            Kind::Interrupted { partial, .. } => partial.as_deref(),
            _ => self.proto().and_then(gptproto_proto::Error::partial),
        }
    }

    /// Whether the request may have reached the server (false when it was refused before
    /// sending, or no connection could be made).
    pub fn may_have_reached_server(&self) -> bool {
        match &self.inner.kind {
            Kind::Proto(error) => !(error.is_validation() || error.is_config()),
            Kind::Transport(error) => error.may_have_reached_server(),
            Kind::Config(_) => false,
            _ => true,
        }
    }
}

impl From<gptproto_proto::Error> for Error {
    fn from(error: gptproto_proto::Error) -> Self {
        Self::new(Kind::Proto(error))
    }
}

#[cfg(feature = "tools")]
impl From<gptproto_tools::Error> for Error {
    fn from(error: gptproto_tools::Error) -> Self {
        Self::new(Kind::Tools(error))
    }
}

impl From<ApiError> for Error {
    fn from(error: ApiError) -> Self {
        gptproto_proto::Error::from(error).into()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner.kind {
            Kind::Proto(error) => fmt::Display::fmt(error, f)?,
            Kind::Transport(error) => fmt::Display::fmt(error, f)?,
            Kind::Timeout { what, after } => {
                let what = match what {
                    TimeoutKind::Response => "no response head",
                    TimeoutKind::Idle => "nothing received",
                    TimeoutKind::Total => "the call did not finish",
                };
                write!(f, "timed out: {what} within {after:?}")?;
            }
            Kind::Interrupted {
                source,
                chunks,
                partial,
            } => {
                write!(f, "the stream broke after {chunks} chunks: {source}")?;
                if let Some(partial) = partial {
                    let received: usize = partial
                        .choices
                        .iter()
                        .map(|choice| choice.message.text().map_or(0, str::len))
                        .sum();
                    write!(f, " ({received} bytes of text received)")?;
                }
            }
            Kind::Config(message) => write!(f, "invalid configuration: {message}")?,
            Kind::BodyTooLarge { limit } => {
                write!(f, "the response body exceeds the limit of {limit} bytes")?;
            }
            Kind::Redirect { status, location } => {
                write!(f, "HTTP {status} redirect to {location} was not followed")?;
            }
            #[cfg(feature = "tools")]
            Kind::Tools(error) => fmt::Display::fmt(error, f)?,
        }
        if self.inner.attempts > 1 {
            write!(f, " (after {} attempts)", self.inner.attempts)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The Display text is complete and carries no secret.
        write!(f, "Error({self})")
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.inner.kind {
            Kind::Proto(error) => Some(error),
            Kind::Transport(error) | Kind::Interrupted { source: error, .. } => Some(error),
            #[cfg(feature = "tools")]
            Kind::Tools(error) => Some(error),
            _ => None,
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
