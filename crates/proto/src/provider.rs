//! Which server a base URL names, and what follows from it: [`Provider`] and its
//! [`ProviderProfile`] — the auth scheme, whether a key is needed, the validation rules and the
//! server's quirks, decided here once. Everything else reads the profile
//! ([`ClientConfig::profile`](crate::exchange::ClientConfig::profile)).

use std::fmt;
use std::str::FromStr;

use http::Uri;

use crate::Error;
use crate::validate::ValidationRules;

/// A server speaking the chat-completions API, as told by its base URL's host (or chosen by
/// name: [`FromStr`], [`name`](Self::name)).
///
/// ```
/// use gptproto_proto::provider::Provider;
///
/// let provider = |url: &str| Provider::of_base_url(&url.parse().unwrap());
/// assert_eq!(provider("https://gptproto.com/v1"), Provider::GptProto);
/// assert_eq!(provider("https://dashscope-intl.aliyuncs.com/compatible-mode/v1"), Provider::DashScope);
/// assert_eq!(provider("http://localhost:11434/v1"), Provider::Ollama);
/// assert_eq!(provider("http://127.0.0.1:8080/v1"), Provider::Unknown);
/// assert_eq!("llama.cpp".parse::<Provider>()?, Provider::LlamaCpp);
/// # Ok::<(), gptproto_proto::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Provider {
    /// GPTProto (`gptproto.com` and its subdomains): an aggregator of many vendors' models.
    GptProto,
    /// OpenAI (`api.openai.com`).
    OpenAi,
    /// Azure OpenAI (`*.openai.azure.com`).
    AzureOpenAi,
    /// Alibaba Cloud Model Studio's compatible mode, DashScope (`*.aliyuncs.com`): Qwen.
    DashScope,
    /// DeepSeek (`api.deepseek.com`).
    DeepSeek,
    /// OpenRouter (`openrouter.ai`): an aggregator.
    OpenRouter,
    /// Groq (`api.groq.com`).
    Groq,
    /// Mistral AI (`api.mistral.ai`).
    Mistral,
    /// xAI (`api.x.ai`).
    XAi,
    /// Perplexity (`api.perplexity.ai`).
    Perplexity,
    /// Google's Gemini API, OpenAI-compatible (`generativelanguage.googleapis.com`).
    Gemini,
    /// Google Vertex AI (`aiplatform.googleapis.com`, `REGION-aiplatform.googleapis.com`).
    VertexAi,
    /// A vLLM server (no host tells it: choose it by name).
    Vllm,
    /// A llama.cpp server (no host tells it: choose it by name).
    LlamaCpp,
    /// An Ollama server (port 11434, its default).
    Ollama,
    /// Any other server: only what every server requires.
    #[default]
    Unknown,
}

/// Domains and the provider each belongs to: a host is the domain or under it.
const DOMAINS: [(&str, Provider); 12] = [
    ("gptproto.com", Provider::GptProto),
    ("openai.com", Provider::OpenAi),
    ("openai.azure.com", Provider::AzureOpenAi),
    ("aliyuncs.com", Provider::DashScope),
    ("deepseek.com", Provider::DeepSeek),
    ("openrouter.ai", Provider::OpenRouter),
    ("groq.com", Provider::Groq),
    ("mistral.ai", Provider::Mistral),
    ("x.ai", Provider::XAi),
    ("perplexity.ai", Provider::Perplexity),
    ("generativelanguage.googleapis.com", Provider::Gemini),
    ("aiplatform.googleapis.com", Provider::VertexAi),
];

/// Ollama's default port: a server there is taken for Ollama, whatever its host.
const OLLAMA_PORT: u16 = 11434;

/// Every provider, with its name and the other names it is known by.
const NAMES: [(Provider, &str, &[&str]); 16] = [
    (Provider::GptProto, "gptproto", &[]),
    (Provider::OpenAi, "openai", &[]),
    (Provider::AzureOpenAi, "azure", &["azure-openai"]),
    (Provider::DashScope, "dashscope", &["qwen", "aliyun"]),
    (Provider::DeepSeek, "deepseek", &[]),
    (Provider::OpenRouter, "openrouter", &[]),
    (Provider::Groq, "groq", &[]),
    (Provider::Mistral, "mistral", &[]),
    (Provider::XAi, "xai", &["x.ai", "grok"]),
    (Provider::Perplexity, "perplexity", &[]),
    (Provider::Gemini, "gemini", &[]),
    (Provider::VertexAi, "vertex", &["vertex-ai"]),
    (Provider::Vllm, "vllm", &[]),
    (
        Provider::LlamaCpp,
        "llama.cpp",
        &["llamacpp", "llama-cpp", "llama-server"],
    ),
    (Provider::Ollama, "ollama", &[]),
    (Provider::Unknown, "unknown", &["other", "generic"]),
];

