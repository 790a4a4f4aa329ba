//! [`ResponseMeta`]: what a response's head said besides its body: the request id, the rate
//! limits, every header.

use gptproto_proto::provider::Provider;
use gptproto_proto::ratelimit::RateLimitHeaders;
use http::{HeaderMap, StatusCode};

/// The head of a response: its status, the server's request id, its rate-limit headers parsed,
/// and all its headers. A successful call gives it with
/// [`ChatCall::with_response`](crate::ChatCall::with_response) (and
/// [`ChatStreamCall::with_response`](crate::ChatStreamCall::with_response)); an error the server
/// answered carries it ([`Error::response_meta`](crate::Error::response_meta)).
///
/// ```no_run
/// # async fn demo(client: gptproto::Client) -> Result<(), gptproto::Error> {
/// use gptproto::ChatRequest;
///
/// let (answer, meta) = client
///     .chat(ChatRequest::new("qwen-turbo").user("hi"))
///     .with_response()
///     .await?;
/// println!("{:?} {:?}", meta.request_id(), meta.rate_limits().remaining_tokens);
/// # let _ = answer;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ResponseMeta {
    status: StatusCode,
    headers: HeaderMap,
    request_id: Option<String>,
    rate_limits: RateLimitHeaders,
    provider: Provider,
    model: Option<String>,
}

impl ResponseMeta {
    /// The head of a response from `provider`'s server.
    pub(crate) fn from_head(status: StatusCode, headers: &HeaderMap, provider: Provider) -> Self {
        Self {
            status,
            request_id: gptproto_proto::exchange::request_id(headers, None),
            rate_limits: RateLimitHeaders::from_headers(headers),
            headers: headers.clone(),
            provider,
            model: None,
        }
    }

    /// The same, answering the request for `model`.
    pub(crate) fn for_model(mut self, model: String) -> Self {
        self.model = Some(model);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Every header of the response.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The server's request id (`x-request-id` and its kin), if it sent one.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// The `x-ratelimit-*` headers, parsed (empty when the server sends none).
    pub fn rate_limits(&self) -> &RateLimitHeaders {
        &self.rate_limits
    }

    /// Whose server answered: the provider of the client that sent the request (after a
    /// [failover](crate::ChatCall::fallback_on) to another client, that client's).
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// The model the answered request asked for (after a [failover](crate::ChatCall::fallback),
    /// the fallback's); the completion's `model` is the one the server says it used. `None` on
    /// an error's head.
    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }
}
