use super::*;
use crate::Text;
use crate::wire::ToolKind;

fn accumulate(chunks: &[&str]) -> ChunkAccumulator {
    let mut accumulator = ChunkAccumulator::new();
    for chunk in chunks {
        let chunk = ChatCompletionChunk::from_json(&Text::from(*chunk)).unwrap();
        accumulator.push(&chunk);
    }
    accumulator
}

fn calls(accumulator: ChunkAccumulator) -> Vec<ToolCall> {
    accumulator.snapshot().choices[0].message.tool_calls.clone()
}

#[test]
fn ids_repeated_on_every_fragment_are_set_once() {
    let calls = calls(accumulate(&[
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_x","type":"function","function":{"name":"get_weather","arguments":""}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_x","type":"function","function":{"name":"get_weather","arguments":"{\"city\""}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"","type":"function","function":{"name":"","arguments":":\"Paris\"}"}}]}}]}"#,
    ]));
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].id, "call_x");
    assert_eq!(calls[0].function.name, "get_weather");
    assert_eq!(calls[0].function.arguments, r#"{"city":"Paris"}"#);
    assert_eq!(calls[0].kind, ToolKind::Function);
}

#[test]
fn parallel_calls_interleaved_by_index() {
    let calls = calls(accumulate(&[
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{\"x\":"}},{"index":1,"id":"b","function":{"name":"g","arguments":"{\"y\":"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"2}"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]}"#,
    ]));
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (calls[0].id.as_str(), calls[0].function.arguments.as_str()),
        ("a", r#"{"x":1}"#)
    );
    assert_eq!(
        (calls[1].id.as_str(), calls[1].function.arguments.as_str()),
        ("b", r#"{"y":2}"#)
    );
}

#[test]
fn calls_come_out_in_index_order() {
    let calls = calls(accumulate(&[
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"b","function":{"name":"g","arguments":"{}"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{}"}}]}}]}"#,
    ]));
    assert_eq!(
        calls.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
}

#[test]
fn gemini_calls_without_index() {
    let calls = calls(accumulate(&[
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{\"q\":1}"}},{"id":"b","type":"function","function":{"name":"g","arguments":"{}"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"id":"b","function":{"arguments":""}}]}}]}"#,
    ]));
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].function.arguments, r#"{"q":1}"#);
    assert_eq!(calls[1].function.name, "g");
}

#[test]
fn fragments_without_index_or_id_continue_the_last_call() {
    let calls = calls(accumulate(&[
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"id":"a","function":{"name":"f","arguments":"{\"q\""}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"function":{"arguments":":1}"}}]}}]}"#,
    ]));
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].function.arguments, r#"{"q":1}"#);
}

#[test]
fn duplicate_entries_for_one_index_in_one_chunk_merge() {
    let calls = calls(accumulate(&[
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f"}},{"index":0,"function":{"arguments":"{}"}}]}}]}"#,
    ]));
    assert_eq!(calls.len(), 1);
    assert_eq!(
        (
            calls[0].function.name.as_str(),
            calls[0].function.arguments.as_str()
        ),
        ("f", "{}")
    );
}

#[test]
fn tgi_tool_calls_as_an_object() {
    let calls = calls(accumulate(&[
        r#"{"choices":[{"index":0,"delta":{"tool_calls":{"index":0,"id":"a","type":"function","function":{"name":"f","arguments":{"q":1}}}}}]}"#,
    ]));
    assert_eq!(calls[0].function.arguments, r#"{"q":1}"#);
}

#[test]
fn content_reasoning_and_refusal_concatenate_per_choice() {
    let accumulator = accumulate(&[
        r#"{"id":"c","model":"m","created":5,"choices":[{"index":0,"delta":{"role":"assistant","content":null,"reasoning_content":"th"}},{"index":1,"delta":{"role":"assistant","reasoning":"R"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":null,"reasoning_content":"ink"}},{"index":1,"delta":{"content":"B"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"A","reasoning_content":""},"finish_reason":"stop"},{"index":1,"delta":{"refusal":"no"},"finish_reason":"length"}]}"#,
    ]);
    let completion = accumulator.finish().unwrap();
    assert_eq!(
        (
            completion.id.as_str(),
            completion.model.as_str(),
            completion.created
        ),
        ("c", "m", 5)
    );
    let [a, b] = &completion.choices[..] else {
        panic!("two choices")
    };
    assert_eq!(a.message.text(), Some("A"));
    assert_eq!(a.message.reasoning_content.as_deref(), Some("think"));
    assert_eq!(a.finish_reason, Some(FinishReason::Stop));
    assert_eq!(b.message.text(), Some("B"));
    assert_eq!(b.message.reasoning.as_deref(), Some("R"));
    assert_eq!(b.message.refusal.as_deref(), Some("no"));
    assert_eq!(b.finish_reason, Some(FinishReason::Length));
}

#[test]
fn empty_content_before_tool_calls_becomes_none() {
    let completion = accumulate(&[
        r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}"#,
    ])
    .finish()
    .unwrap();
    assert_eq!(completion.choices[0].message.content, None);
}

