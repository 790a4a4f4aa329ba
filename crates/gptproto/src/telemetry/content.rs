//! Prompt and answer content as the GenAI conventions' JSON (`gen_ai.input.messages`,
//! `gen_ai.output.messages`, `gen_ai.system_instructions`, `gen_ai.tool.definitions`), each
//! held to a size limit.
//!
//! Recorded only when content capture is on (off by default). Headers, and so the API key,
//! are never part of it.

use gptproto_proto::wire::{
    ChatCompletion, ChatRequest, Content, ContentPart, Message, Role, ToolCall,
};
use serde_json::{Value, json};

/// The content of a request: the leading system (or developer) messages as the system
/// instructions, the rest of the history as the input messages, and the tool definitions.
pub(crate) struct Captured {
    pub(crate) system_instructions: Option<String>,
    pub(crate) input_messages: String,
    pub(crate) tool_definitions: Option<String>,
}

/// The request's content, each attribute held to `limit` bytes of text.
pub(crate) fn request(request: &ChatRequest, limit: usize) -> Captured {
    let leading = request
        .messages
        .iter()
        .take_while(|message| matches!(message.role, Role::System | Role::Developer))
        .count();
    let (instructions, history) = request.messages.split_at(leading);
    let system_instructions = (!instructions.is_empty()).then(|| {
        let parts: Vec<Value> = instructions.iter().flat_map(parts_of).collect();
        fitted(Value::Array(parts), limit)
    });
    let input = history.iter().map(input_message).collect();
    let tool_definitions = (!request.tools.is_empty()).then(|| {
        let tools = request
            .tools
            .iter()
            .map(|tool| {
                let mut definition = json!({
                    "type": tool.kind.as_str(),
                    "name": tool.function.name,
                });
                if let Some(description) = &tool.function.description {
                    definition["description"] = json!(description);
                }
                if let Some(parameters) = &tool.function.parameters {
                    definition["parameters"] = parameters.clone();
                }
                definition
            })
            .collect();
        fitted(Value::Array(tools), limit)
    });
    Captured {
        system_instructions,
        input_messages: fitted(Value::Array(input), limit),
        tool_definitions,
    }
}

/// The answer's choices as output messages, held to `limit` bytes of text.
pub(crate) fn output(completion: &ChatCompletion, limit: usize) -> String {
    let messages = completion
        .choices
        .iter()
        .map(|choice| {
            let mut message = input_message(&choice.message);
            if let Some(reason) = &choice.finish_reason {
                message["finish_reason"] = json!(reason.as_str());
            }
            message
        })
        .collect();
    fitted(Value::Array(messages), limit)
}

/// A message of the history: `{"role", "parts": [...]}`.
fn input_message(message: &Message) -> Value {
    let mut parts = Vec::new();
    for reasoning in [&message.reasoning_content, &message.reasoning]
        .into_iter()
        .flatten()
    {
        parts.push(json!({"type": "reasoning", "content": reasoning}));
    }
    if message.role == Role::Tool {
        let response = message.content.as_ref().and_then(Content::text);
        parts.push(json!({
            "type": "tool_call_response",
            "id": message.tool_call_id,
            "response": response.as_deref().unwrap_or_default(),
        }));
    } else {
        parts.extend(parts_of(message));
    }
    if let Some(refusal) = &message.refusal {
        parts.push(json!({"type": "refusal", "content": refusal}));
    }
    parts.extend(message.tool_calls.iter().map(tool_call));
    let mut value = json!({"role": message.role.as_str(), "parts": parts});
    if let Some(name) = &message.name {
        value["name"] = json!(name);
    }
    value
}

/// The parts of a message's content.
fn parts_of(message: &Message) -> Vec<Value> {
    match &message.content {
        None => Vec::new(),
        Some(Content::Text(text)) => vec![json!({"type": "text", "content": text})],
        Some(Content::Parts(parts)) => parts.iter().map(part).collect(),
    }
}

fn part(part: &ContentPart) -> Value {
    match part {
        ContentPart::Text(text) => json!({"type": "text", "content": text.text}),
        ContentPart::ImageUrl(image) => {
            json!({"type": "uri", "modality": "image", "uri": image.image_url.url})
        }
        ContentPart::InputAudio(_) => json!({"type": "blob", "modality": "audio"}),
        ContentPart::File(_) => json!({"type": "file"}),
        ContentPart::Refusal(refusal) => json!({"type": "refusal", "content": refusal.refusal}),
        ContentPart::Other(other) => {
            let kind = other
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("unknown");
            json!({"type": kind})
        }
        _ => json!({"type": "unknown"}),
    }
}

