use super::*;
use crate::wire::Usage;

/// The owned chunk through the fast path.
fn decode_chunk(data: &Text) -> Result<ChatCompletionChunk, ChunkJsonError> {
    decode_view(data).map(|view| view.to_chunk(data))
}

/// The fast path and serde_json agree: same value, or both fail.
pub(crate) fn assert_agrees(json: &str) {
    let fast = decode_chunk(&Text::from(json));
    let serde = serde_json::from_str::<ChatCompletionChunk>(json);
    match (&fast, &serde) {
        (Ok(fast), Ok(serde)) => assert_eq!(fast, serde, "{json}"),
        (Err(_), Err(_)) => {}
        _ => panic!("fast {fast:?} but serde {serde:?} for {json}"),
    }
}

#[test]
fn openai_chunk() {
    let json = r#"{"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_eb9dce56a8","choices":[{"index":0,"delta":{"content":" world"},"logprobs":null,"finish_reason":null}],"obfuscation":"x3"}"#;
    let chunk = decode_chunk(&Text::from(json)).unwrap();
    assert_eq!(chunk.id, "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG");
    assert_eq!(chunk.object, ObjectKind::ChatCompletionChunk);
    assert_eq!(chunk.created, 1_741_570_283);
    assert_eq!(chunk.text(), Some(" world"));
    assert_eq!(chunk.service_tier, Some(ServiceTier::Default));
    assert_agrees(json);
}

#[test]
fn unescaped_strings_share_the_buffer() {
    let data = Text::from(
        r#"{"id":"c1","choices":[{"index":0,"delta":{"content":"abc","reasoning_content":"x\ny"}}]}"#,
    );
    let chunk = decode_chunk(&data).unwrap();
    let content = chunk.choices[0].delta.content.as_ref().unwrap();
    let range = data.as_bytes_shared().as_ptr_range();
    assert!(range.contains(&content.as_ptr()));
    assert_eq!(
        chunk.choices[0].delta.reasoning_content.as_deref(),
        Some("x\ny")
    );
}

#[test]
fn quirks_decode_like_serde() {
    for json in [
        // Qwen thinking: explicit nulls.
        r#"{"choices":[{"delta":{"content":null,"reasoning_content":"","role":"assistant"},"finish_reason":null,"index":0,"logprobs":null}],"object":"chat.completion.chunk","usage":null,"created":1745000000,"system_fingerprint":null,"model":"qwen3-32b","id":"chatcmpl-1"}"#,
        // Repeated tool ids, empty function object, tool_calls as an object, missing index.
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"id":"call_1","function":{"name":"f","arguments":{"a":[1, 2]}}}]}}]}"#,
        // Non-standard values.
        r#"{"object":"chat.completions.chunk","created":17000000000,"service_tier":"on_demand","choices":[{"index":0,"delta":{},"finish_reason":"eos_token"}]}"#,
        // Usage on every chunk, with details and vendor fields.
        r#"{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10,"prompt_tokens_details":{"cached_tokens":0},"prompt_cache_hit_tokens":0}}"#,
        // Mid-stream error (OpenRouter).
        r#"{"id":"gen-1","object":"chat.completion.chunk","error":{"message":"Provider returned error","code":502},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}"#,
        // Escapes everywhere, an escaped key.
        r#"{"id":"a\"b","choices":[{"index":0,"delta":{"cont\u0065nt":"\ud83d\ude00\t\\","role":"assistant"}}]}"#,
        // llama.cpp extras.
        r#"{"choices":[{"finish_reason":"stop","index":0,"delta":{}}],"created":1,"id":"chatcmpl-x","model":"m","object":"chat.completion.chunk","timings":{"prompt_n":5,"predicted_per_second":151.2}}"#,
        // Logprobs.
        r#"{"choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":{"content":[{"token":"Hi","logprob":-0.1,"bytes":[72,105],"top_logprobs":[{"token":"Hi","logprob":-0.1,"bytes":null}]}],"refusal":null}}]}"#,
        // Whitespace everywhere.
        " {\n \"choices\" : [ { \"index\" : 1 , \"delta\" : { \"content\" : \"x\" } } ] } \n",
        // Empty and null containers.
        r#"{"choices":null,"usage":null,"moderation":null}"#,
        r#"{}"#,
    ] {
        assert_agrees(json);
        decode_chunk(&Text::from(json)).unwrap();
    }
}

