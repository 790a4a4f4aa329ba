use super::*;
use http::HeaderValue;
use serde_json::json;

use crate::Message;
use crate::provider::{Provider, ReasoningReplay};
use crate::validate::ValidationRules;

fn config(scheme: AuthScheme) -> ClientConfig {
    ClientConfig::builder()
        .api_key("sk-abc123")
        .auth_scheme(scheme)
        .header("x-team", "llm")
        .build()
        .unwrap()
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.append(*name, HeaderValue::from_str(value).unwrap());
    }
    headers
}

#[test]
fn builds_the_request_with_raw_or_bearer_auth() {
    let chat = ChatRequest::new("qwen-turbo").user("who are you?");
    let request = config(AuthScheme::Raw).build_request(&chat).unwrap();
    assert_eq!(request.method(), http::Method::POST);
    assert_eq!(request.uri(), "https://gptproto.com/v1/chat/completions");
    assert_eq!(request.headers()["authorization"], "sk-abc123");
    assert!(request.headers()["authorization"].is_sensitive());
    assert_eq!(request.headers()["content-type"], "application/json");
    assert_eq!(request.headers()["accept"], "application/json");
    assert_eq!(request.headers()["x-team"], "llm");
    let body: serde_json::Value = serde_json::from_slice(request.body()).unwrap();
    assert_eq!(
        body,
        json!({"model": "qwen-turbo", "messages": [{"role": "user", "content": "who are you?"}]})
    );

    let streamed = config(AuthScheme::Bearer)
        .build_request(&chat.stream(true))
        .unwrap();
    assert_eq!(streamed.headers()["authorization"], "Bearer sk-abc123");
    assert_eq!(streamed.headers()["accept"], "text/event-stream");
}

#[test]
fn auth_is_raw_on_gptproto_and_bearer_elsewhere_unless_chosen() {
    let chat = ChatRequest::new("m").user("x");
    let sent = |base_url: &str, scheme: Option<AuthScheme>| {
        let mut builder = ClientConfig::builder().base_url(base_url).api_key("sk-1");
        if let Some(scheme) = scheme {
            builder = builder.auth_scheme(scheme);
        }
        let config = builder.build().unwrap();
        let request = config.build_request(&chat).unwrap();
        (
            config.auth_scheme(),
            request.headers()["authorization"]
                .to_str()
                .unwrap()
                .to_owned(),
        )
    };
    assert_eq!(
        sent("https://gptproto.com/v1", None),
        (AuthScheme::Raw, "sk-1".into())
    );
    assert_eq!(
        sent("https://API.GPTProto.com./v1", None),
        (AuthScheme::Raw, "sk-1".into())
    );
    assert_eq!(
        sent("https://api.openai.com/v1", None),
        (AuthScheme::Bearer, "Bearer sk-1".into())
    );
    assert_eq!(
        sent("http://127.0.0.1:8080/v1", None),
        (AuthScheme::Bearer, "Bearer sk-1".into())
    );
    // Not fooled by look-alikes.
    for host in [
        "https://gptproto.com.evil.example/v1",
        "https://notgptproto.com/v1",
    ] {
        assert_eq!(sent(host, None).0, AuthScheme::Bearer, "{host}");
    }
    // A chosen scheme is kept, whatever the host.
    assert_eq!(
        sent("https://api.openai.com/v1", Some(AuthScheme::Raw)).1,
        "sk-1"
    );
    assert_eq!(
        sent("https://gptproto.com/v1", Some(AuthScheme::Bearer)).1,
        "Bearer sk-1"
    );
}

