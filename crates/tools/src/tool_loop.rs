//! [`ToolLoop`]: the tool-call loop as a sans-IO state machine. It says what to send, takes
//! the answers, and says which tools to run; you do the sending and the running (the
//! `gptproto` facade's `run_tools` does both with its client).

use gptproto_proto::wire::{ChatCompletion, ChatRequest, Message, ToolCall};

use crate::error::{Error, ErrorKind};
use crate::router::{Router, ToolOutput};

/// What to do after an answer.
///
/// Closed on purpose: a driver matches every step, and a new kind of step would be a new
/// duty for every driver (a breaking change, made in a major release), not a runtime surprise.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Run these calls (ids given to those that had none), hand the outputs to
    /// [`ToolLoop::tool_outputs`], then send [`ToolLoop::request`] again.
    CallTools(Vec<ToolCall>),
    /// The model answered without calling tools: this is the final answer.
    Done(Box<ChatCompletion>),
}

/// The conversation of a tool-call loop: send [`request`](Self::request), give the answer to
/// [`answer`](Self::answer), run the calls it returns, give their outputs to
/// [`tool_outputs`](Self::tool_outputs), and again, until [`Step::Done`].
///
/// ```
/// use gptproto_proto::ChatRequest;
/// use gptproto_proto::wire::ChatCompletion;
/// use gptproto_tools::{Router, Step, ToolLoop};
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Add { a: i64, b: i64 }
///
/// let router = Router::new().function("add", "Adds two numbers", |args: Add| async move {
///     Ok::<_, String>(args.a + args.b)
/// })?;
/// let mut tool_loop = ToolLoop::new(ChatRequest::new("qwen-turbo").user("2 + 3?"), &router, 5);
/// assert_eq!(tool_loop.request().tools.len(), 1); // the router's tools were added
///
/// // The server's answers, as your transport received them.
/// let calls: ChatCompletion = serde_json::from_str(r#"{"choices":[{"index":0,"finish_reason":"tool_calls",
///   "message":{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function",
///   "function":{"name":"add","arguments":"{\"a\":2,\"b\":3}"}}]}}]}"#)?;
/// let Step::CallTools(mut calls) = tool_loop.answer(calls, &router)? else { unreachable!() };
/// let outputs = futures::executor::block_on(router.run(&mut calls, tool_loop.parallel()));
/// tool_loop.tool_outputs(&outputs);
/// assert_eq!(tool_loop.request().messages.last().unwrap().text(), Some("5"));
///
/// let text: ChatCompletion = serde_json::from_str(r#"{"choices":[{"index":0,"finish_reason":"stop",
///   "message":{"role":"assistant","content":"5"}}]}"#)?;
/// assert!(matches!(tool_loop.answer(text.clone(), &router)?, Step::Done(_)));
/// assert_eq!(tool_loop.messages().len(), 4); // user, assistant calls, tool result, answer
///
/// // The loop is over: another answer is an error (in every build), not a panic.
/// let late = tool_loop.answer(text, &router).unwrap_err();
/// assert!(matches!(late.kind(), gptproto_tools::ErrorKind::Finished));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ToolLoop {
    request: ChatRequest,
    max_rounds: u32,
    rounds: u32,
    done: bool,
}

impl ToolLoop {
    /// A loop sending `request` (given `router`'s tools when it has none) at most `max_rounds`
    /// times.
    pub fn new(mut request: ChatRequest, router: &Router, max_rounds: u32) -> Self {
        if request.tools.is_empty() {
            request.tools = router.tools();
        }
        Self {
            request,
            max_rounds,
            rounds: 0,
            done: false,
        }
    }

    /// The request to send next.
    pub fn request(&self) -> &ChatRequest {
        &self.request
    }

    /// Whether the calls of one answer may run at once (`parallel_tool_calls` is not `false`).
    pub fn parallel(&self) -> bool {
        self.request.parallel_tool_calls != Some(false)
    }

    /// The answers received so far.
    pub fn rounds(&self) -> u32 {
        self.rounds
    }

    /// The whole conversation: the request's messages, the assistant's tool calls, the tool
    /// results and, once done, the final answer.
    pub fn messages(&self) -> &[Message] {
        &self.request.messages
    }

    /// Takes the answer to [`request`](Self::request): the final answer, or the tool calls to
    /// run. The first choice is followed. An answer still calling tools in the last round
    /// allowed is [`ErrorKind::MaxRounds`].
    ///
    /// An answer after the final one is [`ErrorKind::Finished`] (the same in every build).
    pub fn answer(&mut self, answer: ChatCompletion, router: &Router) -> Result<Step, Error> {
        if self.done {
            return Err(Error::new(ErrorKind::Finished));
        }
        self.rounds += 1;
        let choice = answer
            .choices
            .first()
            .ok_or_else(|| Error::new(ErrorKind::NoChoice))?;
        let mut message = choice.message.clone();
        if message.tool_calls.is_empty() {
            self.request.messages.push(message);
            self.done = true;
            return Ok(Step::Done(Box::new(answer)));
        }
        if self.rounds >= self.max_rounds {
            return Err(Error::new(ErrorKind::MaxRounds {
                rounds: self.max_rounds,
                called: message
                    .tool_calls
                    .iter()
                    .map(|call| call.function.name.clone())
                    .collect(),
            }));
        }
        router.assign_missing_ids(&mut message.tool_calls);
        let calls = message.tool_calls.clone();
        self.request.messages.push(message);
        Ok(Step::CallTools(calls))
    }

    /// Adds the tool messages answering the last calls (in call order), for the next request.
    pub fn tool_outputs(&mut self, outputs: &[ToolOutput]) {
        self.request
            .messages
            .extend(outputs.iter().map(ToolOutput::message));
    }

    /// The conversation, once done.
    pub fn into_messages(self) -> Vec<Message> {
        self.request.messages
    }
}
