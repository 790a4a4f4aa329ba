//! Sending a call: its plan (the request built once, its limits), the attempts under the
//! deadlines with their redirects, and the retry loop the policy drives.

use std::time::Duration;

use bytes::Bytes;
use gptproto_proto::accumulate::AnswerOutline;
use gptproto_proto::exchange::{
    ApiError, api_error, classify_models, classify_response, is_event_stream,
};
use gptproto_proto::retry::{Failure, RetryDecision, RetryPolicy};
use gptproto_proto::wire::{ChatCompletion, ChatRequest, ModelList};
use gptproto_transport::{BoxFuture, ResponseBody, TransportError};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use tracing::Instrument;

use crate::body::read_body;
use crate::call::{ChatCall, ChatStreamCall, Overrides};
use crate::client::{Client, Timeouts};
use crate::deadline::{Deadline, reported, step_wait};
use crate::error::{Error, Result, TimeoutKind};
use crate::meta::ResponseMeta;
use crate::redact::redacted;
use crate::redirect::{MAX_REDIRECTS, crossing, resolve};
use crate::rt;
use crate::stream::{ChatStream, StreamLimits};
use crate::telemetry::CallRecord;

/// The most bytes of an error response body read.
const ERROR_BODY_LIMIT: usize = 1024 * 1024;

// The calls are prepared (request built, limits set) before their future is made, and the
// future holds only the plan: its size is what each call in flight costs (a thousand open
// streams are a thousand of them).

pub(crate) fn chat(call: ChatCall) -> BoxFuture<'static, Result<ChatCompletion>> {
    planned(
        Plan::new(&call.client, call.request, &call.overrides),
        |mut plan| async move {
            let outcome = async {
                let response = plan.send().await?;
                plan.completion(response).await
            }
            .await;
            plan.settled(outcome)
        },
    )
}

/// `GET {base_url}/models`, with the client's retries and deadlines.
pub(crate) fn models(client: &Client) -> BoxFuture<'static, Result<ModelList>> {
    let settings = &client.inner.settings;
    let plan = Plan::of_request(
        client,
        client.inner.config.build_models_request(),
        settings.timeouts,
        settings.retry.clone(),
        None,
    );
    Box::pin(async move {
        let response = plan.send().await?;
        let (parts, body) = plan.whole_body(response).await?;
        Ok(classify_models(parts.status, &parts.headers, &body)?)
    })
}

/// [`chat`], with the response's head.
pub(crate) fn chat_with_response(
    call: ChatCall,
) -> BoxFuture<'static, Result<(ChatCompletion, ResponseMeta)>> {
    planned(
        Plan::new(&call.client, call.request, &call.overrides),
        |mut plan| async move {
            let outcome = async {
                let response = plan.send().await?;
                let meta = ResponseMeta::from_head(response.status(), response.headers());
                let completion = plan.completion(response).await?;
                Ok((completion, meta))
            }
            .await;
            plan.settled(outcome)
        },
    )
}

pub(crate) fn chat_stream(call: ChatStreamCall) -> BoxFuture<'static, Result<ChatStream>> {
    let (planning, expected_choices) = stream_plan(call);
    planned(planning, move |mut plan| async move {
        let outcome = async {
            let response = plan.send().await?;
            plan.stream(response, expected_choices).await
        }
        .await;
        plan.settled(outcome)
    })
}

/// [`chat_stream`], with the response's head.
pub(crate) fn chat_stream_with_response(
    call: ChatStreamCall,
) -> BoxFuture<'static, Result<(ChatStream, ResponseMeta)>> {
    let (planning, expected_choices) = stream_plan(call);
    planned(planning, move |mut plan| async move {
        let outcome = async {
            let response = plan.send().await?;
            let meta = ResponseMeta::from_head(response.status(), response.headers());
            let stream = plan.stream(response, expected_choices).await?;
            Ok((stream, meta))
        }
        .await;
        plan.settled(outcome)
    })
}