#[test]
fn gptprotos_rules_and_key_apply_on_its_hosts_only() {
    let eleven = ChatRequest::new("m").user("x").n(11).temperature(3.0);
    let gptproto = ClientConfig::builder().build().unwrap();
    assert!(gptproto.requires_api_key());
    let error = gptproto.build_request(&eleven).unwrap_err();
    assert!(error.is_validation(), "{error}");
    let local = ClientConfig::builder()
        .base_url("http://127.0.0.1:8080/v1")
        .build()
        .unwrap();
    assert!(!local.requires_api_key());
    assert!(
        local.build_request(&eleven).is_ok(),
        "vLLM and others accept more"
    );
    // Chosen rules apply whatever the host.
    let strict_local = ClientConfig::builder()
        .base_url("http://127.0.0.1:8080/v1")
        .validation_rules(ValidationRules::gptproto())
        .build()
        .unwrap();
    assert!(strict_local.build_request(&eleven).is_err());
}

#[test]
fn the_provider_is_decided_once_from_the_base_url_or_chosen() {
    let at = |url: &str| ClientConfig::builder().base_url(url).build().unwrap();
    let openai = at("https://api.openai.com/v1");
    assert_eq!(openai.provider(), Provider::OpenAi);
    assert!(openai.requires_api_key(), "a hosted API needs a key");
    assert_eq!(openai.auth_scheme(), AuthScheme::Bearer);
    // A key of one's own in a header (Azure's `api-key`) is a key.
    let azure = ClientConfig::builder()
        .base_url("https://team.openai.azure.com/openai/v1")
        .header("api-key", "k")
        .build()
        .unwrap();
    assert!(!azure.requires_api_key());
    // Chosen by name: a llama.cpp server behind a name of its own, a GPTProto gateway.
    let chosen = ClientConfig::builder()
        .base_url("https://llm.internal.example/v1")
        .provider(Provider::GptProto)
        .api_key("sk-1")
        .build()
        .unwrap();
    assert_eq!(chosen.auth_scheme(), AuthScheme::Raw);
    assert!(chosen.requires_api_key());
    assert_eq!(chosen.validation_rules(), &ValidationRules::gptproto());
    // What the builder sets apart wins over the profile.
    let bearer = ClientConfig::builder()
        .provider(Provider::GptProto)
        .auth_scheme(AuthScheme::Bearer)
        .build()
        .unwrap();
    assert_eq!(bearer.auth_scheme(), AuthScheme::Bearer);
    assert_eq!(bearer.profile().auth_scheme, AuthScheme::Bearer);
}

/// A conversation of two turns, the second a tool loop under way, each assistant message with
/// its reasoning: what each provider is sent.
#[test]
fn reasoning_goes_back_as_the_provider_requires() {
    let thought = |text: &str, reasoning: &str| Message {
        reasoning_content: Some(reasoning.to_owned()),
        ..Message::assistant(text)
    };
    let request = ChatRequest::new("m")
        .user("first question")
        .message(thought("first answer", "first thoughts"))
        .user("second question")
        .message(Message {
            reasoning: Some("second thoughts".to_owned()),
            ..Message::assistant_tool_calls(vec![crate::wire::ToolCall::function(
                "call_1", "lookup", "{}",
            )])
        })
        .message(Message::tool("call_1", "42"));
    let sent = |provider: Provider, replay: Option<ReasoningReplay>| {
        let mut builder = ClientConfig::builder()
            .base_url("http://127.0.0.1:8080/v1")
            .provider(provider);
        if let Some(replay) = replay {
            builder = builder.reasoning_replay(replay);
        }
        let body = builder.build().unwrap().build_request(&request).unwrap();
        let body: serde_json::Value = serde_json::from_slice(body.body()).unwrap();
        let messages = body["messages"].as_array().unwrap().clone();
        (
            messages[1].get("reasoning_content").cloned(),
            messages[3].get("reasoning").cloned(),
        )
    };
    let none = || (None, None);
    // DeepSeek: earlier turns' reasoning rejected, the tool loop's required.
    assert_eq!(
        sent(Provider::DeepSeek, None),
        (None, Some(json!("second thoughts")))
    );
    assert_eq!(sent(Provider::OpenAi, None), none());
    assert_eq!(
        sent(Provider::OpenRouter, None),
        (
            Some(json!("first thoughts")),
            Some(json!("second thoughts"))
        )
    );
    assert_eq!(
        sent(Provider::DeepSeek, Some(ReasoningReplay::Omit)),
        none()
    );
    // The caller's request is left as it was.
    assert_eq!(
        request.messages[1].reasoning_content.as_deref(),
        Some("first thoughts")
    );
}

