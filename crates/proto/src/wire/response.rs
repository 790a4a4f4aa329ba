//! [`ChatCompletion`]: a non-streamed answer, or a streamed one once accumulated.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::extra::Extra;
use super::lenient;
use super::message::Message;
use super::open_enum::open_enum;
use super::request::ServiceTier;

open_enum! {
    /// Why the model stopped. Servers add their own (`eos`, `error`, ...), kept as `Other`.
    pub enum FinishReason {
        /// A natural stop or a stop sequence.
        Stop = "stop",
        /// `max_tokens` or the context length was reached.
        Length = "length",
        /// The model called tools.
        ToolCalls = "tool_calls",
        /// Content was withheld by a content filter.
        ContentFilter = "content_filter",
        /// The model called a function (deprecated).
        FunctionCall = "function_call",
    }
}

open_enum! {
    /// The `object` of a response.
    pub enum ObjectKind {
        /// A non-streamed completion.
        ChatCompletion = "chat.completion",
        /// A streamed chunk.
        ChatCompletionChunk = "chat.completion.chunk",
    }
}

#[expect(clippy::derivable_impls, reason = "open_enum! owns the derive list")]
impl Default for ObjectKind {
    fn default() -> Self {
        Self::ChatCompletion
    }
}

/// A chat completion: the answer to a request, one choice per `n`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ChatCompletion {
    /// The completion's id.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub id: String,
    /// `chat.completion`.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub object: ObjectKind,
    /// Unix time (seconds) of creation.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub created: u64,
    /// The model that answered.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub model: String,
    /// The choices.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub choices: Vec<Choice>,
    /// Token usage, when the server reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The backend configuration fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    /// The tier that processed the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<ServiceTier>,
    /// Metadata stored with the completion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// Moderation results, when moderated completions were requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderation: Option<Value>,
    /// Fields this version does not know (`timings`, `request_id`, ...), kept as sent.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

impl ChatCompletion {
    /// The text of the first choice, if it has any.
    pub fn text(&self) -> Option<&str> {
        self.choices
            .first()
            .and_then(|choice| choice.message.text())
    }

    /// The choice with `index`.
    pub fn choice(&self, index: u32) -> Option<&Choice> {
        self.choices.iter().find(|choice| choice.index == index)
    }
}

/// One choice of a completion.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Choice {
    /// The choice's index.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub index: u32,
    /// The assistant's message.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub message: Message,
    /// Why the model stopped; `None` while unknown (a stream that ended early).
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
    /// Log probabilities, when requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Logprobs>,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// Token counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Usage {
    /// Tokens in the prompt.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub prompt_tokens: u64,
    /// Tokens generated.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub completion_tokens: u64,
    /// Both.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub total_tokens: u64,
    /// Breakdown of the prompt tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    /// Breakdown of the generated tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
    /// Fields this version does not know (DeepSeek's `prompt_cache_hit_tokens`, ...).
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

impl Usage {
    /// `prompt` tokens in and `completion` out (their total), nothing else said.
    pub fn new(prompt: u64, completion: u64) -> Self {
        Self {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            ..Self::default()
        }
    }

    /// Prompt tokens served from the provider's cache: OpenAI's
    /// `prompt_tokens_details.cached_tokens`, else DeepSeek's `prompt_cache_hit_tokens`; 0 when
    /// the server says neither.
    pub fn cached_prompt_tokens(&self) -> u64 {
        self.prompt_tokens_details
            .as_ref()
            .and_then(|details| details.cached_tokens)
            .or_else(|| {
                self.extra
                    .get("prompt_cache_hit_tokens")
                    .and_then(serde_json::Value::as_u64)
            })
            .unwrap_or(0)
    }

    /// Generated tokens spent reasoning (`completion_tokens_details.reasoning_tokens`; 0 when
    /// not said). They are part of `completion_tokens`.
    pub fn reasoning_tokens(&self) -> u64 {
        self.completion_tokens_details
            .as_ref()
            .and_then(|details| details.reasoning_tokens)
            .unwrap_or(0)
    }
}

/// Breakdown of prompt tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct PromptTokensDetails {
    /// Tokens served from the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    /// Audio input tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_tokens: Option<u64>,
    /// Text input tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_tokens: Option<u64>,
    /// Image input tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tokens: Option<u64>,
    /// Tokens written to the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_tokens: Option<u64>,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// Breakdown of generated tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct CompletionTokensDetails {
    /// Tokens spent reasoning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    /// Audio output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_tokens: Option<u64>,
    /// Predicted tokens that appeared in the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_prediction_tokens: Option<u64>,
    /// Predicted tokens that did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_prediction_tokens: Option<u64>,
    /// Text output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_tokens: Option<u64>,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// Log probabilities of a choice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Logprobs {
    /// Per content token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Vec<TokenLogprob>>,
    /// Per refusal token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Vec<TokenLogprob>>,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// A token and its log probability, with the most likely alternatives.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct TokenLogprob {
    /// The token.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub token: String,
    /// Its log probability.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub logprob: f64,
    /// Its UTF-8 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<Vec<u8>>,
    /// The most likely tokens at this position.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub top_logprobs: Vec<TopLogprob>,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// An alternative token at a position.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct TopLogprob {
    /// The token.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub token: String,
    /// Its log probability.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub logprob: f64,
    /// Its UTF-8 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<Vec<u8>>,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn gptproto_example_response_decodes() {
        let completion: ChatCompletion = serde_json::from_value(json!({
            "id": "chatcmpl-abc123",
            "object": "chat.completion",
            "created": 1699896916,
            "model": "qwen-turbo",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "..."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1250, "completion_tokens": 89, "total_tokens": 1339}
        }))
        .unwrap();
        assert_eq!(completion.text(), Some("..."));
        assert_eq!(
            completion.choices[0].finish_reason,
            Some(FinishReason::Stop)
        );
        assert_eq!(completion.usage.unwrap().total_tokens, 1339);
    }

    #[test]
    fn quirky_values_decode() {
        let completion: ChatCompletion = serde_json::from_value(json!({
            "id": null,
            "object": "chat.completions",
            "created": 17_000_000_000u64,
            "model": "m",
            "service_tier": "on_demand",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "eos"}],
            "timings": {"predicted_n": 3}
        }))
        .unwrap();
        assert_eq!(
            completion.object,
            ObjectKind::Other("chat.completions".into())
        );
        assert_eq!(
            completion.service_tier,
            Some(ServiceTier::Other("on_demand".into()))
        );
        assert_eq!(
            completion.choices[0].finish_reason,
            Some(FinishReason::Other("eos".into()))
        );
        assert_eq!(completion.usage, None);
        assert_eq!(completion.extra["timings"]["predicted_n"], 3);
    }
}
