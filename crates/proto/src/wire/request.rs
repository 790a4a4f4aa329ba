//! [`ChatRequest`]: the body of `POST /v1/chat/completions`, with a builder that reads like it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::content::Content;
use super::extra::Extra;
use super::lenient;
use super::message::Message;
use super::open_enum::open_enum;
use super::tool::{ResponseFormat, Tool, ToolChoice};

/// A chat-completion request: every parameter of GPTProto's API and of OpenAI's, Qwen's
/// extensions, and [`extra`](Self::extra) for anything else.
///
/// Build it the way it reads:
///
/// ```
/// use gptproto_proto::ChatRequest;
///
/// let request = ChatRequest::new("qwen-turbo")
///     .system("You are a helpful assistant.")
///     .user("who are you?")
///     .max_tokens(256)
///     .temperature(0.7)
///     .stream(true);
/// request.validate()?;
/// let json = serde_json::to_value(&request).unwrap();
/// assert_eq!(json["messages"][1]["content"], "who are you?");
/// assert_eq!(json["stream_options"]["include_usage"], true);
/// # Ok::<(), gptproto_proto::Error>(())
/// ```
///
/// Unset parameters are left out of the body, so the server's defaults apply. Validation
/// ([`validate`](Self::validate)) catches what a server would reject, naming the field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ChatRequest {
    /// The model id, e.g. `qwen-turbo`.
    #[serde(default)]
    pub model: String,
    /// The conversation so far.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub messages: Vec<Message>,
    /// Upper bound on generated tokens (input plus output is limited by the model's context).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Upper bound on generated tokens including reasoning tokens (OpenAI's newer name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    /// How many choices to generate (GPTProto: 1 to 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Sampling temperature, 0 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Sequences where generation stops (up to 4 on OpenAI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// Seed for best-effort deterministic sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Frequency penalty, -2 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// Presence penalty, -2 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// Token id (as a string) to bias, -100 to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logit_bias: Option<BTreeMap<String, i32>>,
    /// Return log probabilities of the output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<bool>,
    /// How many most likely tokens to return at each position, 0 to 20 (needs `logprobs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<u8>,
    /// Text, JSON object, or JSON following a schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// Tools the model may call.
    #[serde(
        default,
        deserialize_with = "lenient::null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tools: Vec<Tool>,
    /// Which tool the model calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Whether the model may call several tools in one turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// Stream the answer as Server-Sent Events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Options of a streamed answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// An end-user identifier (deprecated by OpenAI for `safety_identifier` and `prompt_cache_key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// A stable identifier of the end user, for abuse detection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safety_identifier: Option<String>,
    /// Groups similar requests for prompt caching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_cache_key: Option<String>,
    /// How long cached prompts are kept (`in_memory`, `24h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_cache_retention: Option<String>,
    /// Prompt-caching options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_cache_options: Option<Value>,
    /// Up to 16 key-value pairs stored with the completion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
    /// The processing tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<ServiceTier>,
    /// Output modalities (`text`, `audio`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modalities: Option<Vec<Modality>>,
    /// Reasoning effort for reasoning models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<ReasoningEffort>,
    /// How verbose the answer is (`low`, `medium`, `high`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verbosity: Option<String>,
    /// Store the completion for distillation or evals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<bool>,
    /// Predicted output, to speed up regeneration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction: Option<Value>,
    /// Audio output parameters (with `modalities: ["audio"]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<Value>,
    /// Web search tool options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_search_options: Option<Value>,
    /// Moderation of input and output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderation: Option<Value>,
    /// Deprecated function calling: which function to call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<Value>,
    /// Deprecated function calling: the functions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub functions: Option<Vec<Value>>,
    /// Qwen: think before answering (open-source Qwen3 then accepts only streamed calls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_thinking: Option<bool>,
    /// Qwen: the most tokens the thinking may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_budget: Option<u32>,
    /// Qwen: search the web before answering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_search: Option<bool>,
    /// Qwen: web search options (`forced_search`, `search_strategy`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_options: Option<Value>,
    /// Any other top-level field, sent as is. A key here must not name one of the typed fields
    /// above ([`validate`](Self::validate) says so); use [`merge_json`](Self::merge_json) to
    /// merge an arbitrary object into the typed fields.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// Options of a streamed answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct StreamOptions {
    /// Send token usage in a last chunk with no choices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
    /// Pad chunks with an `obfuscation` field (OpenAI; on by default there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_obfuscation: Option<bool>,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// Stop sequences: one string or a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum Stop {
    /// One sequence.
    One(String),
    /// Several sequences.
    Many(Vec<String>),
}

impl Stop {
    /// The sequences as a slice.
    pub fn as_slice(&self) -> &[String] {
        match self {
            Self::One(one) => std::slice::from_ref(one),
            Self::Many(many) => many,
        }
    }
}

impl From<&str> for Stop {
    fn from(stop: &str) -> Self {
        Self::One(stop.to_owned())
    }
}

