//! [`ChatCall`] and [`ChatStreamCall`]: one call, awaitable, with per-call overrides.

use std::future::IntoFuture;
use std::time::Duration;

use gptproto_proto::wire::{ChatCompletion, ChatRequest};
use gptproto_transport::BoxFuture;
use serde_json::Value;

use crate::client::Client;
use crate::error::Result;
use crate::stream::ChatStream;

/// What a call changes from the client's defaults.
#[derive(Debug, Clone, Default)]
pub(crate) struct Overrides {
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) total: Option<Option<Duration>>,
    pub(crate) response: Option<Option<Duration>>,
    pub(crate) idle: Option<Option<Duration>>,
    pub(crate) max_retries: Option<u32>,
    pub(crate) extra: serde_json::Map<String, Value>,
}

macro_rules! overrides {
    ($call:ident) => {
        impl $call {
            /// This call's whole deadline, retries and body included.
            pub fn timeout(mut self, total: Duration) -> Self {
                self.overrides.total = Some(Some(total));
                self
            }

            /// This call's deadline for each response head.
            pub fn response_timeout(mut self, timeout: Duration) -> Self {
                self.overrides.response = Some(Some(timeout));
                self
            }

            /// This call's longest wait between two reads of the body.
            pub fn idle_timeout(mut self, timeout: Duration) -> Self {
                self.overrides.idle = Some(Some(timeout));
                self
            }

            /// This call's retries after the first attempt.
            pub fn max_retries(mut self, retries: u32) -> Self {
                self.overrides.max_retries = Some(retries);
                self
            }

            /// A header for this call (replaces a default header of the same name).
            pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
                self.overrides.headers.push((name.into(), value.into()));
                self
            }

            /// A field merged into the request body, known fields included (like the official
            /// SDKs' `extra_body`), e.g. `.extra("enable_thinking", true)`.
            pub fn extra(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
                self.overrides.extra.insert(key.into(), value.into());
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
