//! [`Error`]: the one error type of the client, with predicates for the questions callers ask.

use std::fmt;

use gptproto_proto::exchange::ApiError;
use gptproto_proto::wire::ChatCompletion;
use gptproto_transport::TransportError;

pub use gptproto_proto::TimeoutKind;

use crate::meta::ResponseMeta;

mod kind;
#[cfg(test)]
mod tests;

pub use kind::ErrorKind;

/// Everything that can go wrong with a call.
///
/// Its [`kind`](Self::kind) is one category of [`ErrorKind`]; or ask it questions, each a
/// view of that: [`is_timeout`](Self::is_timeout), [`is_connect`](Self::is_connect),
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
    /// The head of the error response, when the server answered.
    response: Option<ResponseMeta>,
    /// The URL of the request that failed (its last attempt's), without credentials or query.
    url: Option<String>,
}

enum Kind {
    /// From the sans-IO core: validation, API errors, protocol errors, truncation, a deadline
    /// that passed (with what a stream had delivered), a redirect not followed, a body too
    /// large.
    Proto(gptproto_proto::Error),
    /// The transport failed before a response head.
    Transport(TransportError),
    /// The body broke while it was being read.
    Interrupted {
        source: TransportError,
        chunks: u64,
        partial: Option<Box<ChatCompletion>>,
        /// The bytes of text in `partial`, counted once when it was kept.
        received: usize,
    },
    /// The client could not be built or the request not sent as configured.
    Config(String),
    /// The tool-call loop could not go on (too many rounds, no choice).
    #[cfg(feature = "tools")]
    Tools(gptproto_tools::Error),
}

