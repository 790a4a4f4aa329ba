//! [`ResponseMeta`]: what a response's head said besides its body: the request id, the rate
//! limits, every header.

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
}

impl ResponseMeta {
    pub(crate) fn from_head(status: StatusCode, headers: &HeaderMap) -> Self {
        Self {
            status,
            request_id: gptproto_proto::exchange::request_id(headers, None),
            rate_limits: RateLimitHeaders::from_headers(headers),
            headers: headers.clone(),
        }
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
}
