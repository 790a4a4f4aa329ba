//! [`Router`]: typed async handlers by tool name, run for an assistant message's tool calls.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use gptproto_proto::wire::{Message, Tool, ToolCall};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorKind};
use crate::schema::{function, strict_function};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A registered handler: the arguments' JSON text in, the tool message's content out.
type Handler = Arc<dyn Fn(&str) -> BoxFuture<(ToolStatus, String)> + Send + Sync>;

/// Tools and their handlers, by name.
///
/// Register async handlers taking their arguments as a typed `T` (its JSON Schema, from
/// schemars, becomes the tool's `parameters`); then [`run`](Self::run) the tool calls of an
/// assistant message and send back the tool messages it returns, in call order.
///
/// ```
/// use gptproto_tools::Router;
/// use gptproto_proto::wire::ToolCall;
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct GetWeather {
///     /// The city, e.g. Paris.
///     city: String,
/// }
///
/// let router = Router::new().function(
///     "get_weather",
///     "Current weather in a city",
///     |args: GetWeather| async move {
///         Ok::<_, std::io::Error>(serde_json::json!({"city": args.city, "temp_c": 18}))
///     },
/// )?;
///
/// let mut calls = vec![ToolCall::function("call_1", "get_weather", r#"{"city":"Paris"}"#)];
/// let outputs = futures::executor::block_on(router.run(&mut calls, true));
/// assert_eq!(outputs[0].content, r#"{"city":"Paris","temp_c":18}"#);
/// assert_eq!(outputs[0].message().tool_call_id.as_deref(), Some("call_1"));
/// # Ok::<(), gptproto_tools::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct Router {
    /// In the order registered; a name is looked up by scanning (routers hold a few tools).
    tools: Vec<(Tool, Handler)>,
    /// Numbers the ids given to calls that came without one.
    next_call: Arc<AtomicU64>,
}

/// What a tool's handler is: an `async` function (or closure) from the arguments to
/// `Result<impl Serialize, impl Display>`. Implemented for every such function; you do not
/// implement it.
pub trait ToolHandler<T>: Fn(T) -> Self::Future + Send + Sync + 'static {
    /// The handler's future.
    type Future: Future<Output = Result<Self::Value, Self::Error>> + Send + 'static;
    /// The result, sent to the model as JSON (a string as is).
    type Value: Serialize;
    /// The error, sent to the model as its message.
    type Error: fmt::Display;
}

impl<T, F, Fut, R, E> ToolHandler<T> for F
where
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, E>> + Send + 'static,
    R: Serialize,
    E: fmt::Display,
{
    type Future = Fut;
    type Value = R;
    type Error = E;
}

/// How a tool call went; the content sent back says the same to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ToolStatus {
    /// The handler ran and its result is the content.
    Ok,
    /// The arguments did not parse into the handler's type; the content quotes serde's error.
    BadArguments,
    /// No tool has that name; the content lists the available ones.
    UnknownTool,
    /// The handler returned an error; the content is its message.
    Failed,
}

/// The result of one tool call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    /// The call's id (generated when the call came without one).
    pub call_id: String,
    /// The tool called.
    pub name: String,
    /// What the model is told: the result as JSON text (a string result as is), or the error.
    pub content: String,
    /// How it went.
    pub status: ToolStatus,
}

impl ToolOutput {
    /// The `tool` message answering the call.
    pub fn message(&self) -> Message {
        Message::tool(self.call_id.clone(), self.content.clone())
    }
}

impl Router {
    /// No tools.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `handler` as the function tool `name` (see [`function`](crate::function)):
    /// a call's arguments are parsed into `T` and the `Ok` value, serialized, is the result.
    /// An `Err` goes back to the model as the tool's content, so it can correct itself.
    pub fn function<T, F>(self, name: &str, description: &str, handler: F) -> Result<Self, Error>
    where
        T: DeserializeOwned + JsonSchema + Send + 'static,
        F: ToolHandler<T>,
    {
        let tool = function::<T>(name, description)?;
        self.register(tool, handler)
    }

    /// As [`function`](Self::function), with the tool in strict mode (see
    /// [`strict_function`](crate::strict_function)).
    pub fn strict_function<T, F>(
        self,
        name: &str,
        description: &str,
        handler: F,
    ) -> Result<Self, Error>
    where
        T: DeserializeOwned + JsonSchema + Send + 'static,
        F: ToolHandler<T>,
    {
        let tool = strict_function::<T>(name, description)?;
        self.register(tool, handler)
    }

