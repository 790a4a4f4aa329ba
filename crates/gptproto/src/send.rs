//! Sending a call: build the request with the core, send it through the connector with the
//! deadlines, follow method-preserving redirects, classify errors, and retry as the policy says.

use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use gptproto_proto::exchange::{ApiError, api_error, classify_response, is_event_stream};
use gptproto_proto::retry::{Failure, RetryDecision, RetryPolicy};
use gptproto_proto::wire::{ChatCompletion, ChatRequest};
use gptproto_transport::{BoxFuture, ResponseBody, TransportError};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use http_body_util::BodyExt;
use tracing::Instrument;

use crate::call::{ChatCall, ChatStreamCall, Overrides};
use crate::client::{Client, Timeouts};
use crate::error::{Error, Result, TimeoutKind};
use crate::stream::ChatStream;

/// The most redirects followed in one attempt.
const MAX_REDIRECTS: usize = 5;
/// The most bytes of an error response body read.
const ERROR_BODY_LIMIT: usize = 1024 * 1024;
/// Headers not carried to another origin on a redirect.
const SECRET_HEADERS: [&str; 5] = [
    "authorization",
    "api-key",
    "x-api-key",
    "cookie",
    "proxy-authorization",
];

// The calls are prepared (request built, limits set) before their future is made, and the
// future holds only the plan: its size is what each call in flight costs (a thousand open
// streams are a thousand of them).

pub(crate) fn chat(call: ChatCall) -> BoxFuture<'static, Result<ChatCompletion>> {
    let (plan, span) = match Plan::new(&call.client, call.request, &call.overrides) {
        Ok(planned) => planned,
        Err(error) => return Box::pin(std::future::ready(Err(error))),
    };
    Box::pin(
        async move {
            let response = plan.send().await?;
            let completion = plan.completion(response).await?;
            tracing::debug!(choices = completion.choices.len(), "completion received");
            Ok(completion)
        }
        .instrument(span),
    )
}

pub(crate) fn chat_stream(call: ChatStreamCall) -> BoxFuture<'static, Result<ChatStream>> {
    let request = if call.request.is_stream() {
        call.request
    } else {
        call.request.stream(true)
    };
    let expected_choices = request.n.unwrap_or(1);
    let (plan, span) = match Plan::new(&call.client, request, &call.overrides) {
        Ok(planned) => planned,
        Err(error) => return Box::pin(std::future::ready(Err(error))),
    };
    Box::pin(
        async move {
            let response = plan.send().await?;
            let headers = response.headers();
            let request_id = gptproto_proto::exchange::request_id(headers, None);
            let json = headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .is_some_and(|value| value.contains("json"));
            if json && !is_event_stream(headers) {
                // The server answered in one piece although asked to stream: still an answer.
                // (Boxed: rare, and every stream being opened would carry room for it.)
                let completion = Box::pin(plan.completion(response)).await?;
                return Ok(ChatStream::from_completion(&completion, request_id));
            }
            Ok(ChatStream::new(
                response.into_body(),
                expected_choices,
                plan.idle(),
                plan.deadline,
                request_id,
            ))
        }
        .instrument(span),
    )
}

/// The whole call's deadline: when it passes, and the total it was set from (which the
/// timeout error names).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    pub(crate) at: Instant,
    pub(crate) total: Duration,
}

impl Deadline {
    fn after(total: Duration) -> Self {
        Self {
            at: Instant::now() + total,
            total,
        }
    }

    fn remaining(self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }
}

/// How long one step may wait: its own limit (a timeout of `kind`), cut by the call's deadline.
fn step_wait(
    limit: Option<Duration>,
    kind: TimeoutKind,
    deadline: Option<Deadline>,
) -> Option<(Duration, TimeoutKind)> {
    let remaining = deadline.map(Deadline::remaining);
    match (limit, remaining) {
        (Some(limit), Some(remaining)) if remaining < limit => {
            Some((remaining, TimeoutKind::Total))
        }
        (Some(limit), _) => Some((limit, kind)),
        (None, Some(remaining)) => Some((remaining, TimeoutKind::Total)),
        (None, None) => None,
    }
}

/// The duration a timeout error names: the whole call's total for the deadline, the wait
/// otherwise.
fn reported(kind: TimeoutKind, wait: Duration, deadline: Option<Deadline>) -> Duration {
    match (kind, deadline) {
        (TimeoutKind::Total, Some(deadline)) => deadline.total,
        _ => wait,
    }
}

