//! [`ChatCall`] and [`ChatStreamCall`]: one call, awaitable, with per-call overrides.

use std::future::IntoFuture;
use std::time::Duration;

use gptproto_proto::wire::{ChatCompletion, ChatRequest};
use gptproto_transport::BoxFuture;
use serde_json::Value;

use crate::client::Client;
use crate::error::Result;
use crate::meta::ResponseMeta;
use crate::stream::ChatStream;

/// A setting of one call: the client's, or the call's own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Setting<T> {
    #[default]
    Client,
    Call(T),
}

impl<T> Setting<T> {
    /// The call's own value, else `client`.
    pub(crate) fn or(self, client: T) -> T {
        match self {
            Self::Client => client,
            Self::Call(own) => own,
        }
    }
}

/// What a call changes from the client's defaults. (The connect timeout is not here: a call
/// shares the client's connections.)
#[derive(Debug, Clone, Default)]
pub(crate) struct Overrides {
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) total: Setting<Option<Duration>>,
    pub(crate) response: Setting<Option<Duration>>,
    pub(crate) idle: Setting<Option<Duration>>,
    pub(crate) body: Setting<Option<Duration>>,
    pub(crate) max_retries: Setting<u32>,
    pub(crate) extra_body: serde_json::Map<String, Value>,
}

macro_rules! overrides {
    ($call:ident) => {
        impl $call {
            /// This call's whole deadline, retries and body included; `None` for none (the
            /// client's is then not used).
            pub fn timeout(mut self, total: impl Into<Option<Duration>>) -> Self {
                self.overrides.total = Setting::Call(total.into());
                self
            }

            /// This call's deadline for each response head; `None` for none.
            pub fn response_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
                self.overrides.response = Setting::Call(timeout.into());
                self
            }

            /// This call's longest wait between two reads of the body; `None` for none.
            pub fn idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
                self.overrides.idle = Setting::Call(timeout.into());
                self
            }

            /// This call's longest read of the response body, head to end; `None` for none.
            pub fn body_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
                self.overrides.body = Setting::Call(timeout.into());
                self
            }

            /// This call's retries after the first attempt.
            pub fn max_retries(mut self, retries: u32) -> Self {
                self.overrides.max_retries = Setting::Call(retries);
                self
            }

            /// A header for this call (replaces a default header of the same name).
            pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
                self.overrides.headers.push((name.into(), value.into()));
                self
            }

            /// A field merged into the request body, typed fields included (as the official
            /// SDKs' `extra_body`), e.g. `.extra_body("enable_thinking", true)`. Unlike
            /// [`ChatRequest::extra`], which adds only fields the request has no type for, this
            /// may replace a typed field's value.
            pub fn extra_body(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
                self.overrides.extra_body.insert(key.into(), value.into());
                self
            }
        }
    };
}

/// A chat completion call: await it for the [`ChatCompletion`].
///
/// ```no_run
/// # async fn demo(client: gptproto::Client) -> Result<(), gptproto::Error> {
/// use std::time::Duration;
/// use gptproto::ChatRequest;
///
/// let answer = client
///     .chat(ChatRequest::new("qwen-turbo").user("Say hi"))
///     .timeout(Duration::from_secs(30))
///     .max_retries(0)
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[must_use = "a call does nothing until awaited"]
pub struct ChatCall {
    pub(crate) client: Client,
    pub(crate) request: ChatRequest,
    pub(crate) overrides: Overrides,
}

impl ChatCall {
    pub(crate) fn new(client: Client, request: ChatRequest) -> Self {
        Self {
            client,
            request,
            overrides: Overrides::default(),
        }
    }
}

overrides!(ChatCall);

impl ChatCall {
    /// The call, answering with the response's head too (request id, rate limits, headers),
    /// as openai-python's `with_raw_response`.
    pub fn with_response(self) -> WithResponse<Self> {
        WithResponse(self)
    }
}

impl ChatStreamCall {
    /// The call, answering with the response's head too (request id, rate limits, headers).
    pub fn with_response(self) -> WithResponse<Self> {
        WithResponse(self)
    }
}

/// A call that answers with its response's head: `call.with_response().await` gives
/// `(answer, ResponseMeta)`.
#[derive(Debug)]
#[must_use = "a call does nothing until awaited"]
pub struct WithResponse<C>(C);

impl IntoFuture for WithResponse<ChatCall> {
    type Output = Result<(ChatCompletion, ResponseMeta)>;
    type IntoFuture = BoxFuture<'static, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        crate::send::chat_with_response(self.0)
    }
}

impl IntoFuture for WithResponse<ChatStreamCall> {
    type Output = Result<(ChatStream, ResponseMeta)>;
    type IntoFuture = BoxFuture<'static, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        crate::send::chat_stream_with_response(self.0)
    }
}

impl IntoFuture for ChatCall {
    type Output = Result<ChatCompletion>;
    type IntoFuture = BoxFuture<'static, Result<ChatCompletion>>;

    fn into_future(self) -> Self::IntoFuture {
        crate::send::chat(self)
    }
}

/// A streamed chat completion call: await it for the [`ChatStream`] (once the response head
/// is in; an error status is returned here).
#[derive(Debug)]
#[must_use = "a call does nothing until awaited"]
pub struct ChatStreamCall {
    pub(crate) client: Client,
    pub(crate) request: ChatRequest,
    pub(crate) overrides: Overrides,
}

impl ChatStreamCall {
    pub(crate) fn new(client: Client, request: ChatRequest) -> Self {
        Self {
            client,
            request,
            overrides: Overrides::default(),
        }
    }
}

overrides!(ChatStreamCall);

impl IntoFuture for ChatStreamCall {
    type Output = Result<ChatStream>;
    type IntoFuture = BoxFuture<'static, Result<ChatStream>>;

    fn into_future(self) -> Self::IntoFuture {
        crate::send::chat_stream(self)
    }
}