fn tool_call(call: &ToolCall) -> Value {
    // The arguments as JSON when they are (the convention's form), else as the text sent.
    let arguments = serde_json::from_str::<Value>(&call.function.arguments)
        .unwrap_or_else(|_| Value::String(call.function.arguments.clone()));
    json!({
        "type": "tool_call",
        "id": call.id,
        "name": call.function.name,
        "arguments": arguments,
    })
}

/// The fields whose strings are content (text, results, arguments, schemas), counted against
/// the limit; the others (`role`, `type`, `id`, `name`, `finish_reason`) are the shape and
/// are kept whole.
const CONTENT: [&str; 6] = [
    "content",
    "response",
    "arguments",
    "description",
    "parameters",
    "uri",
];

/// `value` as JSON, the strings of its content (in document order) holding at most `limit`
/// bytes in all: a string past the limit is cut at a character boundary and says how much
/// was cut, so a reader never mistakes a cut text for the whole one. The JSON stays valid.
pub(crate) fn fitted(mut value: Value, limit: usize) -> String {
    let mut left = limit;
    fit(&mut value, &mut left, false);
    value.to_string()
}

fn fit(value: &mut Value, left: &mut usize, counted: bool) {
    match value {
        Value::String(text) if counted => {
            if text.len() <= *left {
                *left -= text.len();
                return;
            }
            let mut keep = *left;
            while !text.is_char_boundary(keep) {
                keep -= 1;
            }
            let cut = text.len() - keep;
            text.truncate(keep);
            text.push_str(&format!("…[{cut} more bytes not captured]"));
            *left = 0;
        }
        Value::Array(items) => items.iter_mut().for_each(|item| fit(item, left, counted)),
        Value::Object(fields) => {
            for (key, field) in fields.iter_mut() {
                fit(field, left, counted || CONTENT.contains(&key.as_str()));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use gptproto_proto::wire::Tool;

    use super::*;

    #[test]
    fn a_request_splits_into_instructions_history_and_tools() {
        let request = ChatRequest::new("m")
            .system("Be brief.")
            .user("Weather in Paris?")
            .tools([Tool::function("get_weather").description("The weather")]);
        let captured = request_of(&request);
        let json = |text: &str| serde_json::from_str::<Value>(text).unwrap();
        assert_eq!(
            json(captured.system_instructions.as_deref().unwrap()),
            json!([{"type": "text", "content": "Be brief."}])
        );
        assert_eq!(
            json(&captured.input_messages),
            json!([{"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}])
        );
        assert_eq!(
            json(captured.tool_definitions.as_deref().unwrap()),
            json!([{"type": "function", "name": "get_weather", "description": "The weather"}])
        );
    }

    fn request_of(request: &ChatRequest) -> Captured {
        super::request(request, 1 << 20)
    }

    #[test]
    fn tool_calls_and_results_follow_the_convention() {
        let completion: ChatCompletion = serde_json::from_str(
            r#"{"id":"c","model":"m","choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":null,
                "tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]}}]}"#,
        )
        .unwrap();
        let output: Value = serde_json::from_str(&output(&completion, 1 << 20)).unwrap();
        assert_eq!(
            output,
            json!([{"role": "assistant", "finish_reason": "tool_calls", "parts": [
                {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}
            ]}])
        );
        let request = ChatRequest::new("m")
            .user("Weather?")
            .message(completion.choices[0].message.clone())
            .message(Message::tool("call_1", "rainy"));
        let input: Value = serde_json::from_str(&request_of(&request).input_messages).unwrap();
        assert_eq!(
            input[2],
            json!({"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "rainy"}]})
        );
    }

    #[test]
    fn content_past_the_limit_is_cut_visibly_and_stays_json() {
        let request = ChatRequest::new("m").user("héllo wörld").user("second");
        let captured = super::request(&request, 2);
        let input: Value = serde_json::from_str(&captured.input_messages).unwrap();
        // "h" and the 2-byte "é" do not fit in 2 bytes: the cut is at a character boundary.
        assert_eq!(
            input[0]["parts"][0]["content"],
            "h…[12 more bytes not captured]"
        );
        assert_eq!(
            input[1]["parts"][0]["content"],
            "…[6 more bytes not captured]"
        );
    }
}
