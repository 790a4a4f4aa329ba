//! [`ChatCompletionChunk`]: one event of a streamed answer.
//!
//! Its strings are [`Text`]: when decoded by [`ChatCompletionChunk::from_json`] (what the stream
//! decoder uses) they are slices of the event's buffer, not copies. Parts that few chunks carry
//! (usage, logprobs, moderation, a deprecated function call) are boxed, which keeps the chunk
//! small to move and cheap to drop.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::extra::Extra;
use super::lenient;
use super::message::{Role, ToolKind};
use super::request::ServiceTier;
use super::response::{FinishReason, Logprobs, ObjectKind, Usage};
use crate::Text;

/// A streamed chunk: deltas for some choices, and usage in the last one when asked for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ChatCompletionChunk {
    /// The completion's id (the same on every chunk).
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub id: Text,
    /// `chat.completion.chunk` (some servers say otherwise; kept as sent).
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub object: ObjectKind,
    /// Unix time (seconds) of creation.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub created: u64,
    /// The model that answers.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub model: Text,
    /// Deltas, one per choice that moved; empty in a usage-only chunk.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub choices: Vec<ChunkChoice>,
    /// Token usage: in a last chunk when `stream_options.include_usage` is set, or on every
    /// chunk from some servers (vLLM's continuous usage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Box<Usage>>,
    /// The backend configuration fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<Text>,
    /// The tier that processes the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<ServiceTier>,
    /// Padding against length side channels (OpenAI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub obfuscation: Option<Text>,
    /// Moderation results, when moderated completions were requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderation: Option<Box<Value>>,
    /// Fields this version does not know (`timings`, `x_groq`, ...), kept as sent.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

impl ChatCompletionChunk {
    /// The content delta of the first choice, if this chunk carries one.
    pub fn text(&self) -> Option<&str> {
        self.choices.first()?.delta.content.as_deref()
    }
}

/// A choice's delta within a chunk.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ChunkChoice {
    /// The choice's index.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub index: u32,
    /// What is new.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub delta: Delta,
    /// Set on the choice's last chunk.
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
    /// Log probabilities of the delta's tokens, when requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Box<Logprobs>>,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// What a chunk adds to a choice's message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Delta {
    /// The role, usually only on the first chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Text to append to the content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Text>,
    /// Text to append to the refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Text>,
    /// Reasoning text as DashScope/Qwen and DeepSeek send it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<Text>,
    /// Reasoning text as vLLM and Ollama send it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<Text>,
    /// Tool-call fragments, keyed by their `index`.
    #[serde(
        default,
        deserialize_with = "lenient::one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tool_calls: Vec<ToolCallDelta>,
    /// Deprecated function calling: a fragment of the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<Box<FunctionCallDelta>>,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

impl Delta {
    /// The reasoning text, under whichever name the server used.
    pub fn reasoning_text(&self) -> Option<&str> {
        self.reasoning_content
            .as_deref()
            .or(self.reasoning.as_deref())
    }
}

/// A fragment of a tool call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ToolCallDelta {
    /// Which call this fragment belongs to. Some servers (Gemini) leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// The call's id (some servers repeat it on every fragment, or send `""`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Text>,
    /// The kind of tool.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ToolKind>,
    /// The function's name and a piece of its arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionCallDelta>,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// A fragment of a function call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct FunctionCallDelta {
    /// The function's name (set once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Text>,
    /// A piece of the arguments' JSON text, to append.
    #[serde(
        default,
        deserialize_with = "lenient::optional_arguments",
        skip_serializing_if = "Option::is_none"
    )]
    pub arguments: Option<Text>,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}