impl Provider {
    /// Every provider, in the order of [`name`](Self::name)s that the docs list.
    pub fn all() -> impl Iterator<Item = Self> {
        NAMES.iter().map(|&(provider, _, _)| provider)
    }

    /// The provider a base URL names: by its host's domain (any case, a trailing dot
    /// ignored), Ollama by its port, else [`Unknown`](Self::Unknown).
    pub fn of_base_url(base_url: &Uri) -> Self {
        Self::of_host(base_url.host().unwrap_or_default(), base_url.port_u16())
    }

    /// The provider at `host` (and `port`, when one is written): as
    /// [`of_base_url`](Self::of_base_url).
    pub fn of_host(host: &str, port: Option<u16>) -> Self {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let by_domain = DOMAINS.iter().find(|(domain, _)| {
            host.strip_suffix(domain)
                .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
        });
        match by_domain {
            Some(&(_, provider)) => provider,
            // Vertex AI's regional endpoints: `us-central1-aiplatform.googleapis.com`.
            None if host.ends_with("-aiplatform.googleapis.com") => Self::VertexAi,
            None if port == Some(OLLAMA_PORT) => Self::Ollama,
            None => Self::Unknown,
        }
    }

    /// The name a config or the command line gives it (`gptproto`, `dashscope`, `llama.cpp`).
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(provider, _, _)| *provider == self)
            .map_or("unknown", |(_, name, _)| name)
    }

    /// `gen_ai.provider.name` in OpenTelemetry's GenAI conventions: their well-known value
    /// where there is one, this crate's for GPTProto, DashScope and OpenRouter, and `openai`
    /// (the flavour of the API spoken) for the servers people run themselves and unknown ones.
    pub fn otel_name(self) -> &'static str {
        match self {
            Self::GptProto => "gptproto",
            Self::AzureOpenAi => "azure.ai.openai",
            Self::DashScope => "dashscope",
            Self::DeepSeek => "deepseek",
            Self::OpenRouter => "openrouter",
            Self::Groq => "groq",
            Self::Mistral => "mistral_ai",
            Self::XAi => "x_ai",
            Self::Perplexity => "perplexity",
            Self::Gemini => "gcp.gemini",
            Self::VertexAi => "gcp.vertex_ai",
            Self::OpenAi | Self::Vllm | Self::LlamaCpp | Self::Ollama | Self::Unknown => "openai",
        }
    }

    /// Whether it is a server people run themselves (vLLM, llama.cpp, Ollama) or an unknown
    /// one, rather than a hosted API.
    pub fn is_self_hosted(self) -> bool {
        matches!(
            self,
            Self::Vllm | Self::LlamaCpp | Self::Ollama | Self::Unknown
        )
    }

    /// What the client does for it: see [`ProviderProfile`].
    pub fn profile(self) -> ProviderProfile {
        let validation = match self {
            Self::GptProto => ValidationRules::gptproto(),
            Self::OpenAi | Self::AzureOpenAi => ValidationRules {
                max_choices: 128,
                check_ranges: true,
            },
            _ => ValidationRules::permissive(),
        };
        let reasoning_replay = match self {
            // DeepSeek rejects reasoning of earlier turns in the input (deepseek-reasoner) and
            // wants it back while a turn's tool calls go on (thinking with tools).
            Self::DeepSeek => ReasoningReplay::CurrentTurn,
            // An aggregator's models include DeepSeek's; the servers people run pass the
            // messages to a chat template, which drops earlier turns' thinking anyway.
            Self::GptProto | Self::Vllm | Self::LlamaCpp | Self::Ollama | Self::Unknown => {
                ReasoningReplay::CurrentTurn
            }
            // OpenRouter asks for reasoning back, to continue it.
            Self::OpenRouter => ReasoningReplay::Keep,
            // The others send no `reasoning_content` of theirs to send back, and some reject
            // fields they do not know in a message.
            _ => ReasoningReplay::Omit,
        };
        ProviderProfile {
            provider: self,
            auth_scheme: match self {
                Self::GptProto => AuthScheme::Raw,
                _ => AuthScheme::Bearer,
            },
            requires_api_key: !self.is_self_hosted(),
            validation,
            reasoning_replay,
            thinking_streams_only: self == Self::DashScope,
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Provider {
    type Err = Error;

    /// A provider by its [`name`](Provider::name) or another it is known by, in any case.
    fn from_str(text: &str) -> Result<Self, Error> {
        let wanted = text.trim().to_ascii_lowercase();
        NAMES
            .iter()
            .find(|(_, name, aliases)| *name == wanted || aliases.contains(&wanted.as_str()))
            .map(|&(provider, _, _)| provider)
            .ok_or_else(|| {
                let names: Vec<&str> = NAMES.iter().map(|(_, name, _)| *name).collect();
                Error::config(format!(
                    "unknown provider {text:?}; known: {}",
                    names.join(", ")
                ))
            })
    }
}

/// How the API key is sent in the `Authorization` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AuthScheme {
    /// The provider's ([`ProviderProfile::auth_scheme`]): [`Raw`](Self::Raw) for GPTProto's
    /// hosts (`gptproto.com` and its subdomains), [`Bearer`](Self::Bearer) for every other
    /// server. The default.
    #[default]
    Auto,
    /// The key is the whole header value, as GPTProto's chat-completions page shows.
    Raw,
    /// `Bearer <key>`, the convention of every other OpenAI-compatible server (OpenAI,
    /// DeepSeek, vLLM, Ollama, OpenRouter, DashScope's compatible mode).
    Bearer,
}

/// What earlier assistant messages' reasoning text (`reasoning_content`, `reasoning`) becomes
/// when a conversation is sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReasoningReplay {
    /// Sent back as the server sent it.
    Keep,
    /// Sent back only in the turn under way (the assistant messages after the last user
    /// message: a tool loop's), left out of earlier turns.
    CurrentTurn,
    /// Never sent back.
    Omit,
}

