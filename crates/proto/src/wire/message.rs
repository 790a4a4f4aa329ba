//! [`Message`]: one turn of the conversation, as sent in a request and as answered.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::content::Content;
use super::extra::Extra;
use super::lenient;
use super::open_enum::open_enum;

open_enum! {
    /// Who a message is from.
    pub enum Role {
        /// Instructions to the model (older models).
        System = "system",
        /// Instructions to the model (newer models' name for `system`).
        Developer = "developer",
        /// The user.
        User = "user",
        /// The model.
        Assistant = "assistant",
        /// A tool's result.
        Tool = "tool",
        /// A function's result (deprecated function calling).
        Function = "function",
    }
}

#[expect(clippy::derivable_impls, reason = "open_enum! owns the derive list")]
impl Default for Role {
    fn default() -> Self {
        Self::Assistant
    }
}

/// One message of a conversation: what requests carry in `messages` and what a response's
/// choice carries in `message` (so an answer can be appended to the next request as is).
///
/// ```
/// use gptproto_proto::wire::{Message, Role};
///
/// let message = Message::user("who are you?");
/// assert_eq!(message.role, Role::User);
/// assert_eq!(
///     serde_json::to_string(&message)?,
///     r#"{"role":"user","content":"who are you?"}"#
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Message {
    /// Who the message is from.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub role: Role,
    /// The content; `None` for an assistant message that only calls tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    /// A participant name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The model's refusal, when it refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// Reasoning text as DashScope/Qwen and DeepSeek send it. DeepSeek wants it back in the
    /// next turn, so it is kept when the message is appended to a request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Reasoning text as vLLM and Ollama send it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// The tools the assistant calls.
    #[serde(
        default,
        deserialize_with = "lenient::one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tool_calls: Vec<ToolCall>,
    /// For a tool message: the id of the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Deprecated function calling: the function the assistant calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCall>,
    /// Audio output of the assistant (`{"id":..}` to refer to it in a later turn).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<Value>,
    /// Annotations of the answer, such as URL citations from web search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Vec<Value>>,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

impl Message {
    /// A message with `role` and `content`.
    pub fn new(role: Role, content: impl Into<Content>) -> Self {
        Self {
            role,
            content: Some(content.into()),
            ..Self::default()
        }
    }

    /// A system message.
    pub fn system(content: impl Into<Content>) -> Self {
        Self::new(Role::System, content)
    }

    /// A developer message.
    pub fn developer(content: impl Into<Content>) -> Self {
        Self::new(Role::Developer, content)
    }

    /// A user message (text, or parts for images, audio and files).
    pub fn user(content: impl Into<Content>) -> Self {
        Self::new(Role::User, content)
    }

    /// An assistant message (an earlier answer).
    pub fn assistant(content: impl Into<Content>) -> Self {
        Self::new(Role::Assistant, content)
    }

    /// An assistant message that calls tools.
    pub fn assistant_tool_calls(tool_calls: Vec<ToolCall>) -> Self {
        Self {
            role: Role::Assistant,
            tool_calls,
            ..Self::default()
        }
    }

    /// A tool's result, answering the call with id `tool_call_id`.
    pub fn tool(tool_call_id: impl Into<String>, content: impl Into<Content>) -> Self {
        Self {
            tool_call_id: Some(tool_call_id.into()),
            ..Self::new(Role::Tool, content)
        }
    }

    /// Sets the participant name.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The text of the content (text parts joined), if any.
    pub fn text(&self) -> Option<&str> {
        match &self.content {
            Some(Content::Text(text)) => Some(text),
            Some(Content::Parts(parts)) => parts.iter().find_map(|part| match part {
                super::ContentPart::Text(part) => Some(part.text.as_str()),
                _ => None,
            }),
            None => None,
        }
    }

    /// The reasoning text, under whichever name the server used.
    pub fn reasoning_text(&self) -> Option<&str> {
        self.reasoning_content
            .as_deref()
            .or(self.reasoning.as_deref())
    }
}

open_enum! {
    /// The kind of a tool or tool call.
    pub enum ToolKind {
        /// A function tool.
        Function = "function",
        /// A custom tool (free-form input).
        Custom = "custom",
    }
}

#[expect(clippy::derivable_impls, reason = "open_enum! owns the derive list")]
impl Default for ToolKind {
    fn default() -> Self {
        Self::Function
    }
}

/// A tool call in an assistant message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ToolCall {
    /// The call's id, which the tool message answering it repeats.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub id: String,
    /// The kind of tool called.
    #[serde(
        rename = "type",
        default,
        deserialize_with = "lenient::null_as_default"
    )]
    pub kind: ToolKind,
    /// The function and its arguments.
    #[serde(
        default,
        deserialize_with = "lenient::null_as_default",
        skip_serializing_if = "FunctionCall::is_empty"
    )]
    pub function: FunctionCall,
    /// Fields this version does not know (a custom tool's `custom` among them), kept as sent.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

impl ToolCall {
    /// A function call.
    pub fn function(
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            kind: ToolKind::Function,
            function: FunctionCall {
                name: name.into(),
                arguments: arguments.into(),
                extra: Extra::new(),
            },
            extra: Extra::new(),
        }
    }
}

/// A function's name and its arguments as JSON text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct FunctionCall {
    /// The function's name.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub name: String,
    /// The arguments, a JSON object as text (as the model wrote it: it may not be valid JSON).
    /// Servers that send an object here get it kept as its JSON text.
    #[serde(default, deserialize_with = "lenient::arguments")]
    pub arguments: String,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

impl FunctionCall {
    /// Whether name, arguments and extra fields are all empty.
    pub fn is_empty(&self) -> bool {
        self.name.is_empty() && self.arguments.is_empty() && self.extra.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tolerant_assistant_message() {
        let message: Message = serde_json::from_value(json!({
            "role": "assistant",
            "content": null,
            "reasoning_content": "",
            "reasoning": "thinking",
            "tool_calls": {"id": "call_1", "type": "function",
                           "function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
            "x_vendor": 1
        }))
        .unwrap();
        assert_eq!(message.content, None);
        assert_eq!(message.reasoning_text(), Some(""));
        assert_eq!(message.tool_calls.len(), 1);
        assert_eq!(
            message.tool_calls[0].function.arguments,
            r#"{"city":"Paris"}"#
        );
        assert_eq!(message.extra["x_vendor"], 1);
    }

    #[test]
    fn unknown_role_is_kept() {
        let message: Message =
            serde_json::from_value(json!({"role": "ipython", "content": "x"})).unwrap();
        assert_eq!(message.role, Role::Other("ipython".into()));
        assert_eq!(serde_json::to_value(&message).unwrap()["role"], "ipython");
    }

    #[test]
    fn tool_message_serializes_its_call_id() {
        let json = serde_json::to_value(Message::tool("call_1", "22C")).unwrap();
        assert_eq!(
            json,
            json!({"role": "tool", "content": "22C", "tool_call_id": "call_1"})
        );
    }
}