impl From<String> for Stop {
    fn from(stop: String) -> Self {
        Self::One(stop)
    }
}

impl From<Vec<String>> for Stop {
    fn from(stops: Vec<String>) -> Self {
        Self::Many(stops)
    }
}

impl<const N: usize> From<[&str; N]> for Stop {
    fn from(stops: [&str; N]) -> Self {
        Self::Many(stops.iter().map(|&s| s.to_owned()).collect())
    }
}

open_enum! {
    /// Processing tier of a request or a response.
    pub enum ServiceTier {
        /// The project's default.
        Auto = "auto",
        /// Standard processing.
        Default = "default",
        /// Cheaper, slower.
        Flex = "flex",
        /// Scale tier.
        Scale = "scale",
        /// Priority processing.
        Priority = "priority",
        /// Faster processing.
        Fast = "fast",
    }
}

open_enum! {
    /// An output modality.
    pub enum Modality {
        /// Text output.
        Text = "text",
        /// Audio output.
        Audio = "audio",
    }
}

open_enum! {
    /// Reasoning effort for reasoning models.
    pub enum ReasoningEffort {
        /// No reasoning.
        None = "none",
        /// Minimal reasoning.
        Minimal = "minimal",
        /// Low effort.
        Low = "low",
        /// Medium effort.
        Medium = "medium",
        /// High effort.
        High = "high",
        /// Extra-high effort.
        Xhigh = "xhigh",
        /// Maximum effort.
        Max = "max",
    }
}

