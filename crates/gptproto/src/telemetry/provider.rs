//! `gen_ai.provider.name` from the server's host, and `server.address` / `server.port`.

use http::Uri;

/// Domains and the provider each belongs to (a host is the domain or under it).
const PROVIDERS: [(&str, &str); 11] = [
    ("gptproto.com", "gptproto"),
    ("openai.azure.com", "azure.ai.openai"),
    ("deepseek.com", "deepseek"),
    ("groq.com", "groq"),
    ("mistral.ai", "mistral_ai"),
    ("x.ai", "x_ai"),
    ("perplexity.ai", "perplexity"),
    ("generativelanguage.googleapis.com", "gcp.gemini"),
    ("aiplatform.googleapis.com", "gcp.vertex_ai"),
    ("aliyuncs.com", "dashscope"),
    ("openrouter.ai", "openrouter"),
];

/// The provider a host belongs to, as the GenAI conventions name it: their well-known value
/// when there is one, a custom one for GPTProto, DashScope and OpenRouter, and `openai` (the
/// flavour of the API spoken) for any other host (a local vLLM, llama.cpp, Ollama...).
pub(crate) fn provider_of(host: &str) -> &'static str {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    PROVIDERS
        .iter()
        .find(|(domain, _)| {
            host.strip_suffix(domain)
                .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
        })
        .map_or("openai", |&(_, provider)| provider)
}

/// `server.address` and `server.port` of a URI: the host alone (never userinfo, path or
/// query) and the port, the scheme's when none is written.
pub(crate) fn server_of(uri: &Uri) -> (String, u16) {
    let host = uri.host().unwrap_or_default();
    let host = host
        .strip_prefix('[')
        .and_then(|host| host.strip_suffix(']'))
        .unwrap_or(host);
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("http") {
            80
        } else {
            443
        });
    (host.to_owned(), port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_map_to_the_conventions_names() {
        for (host, provider) in [
            ("gptproto.com", "gptproto"),
            ("api.gptproto.com", "gptproto"),
            ("api.openai.com", "openai"),
            ("my-team.openai.azure.com", "azure.ai.openai"),
            ("api.deepseek.com", "deepseek"),
            ("API.GROQ.COM.", "groq"),
            ("api.mistral.ai", "mistral_ai"),
            ("api.x.ai", "x_ai"),
            ("dashscope-intl.aliyuncs.com", "dashscope"),
            ("openrouter.ai", "openrouter"),
            ("127.0.0.1", "openai"),
            ("notgptproto.com", "openai"),
        ] {
            assert_eq!(provider_of(host), provider, "{host}");
        }
    }

    #[test]
    fn the_server_is_the_host_and_port_only() {
        let uri: Uri = "https://user:secret@api.example.com/v1/chat/completions?key=sk-1"
            .parse()
            .unwrap();
        assert_eq!(server_of(&uri), ("api.example.com".to_owned(), 443));
        let uri: Uri = "http://[::1]:8080/v1".parse().unwrap();
        assert_eq!(server_of(&uri), ("::1".to_owned(), 8080));
        let uri: Uri = "http://localhost/v1".parse().unwrap();
        assert_eq!(server_of(&uri), ("localhost".to_owned(), 80));
    }
}