impl ReasoningReplay {
    /// Its name in a config (`keep`, `current-turn`, `omit`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Keep => "keep",
            Self::CurrentTurn => "current-turn",
            Self::Omit => "omit",
        }
    }

    /// From how many messages on reasoning is kept, in a conversation of `messages`: the
    /// messages before that index lose theirs.
    pub(crate) fn kept_from(self, messages: &[crate::Message]) -> usize {
        match self {
            Self::Keep => 0,
            Self::Omit => messages.len(),
            Self::CurrentTurn => messages
                .iter()
                .rposition(|message| message.role == crate::wire::Role::User)
                .map_or(0, |last_user| last_user + 1),
        }
    }
}

/// What a provider is known to need, and what the client does for it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProviderProfile {
    /// Whose profile it is.
    pub provider: Provider,
    /// How the key is sent: the raw key on GPTProto (its documented header), `Bearer`
    /// elsewhere.
    pub auth_scheme: AuthScheme,
    /// Whether it answers nothing without a key (the hosted APIs), so that a client refuses
    /// to start without one rather than send requests that can only fail.
    pub requires_api_key: bool,
    /// The checks requests pass before they are sent: GPTProto's `n` at most 10 and OpenAI's
    /// numeric ranges, OpenAI's `n` at most 128, only what every server requires elsewhere.
    pub validation: ValidationRules,
    /// What becomes of earlier answers' reasoning text when a conversation is sent again.
    pub reasoning_replay: ReasoningReplay,
    /// Thinking only when streamed (DashScope's Qwen3: "enable_thinking must be set to false
    /// for non-streaming calls"): a call that is not streamed and asks for thinking is
    /// streamed underneath and folded into one completion. Whatever the provider, a call that
    /// the server refuses so is sent again that way.
    pub thinking_streams_only: bool,
}

impl Default for ProviderProfile {
    /// [`Provider::Unknown`]'s.
    fn default() -> Self {
        Provider::Unknown.profile()
    }
}

#[cfg(test)]
mod tests;