    fn register<T, F>(mut self, tool: Tool, handler: F) -> Result<Self, Error>
    where
        T: DeserializeOwned + Send + 'static,
        F: ToolHandler<T>,
    {
        let tool_name = tool.function.name.clone();
        if self.handler(&tool_name).is_some() {
            return Err(Error::new(ErrorKind::DuplicateTool { name: tool_name }));
        }
        let handler = Arc::new(handler);
        let erased: Handler = Arc::new(move |arguments: &str| {
            // Models send "" for a function without parameters.
            let arguments = if arguments.trim().is_empty() {
                "{}"
            } else {
                arguments
            };
            let parsed = gptproto_proto::parse::from_model_json::<T>(arguments);
            let handler = Arc::clone(&handler);
            let name = tool_name.clone();
            Box::pin(async move {
                let args = match parsed {
                    Ok(args) => args,
                    Err(error) => {
                        return (
                            ToolStatus::BadArguments,
                            format!("error: the arguments of {name} are invalid: {error}"),
                        );
                    }
                };
                match handler(args).await {
                    Ok(result) => match serde_json::to_value(&result) {
                        Ok(serde_json::Value::String(text)) => (ToolStatus::Ok, text),
                        Ok(value) => (ToolStatus::Ok, value.to_string()),
                        Err(error) => (
                            ToolStatus::Failed,
                            format!("error: the result of {name} did not serialize: {error}"),
                        ),
                    },
                    Err(error) => (ToolStatus::Failed, format!("error: {error}")),
                }
            })
        });
        self.tools.push((tool, erased));
        Ok(self)
    }

    fn handler(&self, name: &str) -> Option<&Handler> {
        self.tools
            .iter()
            .find(|(tool, _)| tool.function.name == name)
            .map(|(_, handler)| handler)
    }

    /// The `tools[]` entries, in the order registered.
    pub fn tools(&self) -> Vec<Tool> {
        self.tools.iter().map(|(tool, _)| tool.clone()).collect()
    }

    /// The tool names, in the order registered.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tools
            .iter()
            .map(|(tool, _)| tool.function.name.as_str())
    }

    /// Gives an id to each call without one, in place, so that the assistant message sent back
    /// and the tool messages agree.
    pub fn assign_missing_ids(&self, calls: &mut [ToolCall]) {
        for call in calls.iter_mut().filter(|call| call.id.is_empty()) {
            let n = self.next_call.fetch_add(1, Ordering::Relaxed);
            call.id = format!("call_gptproto_{n}");
        }
    }

    /// Runs `calls` (first giving ids to calls without one, see
    /// [`assign_missing_ids`](Self::assign_missing_ids)), all at once when `parallel`, else
    /// one after the other, and returns their outputs in call order. Never fails: what goes
    /// wrong is told to the model in the output's content and to you in its `status`.
    pub async fn run(&self, calls: &mut [ToolCall], parallel: bool) -> Vec<ToolOutput> {
        self.assign_missing_ids(calls);
        let pending: Vec<_> = calls.iter().map(|call| self.call(call)).collect();
        let results = if parallel {
            futures_util::future::join_all(pending).await
        } else {
            let mut results = Vec::with_capacity(pending.len());
            for call in pending {
                results.push(call.await);
            }
            results
        };
        calls
            .iter()
            .zip(results)
            .map(|(call, (status, content))| ToolOutput {
                call_id: call.id.clone(),
                name: call.function.name.clone(),
                content,
                status,
            })
            .collect()
    }

    fn call(&self, call: &ToolCall) -> BoxFuture<(ToolStatus, String)> {
        let name = &call.function.name;
        match self.handler(name) {
            Some(handler) => handler(&call.function.arguments),
            None => {
                let available = if self.tools.is_empty() {
                    "there are none".to_owned()
                } else {
                    let names: Vec<&str> = self.names().collect();
                    format!("the available tools are: {}", names.join(", "))
                };
                let content = format!("error: there is no tool named {name:?}; {available}");
                Box::pin(async move { (ToolStatus::UnknownTool, content) })
            }
        }
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.names().collect();
        f.debug_struct("Router").field("tools", &names).finish()
    }
}