impl Error {
    fn new(kind: Kind) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                attempts: 1,
                response: None,
                url: None,
            }),
        }
    }

    pub(crate) fn transport(error: TransportError) -> Self {
        Self::new(Kind::Transport(error))
    }

    pub(crate) fn interrupted(
        source: TransportError,
        chunks: u64,
        partial: Option<ChatCompletion>,
    ) -> Self {
        let received = partial.as_ref().map_or(0, |partial| {
            partial
                .choices
                .iter()
                .map(|choice| choice.message.text().map_or(0, str::len))
                .sum()
        });
        Self::new(Kind::Interrupted {
            source,
            chunks,
            partial: partial.map(Box::new),
            received,
        })
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::new(Kind::Config(message.into()))
    }

    pub(crate) fn with_attempts(mut self, attempts: u32) -> Self {
        self.inner.attempts = attempts;
        self
    }

    pub(crate) fn with_url(mut self, url: String) -> Self {
        self.inner.url = Some(url);
        self
    }

    /// The URL of the request that failed: its last attempt's (after redirects), without
    /// credentials or query. `None` when nothing was sent (a validation or configuration
    /// error). What to check first after a 404: a base URL without `/v1`, or with the
    /// endpoint's path pasted in.
    pub fn url(&self) -> Option<&str> {
        self.inner.url.as_deref()
    }

    pub(crate) fn with_response(mut self, response: ResponseMeta) -> Self {
        self.inner.response = Some(response);
        self
    }

    /// The head of the error response (status, request id, rate limits, headers), when the
    /// server answered with an error status.
    pub fn response_meta(&self) -> Option<&ResponseMeta> {
        self.inner.response.as_ref()
    }

    /// The core's error, when it is one (validation, API, protocol, truncation, parse).
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
        self.proto().and_then(gptproto_proto::Error::status)
    }

    /// The request id the server gave, if any.
    pub fn request_id(&self) -> Option<&str> {
        self.proto().and_then(gptproto_proto::Error::request_id)
    }

    /// A deadline passed (response, idle, total), or the transport's (connect, TLS handshake):
    /// [`ErrorKind::Timeout`].
    pub fn is_timeout(&self) -> bool {
        self.kind() == ErrorKind::Timeout
    }

    /// Which of the call's deadlines passed.
    pub fn timeout_kind(&self) -> Option<TimeoutKind> {
        self.proto().and_then(gptproto_proto::Error::timeout_kind)
    }

    /// No connection could be made, the request was not sent: [`ErrorKind::Connect`],
    /// [`ErrorKind::Certificate`], or the [`ErrorKind::Timeout`] of connecting.
    pub fn is_connect(&self) -> bool {
        match self.kind() {
            ErrorKind::Connect | ErrorKind::Certificate => true,
            ErrorKind::Timeout => self
                .failed_transport()
                .is_some_and(TransportError::is_connect),
            _ => false,
        }
    }

    /// The server's TLS certificate was not trusted (unknown issuer, expired, another name):
    /// not retried; trust its CA with `Roots` (`ClientBuilder::roots`) to go on.
    pub fn is_certificate(&self) -> bool {
        self.kind() == ErrorKind::Certificate
    }

    /// The network failed: no connection ([`ErrorKind::Connect`]), a connection lost before
    /// the response ([`ErrorKind::Network`]), or a body that broke midway
    /// ([`ErrorKind::Interrupted`]).
    pub fn is_network(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Connect | ErrorKind::Network | ErrorKind::Interrupted
        )
    }

    /// The stream ended early, cleanly ([`ErrorKind::Truncated`]) or because its body broke
    /// ([`ErrorKind::Interrupted`]); see [`partial`](Self::partial).
    pub fn is_truncated(&self) -> bool {
        matches!(self.kind(), ErrorKind::Truncated | ErrorKind::Interrupted)
    }

    /// The server's output broke the protocol, as the core counts it: undecodable data, an
    /// oversized event or body ([`ErrorKind::Protocol`]), a stream that ended cleanly but early
    /// ([`ErrorKind::Truncated`]), an answer past the limit ([`ErrorKind::AnswerLimit`]). A
    /// redirect not followed is not ([`is_redirect`](Self::is_redirect)).
    pub fn is_protocol(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Protocol | ErrorKind::Truncated | ErrorKind::AnswerLimit
        )
    }

    /// The server answered with a redirect (3xx) that was not followed: only 307 and 308 are
    /// (a POST's body cannot go to a 301/302/303's target), at most 5 of them; a base URL that
    /// redirects is usually the wrong one (`http://` for `https://`, a missing `/v1`).
    pub fn is_redirect(&self) -> bool {
        self.kind() == ErrorKind::Redirect
    }

    /// The client's configuration is unusable (base URL, headers, key, TLS roots, a proxy, a
    /// refused scheme): [`ErrorKind::Config`].
    pub fn is_config(&self) -> bool {
        self.kind() == ErrorKind::Config
    }

    /// A streamed answer grew past the client's limit
    /// ([`ClientBuilder::max_streamed_answer`](crate::ClientBuilder::max_streamed_answer));
    /// [`partial`](Self::partial) has what was accumulated.
    pub fn is_answer_limit(&self) -> bool {
        self.kind() == ErrorKind::AnswerLimit
    }

    /// The error's class as telemetry records it (`error.type` of the GenAI conventions): the
    /// HTTP status of an error response (`"429"`, `"401"`, ...), else the
    /// [`kind`](Self::kind)'s [`as_str`](ErrorKind::as_str) (low cardinality: safe as a
    /// metric attribute).
    ///
    /// | class | kind |
    /// | --- | --- |
    /// | `"401"`, `"429"`, `"500"`... | the server answered with that status |
    /// | `api_error` | [`Api`](ErrorKind::Api) inside a stream (no status) |
    /// | `timeout` | [`Timeout`](ErrorKind::Timeout) |
    /// | `tls` | [`Certificate`](ErrorKind::Certificate) |
    /// | `connect` | [`Connect`](ErrorKind::Connect) |
    /// | `network` | [`Network`](ErrorKind::Network) |
    /// | `stream_truncated` | [`Truncated`](ErrorKind::Truncated), [`Interrupted`](ErrorKind::Interrupted) |
    /// | `answer_limit` | [`AnswerLimit`](ErrorKind::AnswerLimit) |
    /// | `stream_parse` | [`Protocol`](ErrorKind::Protocol) |
    /// | `invalid_answer` | [`Answer`](ErrorKind::Answer) |
    /// | `validation` | [`Validation`](ErrorKind::Validation) |
    /// | `config` | [`Config`](ErrorKind::Config) |
    /// | `tools` | [`Tools`](ErrorKind::Tools) |
    /// | `_OTHER` | [`Misuse`](ErrorKind::Misuse) |
    ///
    /// A call or stream dropped before its end is recorded as `cancelled` (no error exists).
    ///
    /// ```
    /// use gptproto::{ChatRequest, Client};
    ///
    /// let error = Client::builder()
    ///     .ignore_env()
    ///     .base_url("not a url")
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(error.error_type(), "config");
    /// ```
    pub fn error_type(&self) -> std::borrow::Cow<'static, str> {
        match self.status() {
            Some(status) => std::borrow::Cow::Owned(status.as_u16().to_string()),
            None => std::borrow::Cow::Borrowed(self.kind().as_str()),
        }
    }

    /// What a stream delivered before it ended early: cut, broken, timed out while reading,
    /// or past the answer limit.
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
            Kind::Proto(error) => error.may_have_reached_server(),
            Kind::Transport(error) => error.may_have_reached_server(),
            Kind::Config(_) => false,
            _ => true,
        }
    }

    /// Whether another model could answer what failed here: the core's
    /// [`fails_over`](gptproto_proto::failure::fails_over), and nothing of an answer arrived.
    pub(crate) fn fails_over(&self) -> bool {
        self.partial().is_none()
            && self
                .failure()
                .is_some_and(|failure| gptproto_proto::failure::fails_over(&failure))
    }

    /// The transport's error when no connection or response head came (not a broken body).
    fn failed_transport(&self) -> Option<&TransportError> {
        match &self.inner.kind {
            Kind::Transport(error) => Some(error),
            _ => None,
        }
    }

    /// What this error says of the attempt that failed, in the core's terms (for the one
    /// classification, [`FailureClass`](gptproto_proto::failure::FailureClass)); `None` when
    /// it is not an attempt's failure (the request or the answer was at fault).
    pub(crate) fn failure(&self) -> Option<gptproto_proto::failure::Failure<'_>> {
        use gptproto_proto::failure::Failure;
        if let Some(api) = self.api_error() {
            return Some(Failure::Response(api));
        }
        match &self.inner.kind {
            Kind::Transport(error) if error.is_retryable() => Some(if error.is_connect() {
                Failure::Connect
            } else {
                Failure::Disconnected
            }),
            Kind::Interrupted { .. } => Some(Failure::Disconnected),
            _ if self.is_timeout() => Some(Failure::Timeout),
            _ => None,
        }
    }

    fn asks_proto(&self, predicate: fn(&gptproto_proto::Error) -> bool) -> bool {
        self.proto().is_some_and(predicate)
    }
}

