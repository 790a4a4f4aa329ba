//! [`ApiError`]: an error the server answered with, classified.

use std::fmt;
use std::time::{Duration, SystemTime};

use http::StatusCode;

use crate::wire::{ErrorCode, ErrorObject};

/// What kind of error the server reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ApiErrorKind {
    /// 400: the request is invalid.
    BadRequest,
    /// 400: blocked by the provider's content policy (Qwen's `data_inspection_failed`).
    ContentPolicy,
    /// 401: the key is missing or invalid.
    Unauthorized,
    /// 403: the key lacks permission.
    PermissionDenied,
    /// 403 or 400 (Qwen's `Arrearage`): insufficient balance; 429 `insufficient_quota`.
    InsufficientBalance,
    /// 404: no such model or endpoint.
    NotFound,
    /// 408: the server timed out waiting for the request.
    RequestTimeout,
    /// 409: a conflict (retried).
    Conflict,
    /// 422: the request is well-formed but cannot be processed.
    Unprocessable,
    /// 429: rate limited.
    RateLimited,
    /// 5xx, or a server error reported inside the stream.
    Server,
    /// Anything else (other statuses, in-stream errors with no recognisable class).
    Other,
}

/// When the server asked the client to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// After a delay (`retry-after-ms`, or `retry-after` in seconds).
    Delay(Duration),
    /// At a time (`retry-after` as an HTTP date).
    At(SystemTime),
}

impl RetryAfter {
    /// The delay from `now`.
    pub fn delay_from(&self, now: SystemTime) -> Duration {
        match self {
            Self::Delay(delay) => *delay,
            Self::At(at) => at.duration_since(now).unwrap_or(Duration::ZERO),
        }
    }
}

/// An error the server answered with: an HTTP error status, or an error inside a stream.
///
/// Carries the status, the server's message, type, code and param, the request id, and the
/// server's retry hints. `Display` names all of them; it never contains the API key.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub(crate) status: Option<StatusCode>,
    pub(crate) kind: ApiErrorKind,
    pub(crate) error: ErrorObject,
    pub(crate) request_id: Option<String>,
    pub(crate) retry_after: Option<RetryAfter>,
    pub(crate) should_retry: Option<bool>,
}

impl ApiError {
    /// An error with this status and body, classified.
    pub fn new(status: StatusCode, error: ErrorObject) -> Self {
        let kind = classify(Some(status), &error);
        Self {
            status: Some(status),
            kind,
            error,
            request_id: None,
            retry_after: None,
            should_retry: None,
        }
    }

    /// An error reported inside a 200 stream, classified by its code or type.
    pub fn in_stream(error: ErrorObject) -> Self {
        let kind = classify(None, &error);
        Self {
            status: None,
            kind,
            error,
            request_id: None,
            retry_after: None,
            should_retry: None,
        }
    }

    /// Sets the request id.
    #[must_use]
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// The HTTP status; `None` for an error inside a stream.
    pub fn status(&self) -> Option<StatusCode> {
        self.status
    }

    /// The class of error.
    pub fn kind(&self) -> ApiErrorKind {
        self.kind
    }

    /// The server's message.
    pub fn message(&self) -> &str {
        &self.error.message
    }

    /// The error type (`invalid_request_error`, GPTProto's `"401"`, ...).
    pub fn error_type(&self) -> Option<&str> {
        self.error.error_type.as_deref()
    }

    /// The error code, a string or a number.
    pub fn code(&self) -> Option<&ErrorCode> {
        self.error.code.as_ref()
    }

    /// The parameter at fault.
    pub fn param(&self) -> Option<&str> {
        self.error.param.as_deref()
    }

    /// The whole error object as the server sent it.
    pub fn error_object(&self) -> &ErrorObject {
        &self.error
    }

    /// The request id (`x-request-id` header, or `request_id` in the body).
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// The server's retry hint (`retry-after-ms`, `retry-after`).
    pub fn retry_after(&self) -> Option<RetryAfter> {
        self.retry_after
    }

    /// The server's `x-should-retry` header, which overrides the status-based decision.
    pub fn should_retry_header(&self) -> Option<bool> {
        self.should_retry
    }

    /// 401, or 403 for lack of permission.
    pub fn is_auth(&self) -> bool {
        matches!(
            self.kind,
            ApiErrorKind::Unauthorized | ApiErrorKind::PermissionDenied
        )
    }

    /// 429 rate limiting (not an exhausted quota).
    pub fn is_rate_limited(&self) -> bool {
        self.kind == ApiErrorKind::RateLimited
    }