impl ChatRequest {
    /// A request to `model` with no messages yet.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            ..Self::default()
        }
    }

    /// Appends a message.
    #[must_use]
    pub fn message(mut self, message: Message) -> Self {
        self.messages.push(message);
        self
    }

    /// Appends messages.
    #[must_use]
    pub fn messages(mut self, messages: impl IntoIterator<Item = Message>) -> Self {
        self.messages.extend(messages);
        self
    }

    /// Appends a system message.
    #[must_use]
    pub fn system(self, content: impl Into<Content>) -> Self {
        self.message(Message::system(content))
    }

    /// Appends a developer message.
    #[must_use]
    pub fn developer(self, content: impl Into<Content>) -> Self {
        self.message(Message::developer(content))
    }

    /// Appends a user message (text, or parts for images, audio and files).
    #[must_use]
    pub fn user(self, content: impl Into<Content>) -> Self {
        self.message(Message::user(content))
    }

    /// Appends an assistant message (an earlier answer).
    #[must_use]
    pub fn assistant(self, content: impl Into<Content>) -> Self {
        self.message(Message::assistant(content))
    }

    /// Appends a tool's result for the call `tool_call_id`.
    #[must_use]
    pub fn tool_result(self, tool_call_id: impl Into<String>, content: impl Into<Content>) -> Self {
        self.message(Message::tool(tool_call_id, content))
    }

    /// Sets `max_tokens`.
    #[must_use]
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// Sets `max_completion_tokens`.
    #[must_use]
    pub fn max_completion_tokens(mut self, max_tokens: u32) -> Self {
        self.max_completion_tokens = Some(max_tokens);
        self
    }

    /// Sets `n`, the number of choices.
    #[must_use]
    pub fn n(mut self, n: u32) -> Self {
        self.n = Some(n);
        self
    }

    /// Sets `temperature`.
    #[must_use]
    pub fn temperature(mut self, temperature: f64) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// Sets `top_p`.
    #[must_use]
    pub fn top_p(mut self, top_p: f64) -> Self {
        self.top_p = Some(top_p);
        self
    }

    /// Sets the stop sequences.
    #[must_use]
    pub fn stop(mut self, stop: impl Into<Stop>) -> Self {
        self.stop = Some(stop.into());
        self
    }

    /// Sets `seed`.
    #[must_use]
    pub fn seed(mut self, seed: i64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Sets `frequency_penalty`.
    #[must_use]
    pub fn frequency_penalty(mut self, penalty: f64) -> Self {
        self.frequency_penalty = Some(penalty);
        self
    }

    /// Sets `presence_penalty`.
    #[must_use]
    pub fn presence_penalty(mut self, penalty: f64) -> Self {
        self.presence_penalty = Some(penalty);
        self
    }

    /// Asks for log probabilities, with `top` alternatives per token (0 for none).
    #[must_use]
    pub fn logprobs(mut self, top: u8) -> Self {
        self.logprobs = Some(true);
        self.top_logprobs = (top > 0).then_some(top);
        self
    }

    /// Sets the response format.
    #[must_use]
    pub fn response_format(mut self, format: ResponseFormat) -> Self {
        self.response_format = Some(format);
        self
    }

    /// Adds a tool.
    #[must_use]
    pub fn tool(mut self, tool: Tool) -> Self {
        self.tools.push(tool);
        self
    }

    /// Adds tools.
    #[must_use]
    pub fn tools(mut self, tools: impl IntoIterator<Item = Tool>) -> Self {
        self.tools.extend(tools);
        self
    }

    /// Sets `tool_choice`.
    #[must_use]
    pub fn tool_choice(mut self, choice: ToolChoice) -> Self {
        self.tool_choice = Some(choice);
        self
    }

    /// Sets `parallel_tool_calls`.
    #[must_use]
    pub fn parallel_tool_calls(mut self, parallel: bool) -> Self {
        self.parallel_tool_calls = Some(parallel);
        self
    }

    /// Streams the answer. `true` also asks for usage in the last chunk
    /// (`stream_options.include_usage`), which the accumulator then reports; set
    /// `stream_options` yourself to opt out.
    #[must_use]
    pub fn stream(mut self, stream: bool) -> Self {
        self.stream = Some(stream);
        if stream {
            self.stream_options
                .get_or_insert_with(StreamOptions::default)
                .include_usage
                .get_or_insert(true);
        } else {
            self.stream_options = None;
        }
        self
    }

    /// Sets `user`.
    #[must_use]
    pub fn user_id(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Adds a metadata pair.
    #[must_use]
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata
            .get_or_insert_with(BTreeMap::new)
            .insert(key.into(), value.into());
        self
    }

    /// Sets `service_tier`.
    #[must_use]
    pub fn service_tier(mut self, tier: ServiceTier) -> Self {
        self.service_tier = Some(tier);
        self
    }

    /// Sets `reasoning_effort`.
    #[must_use]
    pub fn reasoning_effort(mut self, effort: ReasoningEffort) -> Self {
        self.reasoning_effort = Some(effort);
        self
    }

    /// Qwen: sets `enable_thinking`.
    #[must_use]
    pub fn enable_thinking(mut self, enable: bool) -> Self {
        self.enable_thinking = Some(enable);
        self
    }

    /// Qwen: sets `thinking_budget`.
    #[must_use]
    pub fn thinking_budget(mut self, tokens: u32) -> Self {
        self.thinking_budget = Some(tokens);
        self
    }

    /// Qwen: sets `enable_search`.
    #[must_use]
    pub fn enable_search(mut self, enable: bool) -> Self {
        self.enable_search = Some(enable);
        self
    }

    /// Adds a top-level field that has no typed setter (a server's own extension).
    #[must_use]
    pub fn extra(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }

    /// Merges a JSON object into the request, field by field: known fields replace the typed
    /// values, others go to [`extra`](Self::extra). Like the official SDKs' `extra_body`.
    ///
    /// ```
    /// use gptproto_proto::ChatRequest;
    /// use serde_json::json;
    ///
    /// let request = ChatRequest::new("qwen-plus")
    ///     .user("hi")
    ///     .merge_json(json!({"enable_thinking": true, "temperature": 0.2, "top_k": 20}))?;
    /// assert_eq!(request.enable_thinking, Some(true));
    /// assert_eq!(request.temperature, Some(0.2));
    /// assert_eq!(request.extra["top_k"], 20);
    /// # Ok::<(), gptproto_proto::Error>(())
    /// ```
    pub fn merge_json(self, fields: Value) -> Result<Self, crate::Error> {
        let Value::Object(fields) = fields else {
            return Err(crate::Error::validation(
                "extra",
                "extra fields must be a JSON object",
            ));
        };
        let Value::Object(mut merged) = serde_json::to_value(&self).map_err(|error| {
            crate::Error::validation("extra", format!("request does not serialize: {error}"))
        })?
        else {
            unreachable!("a struct serializes to an object");
        };
        for (key, value) in fields {
            merged.insert(key, value);
        }
        serde_json::from_value(Value::Object(merged)).map_err(|error| {
            crate::Error::validation("extra", format!("does not fit the request: {error}"))
        })
    }

    /// Whether the answer is streamed.
    pub fn is_stream(&self) -> bool {
        self.stream == Some(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn gptproto_example_request_decodes() {
        let request: ChatRequest = serde_json::from_value(json!({
            "model": "qwen-turbo",
            "messages": [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": [{"type": "text", "text": "who are you?"}]}
            ]
        }))
        .unwrap();
        assert_eq!(request.messages.len(), 2);
        assert_eq!(request.messages[1].text(), Some("who are you?"));
    }

    #[test]
    fn unset_fields_are_left_out_and_extra_is_top_level() {
        let request = ChatRequest::new("m").user("x").extra("top_k", 5);
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "top_k": 5})
        );
    }

    #[test]
    fn stream_false_drops_stream_options() {
        let request = ChatRequest::new("m").stream(true).stream(false);
        assert_eq!(request.stream_options, None);
    }

    #[test]
    fn merge_json_rejects_type_mismatch_naming_the_problem() {
        let error = ChatRequest::new("m")
            .merge_json(json!({"temperature": "hot"}))
            .unwrap_err();
        assert!(error.to_string().contains("extra"), "{error}");
        assert!(ChatRequest::new("m").merge_json(json!([1])).is_err());
    }
}
