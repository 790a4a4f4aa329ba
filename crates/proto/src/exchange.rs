//! The sans-IO exchange: build the `http::Request` for a [`ChatRequest`], and classify the
//! response into a [`ChatCompletion`] or an [`ApiError`].
//!
//! ```
//! use gptproto_proto::exchange::{AuthScheme, ClientConfig};
//! use gptproto_proto::ChatRequest;
//!
//! let config = ClientConfig::builder()
//!     .base_url("https://gptproto.com/v1")
//!     .api_key("sk-test")
//!     .auth_scheme(AuthScheme::Raw)
//!     .build()?;
//! let request = config.build_request(&ChatRequest::new("qwen-turbo").user("who are you?"))?;
//! assert_eq!(request.uri(), "https://gptproto.com/v1/chat/completions");
//! assert_eq!(request.headers()["authorization"], "sk-test");
//!
//! let response = gptproto_proto::exchange::classify_response(
//!     http::StatusCode::UNAUTHORIZED,
//!     &http::HeaderMap::new(),
//!     br#"{"error":{"message":"Invalid signature","type":"401"}}"#,
//! );
//! assert!(response.unwrap_err().is_auth());
//! # Ok::<(), gptproto_proto::Error>(())
//! ```

mod config;

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::Value;

pub use crate::api_error::{ApiError, ApiErrorKind, RetryAfter};
pub use config::{
    ApiKey, AuthScheme, ClientConfig, ClientConfigBuilder, DEFAULT_BASE_URL, SECRET_HEADERS,
};

use crate::stream::StreamDecoder;
use crate::text::prefix;
use crate::wire::{ChatCompletion, ErrorObject, ModelList};
use crate::{ChatRequest, Error, ErrorKind};

/// Headers that carry a request id, in the order they are looked at.
const REQUEST_ID_HEADERS: [&str; 3] = ["x-request-id", "request-id", "x-dashscope-request-id"];