/// The call's future: `run` on its plan inside its span (when there is one), or the
/// planning's error at once.
fn planned<T: Send + 'static, F>(
    planning: Result<Plan>,
    run: impl FnOnce(Plan) -> F,
) -> BoxFuture<'static, Result<T>>
where
    F: std::future::Future<Output = Result<T>> + Send + 'static,
{
    match planning {
        Ok(plan) => match plan.record.as_ref().map(|record| record.span().clone()) {
            Some(span) => Box::pin(run(plan).instrument(span)),
            None => Box::pin(run(plan)),
        },
        Err(error) => Box::pin(std::future::ready(Err(error))),
    }
}

/// What a call gives back, which ends (or carries on) its telemetry record.
trait Outcome {
    fn settle(&mut self, record: Box<CallRecord>);
}

impl Outcome for ChatCompletion {
    fn settle(&mut self, mut record: Box<CallRecord>) {
        record.answered(&AnswerOutline::of(self), || Some(&*self));
    }
}

impl Outcome for ChatStream {
    /// The stream carries the record on, to its end.
    fn settle(&mut self, record: Box<CallRecord>) {
        self.observe(record);
    }
}

impl<T: Outcome> Outcome for (T, ResponseMeta) {
    fn settle(&mut self, record: Box<CallRecord>) {
        self.0.settle(record);
    }
}

/// A streamed call's planning (the request asks to stream), and the choices expected.
fn stream_plan(call: ChatStreamCall) -> (Result<Plan>, u32) {
    let request = if call.request.is_stream() {
        call.request
    } else {
        call.request.stream(true)
    };
    let expected_choices = request.n.unwrap_or(1);
    (
        Plan::new(&call.client, request, &call.overrides),
        expected_choices,
    )
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
    /// The call's telemetry (none when nobody listens); dropped with the plan before its
    /// end, it records the call as cancelled.
    record: Option<Box<CallRecord>>,
}

/// Why an attempt failed, before the retry decision.
enum Failed {
    Transport(TransportError),
    Timeout(TimeoutKind, Duration),
    /// The server's error, and its response head (boxed: rare).
    Api(ApiError, Box<ResponseMeta>),
    /// Not retried whatever the policy says.
    Final(Error),
}

impl Failed {
    fn into_error(self) -> Error {
        match self {
            Self::Transport(error) => Error::transport(error),
            Self::Timeout(kind, after) => Error::timeout(kind, after),
            Self::Api(api, meta) => Error::from(api).with_response(*meta),
            Self::Final(error) => error,
        }
    }
}

impl Plan {
    /// The plan, and the call's telemetry record (none when nobody listens).
    fn new(client: &Client, request: ChatRequest, overrides: &Overrides) -> Result<Self> {
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
        let mut timeouts = settings.timeouts;
        timeouts.total = overrides.total.or(timeouts.total);
        timeouts.response = overrides.response.or(timeouts.response);
        timeouts.idle = overrides.idle.or(timeouts.idle);
        timeouts.body = overrides.body.or(timeouts.body);
        let mut retry = settings.retry.clone();
        retry.max_retries = overrides.max_retries.or(retry.max_retries);
        let record = client.inner.telemetry.call(&request);
        Ok(Self::of_request(
            client,
            http_request,
            timeouts,
            retry,
            record,
        ))
    }

    /// The plan of a built request, under these limits, with its telemetry record (if any).
    fn of_request(
        client: &Client,
        request: http::Request<Bytes>,
        timeouts: Timeouts,
        retry: RetryPolicy,
        record: Option<Box<CallRecord>>,
    ) -> Self {
        let (parts, body) = request.into_parts();
        Self {
            client: client.clone(),
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body,
            deadline: timeouts.total.map(Deadline::after),
            timeouts,
            retry,
            record,
        }
    }

    /// Ends (or hands on) the call's telemetry record with the call's outcome.
    fn settled<T: Outcome>(&mut self, mut outcome: Result<T>) -> Result<T> {
        if let Some(mut record) = self.record.take() {
            match &mut outcome {
                Ok(value) => value.settle(record),
                Err(error) => record.failed(error),
            }
        }
        outcome
    }

    fn idle(&self) -> Option<Duration> {
        self.timeouts.idle
    }

    /// The deadline of a body whose head just came: the call's, or the body's own if sooner.
    fn body_deadline(&self) -> Option<Deadline> {
        Deadline::sooner(self.deadline, self.timeouts.body.map(Deadline::body))
    }

