//! [`Error`]: the one error type of the crate, with predicates for the questions callers ask.

use std::fmt;
use std::time::Duration;

use crate::api_error::ApiError;
use crate::wire::{ChatCompletion, FinishReason};

/// Everything that can go wrong in `gptproto-proto`.
///
/// Ask it questions rather than matching on it: [`is_validation`](Self::is_validation),
/// [`is_api`](Self::is_api), [`is_rate_limited`](Self::is_rate_limited),
/// [`is_truncated`](Self::is_truncated), ... The detail is in [`kind`](Self::kind). The
/// `Display` text names what was wrong; it never contains an API key.
#[derive(Clone)]
pub struct Error {
    kind: Box<ErrorKind>,
}

/// What went wrong, in detail.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request was refused before sending: `field` names what is wrong (`messages[2].tool_call_id`).
    Validation {
        /// The request field at fault, as a JSON path.
        field: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The configuration cannot produce a request (a base URL or header that does not parse).
    Config {
        /// What is wrong with it.
        reason: String,
    },
    /// An SSE stream needed more buffered bytes (line and data) than the decoder's limit allows.
    BufferLimit {
        /// The limit in bytes.
        limit: usize,
    },
    /// A stream event whose data is not a chat-completion chunk.
    InvalidStreamData {
        /// The SSE event type.
        event_type: String,
        /// Why it did not decode.
        reason: String,
        /// The start of the data (at most 256 bytes).
        data_prefix: String,
    },
    /// A successful response whose body is not a chat completion.
    InvalidResponse {
        /// The HTTP status.
        status: u16,
        /// Why it did not decode.
        reason: String,
        /// The start of the body (at most 256 bytes).
        body_prefix: String,
    },
    /// The server answered with an error, as an HTTP status or inside the stream.
    Api(ApiError),
    /// The stream ended before `[DONE]` and before every choice had a finish reason (or in
    /// the middle of an event).
    Truncated {
        /// Everything received before the stream ended, when it was being accumulated.
        partial: Option<Box<ChatCompletion>>,
        /// How many chunks were received.
        chunks: u64,
    },
    /// A streamed answer grew past the decoder's answer limit
    /// ([`StreamDecoder::max_answer_bytes`](crate::StreamDecoder::max_answer_bytes)); the
    /// stream was abandoned there.
    AnswerLimit {
        /// The limit in bytes.
        limit: usize,
        /// Everything accumulated before the limit was passed.
        partial: Option<Box<ChatCompletion>>,
        /// How many chunks were received.
        chunks: u64,
    },
    /// The model refused to answer ([`ChatCompletion::parse`]).
    Refusal {
        /// The model's refusal.
        refusal: String,
    },
    /// The answer stopped before it was whole: `length` (`max_tokens` reached) or
    /// `content_filter` ([`ChatCompletion::parse`]).
    Unfinished {
        /// Why it stopped.
        finish_reason: FinishReason,
        /// The start of the text (at most 256 bytes).
        text_prefix: String,
    },
    /// The API was used out of order (bytes pushed into a decoder after `finish`).
    Misuse {
        /// What was done.
        what: &'static str,
    },
    /// The answer is not JSON of the type asked for ([`ChatCompletion::parse`]).
    InvalidJson {
        /// serde's error.
        reason: String,
        /// The start of the text (at most 256 bytes).
        text_prefix: String,
    },
    /// A deadline of the call passed ([`call`](crate::call)).
    Timeout {
        /// Which one.
        kind: TimeoutKind,
        /// The duration it was set from.
        after: Duration,
        /// What a stream had delivered when it passed, if one was being read.
        partial: Option<Box<ChatCompletion>>,
    },
    /// The connection failed, as the driver of a [`Call`](crate::call::Call) reported it.
    Connection {
        /// When and how it failed.
        kind: IoErrorKind,
        /// The driver's description of the failure.
        message: String,
        /// Chunks received before a streamed body broke.
        chunks: u64,
        /// What a stream had delivered before it broke.
        partial: Option<Box<ChatCompletion>>,
    },
    /// A response body larger than the call allows.
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A redirect that was not followed: not a 307 or 308 (a POST's body cannot go to a
    /// 301/302/303's target), one without a usable `Location`, or one past the most redirects.
    Redirect {
        /// The redirect's status.
        status: u16,
        /// Its `Location` (empty when there was none).
        location: String,
        /// Whether it was one redirect too many.
        too_many: bool,
    },
}

/// Which deadline of a call passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// No response head in time.
    Response,
    /// Nothing received for too long while reading the body.
    Idle,
    /// The response body took longer than its limit.
    Body,
    /// The whole call took too long.
    Total,
}

