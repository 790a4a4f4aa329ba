//! Function tools and structured outputs: everything of [`gptproto_tools`] (schemas from your
//! types, the [`Router`], the sans-IO [`ToolLoop`]) and the loop driven by a [`Client`]:
//! [`run_tools`] and [`run_tools_streaming`].
//!
//! ```no_run
//! use gptproto::tools::{self, Router};
//! use gptproto::{ChatRequest, Client};
//!
//! /// The current weather in a city.
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct GetWeather {
//!     /// The city, e.g. Paris.
//!     city: String,
//! }
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::new()?;
//! let router = Router::new().function("get_weather", "", |args: GetWeather| async move {
//!     Ok::<_, std::io::Error>(serde_json::json!({"city": args.city, "temp_c": 18}))
//! })?;
//! let request = ChatRequest::new("qwen-turbo").user("Is it warm in Paris?");
//! let run = tools::run_tools(&client, request, &router, 5).await?;
//! println!("{}", run.completion.text().unwrap_or_default());
//! # Ok(())
//! # }
//! ```

/// `docs/tools.md`'s examples, compiled and run.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/tools.md")]
struct ToolsGuideDoctests;

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_util::StreamExt;
use gptproto_proto::wire::{ChatCompletion, ChatRequest, Message, ToolCall};

pub use gptproto_tools::{
    Error, ErrorKind, Router, Step, ToolHandler, ToolLoop, ToolOutput, ToolStatus, function,
    loose_response_format, response_format, schema_for, strict_function,
};

use crate::client::Client;
use crate::stream::ChatStream;

/// A finished tool-call loop.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ToolRun {
    /// The final answer (the model called no tool).
    pub completion: ChatCompletion,
    /// The whole conversation: the request's messages, each round's assistant tool calls and
    /// tool results, and the final answer.
    pub messages: Vec<Message>,
    /// How many requests were sent.
    pub rounds: u32,
}

/// What happens during [`run_tools_streaming`], as it happens.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ToolEvent {
    /// Text of the answer, as it arrives (the first choice's).
    Text(String),
    /// Reasoning text, as it arrives (servers that send it).
    Reasoning(String),
    /// A round's tool calls, whole (ids given where missing), before they run.
    ToolCalls(Vec<ToolCall>),
    /// A tool's result, as sent back to the model.
    ToolOutput(ToolOutput),
    /// The loop is over.
    Done(Box<ToolRun>),
}

/// Sends `request` (with `router`'s tools when it has none), runs the tools the model calls
/// (at once, unless `parallel_tool_calls` is `false`), appends the assistant message and the
/// results, and sends again until the model answers without calling tools. At most
/// `max_rounds` requests: an answer still calling tools then is an error saying so
/// ([`Error::is_max_rounds`](crate::Error::is_max_rounds)).
pub async fn run_tools(
    client: &Client,
    request: ChatRequest,
    router: &Router,
    max_rounds: u32,
) -> crate::Result<ToolRun> {
    let mut tool_loop = ToolLoop::new(request, router, max_rounds);
    loop {
        let answer = client.chat(tool_loop.request().clone()).await?;
        match tool_loop.answer(answer, router)? {
            Step::Done(completion) => return Ok(finish(tool_loop, *completion)),
            Step::CallTools(mut calls) => {
                let outputs = router.run(&mut calls, tool_loop.parallel()).await;
                tool_loop.tool_outputs(&outputs);
            }
        }
    }
}

/// [`run_tools`] with every request streamed: a stream of [`ToolEvent`]s (text deltas, each
/// round's tool calls, each result) ending with [`ToolEvent::Done`]. An error ends the stream.
/// Nothing runs until the stream is polled; dropping it stops the loop.
pub fn run_tools_streaming(
    client: &Client,
    request: ChatRequest,
    router: Router,
    max_rounds: u32,
) -> ToolEvents {
    let runner = Runner {
        client: client.clone(),
        tool_loop: ToolLoop::new(request, &router, max_rounds),
        router,
        state: State::Send,
        events: VecDeque::new(),
    };
    ToolEvents {
        inner: Box::pin(futures_util::stream::unfold(
            runner,
            |mut runner| async move {
                let item = runner.next_event().await?;
                Some((item, runner))
            },
        )),
    }
}

