//! What a failed attempt means, decided in one place for everyone who asks: a call's retries
//! ([`RetryPolicy`](crate::retry::RetryPolicy), and through it the [call machine](crate::call)),
//! a batch's pacing ([`RateLimiter`](crate::ratelimit::RateLimiter)) and a batch's runner.
//!
//! ```
//! use gptproto_proto::exchange::api_error;
//! use gptproto_proto::failure::{Failure, FailureClass};
//! use gptproto_proto::ratelimit::LimitKind;
//!
//! let body = br#"{"error":{"message":"Rate limit reached on tokens per min (TPM)","type":"tokens"}}"#;
//! let error = api_error(http::StatusCode::TOO_MANY_REQUESTS, &http::HeaderMap::new(), body);
//! assert_eq!(
//!     FailureClass::of(&Failure::Response(&error)),
//!     FailureClass::RateLimited { limit: Some(LimitKind::Tokens) }
//! );
//! assert!(FailureClass::of(&Failure::Connect).is_retryable());
//! ```
//!
//! The whole table, with what each consumer does, is `docs/failures.md` in the repository.

use std::time::{Duration, SystemTime};

use crate::api_error::{ApiError, ApiErrorKind};
use crate::ratelimit::{LimitKind, limit_kind, try_again_in};

/// What went wrong with an attempt.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Failure<'a> {
    /// No connection could be made: the request was not sent.
    Connect,
    /// The connection failed after the request started: it may have reached the server.
    Disconnected,
    /// No response head arrived in time (the request may have reached the server).
    Timeout,
    /// The server answered with an error status (or an error object in place of an answer).
    Response(&'a ApiError),
}

impl Failure<'_> {
    /// Whether the request may have reached the server.
    pub fn may_have_reached_server(&self) -> bool {
        !matches!(self, Self::Connect)
    }

    /// How long the server asked to wait, read against `now` (the wall clock, for an HTTP
    /// date): `retry-after-ms`, `retry-after` (seconds or a date), or else the hint in the
    /// message ("Please try again in 680ms."). `None` when it did not say.
    pub fn retry_hint(&self, now: SystemTime) -> Option<Duration> {
        match self {
            Self::Response(api) => api
                .retry_after()
                .map(|after| after.delay_from(now))
                .or_else(|| try_again_in(api.message())),
            _ => None,
        }
    }
}

/// The class of a failed attempt: whether sending the same request again can help, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureClass {
    /// Sending again may work: a connection failure, a timeout before the response head, 408,
    /// 409, a 5xx (or a server error reported inside a stream), or any status the server
    /// marked `x-should-retry: true`.
    Transient,
    /// 429 for rate limiting: send again once the server's window allows.
    RateLimited {
        /// Which limit, when the error says (its `type`, or its message: "tokens per min").
        limit: Option<LimitKind>,
    },
    /// The same request will fail the same way: invalid (400, 404, 422, a content policy),
    /// too large for the limit, an exhausted quota or balance, or any status the server marked
    /// `x-should-retry: false`.
    Permanent,
    /// The key is wrong (401) or lacks permission (403): every request with it will fail the
    /// same way, so a run of many stops.
    Unauthorized,
}

impl FailureClass {
    /// Classifies a failed attempt. The server's `x-should-retry` decides over the status
    /// (as the official SDKs do); then an exhausted quota or balance, or a request too large
    /// for the limit, is permanent whatever its status; then the status decides.
    pub fn of(failure: &Failure<'_>) -> Self {
        let api = match failure {
            Failure::Connect | Failure::Disconnected | Failure::Timeout => return Self::Transient,
            Failure::Response(api) => api,
        };
        let rate_limited = || Self::RateLimited {
            limit: limit_kind(api),
        };
        let is_429 = api.status().is_some_and(|status| status.as_u16() == 429);
        match api.should_retry_header() {
            Some(true) if is_429 => return rate_limited(),
            Some(true) => return Self::Transient,
            Some(false) if api.is_auth() => return Self::Unauthorized,
            Some(false) => return Self::Permanent,
            None => {}
        }
        if api.kind() == ApiErrorKind::InsufficientBalance || is_request_too_large(api) {
            return Self::Permanent;
        }
        if api.is_auth() {
            return Self::Unauthorized;
        }
        match api.status().map(|status| status.as_u16()) {
            Some(429) => rate_limited(),
            Some(408 | 409 | 500..=599) => Self::Transient,
            Some(_) => Self::Permanent,
            // An error reported inside a stream: by its code or type. (A call never sends a
            // stream that started again; a batch sends the whole request again.)
            None => match api.kind() {
                ApiErrorKind::Server => Self::Transient,
                ApiErrorKind::RateLimited => rate_limited(),
                _ => Self::Permanent,
            },
        }
    }

    /// Whether sending the same request again can help ([`Transient`](Self::Transient) or
    /// [`RateLimited`](Self::RateLimited)).
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Transient | Self::RateLimited { .. })
    }

    /// Whether a run of many requests should stop sending ([`Unauthorized`](Self::Unauthorized)).
    pub fn stops_run(self) -> bool {
        self == Self::Unauthorized
    }
}

/// Whether another model (on this provider or another) could answer what failed here, once
/// this model's retries are spent: the model was not found or is not available, the server is
/// down or overloaded (no connection, a 5xx, 529, a timeout before the response head), or the
/// model is rate limited. Not an invalid request, a content policy, a wrong key, an exhausted
/// balance or quota: another model would be refused the same.
///
/// ```
/// use gptproto_proto::exchange::api_error;
/// use gptproto_proto::failure::{Failure, fails_over};
/// use http::{HeaderMap, StatusCode};
///
/// let missing = api_error(StatusCode::NOT_FOUND, &HeaderMap::new(),
///     br#"{"error":{"code":"model_not_found","message":"The model `qwen-max-x` does not exist"}}"#);
/// assert!(fails_over(&Failure::Response(&missing)));
/// let invalid = api_error(StatusCode::BAD_REQUEST, &HeaderMap::new(),
///     br#"{"error":{"code":"invalid_parameter","message":"temperature must be at most 2"}}"#);
/// assert!(!fails_over(&Failure::Response(&invalid)));
/// assert!(fails_over(&Failure::Connect));
/// ```
pub fn fails_over(failure: &Failure<'_>) -> bool {
    match FailureClass::of(failure) {
        FailureClass::Transient | FailureClass::RateLimited { .. } => true,
        FailureClass::Unauthorized => false,
        FailureClass::Permanent => match failure {
            Failure::Response(api) => model_unavailable(api),
            _ => false,
        },
    }
}

/// The model asked for is not there: a 404, or a 400 that says so (DashScope's "Model not
/// exist.", OpenRouter's "is not a valid model ID", a `model_not_found` code).
fn model_unavailable(api: &ApiError) -> bool {
    if api.kind() == ApiErrorKind::NotFound {
        return true;
    }
    let code = api
        .code()
        .and_then(|code| code.as_text())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if matches!(
        code.as_str(),
        "model_not_found" | "modelnotfound" | "model_not_available" | "model_not_exist"
    ) {
        return true;
    }
    let message = api.message().to_ascii_lowercase();
    message.contains("model")
        && [
            "not exist",
            "not found",
            "not a valid model",
            "not available",
            "does not exist",
        ]
        .iter()
        .any(|words| message.contains(words))
}

/// OpenAI's "Request too large for gpt-4o ... on tokens per min": a 429 that no wait fixes.
fn is_request_too_large(api: &ApiError) -> bool {
    api.message()
        .to_ascii_lowercase()
        .contains("request too large")
}

#[cfg(test)]
mod tests;
