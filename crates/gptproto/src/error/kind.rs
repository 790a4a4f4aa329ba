//! [`ErrorKind`]: what went wrong, one category per error, and its telemetry class.

use gptproto_proto::ErrorKind as Core;
use gptproto_proto::IoErrorKind;
use gptproto_transport::TransportErrorKind;

use super::{Error, Kind};

/// What went wrong, in categories that do not overlap: every [`Error`] is exactly one of
/// them. The predicates of [`Error`] are views of this (`is_truncated` is
/// [`Truncated`](Self::Truncated) or [`Interrupted`](Self::Interrupted)); match on it when a
/// program must handle each case once, as the CLI does for its exit statuses.
///
/// New categories may come in a minor release: keep a `_` arm.
///
/// ```
/// use gptproto::{Client, ErrorKind};
///
/// let error = Client::builder()
///     .ignore_env()
///     .base_url("not a url")
///     .build()
///     .unwrap_err();
/// assert_eq!(error.kind(), ErrorKind::Config);
/// let retry_later = match error.kind() {
///     ErrorKind::Timeout | ErrorKind::Connect | ErrorKind::Network => true,
///     ErrorKind::Api => error.is_rate_limited() || error.is_server_error(),
///     _ => false,
/// };
/// assert!(!retry_later);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request was refused by validation before it was sent.
    Validation,
    /// The client's configuration is unusable: base URL, headers, key, TLS roots, a proxy's
    /// settings or credentials it refused (its 407 or 403), plain `http://` to a host that is
    /// not loopback.
    Config,
    /// No connection could be made (DNS, refused, the TLS handshake, a proxy that is down):
    /// the request was not sent.
    Connect,
    /// The server's TLS certificate was not trusted: the request was not sent.
    Certificate,
    /// A deadline passed: connecting, the response head, idle, the body, the whole call.
    Timeout,
    /// The connection failed after the request started and before a response head.
    Network,
    /// The response's body broke while it was being read; [`Error::partial`] has what arrived.
    Interrupted,
    /// The stream ended cleanly but early (before `[DONE]` and every finish reason);
    /// [`Error::partial`] has what arrived.
    Truncated,
    /// A streamed answer grew past the client's limit; [`Error::partial`] has what was
    /// accumulated.
    AnswerLimit,
    /// The server's output broke the protocol: undecodable stream data or body, an SSE event
    /// past the buffer limit, a body past its limit.
    Protocol,
    /// The server answered with a redirect that was not followed.
    Redirect,
    /// The server answered with an error, as a status or inside the stream
    /// ([`Error::api_error`]).
    Api,
    /// The answer came but is not what was asked for ([`ChatCompletion::parse`]): a refusal,
    /// cut by `max_tokens` or a content filter, not JSON of the type asked for.
    ///
    /// [`ChatCompletion::parse`]: crate::ChatCompletion::parse
    Answer,
    /// The tool-call loop could not go on (too many rounds, no choice).
    Tools,
    /// An API was used out of order (a bug in the caller).
    Misuse,
}

impl ErrorKind {
    /// The class recorded as the GenAI conventions' `error.type` when the error has no HTTP
    /// status (see [`Error::error_type`]): short, fixed, safe as a metric attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Validation => "validation",
            Self::Config => "config",
            Self::Connect => "connect",
            Self::Certificate => "tls",
            Self::Timeout => "timeout",
            Self::Network => "network",
            Self::Interrupted | Self::Truncated => "stream_truncated",
            Self::AnswerLimit => "answer_limit",
            Self::Protocol => "stream_parse",
            Self::Redirect => "redirect",
            Self::Api => "api_error",
            Self::Answer => "invalid_answer",
            Self::Tools => "tools",
            Self::Misuse => "_OTHER",
        }
    }
}

impl Error {
    /// What went wrong: one category of [`ErrorKind`], decided here once; the predicates are
    /// views of it.
    pub fn kind(&self) -> ErrorKind {
        match &self.inner.kind {
            Kind::Proto(error) => of_core(error.kind()),
            Kind::Transport(error) if error.is_timeout() => ErrorKind::Timeout,
            Kind::Transport(error) => of_transport(error.kind()),
            Kind::Interrupted { .. } => ErrorKind::Interrupted,
            Kind::Config(_) => ErrorKind::Config,
            #[cfg(feature = "tools")]
            Kind::Tools(_) => ErrorKind::Tools,
        }
    }
}

fn of_transport(kind: TransportErrorKind) -> ErrorKind {
    match kind {
        TransportErrorKind::Connect => ErrorKind::Connect,
        TransportErrorKind::Certificate => ErrorKind::Certificate,
        TransportErrorKind::Request => ErrorKind::Network,
        TransportErrorKind::Body => ErrorKind::Interrupted,
        TransportErrorKind::Config | TransportErrorKind::InsecureScheme => ErrorKind::Config,
        // A kind added to the transport later: the connection failed, in some new way.
        _ => ErrorKind::Network,
    }
}

fn of_core(kind: &Core) -> ErrorKind {
    match kind {
        Core::Validation { .. } => ErrorKind::Validation,
        Core::Config { .. } => ErrorKind::Config,
        Core::BufferLimit { .. }
        | Core::InvalidStreamData { .. }
        | Core::InvalidResponse { .. }
        | Core::BodyTooLarge { .. } => ErrorKind::Protocol,
        Core::Api(_) => ErrorKind::Api,
        Core::Truncated { .. } => ErrorKind::Truncated,
        Core::AnswerLimit { .. } => ErrorKind::AnswerLimit,
        Core::Refusal { .. } | Core::Unfinished { .. } | Core::InvalidJson { .. } => {
            ErrorKind::Answer
        }
        Core::Misuse { .. } => ErrorKind::Misuse,
        Core::Timeout { .. } => ErrorKind::Timeout,
        Core::Connection { kind, .. } => match kind {
            IoErrorKind::Connect => ErrorKind::Connect,
            IoErrorKind::Body => ErrorKind::Interrupted,
            IoErrorKind::Unusable => ErrorKind::Config,
            _ => ErrorKind::Network,
        },
        Core::Redirect { .. } => ErrorKind::Redirect,
        // A kind added to the core later and not yet placed here.
        _ => ErrorKind::Misuse,
    }
}