    /// Blocked by a content policy.
    pub fn is_content_policy(&self) -> bool {
        self.kind == ApiErrorKind::ContentPolicy
    }

    /// Insufficient balance or quota.
    pub fn is_insufficient_balance(&self) -> bool {
        self.kind == ApiErrorKind::InsufficientBalance
    }

    /// A server-side failure.
    pub fn is_server_error(&self) -> bool {
        self.kind == ApiErrorKind::Server
    }

    /// The server answers this request only when streamed: DashScope's Qwen3 with thinking on
    /// ("parameter.enable_thinking must be set to false for non-streaming calls"), its QwQ and
    /// QVQ models ("This model only support stream mode"). A 400 saying so, whatever the host.
    ///
    /// ```
    /// use gptproto_proto::exchange::api_error;
    ///
    /// let body = br#"{"error":{"code":"invalid_parameter_error","message":"parameter.enable_thinking must be set to false for non-streaming calls","type":"invalid_request_error"}}"#;
    /// let error = api_error(http::StatusCode::BAD_REQUEST, &http::HeaderMap::new(), body);
    /// assert!(error.requires_streaming());
    /// ```
    pub fn requires_streaming(&self) -> bool {
        if self.status != Some(http::StatusCode::BAD_REQUEST) {
            return false;
        }
        let message = self.message().to_ascii_lowercase();
        (message.contains("enable_thinking") && message.contains("non-stream"))
            || message.contains("only support stream")
            || message.contains("only supports stream")
    }

    /// The request was rejected as invalid (400, 404, 422, content policy included).
    pub fn is_rejected(&self) -> bool {
        matches!(
            self.kind,
            ApiErrorKind::BadRequest
                | ApiErrorKind::ContentPolicy
                | ApiErrorKind::NotFound
                | ApiErrorKind::Unprocessable
        )
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(status) => write!(f, "HTTP {status}")?,
            None => f.write_str("error in stream")?,
        }
        let message = if self.error.message.is_empty() {
            "(no message)"
        } else {
            &self.error.message
        };
        write!(f, ": {message}")?;
        let mut details = Vec::new();
        if let Some(code) = &self.error.code {
            details.push(format!("code: {code}"));
        }
        if let Some(error_type) = &self.error.error_type {
            details.push(format!("type: {error_type}"));
        }
        if let Some(param) = &self.error.param {
            details.push(format!("param: {param}"));
        }
        if let Some(request_id) = &self.request_id {
            details.push(format!("request id: {request_id}"));
        }
        if !details.is_empty() {
            write!(f, " ({})", details.join(", "))?;
        }
        Ok(())
    }
}

/// An error the server answered with, usable on its own (an embedder's `?`, `Box<dyn Error>`).
impl std::error::Error for ApiError {}

/// Words that mark a balance or quota problem in a code, type or message.
const BALANCE_MARKERS: [&str; 5] = [
    "insufficient_quota",
    "insufficient_balance",
    "insufficient balance",
    "arrearage",
    "quota exceeded",
];

const CONTENT_POLICY_MARKERS: [&str; 4] = [
    "data_inspection_failed",
    "content_policy_violation",
    "content_filter",
    "inappropriate content",
];

