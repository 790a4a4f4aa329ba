use super::*;
use crate::wire::{Tool, ToolCall};
use serde_json::json;

fn field_of(request: &ChatRequest) -> String {
    match request.validate().unwrap_err().into_kind() {
        crate::ErrorKind::Validation { field, .. } => field,
        other => panic!("not a validation error: {other:?}"),
    }
}

fn base() -> ChatRequest {
    ChatRequest::new("qwen-turbo").user("hi")
}

#[test]
fn a_plain_request_is_valid() {
    base().validate().unwrap();
}

#[test]
fn each_error_names_its_field() {
    let cases: Vec<(ChatRequest, &str)> = vec![
        (ChatRequest::new("qwen-turbo"), "messages"),
        (ChatRequest::new("").user("x"), "model"),
        (base().n(0), "n"),
        (base().n(11), "n"),
        (base().max_tokens(0), "max_tokens"),
        (
            base().message(Message::tool("", "r")),
            "messages[1].tool_call_id",
        ),
        (
            base().message(Message {
                role: Role::Tool,
                tool_call_id: Some("c".into()),
                ..Message::default()
            }),
            "messages[1].content",
        ),
        (
            base().message(Message {
                role: Role::User,
                ..Message::default()
            }),
            "messages[1].content",
        ),
        (
            base().message(Message {
                role: Role::Assistant,
                ..Message::default()
            }),
            "messages[1].content",
        ),
        (
            base().message(Message::assistant_tool_calls(vec![ToolCall::function(
                "", "f", "{}",
            )])),
            "messages[1].tool_calls[0].id",
        ),
        (
            base().message(Message::assistant_tool_calls(vec![ToolCall::function(
                "c", "bad name", "{}",
            )])),
            "messages[1].tool_calls[0].function.name",
        ),
        (
            base().tool(Tool::function("get weather")),
            "tools[0].function.name",
        ),
        (
            base().tool(Tool::function("f")).tool(Tool::function("f")),
            "tools[1].function.name",
        ),
        (
            base().tool(Tool::function("f").parameters(json!("object"))),
            "tools[0].function.parameters",
        ),
        (
            base()
                .tool(Tool::function("f"))
                .tool_choice(ToolChoice::Function("g".into())),
            "tool_choice",
        ),
        (
            ChatRequest {
                top_logprobs: Some(3),
                ..base()
            },
            "top_logprobs",
        ),
        (
            ChatRequest {
                stream_options: Some(Default::default()),
                ..base()
            },
            "stream_options",
        ),
        (base().temperature(2.5), "temperature"),
        (base().temperature(f64::NAN), "temperature"),
        (base().top_p(1.5), "top_p"),
        (base().presence_penalty(-3.0), "presence_penalty"),
        (base().logprobs(21), "top_logprobs"),
        (
            ChatRequest {
                logit_bias: Some([("50256".to_owned(), -101)].into()),
                ..base()
            },
            "logit_bias.50256",
        ),
        (
            base().response_format(ResponseFormat::json_schema("my schema", json!({}))),
            "response_format.json_schema.name",
        ),
        (base().extra("temperature", 0.3), "extra.temperature"),
    ];
    for (request, field) in cases {
        assert_eq!(field_of(&request), field, "{request:?}");
    }
}

#[test]
fn n_range_is_configurable() {
    let request = base().n(16);
    assert!(request.validate().is_err());
    let rules = ValidationRules {
        max_choices: 128,
        ..ValidationRules::default()
    };
    request.validate_with(&rules).unwrap();
    base()
        .temperature(3.0)
        .validate_with(&ValidationRules::permissive())
        .unwrap();
}

#[test]
fn function_names_name_the_offending_character_or_length() {
    assert_eq!(check_function_name("get_weather-2"), Ok(()));
    assert!(
        check_function_name("get.weather")
            .unwrap_err()
            .contains("'.'")
    );
    assert!(
        check_function_name("wetter_für_heute")
            .unwrap_err()
            .contains("'ü'")
    );
    assert!(
        check_function_name(&"a".repeat(65))
            .unwrap_err()
            .contains("65 characters")
    );
    check_function_name(&"a".repeat(64)).unwrap();
    assert!(check_function_name("").unwrap_err().contains("empty"));
}

#[test]
fn typed_field_list_matches_the_type() {
    let full = ChatRequest {
        model: "m".into(),
        messages: vec![Message::user("x")],
        max_tokens: Some(1),
        max_completion_tokens: Some(1),
        n: Some(1),
        temperature: Some(1.0),
        top_p: Some(1.0),
        stop: Some("x".into()),
        seed: Some(1),
        frequency_penalty: Some(0.0),
        presence_penalty: Some(0.0),
        logit_bias: Some(Default::default()),
        logprobs: Some(true),
        top_logprobs: Some(1),
        response_format: Some(ResponseFormat::Text),
        tools: vec![Tool::function("f")],
        tool_choice: Some(ToolChoice::Auto),
        parallel_tool_calls: Some(true),
        stream: Some(true),
        stream_options: Some(Default::default()),
        user: Some("u".into()),
        safety_identifier: Some("s".into()),
        prompt_cache_key: Some("k".into()),
        prompt_cache_retention: Some("24h".into()),
        prompt_cache_options: Some(json!({})),
        metadata: Some(Default::default()),
        service_tier: Some(crate::wire::ServiceTier::Auto),
        modalities: Some(vec![]),
        reasoning_effort: Some(crate::wire::ReasoningEffort::Low),
        verbosity: Some("low".into()),
        store: Some(false),
        prediction: Some(json!({})),
        audio: Some(json!({})),
        web_search_options: Some(json!({})),
        moderation: Some(json!({})),
        function_call: Some(json!("auto")),
        functions: Some(vec![]),
        enable_thinking: Some(true),
        thinking_budget: Some(1),
        enable_search: Some(true),
        search_options: Some(json!({})),
        extra: Default::default(),
    };
    let json = serde_json::to_value(&full).unwrap();
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut typed = TYPED_REQUEST_FIELDS.to_vec();
    keys.sort_unstable();
    typed.sort_unstable();
    assert_eq!(keys, typed);
}