/// Classifies a whole response: a [`ChatCompletion`] for a 2xx whose body is one, an
/// [`ApiError`] for an error status (or a 2xx whose body is an error object), or an
/// [invalid-response error](Error::is_protocol) for a 2xx body that is neither.
///
/// A 2xx body in Server-Sent Events (a server that streamed although it was not asked to) is
/// decoded and accumulated.
pub fn classify_response(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<ChatCompletion, Error> {
    if !status.is_success() {
        return Err(api_error(status, headers, body).into());
    }
    let start = body
        .iter()
        .position(|byte| !byte.is_ascii_whitespace())
        .unwrap_or(body.len());
    if is_event_stream(headers) || body[start..].starts_with(b"data:") {
        return decode_event_stream_body(body);
    }
    // One pass into the typed completion (the fast decoder); a body that is (or may be) an
    // error object, or that the fast decoder leaves alone, takes the slow path through a
    // `Value`, which tells the shapes apart and words the error.
    if let Some(completion) = simdutf8::basic::from_utf8(&body[start..])
        .ok()
        .and_then(crate::wire::decode_completion)
        && !may_be_error(&completion)
    {
        return Ok(completion);
    }
    decode_success(status, headers, body, "a chat completion")
}

/// A 2xx body as `T` (`what` it should be, for the error): an [`ApiError`] when it is an error
/// object, an invalid-response error when it is neither.
fn decode_success<T: serde::de::DeserializeOwned>(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    what: &str,
) -> Result<T, Error> {
    let text = String::from_utf8_lossy(body);
    let value: Value = serde_json::from_str(text.trim_start())
        .map_err(|error| invalid_response(status, format!("not JSON: {error}"), &text))?;
    if let Some(error) = ErrorObject::from_body(&value) {
        let mut api = ApiError::in_stream(error);
        api.status = Some(status);
        api.request_id = request_id(headers, Some(&value));
        return Err(api.into());
    }
    serde_json::from_value(value)
        .map_err(|error| invalid_response(status, format!("not {what}: {error}"), &text))
}

/// Classifies the answer of `GET {base_url}/models`: the [`ModelList`] of a 2xx, the
/// [`ApiError`] of an error status (or of a 2xx whose body is an error object), an
/// [invalid-response error](Error::is_protocol) for a 2xx body that is neither.
///
/// ```
/// use gptproto_proto::exchange::classify_models;
/// use http::{HeaderMap, StatusCode};
///
/// let list = classify_models(StatusCode::OK, &HeaderMap::new(), br#"{"object":"list","data":[{"id":"m"}]}"#)?;
/// assert_eq!(list.data[0].id, "m");
/// let error = classify_models(StatusCode::UNAUTHORIZED, &HeaderMap::new(), b"").unwrap_err();
/// assert!(error.is_auth());
/// # Ok::<(), gptproto_proto::Error>(())
/// ```
pub fn classify_models(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<ModelList, Error> {
    if !status.is_success() {
        return Err(api_error(status, headers, body).into());
    }
    decode_success(status, headers, body, "a model list")
}

/// The [`ApiError`] for an error response: the body's error object in any of its shapes (or
/// the start of a body that is not JSON, such as a proxy's HTML page), the request id, and the
/// retry hints.
pub fn api_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> ApiError {
    let text = String::from_utf8_lossy(body);
    let value = serde_json::from_str::<Value>(text.trim()).ok();
    let error = value
        .as_ref()
        .and_then(ErrorObject::from_body)
        .unwrap_or_else(|| ErrorObject {
            message: if text.trim().is_empty() {
                status.canonical_reason().unwrap_or("").to_owned()
            } else {
                prefix(text.trim())
            },
            ..ErrorObject::default()
        });
    let mut api = ApiError::new(status, error);
    api.request_id = request_id(headers, value.as_ref());
    api.retry_after = retry_after(headers);
    api.should_retry = header_str(headers, "x-should-retry").and_then(|value| match value {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    });
    api
}

/// Whether the response is an event stream (`content-type: text/event-stream`).
pub(crate) fn is_event_stream(headers: &HeaderMap) -> bool {
    header_str(headers, "content-type").is_some_and(|content_type| {
        const EVENT_STREAM: &str = "text/event-stream";
        content_type
            .trim_start()
            .get(..EVENT_STREAM.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(EVENT_STREAM))
    })
}

/// The request id from the headers, or else from the body (`request_id`, or `error.request_id`).
pub fn request_id(headers: &HeaderMap, body: Option<&Value>) -> Option<String> {
    REQUEST_ID_HEADERS
        .iter()
        .find_map(|name| header_str(headers, name))
        .map(str::to_owned)
        .or_else(|| {
            let body = body?;
            body.get("request_id")
                .or_else(|| body.get("error")?.get("request_id"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
}

/// The server's retry hint: `retry-after-ms` (milliseconds, may be fractional), else
/// `retry-after` in seconds (may be fractional) or as an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<RetryAfter> {
    let seconds = |text: &str, scale: f64| {
        text.trim()
            .parse::<f64>()
            .ok()
            .filter(|value| value.is_finite() && *value >= 0.0)
            .and_then(|value| Duration::try_from_secs_f64(value / scale).ok())
    };
    if let Some(delay) = header_str(headers, "retry-after-ms").and_then(|ms| seconds(ms, 1000.0)) {
        return Some(RetryAfter::Delay(delay));
    }
    let value = header_str(headers, "retry-after")?;
    if let Some(delay) = seconds(value, 1.0) {
        return Some(RetryAfter::Delay(delay));
    }
    httpdate::parse_http_date(value.trim())
        .ok()
        .map(|at: SystemTime| RetryAfter::At(at))
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name)?.to_str().ok()
}

/// Whether a body that decoded as a completion may be one of the error shapes
/// [`ErrorObject::from_body`] recognises (it decides, on the body's `Value`).
fn may_be_error(completion: &ChatCompletion) -> bool {
    let extra = &completion.extra;
    completion.object.as_str() == "error"
        || extra
            .get("error")
            .is_some_and(|error| !matches!(error, Value::Null | Value::Bool(false)))
        || (extra.contains_key("message")
            && (extra.contains_key("type") || extra.contains_key("code")))
}

fn invalid_response(status: StatusCode, reason: String, body: &str) -> Error {
    Error::new(ErrorKind::InvalidResponse {
        status: status.as_u16(),
        reason,
        body_prefix: prefix(body),
    })
}

fn decode_event_stream_body(body: &[u8]) -> Result<ChatCompletion, Error> {
    let mut decoder = StreamDecoder::new().accumulating();
    decoder.push(bytes::Bytes::copy_from_slice(body));
    decoder.finish();
    while decoder.poll_item()?.is_some() {}
    decoder.into_completion()
}

impl ClientConfig {
    /// Validates `request` with the config's rules and builds the HTTP request:
    /// `POST {base_url}/chat/completions` with the JSON body, the auth header, `accept` for a
    /// stream or JSON, the default headers, and `extra_headers` last (they override).
    pub fn build_request(
        &self,
        request: &ChatRequest,
    ) -> Result<http::Request<bytes::Bytes>, Error> {
        self.build_request_with_headers(request, &HeaderMap::new())
    }

    /// [`build_request`](Self::build_request) with per-request headers that override the
    /// defaults.
    pub fn build_request_with_headers(
        &self,
        request: &ChatRequest,
        extra_headers: &HeaderMap,
    ) -> Result<http::Request<bytes::Bytes>, Error> {
        request.validate_with(self.validation_rules())?;
        // Earlier answers' reasoning the provider must not be sent again is left out (a copy
        // of the request only when there is some).
        let kept_from = self.profile().reasoning_replay.kept_from(&request.messages);
        let replayed;
        let request = if request.messages[..kept_from]
            .iter()
            .any(|message| message.reasoning_content.is_some() || message.reasoning.is_some())
        {
            replayed = without_reasoning_before(request, kept_from);
            &replayed
        } else {
            request
        };
        let body = serde_json::to_vec(request).map_err(|error| {
            Error::validation("request", format!("does not serialize: {error}"))
        })?;
        let accept = if request.is_stream() {
            "text/event-stream"
        } else {
            "application/json"
        };
        let mut request = http::Request::new(bytes::Bytes::from(body));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = self.chat_completions_uri().clone();
        let headers = request.headers_mut();
        *headers = self.base_headers().clone();
        // A default `Accept` header stays; the per-request ones replace it.
        if !headers.contains_key(http::header::ACCEPT) {
            headers.insert(http::header::ACCEPT, HeaderValue::from_static(accept));
        }
        config::layer(headers, extra_headers);
        Ok(request)
    }
}

/// `request` with the reasoning text of its first `kept_from` messages left out.
fn without_reasoning_before(request: &ChatRequest, kept_from: usize) -> ChatRequest {
    let mut request = request.clone();
    for message in &mut request.messages[..kept_from] {
        message.reasoning_content = None;
        message.reasoning = None;
    }
    request
}

impl ClientConfig {
    /// The model-list URL (`{base_url}/models`).
    pub fn models_uri(&self) -> http::Uri {
        let base = self.base_url().to_string();
        format!("{}/models", base.trim_end_matches('/'))
            .parse()
            .expect("a valid base URL and a path stay a valid URL")
    }

    /// `GET {base_url}/models` with the auth header and the default headers.
    ///
    /// ```
    /// use gptproto_proto::exchange::ClientConfig;
    ///
    /// let config = ClientConfig::builder().base_url("http://localhost:8080/v1").api_key("sk-1").build()?;
    /// let request = config.build_models_request();
    /// assert_eq!(request.method(), http::Method::GET);
    /// assert_eq!(request.uri(), "http://localhost:8080/v1/models");
    /// assert_eq!(request.headers()["authorization"], "Bearer sk-1");
    /// assert!(request.body().is_empty());
    /// # Ok::<(), gptproto_proto::Error>(())
    /// ```
    pub fn build_models_request(&self) -> http::Request<bytes::Bytes> {
        let mut request = http::Request::new(bytes::Bytes::new());
        *request.uri_mut() = self.models_uri();
        let headers = request.headers_mut();
        *headers = self.base_headers().clone();
        headers.remove(http::header::CONTENT_TYPE);
        if !headers.contains_key(http::header::ACCEPT) {
            headers.insert(
                http::header::ACCEPT,
                HeaderValue::from_static("application/json"),
            );
        }
        request
    }
}

#[cfg(test)]
mod tests;
