//! Every typed field of a chunk and of a completion is read by the fast decoders exactly as
//! serde_json reads it.
//!
//! The values below are struct literals without `..`: a field added to a wire type does not
//! compile here until it is set, and then this test shows whether the fast decoders (which
//! name their fields by hand) read it, or let it fall into `extra` where serde_json fills the
//! typed field. The property tests (`properties.rs`) then vary every field.

use gptproto_proto::exchange::classify_response;
use gptproto_proto::wire::{
    ChatCompletion, ChatCompletionChunk, Choice, ChunkChoice, CompletionTokensDetails, Content,
    Delta, Extra, FinishReason, FunctionCall, FunctionCallDelta, Logprobs, Message, ObjectKind,
    PromptTokensDetails, Role, ServiceTier, TokenLogprob, ToolCall, ToolCallDelta, ToolKind,
    TopLogprob, Usage,
};
use gptproto_proto::{StreamDecoder, StreamItem, Text};
use serde_json::json;

fn usage() -> Usage {
    Usage {
        prompt_tokens: 11,
        completion_tokens: 7,
        total_tokens: 18,
        prompt_tokens_details: Some(PromptTokensDetails {
            cached_tokens: Some(1),
            audio_tokens: Some(2),
            text_tokens: Some(3),
            image_tokens: Some(4),
            cache_write_tokens: Some(5),
            extra: Extra::default(),
        }),
        completion_tokens_details: Some(CompletionTokensDetails {
            reasoning_tokens: Some(6),
            audio_tokens: Some(7),
            accepted_prediction_tokens: Some(8),
            rejected_prediction_tokens: Some(9),
            text_tokens: Some(10),
            extra: Extra::default(),
        }),
        extra: Extra::default(),
    }
}

fn logprobs() -> Logprobs {
    let token = TokenLogprob {
        token: "Hi".into(),
        logprob: -0.125,
        bytes: Some(vec![72, 105]),
        top_logprobs: vec![TopLogprob {
            token: "Hey".into(),
            logprob: -2.5,
            bytes: Some(vec![72, 101, 121]),
            extra: Extra::default(),
        }],
        extra: Extra::default(),
    };
    Logprobs {
        content: Some(vec![token.clone()]),
        refusal: Some(vec![token]),
        extra: Extra::default(),
    }
}

fn chunk() -> ChatCompletionChunk {
    let function = FunctionCallDelta {
        name: Some(Text::from("get_weather")),
        arguments: Some(Text::from("{\"city\":")),
        extra: Extra::default(),
    };
    ChatCompletionChunk {
        id: Text::from("chatcmpl-9"),
        object: ObjectKind::ChatCompletionChunk,
        created: 1_700_000_000,
        model: Text::from("qwen-turbo"),
        choices: vec![ChunkChoice {
            index: 0,
            delta: Delta {
                role: Some(Role::Assistant),
                content: Some(Text::from("Hi")),
                refusal: Some(Text::from("no")),
                reasoning_content: Some(Text::from("thinking")),
                reasoning: Some(Text::from("also thinking")),
                tool_calls: vec![ToolCallDelta {
                    index: Some(0),
                    id: Some(Text::from("call_1")),
                    kind: Some(ToolKind::Function),
                    function: Some(function.clone()),
                    extra: Extra::default(),
                }],
                function_call: Some(Box::new(function)),
                extra: Extra::default(),
            },
            finish_reason: Some(FinishReason::ToolCalls),
            logprobs: Some(Box::new(logprobs())),
            extra: Extra::default(),
        }],
        usage: Some(Box::new(usage())),
        system_fingerprint: Some(Text::from("fp_1")),
        service_tier: Some(ServiceTier::Default),
        obfuscation: Some(Text::from("xyz")),
        moderation: Some(Box::new(json!({"flagged": false}))),
        extra: Extra::default(),
    }
}

fn completion() -> ChatCompletion {
    let function = FunctionCall {
        name: "get_weather".into(),
        arguments: "{\"city\":\"Paris\"}".into(),
        extra: Extra::default(),
    };
    ChatCompletion {
        id: "chatcmpl-9".into(),
        object: ObjectKind::ChatCompletion,
        created: 1_700_000_000,
        model: "qwen-turbo".into(),
        choices: vec![Choice {
            index: 0,
            message: Message {
                role: Role::Assistant,
                content: Some(Content::Text("Hi".into())),
                name: Some("bot".into()),
                refusal: Some("no".into()),
                reasoning_content: Some("thinking".into()),
                reasoning: Some("also thinking".into()),
                tool_calls: vec![ToolCall {
                    id: "call_1".into(),
                    kind: ToolKind::Function,
                    function: function.clone(),
                    extra: Extra::default(),
                }],
                tool_call_id: Some("call_0".into()),
                function_call: Some(function),
                audio: Some(json!({"id": "audio_1"})),
                annotations: Some(vec![json!({"type": "url_citation"})]),
                extra: Extra::default(),
            },
            finish_reason: Some(FinishReason::Stop),
            logprobs: Some(logprobs()),
            extra: Extra::default(),
        }],
        usage: Some(usage()),
        system_fingerprint: Some("fp_1".into()),
        service_tier: Some(ServiceTier::Default),
        metadata: Some(json!({"team": "llm"})),
        moderation: Some(json!({"flagged": false})),
        extra: Extra::default(),
    }
}

#[test]
fn every_typed_field_of_a_chunk_is_read_by_the_fast_decoder() {
    let chunk = chunk();
    let json = serde_json::to_string(&chunk).unwrap();
    let serde: ChatCompletionChunk = serde_json::from_str(&json).unwrap();
    assert_eq!(serde, chunk, "serde_json round-trips the chunk");
    let fast = ChatCompletionChunk::from_json(&Text::from(json.as_str())).unwrap();
    assert_eq!(
        fast, chunk,
        "the fast chunk decoder reads every field: {json}"
    );
    // And through a stream's views.
    let mut decoder = StreamDecoder::new();
    decoder.push(format!("data: {json}\n\n").into_bytes());
    let Some(StreamItem::Chunk(streamed)) = decoder.poll_item().unwrap() else {
        panic!("a chunk");
    };
    assert_eq!(streamed, chunk);
}

#[test]
fn every_typed_field_of_a_completion_is_read_by_the_fast_decoder() {
    let completion = completion();
    let json = serde_json::to_string(&completion).unwrap();
    let serde: ChatCompletion = serde_json::from_str(&json).unwrap();
    assert_eq!(serde, completion, "serde_json round-trips the completion");
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    let fast = classify_response(http::StatusCode::OK, &headers, json.as_bytes()).unwrap();
    assert_eq!(fast, completion, "the fast completion decoder: {json}");
}