#[test]
fn usage_comes_from_the_last_chunk_that_has_it() {
    let completion = accumulate(&[
        r#"{"choices":[{"index":0,"delta":{"content":"a"}}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"b"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#,
        r#"{"choices":[],"usage":null}"#,
    ])
    .finish()
    .unwrap();
    assert_eq!(completion.usage.unwrap().total_tokens, 7);
}

#[test]
fn groq_usage_in_x_groq() {
    let completion = accumulate(&[
        r#"{"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"stop"}],"x_groq":{"id":"req_1","usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}}"#,
    ])
    .finish()
    .unwrap();
    assert_eq!(completion.usage.unwrap().total_tokens, 4);
    assert!(!completion.extra.contains_key("x_groq"));
}

#[test]
fn finish_says_truncated_and_keeps_what_arrived() {
    let accumulator = accumulate(&[r#"{"choices":[{"index":0,"delta":{"content":"partial"}}]}"#]);
    assert!(!accumulator.is_complete());
    let error = accumulator.finish().unwrap_err();
    assert!(error.is_truncated());
    assert_eq!(error.partial().unwrap().text(), Some("partial"));
}

#[test]
fn done_makes_it_complete_without_finish_reasons() {
    let mut accumulator = accumulate(&[r#"{"choices":[{"index":0,"delta":{"content":"x"}}]}"#]);
    accumulator.mark_done();
    assert_eq!(accumulator.finish().unwrap().choices[0].finish_reason, None);
}

#[test]
fn deprecated_function_call_accumulates() {
    let completion = accumulate(&[
        r#"{"choices":[{"index":0,"delta":{"function_call":{"name":"f","arguments":"{\"a\""}}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"function_call":{"name":"f","arguments":":1}"}},"finish_reason":"function_call"}]}"#,
    ])
    .finish()
    .unwrap();
    let call = completion.choices[0]
        .message
        .function_call
        .as_ref()
        .unwrap();
    assert_eq!(
        (call.name.as_str(), call.arguments.as_str()),
        ("f", r#"{"a":1}"#)
    );
}

#[test]
fn logprobs_append() {
    let completion = accumulate(&[
        r#"{"choices":[{"index":0,"delta":{"content":"a"},"logprobs":{"content":[{"token":"a","logprob":-1.0,"top_logprobs":[]}],"refusal":null}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"b"},"logprobs":{"content":[{"token":"b","logprob":-2.0,"top_logprobs":[]}]},"finish_reason":"stop"}]}"#,
    ])
    .finish()
    .unwrap();
    let tokens: Vec<_> = completion.choices[0]
        .logprobs
        .as_ref()
        .unwrap()
        .content
        .as_ref()
        .unwrap()
        .iter()
        .map(|t| t.token.clone())
        .collect();
    assert_eq!(tokens, ["a", "b"]);
}

#[test]
fn null_never_erases_an_unknown_field() {
    let completion = accumulate(&[
        r#"{"provider":"A","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop","native_finish_reason":"stop"}]}"#,
        r#"{"provider":null,"choices":[{"index":0,"delta":{},"native_finish_reason":null}]}"#,
    ])
    .finish()
    .unwrap();
    assert_eq!(completion.extra["provider"], "A");
    assert_eq!(completion.choices[0].extra["native_finish_reason"], "stop");
}