/// The core's questions, asked of the core's error: each is defined once, in
/// `gptproto-proto`, and answered the same through this type (`?` loses nothing).
macro_rules! forwarded {
    ($($(#[$doc:meta])* $name:ident;)*) => {
        impl Error {
            $(
                $(#[$doc])*
                pub fn $name(&self) -> bool {
                    self.asks_proto(gptproto_proto::Error::$name)
                }
            )*
        }
    };
}

forwarded! {
    /// The request was refused by validation before it was sent.
    is_validation;
    /// The server answered with an error (a status, or an error inside the stream).
    is_api;
    /// 401, or 403 for lack of permission (not for lack of balance).
    is_auth;
    /// 429 for rate limiting (not for an exhausted quota).
    is_rate_limited;
    /// Rejected by the provider's content policy, or an answer withheld by a content filter
    /// (`finish_reason: "content_filter"`, met by [`ChatCompletion::parse`]).
    is_content_policy;
    /// Insufficient balance or exhausted quota: retrying will not help.
    is_insufficient_balance;
    /// A 5xx, or a server error reported inside the stream.
    is_server_error;
    /// The request was rejected as invalid (400, 404, 422, a content-policy refusal).
    is_rejected;
    /// An SSE event outgrew the decoder's buffer limit (one case of
    /// [`ErrorKind::Protocol`]).
    is_buffer_limit;
    /// The model refused ([`ChatCompletion::parse`]); the refusal is in the message.
    is_refusal;
    /// The answer was cut by `max_tokens` (`finish_reason: "length"`, met by
    /// [`ChatCompletion::parse`]).
    is_length_limit;
    /// The answer is not JSON of the type asked for ([`ChatCompletion::parse`]).
    is_invalid_json;
    /// The core's API was used out of order (a bug, not the server's output).
    is_misuse;
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

/// Says what went wrong at the outermost layer that has something to say; the layer below's
/// error is [`source`](std::error::Error::source)'s, or this one's whole text when it only
/// wraps it (so that reporters printing the chain print each text once). The alternate form
/// (`{:#}`) adds the deepest cause on the same line, as the CLI prints it:
/// `connection failed: Connection refused (os error 111)`.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner.kind {
            Kind::Proto(error) => fmt::Display::fmt(error, f)?,
            Kind::Transport(error) => fmt::Display::fmt(error, f)?,
            Kind::Interrupted {
                source,
                chunks,
                partial,
                received,
            } => {
                write!(f, "the stream broke after {chunks} chunks")?;
                if partial.is_some() {
                    write!(f, " ({received} bytes of text received)")?;
                }
                if f.alternate() {
                    write!(f, ": {source:#}")?;
                }
            }
            Kind::Config(message) => write!(f, "invalid configuration: {message}")?,
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
        write!(f, "Error({self:#})")
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.inner.kind {
            // Their text is this error's: their causes come next.
            Kind::Proto(error) => error.source(),
            Kind::Transport(error) => error.source(),
            #[cfg(feature = "tools")]
            Kind::Tools(error) => error.source(),
            Kind::Interrupted { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