/// One call's request and limits.
///
/// Kept small: every call in flight holds one.
struct Plan {
    client: Client,
    method: http::Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    timeouts: Timeouts,
    retry: RetryPolicy,
    deadline: Option<Deadline>,
}

/// Why an attempt failed, before the retry decision.
enum Failed {
    Transport(TransportError),
    Timeout(TimeoutKind, Duration),
    Api(ApiError),
    /// Not retried whatever the policy says.
    Final(Error),
}

impl Failed {
    fn into_error(self) -> Error {
        match self {
            Self::Transport(error) => Error::transport(error),
            Self::Timeout(kind, after) => Error::timeout(kind, after),
            Self::Api(api) => api.into(),
            Self::Final(error) => error,
        }
    }
}

impl Plan {
    /// The plan, and the call's tracing span.
    fn new(
        client: &Client,
        request: ChatRequest,
        overrides: &Overrides,
    ) -> Result<(Self, tracing::Span)> {
        let settings = &client.inner.settings;
        let request = if overrides.extra_body.is_empty() {
            request
        } else {
            request.merge_json(serde_json::Value::Object(overrides.extra_body.clone()))?
        };
        let mut headers = HeaderMap::new();
        for (name, value) in &overrides.headers {
            let name = HeaderName::try_from(name.as_str())
                .map_err(|_| Error::config(format!("invalid header name {name:?}")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| Error::config(format!("invalid value for header {name}")))?;
            headers.append(name, value);
        }
        let http_request = client
            .inner
            .config
            .build_request_with_headers(&request, &headers)?;
        let (parts, body) = http_request.into_parts();
        let mut timeouts = settings.timeouts;
        timeouts.total = overrides.total.or(timeouts.total);
        timeouts.response = overrides.response.or(timeouts.response);
        timeouts.idle = overrides.idle.or(timeouts.idle);
        let mut retry = settings.retry.clone();
        retry.max_retries = overrides.max_retries.or(retry.max_retries);
        let span = tracing::info_span!(
            "gptproto.chat",
            model = %request.model,
            stream = request.is_stream(),
            url = %redacted(&parts.uri),
        );
        let plan = Self {
            client: client.clone(),
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body,
            deadline: timeouts.total.map(Deadline::after),
            timeouts,
            retry,
        };
        Ok((plan, span))
    }

    fn idle(&self) -> Option<Duration> {
        self.timeouts.idle
    }

    /// A fresh copy of the request (the body is shared, not copied), to `uri` (the planned one,
    /// or a redirect's target), without the secrets once the credentials are dropped.
    fn request(&self, uri: &Uri, credentials_dropped: bool) -> http::Request<Bytes> {
        let mut request = http::Request::new(self.body.clone());
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = uri.clone();
        *request.headers_mut() = self.headers.clone();
        if credentials_dropped {
            for name in SECRET_HEADERS {
                request.headers_mut().remove(name);
            }
        }
        request
    }

    /// Reads a whole (non-streamed) body and classifies it.
    async fn completion(&self, response: http::Response<ResponseBody>) -> Result<ChatCompletion> {
        let (parts, body) = response.into_parts();
        let max_body = self.client.inner.settings.max_body;
        let body = read_body(body, max_body, self.idle(), self.deadline).await?;
        Ok(classify_response(parts.status, &parts.headers, &body)?)
    }

    /// Sends with retries; a 2xx response is returned with its body unread.
    async fn send(&self) -> Result<http::Response<ResponseBody>> {
        let mut retries = 0;
        loop {
            let failed = match self.attempt(retries).await {
                Ok(response) => return Ok(response),
                Err(failed) => failed,
            };
            let decision = match &failed {
                Failed::Transport(_) => self.decide(retries, &Failure::Connect),
                Failed::Timeout(TimeoutKind::Response, _) => {
                    self.decide(retries, &Failure::Timeout)
                }
                Failed::Api(api) => self.decide(retries, &Failure::Response(api)),
                Failed::Timeout(..) | Failed::Final(_) => RetryDecision::GiveUp {
                    reason: gptproto_proto::retry::GiveUpReason::NotRetryable,
                },
            };
            match decision {
                RetryDecision::Retry { after }
                    if self
                        .deadline
                        .is_none_or(|deadline| after < deadline.remaining()) =>
                {
                    let error = failed.into_error();
                    tracing::warn!(attempt = retries + 1, delay_ms = after.as_millis() as u64, %error, "retrying");
                    tokio::time::sleep(after).await;
                    retries += 1;
                }
                _ => return Err(failed.into_error().with_attempts(retries + 1)),
            }
        }
    }

    fn decide(&self, retries: u32, failure: &Failure<'_>) -> RetryDecision {
        self.retry
            .decide(retries, failure, SystemTime::now(), fastrand::f64())
    }

    /// One attempt, redirects included.
    async fn attempt(
        &self,
        retries: u32,
    ) -> std::result::Result<http::Response<ResponseBody>, Failed> {
        // The hop's URI: the planned one, then each redirect's target.
        let mut uri = self.uri.clone();
        // Set once a redirect crossed to another origin: the credentials stay dropped.
        let mut credentials_dropped = false;
        for _ in 0..=MAX_REDIRECTS {
            tracing::debug!(attempt = retries + 1, url = %redacted(&uri), "sending");
            // The request is built and handed over before the wait, so that no call in flight
            // holds one.
            let sent = self
                .client
                .inner
                .connector
                .send(self.request(&uri, credentials_dropped));
            let head_wait = step_wait(self.timeouts.response, TimeoutKind::Response, self.deadline);
            let response = match head_wait {
                Some((wait, kind)) => match tokio::time::timeout(wait, sent).await {
                    Ok(result) => result,
                    Err(_) => {
                        return Err(Failed::Timeout(kind, reported(kind, wait, self.deadline)));
                    }
                },
                None => sent.await,
            };
            let response = response.map_err(|error| {
                tracing::debug!(error = %format_args!("{error:#}"), "transport error");
                if error.is_retryable() {
                    Failed::Transport(error)
                } else {
                    Failed::Final(Error::transport(error))
                }
            })?;
            let status = response.status();
            tracing::debug!(status = status.as_u16(), version = ?response.version(), "response head");
            if status.is_success() {
                return Ok(response);
            }
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(http::header::LOCATION)
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                if !matches!(
                    status,
                    StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
                ) {
                    return Err(Failed::Final(Error::redirect(status.as_u16(), location)));
                }
                let target = resolve(&uri, &location).ok_or_else(|| {
                    Failed::Final(Error::redirect(status.as_u16(), location.clone()))
                })?;
                crossing(&uri, &target, &mut credentials_dropped);
                uri = target;
                continue;
            }
            let (parts, body) = response.into_parts();
            let headers = parts.headers;
            // Boxed: an error body is rare, and every call in flight would carry room for it.
            let body = Box::pin(read_body(
                body,
                ERROR_BODY_LIMIT,
                self.idle(),
                self.deadline,
            ))
            .await
            .unwrap_or_default();
            let api = api_error(status, &headers, &body);
            tracing::debug!(
                status = status.as_u16(),
                request_id = api.request_id(),
                "API error"
            );
            return Err(Failed::Api(api));
        }
        Err(Failed::Final(Error::config(format!(
            "more than {MAX_REDIRECTS} redirects"
        ))))
    }
}