/// Classifies an error by its status, or (inside a stream, or with GPTProto's `"type":"401"`)
/// by the status-like code it carries, then by the markers in its code, type and message.
fn classify(status: Option<StatusCode>, error: &ErrorObject) -> ApiErrorKind {
    let effective = status.map(|status| status.as_u16()).or_else(|| {
        let from_code = error.code.as_ref().and_then(ErrorCode::as_number);
        let from_type = error
            .error_type
            .as_deref()
            .and_then(|t| t.parse::<i64>().ok());
        from_code
            .or(from_type)
            .filter(|code| (400..600).contains(code))
            .and_then(|code| u16::try_from(code).ok())
    });
    let has = |markers: &[&str]| {
        [
            error.code_text(),
            error.error_type.as_deref(),
            Some(error.message.as_str()),
        ]
        .into_iter()
        .flatten()
        .any(|text| {
            let text = text.to_ascii_lowercase();
            markers.iter().any(|marker| text.contains(marker))
        })
    };
    let type_is = |name: &str| error.error_type.as_deref() == Some(name);
    match effective {
        Some(400) if has(&CONTENT_POLICY_MARKERS) => ApiErrorKind::ContentPolicy,
        Some(400 | 403 | 429) if has(&BALANCE_MARKERS) => ApiErrorKind::InsufficientBalance,
        Some(400) => ApiErrorKind::BadRequest,
        Some(401) => ApiErrorKind::Unauthorized,
        Some(403) => ApiErrorKind::PermissionDenied,
        Some(404) => ApiErrorKind::NotFound,
        Some(408) => ApiErrorKind::RequestTimeout,
        Some(409) => ApiErrorKind::Conflict,
        Some(422) => ApiErrorKind::Unprocessable,
        Some(429) => ApiErrorKind::RateLimited,
        Some(500..=599) => ApiErrorKind::Server,
        Some(_) => ApiErrorKind::Other,
        // In a stream without a status-like code: go by the type and markers.
        None if has(&CONTENT_POLICY_MARKERS) => ApiErrorKind::ContentPolicy,
        None if has(&BALANCE_MARKERS) => ApiErrorKind::InsufficientBalance,
        None if type_is("authentication_error") => ApiErrorKind::Unauthorized,
        None if type_is("permission_error") => ApiErrorKind::PermissionDenied,
        None if type_is("rate_limit_error") || type_is("rate_limit_exceeded") => {
            ApiErrorKind::RateLimited
        }
        None if type_is("invalid_request_error") => ApiErrorKind::BadRequest,
        None if type_is("server_error") || type_is("api_error") => ApiErrorKind::Server,
        None => ApiErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error(body: serde_json::Value) -> ErrorObject {
        ErrorObject::from_body(&body).unwrap()
    }

    #[test]
    fn classifies_by_status_and_markers() {
        let cases = [
            (
                400,
                json!({"error": {"code": "data_inspection_failed", "message": "Input data may contain inappropriate content.", "type": "data_inspection_failed"}}),
                ApiErrorKind::ContentPolicy,
            ),
            (
                400,
                json!({"error": {"code": "Arrearage", "message": "Access denied, please make sure your account is in good standing."}}),
                ApiErrorKind::InsufficientBalance,
            ),
            (
                400,
                json!({"error": {"message": "bad", "type": "invalid_request_error"}}),
                ApiErrorKind::BadRequest,
            ),
            (
                401,
                json!({"error": {"message": "Invalid signature", "type": "401"}}),
                ApiErrorKind::Unauthorized,
            ),
            (
                403,
                json!({"error": {"message": "no", "type": "permission_error"}}),
                ApiErrorKind::PermissionDenied,
            ),
            (
                403,
                json!({"error": {"message": "Insufficient balance, please recharge"}}),
                ApiErrorKind::InsufficientBalance,
            ),
            (
                429,
                json!({"error": {"message": "slow down", "type": "rate_limit_error"}}),
                ApiErrorKind::RateLimited,
            ),
            (
                429,
                json!({"error": {"message": "You exceeded your current quota", "type": "insufficient_quota", "code": "insufficient_quota"}}),
                ApiErrorKind::InsufficientBalance,
            ),
            (
                500,
                json!({"error": {"code": 500, "message": "image input is not supported", "type": "server_error"}}),
                ApiErrorKind::Server,
            ),
            (
                418,
                json!({"error": {"message": "teapot"}}),
                ApiErrorKind::Other,
            ),
        ];
        for (status, body, kind) in cases {
            let api = ApiError::new(StatusCode::from_u16(status).unwrap(), error(body.clone()));
            assert_eq!(api.kind(), kind, "{status} {body}");
        }
    }

    #[test]
    fn classifies_in_stream_errors_by_code_or_type() {
        let openrouter = ApiError::in_stream(error(
            json!({"error": {"message": "Provider returned error", "code": 502}}),
        ));
        assert_eq!(openrouter.kind(), ApiErrorKind::Server);
        let llama = ApiError::in_stream(error(
            json!({"error": {"code": 401, "message": "Invalid API Key", "type": "authentication_error"}}),
        ));
        assert!(llama.is_auth());
        let gptproto = ApiError::in_stream(error(
            json!({"error": {"message": "Invalid signature", "type": "401"}}),
        ));
        assert!(gptproto.is_auth());
        let typed = ApiError::in_stream(error(
            json!({"error": {"message": "m", "type": "rate_limit_error"}}),
        ));
        assert!(typed.is_rate_limited());
    }

    #[test]
    fn display_names_status_code_message_and_request_id() {
        let api = ApiError::new(
            StatusCode::BAD_REQUEST,
            error(json!({"error": {"code": "data_inspection_failed", "param": null, "message": "Input data may contain inappropriate content.", "type": "data_inspection_failed"}})),
        )
        .with_request_id("req-42");
        assert_eq!(
            api.to_string(),
            "HTTP 400 Bad Request: Input data may contain inappropriate content. \
             (code: data_inspection_failed, type: data_inspection_failed, request id: req-42)"
        );
    }
}