#[test]
fn per_request_headers_override_defaults() {
    let chat = ChatRequest::new("m").user("x");
    let request = config(AuthScheme::Raw)
        .build_request_with_headers(&chat, &headers(&[("x-team", "a"), ("x-team", "b")]))
        .unwrap();
    let values: Vec<_> = request.headers().get_all("x-team").iter().collect();
    assert_eq!(values, ["a", "b"]);
}

#[test]
fn base_urls_join_and_bad_ones_are_named() {
    for (base, expected) in [
        (
            "http://127.0.0.1:8080/v1/",
            "http://127.0.0.1:8080/v1/chat/completions",
        ),
        (
            "https://api.deepseek.com",
            "https://api.deepseek.com/chat/completions",
        ),
        (
            "https://x.openai.azure.com/openai/deployments/d?api-version=2024-10-21",
            "https://x.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21",
        ),
    ] {
        let config = ClientConfig::builder().base_url(base).build().unwrap();
        assert_eq!(config.chat_completions_uri(), expected);
    }
    for (base, needle) in [
        ("gptproto.com/v1", "needs a scheme"),
        ("ftp://gptproto.com", "scheme \"ftp\""),
        ("https://user:pw@gptproto.com/v1", "credentials"),
        ("not a url", "needs a scheme"),
        ("https://exa mple.com/v1", "not a URL"),
        ("https:///v1", "not a URL"),
    ] {
        let error = ClientConfig::builder().base_url(base).build().unwrap_err();
        assert!(
            error.is_config() && error.to_string().contains(needle),
            "{base}: {error}"
        );
    }
}

#[test]
fn a_key_with_a_newline_is_refused_without_printing_it() {
    let error = ClientConfig::builder()
        .api_key("sk-secret\nx")
        .build()
        .unwrap_err();
    assert!(!error.to_string().contains("secret"), "{error}");
    assert!(!format!("{error:?}").contains("secret"));
}

#[test]
fn config_debug_hides_the_key() {
    let text = format!("{:?}", config(AuthScheme::Bearer));
    assert!(!text.contains("abc123"), "{text}");
}

#[test]
fn invalid_requests_are_not_built() {
    let error = config(AuthScheme::Raw)
        .build_request(&ChatRequest::new("m"))
        .unwrap_err();
    assert!(error.is_validation());
}