/// The redirect target of `location` seen from `base`: absolute, or absolute-path.
fn resolve(base: &Uri, location: &str) -> Option<Uri> {
    let location: Uri = location.parse().ok()?;
    if location.scheme().is_some() {
        return Some(location);
    }
    let path = location.path_and_query()?;
    if !path.as_str().starts_with('/') {
        return None;
    }
    let mut parts = base.clone().into_parts();
    parts.path_and_query = Some(path.clone());
    Uri::from_parts(parts).ok()
}

impl Plan {
    /// A redirect's request: secrets are dropped when the origin changes, and stay dropped.
    #[cfg(test)]
    fn redirected(
        &self,
        from: &Uri,
        target: Uri,
        credentials_dropped: &mut bool,
    ) -> http::Request<Bytes> {
        crossing(from, &target, credentials_dropped);
        self.request(&target, *credentials_dropped)
    }
}

/// Notes a redirect from `from` to `target`: one to another origin drops the credentials.
fn crossing(from: &Uri, target: &Uri, credentials_dropped: &mut bool) {
    let same_origin = from.scheme() == target.scheme()
        && from.host() == target.host()
        && from.port_u16() == target.port_u16();
    if !same_origin && !*credentials_dropped {
        *credentials_dropped = true;
        tracing::debug!(to = %redacted(target), "redirect to another origin: credentials dropped");
    }
}

/// A URI for logs: scheme, host, port and path, no query (it may carry a key).
pub(crate) fn redacted(uri: &Uri) -> String {
    format!(
        "{}://{}{}",
        uri.scheme_str().unwrap_or("?"),
        uri.authority()
            .map_or("", |a| a.as_str().rsplit('@').next().unwrap_or("")),
        uri.path()
    )
}

