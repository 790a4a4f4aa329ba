use super::*;
use crate::Message;
use crate::wire::Role;

fn of(url: &str) -> Provider {
    Provider::of_base_url(&url.parse().unwrap())
}

#[test]
fn base_urls_name_their_provider() {
    for (url, provider) in [
        ("https://gptproto.com/v1", Provider::GptProto),
        ("https://API.GPTPROTO.COM./v1", Provider::GptProto),
        ("https://api.openai.com/v1", Provider::OpenAi),
        (
            "https://team.openai.azure.com/openai/v1",
            Provider::AzureOpenAi,
        ),
        (
            "https://dashscope.aliyuncs.com/compatible-mode/v1",
            Provider::DashScope,
        ),
        (
            "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
            Provider::DashScope,
        ),
        ("https://api.deepseek.com", Provider::DeepSeek),
        ("https://openrouter.ai/api/v1", Provider::OpenRouter),
        ("https://api.groq.com/openai/v1", Provider::Groq),
        ("https://api.mistral.ai/v1", Provider::Mistral),
        ("https://api.x.ai/v1", Provider::XAi),
        ("https://api.perplexity.ai", Provider::Perplexity),
        (
            "https://generativelanguage.googleapis.com/v1beta/openai",
            Provider::Gemini,
        ),
        (
            "https://us-central1-aiplatform.googleapis.com/v1",
            Provider::VertexAi,
        ),
        ("https://aiplatform.googleapis.com/v1", Provider::VertexAi),
        ("http://localhost:11434/v1", Provider::Ollama),
        ("http://gpu-box:11434/v1", Provider::Ollama),
        ("http://127.0.0.1:8080/v1", Provider::Unknown),
        // A look-alike is not the provider.
        ("https://notgptproto.com/v1", Provider::Unknown),
        ("https://gptproto.com.evil.example/v1", Provider::Unknown),
        ("https://openai.com.evil.example/v1", Provider::Unknown),
    ] {
        assert_eq!(of(url), provider, "{url}");
    }
}

#[test]
fn every_provider_has_a_name_that_parses_back_and_unknown_names_are_listed() {
    for provider in Provider::all() {
        assert_eq!(provider.name().parse::<Provider>().unwrap(), provider);
        assert_eq!(provider.to_string(), provider.name());
        assert_eq!(provider.profile().provider, provider);
    }
    assert_eq!(Provider::all().count(), NAMES.len());
    assert_eq!(
        " LlamaCpp ".parse::<Provider>().unwrap(),
        Provider::LlamaCpp
    );
    assert_eq!("Qwen".parse::<Provider>().unwrap(), Provider::DashScope);
    let error = "dashscop".parse::<Provider>().unwrap_err().to_string();
    assert!(error.contains("unknown provider \"dashscop\""), "{error}");
    assert!(error.contains("dashscope, deepseek"), "{error}");
}

#[test]
fn the_profiles_say_what_each_provider_needs() {
    let gptproto = Provider::GptProto.profile();
    assert_eq!(gptproto.auth_scheme, AuthScheme::Raw);
    assert!(gptproto.requires_api_key);
    assert_eq!(gptproto.validation, ValidationRules::gptproto());
    for provider in Provider::all().filter(|&p| p != Provider::GptProto) {
        assert_eq!(
            provider.profile().auth_scheme,
            AuthScheme::Bearer,
            "{provider}"
        );
    }
    for provider in [
        Provider::Vllm,
        Provider::LlamaCpp,
        Provider::Ollama,
        Provider::Unknown,
    ] {
        let profile = provider.profile();
        assert!(!profile.requires_api_key, "{provider}");
        assert_eq!(profile.validation, ValidationRules::permissive());
        assert_eq!(provider.otel_name(), "openai");
    }
    assert!(Provider::OpenRouter.profile().requires_api_key);
    assert_eq!(Provider::OpenAi.profile().validation.max_choices, 128);
    assert!(Provider::DashScope.profile().thinking_streams_only);
    assert!(!Provider::GptProto.profile().thinking_streams_only);
    assert_eq!(
        Provider::DeepSeek.profile().reasoning_replay,
        ReasoningReplay::CurrentTurn
    );
    assert_eq!(
        Provider::OpenAi.profile().reasoning_replay,
        ReasoningReplay::Omit
    );
    assert_eq!(
        Provider::OpenRouter.profile().reasoning_replay,
        ReasoningReplay::Keep
    );
    assert_eq!(ProviderProfile::default().provider, Provider::Unknown);
}

#[test]
fn reasoning_is_kept_from_the_turn_under_way_or_as_the_replay_says() {
    let assistant = Message {
        role: Role::Assistant,
        ..Message::default()
    };
    let user = Message::user("go on");
    let tool = Message::tool("call_1", "42");
    // user, assistant, user, assistant (calls a tool), tool
    let messages = vec![
        user.clone(),
        assistant.clone(),
        user.clone(),
        assistant.clone(),
        tool,
    ];
    assert_eq!(ReasoningReplay::Keep.kept_from(&messages), 0);
    assert_eq!(ReasoningReplay::Omit.kept_from(&messages), 5);
    assert_eq!(ReasoningReplay::CurrentTurn.kept_from(&messages), 3);
    assert_eq!(ReasoningReplay::CurrentTurn.kept_from(&messages[..3]), 3);
    assert_eq!(ReasoningReplay::CurrentTurn.kept_from(&[assistant]), 0);
    for replay in [
        ReasoningReplay::Keep,
        ReasoningReplay::CurrentTurn,
        ReasoningReplay::Omit,
    ] {
        assert!(!replay.name().is_empty());
    }
}
