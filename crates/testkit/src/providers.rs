//! Scripted providers: servers that keep one real provider's rule, as its documentation and
//! its users' reports give it, so that a test proves the client handles it.
//!
//! - [`thinks_only_streamed`]: DashScope's Qwen3, which refuses thinking unless streamed
//!   (a 400 `invalid_parameter_error`, reported in langchain4j #3974, ragflow #8972,
//!   spring-ai-alibaba #867).
//! - [`deepseek_reasoning`]: DeepSeek's rule for reasoning in the input: an earlier turn's
//!   `reasoning_content` is a 400; a tool call's, in the turn under way, is required.
//!
//! Each answers with reasoning (`reasoning_content`) and content, streamed when asked (with
//! usage when `stream_options.include_usage` says so), as JSON otherwise.

use serde_json::{Value, json};

use crate::Recorded;
use crate::fixtures::chunk_with;
use crate::reply::Reply;

/// The reasoning every scripted provider answers with.
pub const REASONING: &str = "The user asks; I answer.";

/// DashScope's body for a Qwen3 call with thinking on, not streamed.
pub const THINKING_NOT_STREAMED: &str =
    "parameter.enable_thinking must be set to false for non-streaming calls";

/// DashScope's Qwen3 with thinking: a call not streamed with `enable_thinking: true` is a 400;
/// any other is answered `answer` (with [`REASONING`] when thinking).
pub fn thinks_only_streamed(request: &Recorded, answer: &str) -> Reply {
    let body = request.json();
    let thinking = body["enable_thinking"] == true;
    if thinking && body["stream"] != true {
        return Reply::json(
            400,
            &json!({
                "error": {
                    "code": "invalid_parameter_error",
                    "message": format!("<400> InternalError.Algo.InvalidParameter: {THINKING_NOT_STREAMED}"),
                    "param": null,
                    "type": "invalid_request_error",
                },
                "id": "chatcmpl-ds", "request_id": "ds-1",
            }),
        );
    }
    respond(&body, thinking.then_some(REASONING), answer)
}

/// DeepSeek's rule for reasoning in the input: a 400 when an assistant message before the last
/// user message carries `reasoning_content` ("The reasoning_content is an intermediate result
/// for display purposes only"), or when one after it calls tools without its
/// `reasoning_content` (thinking with tools). Else `answer`, with [`REASONING`].
pub fn deepseek_reasoning(request: &Recorded, answer: &str) -> Reply {
    deepseek_refusal(request).unwrap_or_else(|| respond(&request.json(), Some(REASONING), answer))
}

/// The 400 DeepSeek answers `request` with, if its reasoning breaks the rule of
/// [`deepseek_reasoning`].
pub fn deepseek_refusal(request: &Recorded) -> Option<Reply> {
    let body = request.json();
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let last_user = messages
        .iter()
        .rposition(|message| message["role"] == "user");
    for (index, message) in messages.iter().enumerate() {
        if message["role"] != "assistant" {
            continue;
        }
        let has_reasoning = message.get("reasoning_content").is_some();
        let earlier_turn = last_user.is_some_and(|last| index < last);
        let calls_tools = message["tool_calls"]
            .as_array()
            .is_some_and(|calls| !calls.is_empty());
        let fault = if earlier_turn && has_reasoning {
            Some(format!(
                "messages[{index}]: The reasoning_content is an intermediate result for display \
                 purposes only and will not be included in the context for inference. Please \
                 remove the reasoning_content from your input and try again."
            ))
        } else if !earlier_turn && calls_tools && !has_reasoning {
            Some(format!(
                "Missing `reasoning_content` field in the assistant message at message index {index}."
            ))
        } else {
            None
        };
        if let Some(message) = fault {
            return Some(Reply::json(
                400,
                &json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": "invalid_request_error"}}),
            ));
        }
    }
    None
}

/// `answer` (and `reasoning`) as the request asks: streamed or JSON.
fn respond(request: &Value, reasoning: Option<&str>, answer: &str) -> Reply {
    let model = request["model"].as_str().unwrap_or("m");
    if request["stream"] == true {
        let mut events = Vec::new();
        if let Some(reasoning) = reasoning {
            events.push(chunk_with(
                json!({"role": "assistant", "content": null, "reasoning_content": reasoning}),
                None,
            ));
        }
        events.push(chunk_with(json!({"content": answer}), None));
        events.push(chunk_with(json!({}), Some("stop")));
        if request["stream_options"]["include_usage"] == true {
            events.push(json!({
                "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": model,
                "choices": [], "usage": usage(),
            }));
        }
        return Reply::sse(&events);
    }
    let mut message = json!({"role": "assistant", "content": answer});
    if let Some(reasoning) = reasoning {
        message["reasoning_content"] = json!(reasoning);
    }
    Reply::json(
        200,
        &json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": usage(),
        }),
    )
}

fn usage() -> Value {
    json!({"prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15,
           "completion_tokens_details": {"reasoning_tokens": 4}})
}
