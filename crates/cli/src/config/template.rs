//! What `gptproto config init` writes.

/// A commented starting file: every key, none set but the empty `default` profile.
pub(crate) const TEMPLATE: &str = r#"# gptproto's configuration (`gptproto config show` prints what applies, and from where).
#
# Precedence: a flag, then its environment variable, then the profile, then the default.
# The profile: --profile NAME or GPTPROTO_PROFILE, else `default-profile` below, else the
# profile called "default".

# default-profile = "default"

[profiles.default]
# base-url = "https://gptproto.com/v1"
# auth = "auto"                  # auto (raw key on gptproto.com, Bearer elsewhere), raw, bearer
# provider = "llama.cpp"         # whose API, when the base URL does not tell: gptproto, openai,
#                                # azure, dashscope, deepseek, openrouter, groq, mistral, xai,
#                                # perplexity, gemini, vertex, vllm, llama.cpp, ollama, unknown
# model = "qwen-turbo"
# system = "Answer briefly."
# temperature = 0.7
# max-tokens = 1024
# extra = { enable_thinking = true }   # merged into every request body
# cacert = "/etc/ssl/corporate-ca.pem" # trusted next to the system's and the bundled roots
# allow-insecure-http = true            # plain http:// to a LAN host (the key unencrypted)
# log = true                     # record exchanges in the history (`gptproto logs`)
# fallback = ["qwen-plus"]        # models tried when this one is missing, down or rate limited
#                                # ("openai:gpt-4o-mini": a model of profile openai's provider)
#
# The key, one of:
# api-key-env = "GPTPROTO_API_KEY"     # an environment variable
# api-key-cmd = "pass show gptproto"   # a command that prints it
# api-key = "sk-..."                   # the key itself: this file must then be chmod 600

# [profiles.local]
# base-url = "http://localhost:8080/v1"
# model = "qwen2.5-0.5b-instruct"

# [profiles.openai]
# base-url = "https://api.openai.com/v1"
# model = "gpt-4o-mini"
# api-key-env = "OPENAI_API_KEY"

# Prices per million tokens, in your billing currency (none are bundled: they change, and
# differ by provider). `chat -u` shows each answer's cost, the history records it, and
# `gptproto logs --usage` totals it. A profile may have its own: [profiles.NAME.prices."MODEL"].
# [prices."qwen-turbo"]
# input = 0.05
# output = 0.2
# cached-input = 0.01            # optional: prompt tokens served from the provider's cache
# batch-factor = 0.5             # optional: the share a batch pays
"#;