/// How the connection failed, as the driver of a [`Call`](crate::call::Call) saw it: what
/// decides whether the request may have reached the server and whether sending it again is
/// safe and useful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IoErrorKind {
    /// The request provably did not reach the server's application: it was not written, or
    /// the server's protocol refused it unprocessed (HTTP/2 `REFUSED_STREAM`, a stream above a
    /// GOAWAY's last stream id). Sent again at once, without counting as a retry.
    NotProcessed,
    /// No connection could be made (DNS, refused, the TLS handshake, a proxy tunnel): the
    /// request was not sent.
    Connect,
    /// The connection failed after the request started: it may have reached the server.
    Request,
    /// Reading the response body failed.
    Body,
    /// Sending cannot work as configured (an untrusted certificate, a refused scheme, unusable
    /// TLS roots or proxy): not retried.
    Unusable,
}

impl IoErrorKind {
    /// Whether the request may have reached the server.
    pub fn may_have_reached_server(self) -> bool {
        matches!(self, Self::Request | Self::Body)
    }
}

/// The most redirects a call follows in one attempt (the call's policy; here because its error
/// names it).
pub(crate) const MAX_REDIRECTS: usize = 5;

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Self {
            kind: Box::new(kind),
        }
    }

    pub(crate) fn validation(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(ErrorKind::Validation {
            field: field.into(),
            reason: reason.into(),
        })
    }

    pub(crate) fn config(reason: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config {
            reason: reason.into(),
        })
    }

    pub(crate) fn buffer_limit(limit: usize) -> Self {
        Self::new(ErrorKind::BufferLimit { limit })
    }

    pub(crate) fn misuse(what: &'static str) -> Self {
        Self::new(ErrorKind::Misuse { what })
    }

    /// The detail of what went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// Converts into the detail.
    pub fn into_kind(self) -> ErrorKind {
        *self.kind
    }

    pub(crate) fn timeout(
        kind: TimeoutKind,
        after: Duration,
        partial: Option<ChatCompletion>,
    ) -> Self {
        Self::new(ErrorKind::Timeout {
            kind,
            after,
            partial: partial.map(Box::new),
        })
    }

    pub(crate) fn connection(
        kind: IoErrorKind,
        message: impl Into<String>,
        chunks: u64,
        partial: Option<ChatCompletion>,
    ) -> Self {
        Self::new(ErrorKind::Connection {
            kind,
            message: message.into(),
            chunks,
            partial: partial.map(Box::new),
        })
    }

    pub(crate) fn redirect(status: u16, location: impl Into<String>, too_many: bool) -> Self {
        Self::new(ErrorKind::Redirect {
            status,
            location: location.into(),
            too_many,
        })
    }

    /// The request was refused by validation before it was sent.
    pub fn is_validation(&self) -> bool {
        matches!(*self.kind, ErrorKind::Validation { .. })
    }

    /// The configuration is unusable (base URL, header values).
    pub fn is_config(&self) -> bool {
        matches!(*self.kind, ErrorKind::Config { .. })
    }

    /// An SSE event outgrew the decoder's buffer limit.
    pub fn is_buffer_limit(&self) -> bool {
        matches!(*self.kind, ErrorKind::BufferLimit { .. })
    }

    /// A streamed answer grew past the decoder's answer limit; [`partial`](Self::partial) has
    /// what was accumulated.
    pub fn is_answer_limit(&self) -> bool {
        matches!(*self.kind, ErrorKind::AnswerLimit { .. })
    }

    /// The server answered with an error (see [`api_error`](Self::api_error)).
    pub fn is_api(&self) -> bool {
        matches!(*self.kind, ErrorKind::Api(_))
    }

    /// The stream ended early, cleanly or because its body broke; [`partial`](Self::partial)
    /// has what arrived.
    pub fn is_truncated(&self) -> bool {
        matches!(
            *self.kind,
            ErrorKind::Truncated { .. }
                | ErrorKind::Connection {
                    kind: IoErrorKind::Body,
                    ..
                }
        )
    }

    /// The server's output broke the protocol: undecodable stream data or response body, an
    /// oversized event, an answer past the limit, or a truncated stream.
    pub fn is_protocol(&self) -> bool {
        matches!(
            *self.kind,
            ErrorKind::InvalidStreamData { .. }
                | ErrorKind::InvalidResponse { .. }
                | ErrorKind::BufferLimit { .. }
                | ErrorKind::AnswerLimit { .. }
                | ErrorKind::Truncated { .. }
        )
    }

    /// A deadline of the call passed (see [`timeout_kind`](Self::timeout_kind)).
    pub fn is_timeout(&self) -> bool {
        matches!(*self.kind, ErrorKind::Timeout { .. })
    }

    /// Which deadline of the call passed.
    pub fn timeout_kind(&self) -> Option<TimeoutKind> {
        match &*self.kind {
            ErrorKind::Timeout { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// The connection failed (before or during the response), as the call's driver reported.
    pub fn is_connection(&self) -> bool {
        matches!(*self.kind, ErrorKind::Connection { .. })
    }

    /// The server answered with a redirect that was not followed.
    pub fn is_redirect(&self) -> bool {
        matches!(*self.kind, ErrorKind::Redirect { .. })
    }

    /// A response body was larger than allowed.
    pub fn is_body_too_large(&self) -> bool {
        matches!(*self.kind, ErrorKind::BodyTooLarge { .. })
    }

    /// The server's error, when it answered with one.
    pub fn api_error(&self) -> Option<&ApiError> {
        match &*self.kind {
            ErrorKind::Api(api) => Some(api),
            _ => None,
        }
    }

    /// 401, or 403 for lack of permission (not for lack of balance).
    pub fn is_auth(&self) -> bool {
        self.api_error().is_some_and(ApiError::is_auth)
    }

    /// 429 for rate limiting (not for an exhausted quota).
    pub fn is_rate_limited(&self) -> bool {
        self.api_error().is_some_and(ApiError::is_rate_limited)
    }

    /// Rejected by the provider's content policy, or an answer withheld by a content filter
    /// (`finish_reason: "content_filter"` met by [`ChatCompletion::parse`]).
    pub fn is_content_policy(&self) -> bool {
        self.api_error().is_some_and(ApiError::is_content_policy)
            || matches!(
                &*self.kind,
                ErrorKind::Unfinished {
                    finish_reason: FinishReason::ContentFilter,
                    ..
                }
            )
    }

    /// The model refused ([`ChatCompletion::parse`]); the refusal is in the message.
    pub fn is_refusal(&self) -> bool {
        matches!(*self.kind, ErrorKind::Refusal { .. })
    }

    /// The answer was cut by `max_tokens` (`finish_reason: "length"`, met by
    /// [`ChatCompletion::parse`]).
    pub fn is_length_limit(&self) -> bool {
        matches!(
            &*self.kind,
            ErrorKind::Unfinished {
                finish_reason: FinishReason::Length,
                ..
            }
        )
    }

    /// The API was used out of order (a bug in the caller, not in the server's output).
    pub fn is_misuse(&self) -> bool {
        matches!(*self.kind, ErrorKind::Misuse { .. })
    }

    /// The answer is not JSON of the type asked for ([`ChatCompletion::parse`]).
    pub fn is_invalid_json(&self) -> bool {
        matches!(*self.kind, ErrorKind::InvalidJson { .. })
    }

    /// Insufficient balance or exhausted quota: retrying will not help.
    pub fn is_insufficient_balance(&self) -> bool {
        self.api_error()
            .is_some_and(ApiError::is_insufficient_balance)
    }

    /// A 5xx, or a server error reported inside the stream.
    pub fn is_server_error(&self) -> bool {
        self.api_error().is_some_and(ApiError::is_server_error)
    }

    /// The server rejected the request as invalid (400, 404, 422, a content-policy refusal).
    pub fn is_rejected(&self) -> bool {
        self.api_error().is_some_and(ApiError::is_rejected)
    }

    /// The HTTP status of the response this error came from, if any.
    pub fn status(&self) -> Option<http::StatusCode> {
        match &*self.kind {
            ErrorKind::Api(api) => api.status(),
            ErrorKind::InvalidResponse { status, .. } | ErrorKind::Redirect { status, .. } => {
                http::StatusCode::from_u16(*status).ok()
            }
            _ => None,
        }
    }

    /// The request id the server gave, if any.
    pub fn request_id(&self) -> Option<&str> {
        self.api_error().and_then(ApiError::request_id)
    }

    /// What a stream delivered before it ended early (truncated, or past the answer limit).
    pub fn partial(&self) -> Option<&ChatCompletion> {
        match &*self.kind {
            ErrorKind::Truncated { partial, .. }
            | ErrorKind::AnswerLimit { partial, .. }
            | ErrorKind::Timeout { partial, .. }
            | ErrorKind::Connection { partial, .. } => partial.as_deref(),
            _ => None,
        }
    }

    /// Whether the request may have reached the server: not when it was refused before
    /// sending (validation, configuration) or no connection was made.
    pub fn may_have_reached_server(&self) -> bool {
        match &*self.kind {
            ErrorKind::Validation { .. } | ErrorKind::Config { .. } | ErrorKind::Misuse { .. } => {
                false
            }
            ErrorKind::Connection { kind, .. } => kind.may_have_reached_server(),
            _ => true,
        }
    }
}

/// The bytes of text a partial answer holds, over its choices.
pub(crate) fn text_bytes(partial: &ChatCompletion) -> usize {
    partial
        .choices
        .iter()
        .map(|choice| choice.message.text().map_or(0, str::len))
        .sum()
}

impl From<ApiError> for Error {
    fn from(api: ApiError) -> Self {
        Self::new(ErrorKind::Api(api))
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.kind, f)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.kind {
            ErrorKind::Validation { field, reason } => {
                write!(f, "invalid request: {field}: {reason}")
            }
            ErrorKind::Config { reason } => write!(f, "invalid configuration: {reason}"),
            ErrorKind::BufferLimit { limit } => write!(
                f,
                "SSE event exceeds the buffer limit of {limit} bytes (line and data together)"
            ),
            ErrorKind::InvalidStreamData {
                event_type,
                reason,
                data_prefix,
            } => write!(
                f,
                "stream event `{event_type}` is not a chat completion chunk: {reason}; data: {data_prefix:?}"
            ),
            ErrorKind::InvalidResponse {
                status,
                reason,
                body_prefix,
            } => write!(
                f,
                "HTTP {status} response is not a chat completion: {reason}; body: {body_prefix:?}"
            ),
            ErrorKind::Api(api) => fmt::Display::fmt(api, f),
            ErrorKind::Misuse { what } => write!(f, "used out of order: {what}"),
            ErrorKind::AnswerLimit { limit, chunks, .. } => write!(
                f,
                "the streamed answer exceeds the limit of {limit} bytes after {chunks} chunks; \
                 the stream was abandoned (the partial answer is kept)"
            ),
            ErrorKind::Refusal { refusal } => write!(f, "the model refused: {refusal:?}"),
            ErrorKind::Unfinished {
                finish_reason,
                text_prefix,
            } => {
                let why = match finish_reason {
                    FinishReason::Length => "it reached max_tokens",
                    FinishReason::ContentFilter => "a content filter withheld the rest",
                    _ => "it did not finish",
                };
                write!(
                    f,
                    "the answer is incomplete: {why} (finish_reason {finish_reason}); text: {text_prefix:?}"
                )
            }
            ErrorKind::InvalidJson {
                reason,
                text_prefix,
            } => write!(
                f,
                "the answer is not JSON of the type asked for: {reason}; text: {text_prefix:?}"
            ),
            ErrorKind::Truncated { partial, chunks } => {
                write!(
                    f,
                    "stream ended early: no [DONE] and not every choice finished; {chunks} chunks received"
                )?;
                if let Some(partial) = partial {
                    write!(f, " ({} bytes of text)", text_bytes(partial))?;
                }
                Ok(())
            }
            ErrorKind::Timeout { kind, after, .. } => {
                let what = match kind {
                    TimeoutKind::Response => "no response head",
                    TimeoutKind::Idle => "nothing received",
                    TimeoutKind::Body => "the response body did not end",
                    TimeoutKind::Total => "the call did not finish",
                };
                write!(f, "timed out: {what} within {after:?}")
            }
            ErrorKind::Connection {
                kind: IoErrorKind::Body,
                message,
                chunks,
                partial,
            } => {
                write!(f, "the stream broke after {chunks} chunks")?;
                if let Some(partial) = partial {
                    write!(f, " ({} bytes of text received)", text_bytes(partial))?;
                }
                write!(f, ": {message}")
            }
            ErrorKind::Connection { message, .. } => f.write_str(message),
            ErrorKind::BodyTooLarge { limit } => {
                write!(f, "the response body exceeds the limit of {limit} bytes")
            }
            ErrorKind::Redirect {
                status,
                location,
                too_many: true,
            } => write!(
                f,
                "more than {MAX_REDIRECTS} redirects (the last: HTTP {status} to {location})"
            ),
            ErrorKind::Redirect {
                status, location, ..
            } if location.is_empty() => write!(
                f,
                "HTTP {status} response without a Location: not an answer, and nowhere to go"
            ),
            ErrorKind::Redirect {
                status, location, ..
            } => write!(f, "HTTP {status} redirect to {location} was not followed"),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_small() {
        assert_eq!(size_of::<Error>(), size_of::<usize>());
    }
}