/// Reads a whole body, at most `limit` bytes, waiting at most `idle` between reads and ending
/// by `deadline`.
pub(crate) async fn read_body(
    mut body: ResponseBody,
    limit: usize,
    idle: Option<Duration>,
    deadline: Option<Deadline>,
) -> Result<Bytes> {
    // A body that arrives in one frame (most JSON answers) is returned as that frame: no copy.
    let mut first: Option<Bytes> = None;
    let mut collected = BytesMut::new();
    loop {
        let frame = match step_wait(idle, TimeoutKind::Idle, deadline) {
            Some((wait, kind)) => tokio::time::timeout(wait, body.frame())
                .await
                .map_err(|_| Error::timeout(kind, reported(kind, wait, deadline)))?,
            None => body.frame().await,
        };
        match frame {
            None => {
                return Ok(match first {
                    Some(only) if collected.is_empty() => only,
                    _ => collected.freeze(),
                });
            }
            Some(Err(error)) => return Err(Error::interrupted(error, 0, None)),
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                let received = first.as_ref().map_or(0, Bytes::len) + collected.len();
                if received + data.len() > limit {
                    return Err(Error::body_too_large(limit));
                }
                if received == 0 && first.is_none() {
                    first = Some(data);
                } else {
                    if let Some(earlier) = first.take() {
                        collected.extend_from_slice(&earlier);
                    }
                    collected.extend_from_slice(&data);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What one call in flight holds, while it waits for the response head: with a thousand
    /// streams being opened, it is a thousand of these (it was 4.7 KB before the request was
    /// built ahead and rare paths boxed; about 1 KB since).
    #[test]
    fn a_call_in_flight_is_small() {
        let client = Client::builder()
            .ignore_env()
            .base_url("http://127.0.0.1:1/v1")
            .api_key("sk-test")
            .build()
            .unwrap();
        let streamed = client.chat_stream(ChatRequest::new("m").user("hi"));
        let streamed = chat_stream(streamed);
        assert!(
            std::mem::size_of_val(&*streamed) <= 1280,
            "a streamed call's future is {} bytes",
            std::mem::size_of_val(&*streamed)
        );
        let plain = chat(client.chat(ChatRequest::new("m").user("hi")));
        assert!(
            std::mem::size_of_val(&*plain) <= 1280,
            "a call's future is {} bytes",
            std::mem::size_of_val(&*plain)
        );
    }

    #[test]
    fn redirect_targets_resolve() {
        let base: Uri = "https://a.example:8443/v1/chat/completions?x=1"
            .parse()
            .unwrap();
        assert_eq!(
            resolve(&base, "/v2/chat").unwrap(),
            "https://a.example:8443/v2/chat"
        );
        assert_eq!(
            resolve(&base, "https://b.example/v1").unwrap(),
            "https://b.example/v1"
        );
        assert!(resolve(&base, "relative/path").is_none());
    }

    #[test]
    fn redirects_to_another_origin_drop_secrets_for_good() {
        let client = Client::builder()
            .ignore_env()
            .base_url("https://a.example/v1")
            .api_key("sk-secret")
            .header("x-team", "t")
            .build()
            .unwrap();
        let (plan, _) = Plan::new(
            &client,
            ChatRequest::new("m").user("hi"),
            &Overrides::default(),
        )
        .unwrap();
        let from: Uri = "https://a.example/v1/chat/completions".parse().unwrap();
        let mut dropped = false;
        let same = plan.redirected(&from, "https://a.example/v2".parse().unwrap(), &mut dropped);
        assert!(same.headers().contains_key("authorization"));
        assert_eq!(same.uri(), "https://a.example/v2");
        let other = plan.redirected(&from, "https://b.example/v1".parse().unwrap(), &mut dropped);
        assert!(!other.headers().contains_key("authorization"));
        assert_eq!(other.headers()["x-team"], "t");
        assert_eq!(other.body(), plan.request(&from, false).body());
        // Back to the first origin after leaving it: still without credentials.
        let from: Uri = "https://b.example/v1".parse().unwrap();
        let back = plan.redirected(&from, "https://a.example/v1".parse().unwrap(), &mut dropped);
        assert!(!back.headers().contains_key("authorization"));
    }

    #[test]
    fn log_urls_carry_no_credentials_or_query() {
        let uri: Uri = "https://user:pw@host.example:8443/v1/chat?api-key=secret"
            .parse()
            .unwrap();
        assert_eq!(redacted(&uri), "https://host.example:8443/v1/chat");
    }
}
