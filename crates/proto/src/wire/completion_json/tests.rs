use super::*;

/// The fast path decodes `body`, to what serde_json gives.
#[track_caller]
fn agrees(body: &str) -> ChatCompletion {
    let fast = decode_completion(body).expect("the fast path takes this body");
    let serde: ChatCompletion = serde_json::from_str(body).expect("serde takes it too");
    assert_eq!(fast, serde, "{body}");
    fast
}

#[test]
fn a_plain_completion() {
    let completion = agrees(
        r#"{"id":"chatcmpl-1","object":"chat.completion","created":1741570283,"model":"qwen-turbo",
            "system_fingerprint":"fp_1","service_tier":"default",
            "choices":[{"index":0,"message":{"role":"assistant","content":"I am Qwen.\n\"Hi\" \u00e9","refusal":null},
                        "logprobs":null,"finish_reason":"stop"}],
            "usage":{"prompt_tokens":12,"completion_tokens":21,"total_tokens":33,
                     "prompt_tokens_details":{"cached_tokens":0}}}"#,
    );
    assert_eq!(completion.text(), Some("I am Qwen.\n\"Hi\" é"));
    assert_eq!(completion.usage.unwrap().total_tokens, 33);
}

#[test]
fn nulls_mean_absent() {
    let completion = agrees(
        r#"{"id":null,"object":null,"created":null,"model":null,"system_fingerprint":null,
            "service_tier":null,"usage":null,"metadata":null,"moderation":null,
            "choices":[{"index":null,"message":{"role":null,"content":null,"name":null,"refusal":null,
                "reasoning_content":null,"reasoning":null,"tool_calls":null,"tool_call_id":null,
                "function_call":null,"audio":null,"annotations":null},"finish_reason":null,"logprobs":null},
                {"message":null}]}"#,
    );
    assert_eq!(completion.choices.len(), 2);
    assert!(agrees(r#"{"choices":null}"#).choices.is_empty());
}

#[test]
fn vendor_fields_tool_calls_parts_and_reasoning() {
    let completion = agrees(
        r#"{"id":"c","object":"chat.completion","created":1,"model":"m","request_id":"req-9",
            "timings":{"predicted_ms":1.5},
            "choices":[{"index":0,"finish_reason":"tool_calls","x_choice":[1,2],
              "message":{"role":"assistant","content":[{"type":"text","text":"a"},{"type":"refusal","refusal":"b"}],
                "reasoning_content":"think","reasoning":"also","x_message":true,
                "tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":{"a":1}}}],
                "annotations":[{"type":"url_citation"}],"audio":{"id":"au_1"}}}]}"#,
    );
    assert_eq!(completion.extra.get("request_id").unwrap(), "req-9");
    assert_eq!(
        completion.choices[0].message.tool_calls[0]
            .function
            .arguments,
        r#"{"a":1}"#
    );
    // TGI sends one tool call as an object.
    agrees(
        r#"{"choices":[{"message":{"tool_calls":{"id":"c","function":{"name":"f","arguments":"{}"}}}}]}"#,
    );
    // Other roles, finish reasons and objects are kept.
    agrees(
        r#"{"object":"text_completion","choices":[{"message":{"role":"tool"},"finish_reason":"length"}]}"#,
    );
}

#[test]
fn usage_counts_in_place_details_and_vendor_fields_kept() {
    let completion = agrees(
        r#"{"choices":[],"usage":{"prompt_tokens":null,"completion_tokens":7,"total_tokens":7,
            "prompt_cache_hit_tokens":3,"completion_tokens_details":{"reasoning_tokens":2},
            "prompt_tokens_details":null}}"#,
    );
    let usage = completion.usage.unwrap();
    assert_eq!(usage.prompt_tokens, 0);
    assert_eq!(usage.extra.get("prompt_cache_hit_tokens").unwrap(), 3);
    agrees(r#"{"usage":{}}"#);
    for body in [
        r#"{"usage":{"total_tokens":1,"total_tokens":2}}"#, // duplicate field
        r#"{"usage":{"prompt_tokens":-1}}"#,                // negative
        r#"{"usage":{"prompt_tokens":2.0}}"#,               // not an integer
        r#"{"usage":[1]}"#,                                 // not an object
    ] {
        assert_eq!(decode_completion(body), None, "{body}");
        assert!(
            serde_json::from_str::<ChatCompletion>(body).is_err(),
            "{body}"
        );
    }
}

#[test]
fn what_it_does_not_take_goes_to_serde() {
    for body in [
        r#"{"id":"a","id":"b"}"#,                     // duplicate field
        r#"{"choices":[{"index":0,"index":1}]}"#,     // duplicate in a choice
        r#"{"created":"yesterday"}"#,                 // wrong type
        r#"{"created":1.5}"#,                         // not an integer
        r#"{"choices":[{"message":{"content":7}}]}"#, // content neither text nor parts
        r#"{"choices":{"index":0}}"#,                 // choices not a list
        r#"{"id":"a"} trailing"#,                     // not one document
        r#"{"id":"a""#,                               // truncated
        r#"[]"#,
    ] {
        assert_eq!(decode_completion(body), None, "{body}");
    }
}