#[test]
fn invalid_input_fails_like_serde() {
    for json in [
        "",
        "[DONE]",
        "[]",
        "\"text\"",
        "{",
        r#"{"id":"x",}"#,
        r#"{"id":1}"#,
        r#"{"created":-1}"#,
        r#"{"created":1.5}"#,
        r#"{"created":-0}"#,
        r#"{"choices":{}}"#,
        r#"{"choices":[{"index":4294967296}]}"#,
        r#"{"choices":[{"delta":{"content":5}}]}"#,
        r#"{"choices":[{"delta":{"tool_calls":[{"index":-1}]}}]}"#,
        r#"{"choices":[{"delta":{"tool_calls":"x"}}]}"#,
        r#"{"usage":{"prompt_tokens":"9"}}"#,
        r#"{"id":"x","id":"y"}"#,
        r#"{"choices":[{"delta":{"content":"a","content":"b"}}]}"#,
        r#"{"id":"x"} trailing"#,
        r#"{"id":"\ud800"}"#,
        "{\"id\":\"tab\there\"}",
    ] {
        assert!(decode_chunk(&Text::from(json)).is_err(), "accepted {json}");
        assert_agrees(json);
    }
}

#[test]
fn duplicate_unknown_fields_keep_the_last() {
    let json = r#"{"x":1,"x":2}"#;
    assert_eq!(decode_chunk(&Text::from(json)).unwrap().extra["x"], 2);
    assert_agrees(json);
}

#[test]
fn usage_decodes_with_details() {
    let json = r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8,"completion_tokens_details":{"reasoning_tokens":2}}}"#;
    let chunk = decode_chunk(&Text::from(json)).unwrap();
    let usage: &Usage = chunk.usage.as_ref().unwrap();
    assert_eq!(usage.total_tokens, 8);
    assert_eq!(
        usage
            .completion_tokens_details
            .as_ref()
            .unwrap()
            .reasoning_tokens,
        Some(2)
    );
}

#[test]
fn error_names_the_problem_and_offset() {
    let error =
        ChatCompletionChunk::from_json(&Text::from(r#"{"choices":[{"index":"0"}]}"#)).unwrap_err();
    assert!(error.is_protocol());
    let text = error.to_string();
    assert!(
        text.contains("expected an unsigned integer at byte 21"),
        "{text}"
    );
    assert!(text.contains(r#"{\"choices\""#), "{text}");
}

#[test]
fn a_view_of_a_one_choice_chunk_borrows_everything() {
    let data = r#"{"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"hi"}}]}"#;
    let view = decode_view(data).unwrap();
    assert!(matches!(view.id, Cow::Borrowed(_)));
    assert!(matches!(
        view.choices[0].delta.content,
        Some(Cow::Borrowed("hi"))
    ));
    assert_eq!(view.choices.len(), 1);
}

#[test]
fn owned_and_borrowed_agree() {
    let data = Text::from(
        r#"{"id":"c\u0031","choices":[{"index":1,"delta":{"tool_calls":[{"index":0,"function":{"name":"f","arguments":"{}"}}]}},{"index":0,"delta":{"content":"x"}}],"x":[1]}"#,
    );
    let chunk = decode_chunk(&data).unwrap();
    assert_eq!(chunk.view(), decode_view(&data).unwrap());
    assert_eq!(chunk.id, "c1");
    assert_eq!(chunk.choices.len(), 2);
}