/// The events of [`run_tools_streaming`]: a `Stream` (and `Unpin`, so `.next().await` works).
pub struct ToolEvents {
    inner: Pin<Box<dyn Stream<Item = crate::Result<ToolEvent>> + Send>>,
}

impl Stream for ToolEvents {
    type Item = crate::Result<ToolEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl std::fmt::Debug for ToolEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolEvents").finish_non_exhaustive()
    }
}

fn finish(tool_loop: ToolLoop, completion: ChatCompletion) -> ToolRun {
    let rounds = tool_loop.rounds();
    ToolRun {
        completion,
        messages: tool_loop.into_messages(),
        rounds,
    }
}

/// The state of [`run_tools_streaming`].
struct Runner {
    client: Client,
    router: Router,
    tool_loop: ToolLoop,
    state: State,
    events: VecDeque<ToolEvent>,
}

enum State {
    /// Send the loop's request next.
    Send,
    /// Read this answer.
    Streaming(Box<ChatStream>),
    /// Run these calls next (their event has been queued).
    CallTools(Vec<ToolCall>),
    /// Over: done or failed.
    Finished,
}

impl Runner {
    async fn next_event(&mut self) -> Option<crate::Result<ToolEvent>> {
        loop {
            if let Some(event) = self.events.pop_front() {
                return Some(Ok(event));
            }
            match self.step().await {
                Ok(true) => {}
                Ok(false) => return None,
                Err(error) => {
                    self.state = State::Finished;
                    return Some(Err(error));
                }
            }
        }
    }

    /// Moves the loop on, queueing events; `false` once over.
    async fn step(&mut self) -> crate::Result<bool> {
        match &mut self.state {
            State::Finished => return Ok(false),
            State::Send => {
                let request = self.tool_loop.request().clone();
                let stream = self.client.chat_stream(request).await?;
                self.state = State::Streaming(Box::new(stream));
            }
            State::Streaming(stream) => match stream.next().await {
                Some(chunk) => {
                    let chunk = chunk?;
                    if let Some(choice) = chunk.choices.iter().find(|choice| choice.index == 0) {
                        let delta = &choice.delta;
                        if let Some(reasoning) =
                            delta.reasoning_text().filter(|text| !text.is_empty())
                        {
                            self.events
                                .push_back(ToolEvent::Reasoning(reasoning.to_owned()));
                        }
                        if let Some(text) = delta.content.as_deref().filter(|text| !text.is_empty())
                        {
                            self.events.push_back(ToolEvent::Text(text.to_owned()));
                        }
                    }
                }
                None => {
                    // The stream ended cleanly (an early end is an error above): whole.
                    let answer = stream.snapshot();
                    match self.tool_loop.answer(answer, &self.router)? {
                        Step::Done(completion) => {
                            let run = ToolRun {
                                completion: *completion,
                                messages: self.tool_loop.messages().to_vec(),
                                rounds: self.tool_loop.rounds(),
                            };
                            self.events.push_back(ToolEvent::Done(Box::new(run)));
                            self.state = State::Finished;
                        }
                        Step::CallTools(calls) => {
                            self.events.push_back(ToolEvent::ToolCalls(calls.clone()));
                            self.state = State::CallTools(calls);
                        }
                    }
                }
            },
            State::CallTools(calls) => {
                let outputs = self.router.run(calls, self.tool_loop.parallel()).await;
                self.tool_loop.tool_outputs(&outputs);
                self.events
                    .extend(outputs.into_iter().map(ToolEvent::ToolOutput));
                self.state = State::Send;
            }
        }
        Ok(true)
    }
}

impl Client {
    /// [`run_tools`] with this client.
    pub async fn run_tools(
        &self,
        request: ChatRequest,
        router: &Router,
        max_rounds: u32,
    ) -> crate::Result<ToolRun> {
        run_tools(self, request, router, max_rounds).await
    }

    /// [`run_tools_streaming`] with this client.
    pub fn run_tools_streaming(
        &self,
        request: ChatRequest,
        router: Router,
        max_rounds: u32,
    ) -> ToolEvents {
        run_tools_streaming(self, request, router, max_rounds)
    }
}