    /// A fresh copy of the request (the body is shared, not copied), to `uri` (the planned one,
    /// or a redirect's target), without the secrets once the credentials are dropped.
    fn request(&self, uri: &Uri, credentials_dropped: bool) -> http::Request<Bytes> {
        let mut request = http::Request::new(self.body.clone());
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = uri.clone();
        *request.headers_mut() = self.headers.clone();
        if credentials_dropped {
            for name in gptproto_proto::exchange::SECRET_HEADERS {
                request.headers_mut().remove(name);
            }
        }
        request
    }

    /// The stream of a successful streamed response.
    async fn stream(
        &self,
        response: http::Response<ResponseBody>,
        expected_choices: u32,
    ) -> Result<ChatStream> {
        let headers = response.headers();
        let request_id = gptproto_proto::exchange::request_id(headers, None);
        let json = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.contains("json"));
        if json && !is_event_stream(headers) {
            // The server answered in one piece although asked to stream: still an answer.
            // (Boxed: rare, and every stream being opened would carry room for it.)
            let completion = Box::pin(self.completion(response)).await?;
            return Ok(ChatStream::from_completion(&completion, request_id));
        }
        Ok(ChatStream::new(
            response.into_body(),
            StreamLimits {
                expected_choices,
                max_answer: self.client.inner.settings.max_answer,
                idle: self.idle(),
                deadline: self.body_deadline(),
            },
            request_id,
        ))
    }

    /// Reads a whole (non-streamed) body and classifies it.
    async fn completion(&self, response: http::Response<ResponseBody>) -> Result<ChatCompletion> {
        let (parts, body) = self.whole_body(response).await?;
        Ok(classify_response(parts.status, &parts.headers, &body)?)
    }

    /// A response's head and its whole body, read under the client's size limit and this
    /// call's deadlines.
    async fn whole_body(
        &self,
        response: http::Response<ResponseBody>,
    ) -> Result<(http::response::Parts, Bytes)> {
        let (parts, body) = response.into_parts();
        let max_body = self.client.inner.settings.max_body;
        let body = read_body(body, max_body, self.idle(), self.body_deadline()).await?;
        Ok((parts, body))
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
                Failed::Api(api, _) => self.decide(retries, &Failure::Response(api)),
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
                    tracing::warn!(
                        attempt = retries + 1,
                        delay_s = after.as_secs_f64(),
                        error.type = &*error.error_type(),
                        %error,
                        "retrying"
                    );
                    rt::sleep(after).await;
                    retries += 1;
                }
                _ => return Err(failed.into_error().with_attempts(retries + 1)),
            }
        }
    }

    fn decide(&self, retries: u32, failure: &Failure<'_>) -> RetryDecision {
        self.retry.decide(
            retries,
            failure,
            rt::system_now(),
            self.client.inner.jitter.draw(),
        )
    }

    /// One attempt, redirects included.
    async fn attempt(
        &self,
        retries: u32,
    ) -> std::result::Result<http::Response<ResponseBody>, Failed> {
        // The hop's URI: the planned one, then each redirect's target.
        let mut uri = self.uri.clone();
        // The last redirect followed (for the error when there are too many).
        let mut last_redirect = (0, String::new());
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
                Some((wait, kind)) => match rt::timeout(wait, sent).await {
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
                last_redirect = (status.as_u16(), location);
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
                self.body_deadline(),
            ))
            .await
            .unwrap_or_default();
            let api = api_error(status, &headers, &body);
            let meta = Box::new(ResponseMeta::from_head(status, &headers));
            tracing::debug!(
                status = status.as_u16(),
                request_id = api.request_id(),
                "API error"
            );
            return Err(Failed::Api(api, meta));
        }
        Err(Failed::Final(Error::too_many_redirects(
            last_redirect.0,
            last_redirect.1,
        )))
    }
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
    fn redirects_to_another_origin_drop_secrets_for_good() {
        let client = Client::builder()
            .ignore_env()
            .base_url("https://a.example/v1")
            .api_key("sk-secret")
            .header("x-team", "t")
            .build()
            .unwrap();
        let plan = Plan::new(
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
}
