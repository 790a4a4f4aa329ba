//! The command line, as scripts rely on it.

use clap::{Parser, Subcommand, ValueEnum};

/// Chat with GPTProto, or any OpenAI-compatible server.
#[derive(Debug, Parser)]
#[command(name = "gptproto", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Send a prompt and print the answer as it arrives (interactive when no prompt is given on
    /// a terminal).
    ///
    /// Exit status: 0 success; 2 usage or invalid input; 3 authentication or permission
    /// (401, 403); 4 rate limited after retries (429); 5 server or network error or timeout;
    /// 6 request rejected (400, content policy included); 7 protocol error (malformed or
    /// truncated stream).
    Chat(ChatArgs),
}

/// How the API key is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Auth {
    /// The raw key on GPTProto's hosts (gptproto.com), `Bearer` on every other server.
    Auto,
    /// The key as the whole `Authorization` value (GPTProto's documented header).
    Raw,
    /// `Authorization: Bearer <key>` (OpenAI, DeepSeek, vLLM, Ollama, OpenRouter, ...).
    Bearer,
}

/// The response format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Format {
    /// Free text.
    Text,
    /// A JSON object.
    JsonObject,
    /// JSON following the schema in this file.
    JsonSchema(std::path::PathBuf),
}

/// `text`, `json_object` or `json_schema=FILE`.
fn format(value: &str) -> Result<Format, String> {
    match value {
        "text" => Ok(Format::Text),
        "json_object" => Ok(Format::JsonObject),
        _ => match value.strip_prefix("json_schema=") {
            Some(file) if !file.is_empty() => Ok(Format::JsonSchema(file.into())),
            _ => Err(format!(
                "{value:?}: use text, json_object or json_schema=FILE (a JSON Schema, or a \
                 {{\"name\",\"schema\",\"strict\"}} object as OpenAI's json_schema takes)"
            )),
        },
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct ChatArgs {
    /// The prompt; absent or "-" reads standard input.
    pub(crate) prompt: Option<String>,

    /// The model id.
    #[arg(short, long, env = "GPTPROTO_MODEL", default_value = "qwen-turbo")]
    pub(crate) model: String,

    /// A system message.
    #[arg(short, long)]
    pub(crate) system: Option<String>,

    /// The API base URL.
    #[arg(
        long,
        env = "GPTPROTO_BASE_URL",
        default_value = "https://gptproto.com/v1"
    )]
    pub(crate) base_url: String,

    /// The API key.
    #[arg(long, env = "GPTPROTO_API_KEY", hide_env_values = true)]
    pub(crate) api_key: Option<String>,

    /// How the key is sent: by the host (auto), or as chosen.
    #[arg(long, value_enum, default_value_t = Auth::Auto)]
    pub(crate) auth: Auth,

    /// Also trust the CA certificates in this PEM file (a private or corporate CA, a
    /// TLS-inspecting proxy), next to the bundled roots.
    #[arg(long, value_name = "FILE")]
    pub(crate) cacert: Option<std::path::PathBuf>,

    /// Ask for a non-streamed response.
    #[arg(long)]
    pub(crate) no_stream: bool,

    /// Print the final chat.completion object as one JSON document on stdout (accumulated when
    /// streamed) instead of the text.
    #[arg(long)]
    pub(crate) json: bool,

    /// The most tokens to generate.
    #[arg(long, value_name = "N")]
    pub(crate) max_tokens: Option<u32>,

    /// How many choices to generate.
    #[arg(short = 'n', value_name = "N")]
    pub(crate) n: Option<u32>,

    /// Sampling temperature.
    #[arg(long, value_name = "F")]
    pub(crate) temperature: Option<f64>,

    /// Nucleus sampling mass.
    #[arg(long, value_name = "F")]
    pub(crate) top_p: Option<f64>,

    /// A stop sequence (repeatable).
    #[arg(long, value_name = "S")]
    pub(crate) stop: Vec<String>,

    /// A sampling seed.
    #[arg(long, value_name = "N")]
    pub(crate) seed: Option<i64>,

    /// The response format: text, json_object, or json_schema=FILE (a JSON Schema file, or a
    /// {"name","schema","strict"} object as OpenAI's `json_schema` takes).
    #[arg(long, value_name = "FORMAT", value_parser = format)]
    pub(crate) response_format: Option<Format>,

    /// An image to send with the prompt: a file (sent as a data: URL) or a URL (repeatable).
    #[arg(long, value_name = "PATH|URL")]
    pub(crate) image: Vec<String>,

    /// JSON merged into the request body, e.g. '{"enable_thinking":true}'.
    #[arg(long, value_name = "JSON")]
    pub(crate) extra: Option<String>,

    /// Total deadline for the request, in seconds.
    #[arg(long, value_name = "SECS")]
    pub(crate) timeout: Option<f64>,

    /// Retries after the first attempt.
    #[arg(long, value_name = "N")]
    pub(crate) max_retries: Option<u32>,

    /// Diagnostics on stderr (-v, -vv); never the key.
    #[arg(short, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
}
