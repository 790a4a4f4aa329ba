//! [`ChatCall`] and [`ChatStreamCall`]: one call, with per-call overrides, and the request it
//! sends. (They are awaited through `send`.)

use std::time::Duration;

use bytes::Bytes;
use gptproto_proto::call::{Call, CallOptions, Expect, Start};
use gptproto_proto::wire::ChatRequest;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use crate::client::Client;
use crate::error::{Error, Result};

impl Client {
    /// A chat completion: `client.chat(request).await`. Setters on the returned call override
    /// the client's defaults for this call only.
    pub fn chat(&self, request: ChatRequest) -> ChatCall {
        ChatCall {
            client: self.clone(),
            request,
            overrides: Overrides::default(),
        }
    }

    /// A streamed chat completion: `client.chat_stream(request).await` gives a [`ChatStream`]
    /// once the response head is in (an HTTP error is returned here, not as the first item).
    ///
    /// [`ChatStream`]: crate::ChatStream
    pub fn chat_stream(&self, request: ChatRequest) -> ChatStreamCall {
        let request = if request.is_stream() {
            request
        } else {
            request.stream(true)
        };
        ChatStreamCall {
            client: self.clone(),
            request,
            overrides: Overrides::default(),
        }
    }
}

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

/// Another model to try: on the same client, or on another (another provider and key).
#[derive(Debug, Clone)]
pub(crate) struct Fallback {
    pub(crate) client: Option<Client>,
    pub(crate) model: String,
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
    /// Other models to try, in order, when this one fails in a way another could fix.
    pub(crate) fallbacks: Vec<Fallback>,
}

impl Overrides {
    /// The call's options: the client's, with this call's own over them.
    pub(crate) fn apply(&self, client: &CallOptions) -> CallOptions {
        let mut options = client.clone();
        let timeouts = &mut options.timeouts;
        timeouts.total = self.total.or(timeouts.total);
        timeouts.response = self.response.or(timeouts.response);
        timeouts.idle = self.idle.or(timeouts.idle);
        timeouts.body = self.body.or(timeouts.body);
        options.retry.max_retries = self.max_retries.or(options.retry.max_retries);
        options
    }

    /// The call's machine for `request` on `client`, expecting `expect`, with these overrides
    /// (the extra body merged, the call's headers over the client's, the call's limits), and
    /// the request as merged.
    pub(crate) fn machine(
        &self,
        client: &Client,
        request: ChatRequest,
        expect: Expect,
        start: Start,
    ) -> Result<(ChatRequest, Call)> {
        let request = if self.extra_body.is_empty() {
            request
        } else {
            request.merge_json(Value::Object(self.extra_body.clone()))?
        };
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let name = HeaderName::try_from(name.as_str())
                .map_err(|_| Error::config(format!("invalid header name {name:?}")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| Error::config(format!("invalid value for header {name}")))?;
            headers.append(name, value);
        }
        let options = self.apply(&client.inner.options);
        let call = Call::chat_with(client.config(), &request, &headers, expect, options, start)?;
        Ok((request, call))
    }

    /// The first request the call sends (what a dry run shows).
    pub(crate) fn first_request(
        &self,
        client: &Client,
        request: ChatRequest,
        expect: Expect,
    ) -> Result<http::Request<Bytes>> {
        let start = Start {
            now: Duration::ZERO,
            wall_clock: std::time::SystemTime::UNIX_EPOCH,
            seed: 0,
        };
        let (_, mut call) = self.machine(client, request, expect, start)?;
        Ok(call
            .poll_transmit()
            .expect("a new call's first attempt is due")
            .request)
    }
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

            /// Another model to try if this one fails in a way another model could fix (it is
            /// missing, the server is down or overloaded, it is rate limited — after its
            /// retries — and nothing of the answer had arrived; see
            /// [`fails_over`](gptproto_proto::failure::fails_over)). Fallbacks are tried in the
            /// order given, under this call's one total deadline; the answer's `model` says
            /// which answered. Not on an invalid request, a content policy, a wrong key.
            pub fn fallback(mut self, model: impl Into<String>) -> Self {
                self.overrides.fallbacks.push(Fallback {
                    client: None,
                    model: model.into(),
                });
                self
            }

            /// A [`fallback`](Self::fallback) on another client: another provider or key
            /// (the model id as that provider names it).
            pub fn fallback_on(mut self, client: &Client, model: impl Into<String>) -> Self {
                self.overrides.fallbacks.push(Fallback {
                    client: Some(client.clone()),
                    model: model.into(),
                });
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

            /// The HTTP request this call sends (its first attempt), validated and built as
            /// the call builds it: what a dry run shows. Its `authorization` header is marked
            /// sensitive.
            pub fn http_request(&self) -> Result<http::Request<Bytes>> {
                self.overrides
                    .first_request(&self.client, self.request.clone(), self.expect())
            }

            /// The call, answering with the response's head too (request id, rate limits,
            /// headers), as openai-python's `with_raw_response`.
            pub fn with_response(self) -> WithResponse<Self> {
                WithResponse(self)
            }
        }
    };
}

/// A chat completion call: await it for the [`ChatCompletion`](crate::ChatCompletion).
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

overrides!(ChatCall);

impl ChatCall {
    /// What the call waits for: the whole completion (a streamed request's folded into one).
    pub(crate) const EXPECT: Expect = Expect::Completion;

    fn expect(&self) -> Expect {
        Self::EXPECT
    }
}

/// A streamed chat completion call: await it for the [`ChatStream`](crate::ChatStream) (once
/// the response head is in; an error status is returned here).
#[derive(Debug)]
#[must_use = "a call does nothing until awaited"]
pub struct ChatStreamCall {
    pub(crate) client: Client,
    /// The request, asking to stream.
    pub(crate) request: ChatRequest,
    pub(crate) overrides: Overrides,
}

overrides!(ChatStreamCall);

impl ChatStreamCall {
    /// What the call waits for: the stream of the request's choices.
    pub(crate) fn expect(&self) -> Expect {
        Expect::Stream {
            choices: self.request.n.unwrap_or(1),
        }
    }
}

/// A call that answers with its response's head: `call.with_response().await` gives
/// `(answer, ResponseMeta)`.
#[derive(Debug)]
#[must_use = "a call does nothing until awaited"]
pub struct WithResponse<C>(pub(crate) C);