#[test]
fn classifies_a_completion() {
    let body = br#"

{"id":"chatcmpl-abc123","object":"chat.completion","created":1699896916,"model":"qwen-turbo","choices":[{"index":0,"message":{"role":"assistant","content":"I am Qwen."},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":4,"total_tokens":16}}"#;
    let completion = classify_response(StatusCode::OK, &HeaderMap::new(), body).unwrap();
    assert_eq!(completion.text(), Some("I am Qwen."));
}

#[test]
fn classifies_gptproto_and_openai_errors() {
    let error = classify_response(
        StatusCode::UNAUTHORIZED,
        &headers(&[("x-request-id", "req-1")]),
        br#"{"error":{"message":"Invalid signature","type":"401"}}"#,
    )
    .unwrap_err();
    assert!(error.is_auth());
    assert_eq!(error.status(), Some(StatusCode::UNAUTHORIZED));
    assert_eq!(error.request_id(), Some("req-1"));
    assert_eq!(
        error.to_string(),
        "HTTP 401 Unauthorized: Invalid signature (type: 401, request id: req-1)"
    );

    let error = classify_response(
        StatusCode::FORBIDDEN,
        &HeaderMap::new(),
        br#"{"error":{"message":"Insufficient balance","type":"permission_error","code":"insufficient_balance"}}"#,
    )
    .unwrap_err();
    assert!(error.is_insufficient_balance() && !error.is_auth());
}

#[test]
fn qwen_content_policy_with_the_request_id_in_the_body() {
    let error = classify_response(
        StatusCode::BAD_REQUEST,
        &HeaderMap::new(),
        br#"{"error":{"code":"data_inspection_failed","param":null,"message":"Input data may contain inappropriate content.","type":"data_inspection_failed"},"id":"chatcmpl-1","request_id":"5c3c8f1e-xx"}"#,
    )
    .unwrap_err();
    assert!(error.is_content_policy());
    assert_eq!(error.request_id(), Some("5c3c8f1e-xx"));
}

#[test]
fn rate_limit_with_retry_hints() {
    let api = api_error(
        StatusCode::TOO_MANY_REQUESTS,
        &headers(&[("retry-after-ms", "1500.5"), ("retry-after", "7")]),
        br#"{"error":{"message":"Rate limit reached","type":"rate_limit_error","code":"rate_limit_exceeded"}}"#,
    );
    assert!(api.is_rate_limited());
    assert_eq!(
        api.retry_after(),
        Some(RetryAfter::Delay(Duration::from_micros(1_500_500)))
    );

    let api = api_error(
        StatusCode::TOO_MANY_REQUESTS,
        &headers(&[("retry-after", "2.5")]),
        b"",
    );
    assert_eq!(
        api.retry_after(),
        Some(RetryAfter::Delay(Duration::from_millis(2500)))
    );

    let api = api_error(
        StatusCode::SERVICE_UNAVAILABLE,
        &headers(&[
            ("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT"),
            ("x-should-retry", "false"),
        ]),
        b"",
    );
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
    assert_eq!(api.retry_after(), Some(RetryAfter::At(at)));
    assert_eq!(api.should_retry_header(), Some(false));

    let api = api_error(
        StatusCode::TOO_MANY_REQUESTS,
        &headers(&[("retry-after", "soon")]),
        b"",
    );
    assert_eq!(api.retry_after(), None);
}

#[test]
fn a_non_json_error_body_is_quoted() {
    let error = classify_response(
        StatusCode::BAD_GATEWAY,
        &HeaderMap::new(),
        b"<html><body>502 Bad Gateway</body></html>",
    )
    .unwrap_err();
    assert!(error.is_server_error());
    assert!(
        error.to_string().contains("<html><body>502 Bad Gateway"),
        "{error}"
    );
    let empty =
        classify_response(StatusCode::SERVICE_UNAVAILABLE, &HeaderMap::new(), b"").unwrap_err();
    assert!(empty.to_string().contains("Service Unavailable"), "{empty}");
}

#[test]
fn an_error_object_in_a_200_body_is_an_error() {
    let error = classify_response(
        StatusCode::OK,
        &HeaderMap::new(),
        br#"{"error":{"message":"quota","code":"insufficient_quota"}}"#,
    )
    .unwrap_err();
    assert!(error.is_insufficient_balance(), "{error}");
}

#[test]
fn a_200_that_is_not_a_completion_is_a_protocol_error() {
    let error = classify_response(StatusCode::OK, &HeaderMap::new(), b"OK").unwrap_err();
    assert!(error.is_protocol());
    assert!(error.to_string().contains("HTTP 200"), "{error}");
    let error =
        classify_response(StatusCode::OK, &HeaderMap::new(), br#"{"choices":"many"}"#).unwrap_err();
    assert!(
        error.to_string().contains("not a chat completion"),
        "{error}"
    );
}

#[test]
fn an_unasked_event_stream_body_is_accumulated() {
    let body = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
    let completion = classify_response(
        StatusCode::OK,
        &headers(&[("content-type", "text/event-stream; charset=utf-8")]),
        body,
    )
    .unwrap();
    assert_eq!(completion.text(), Some("hi"));
}
