//! The command line, as scripts rely on it.

use clap::{Parser, Subcommand, ValueEnum};

/// Chat with GPTProto, or any OpenAI-compatible server.
#[derive(Debug, Parser)]
#[command(name = "gptproto", version, about, long_about = None)]
pub(crate) struct Cli {
    /// The configuration profile to use (default: the file's `default-profile`, else the
    /// profile called "default"); `gptproto config show` says what applies.
    #[arg(long, global = true, env = "GPTPROTO_PROFILE", value_name = "NAME")]
    pub(crate) profile: Option<String>,

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
    /// Send every request of a JSONL file (OpenAI's batch format, or one chat request a line)
    /// under the account's rate limits; write the answers to OUTPUT, the failures to the errors
    /// file. Run it again to resume: ids already answered are skipped.
    ///
    /// Exit status: 0 every line answered; 2 invalid input or usage (before any request);
    /// 3 authentication or permission (the run stopped); 8 the run ended but some lines failed
    /// (they are in the errors file); 130 interrupted (resumable).
    Batch(BatchArgs),
    /// The history of `chat`: recent exchanges, a conversation, a full-text search, or one
    /// exchange whole. The database: GPTPROTO_HISTORY, else gptproto/history.db in the
    /// platform's data directory.
    Logs(LogsArgs),
    /// List the models the server offers (`GET {base}/models`), one id a line.
    ///
    /// Exit status: as `chat`'s (0 success; 2 usage; 3 authentication or permission; 4 rate
    /// limited; 5 server or network error or timeout; 6 rejected; 7 protocol error).
    Models(ModelsArgs),
    /// The prices that apply, per million tokens: the configuration file's `[prices."MODEL"]`,
    /// and the profile's over them. `chat -u` and the history's costs use them; gptproto
    /// bundles none (they change, and differ by provider).
    Prices {
        /// As one JSON document (model → price).
        #[arg(long)]
        json: bool,
    },
    /// The configuration file and its profiles: where it is, what applies, a starting file.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Print a shell completion script: `gptproto completions bash > ~/.local/share/bash-completion/completions/gptproto`,
    /// `gptproto completions zsh > ~/.zfunc/_gptproto`, `gptproto completions fish >
    /// ~/.config/fish/completions/gptproto.fish`, or `gptproto completions powershell`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the manual pages (gptproto.1 and one per command) into DIR (`cargo xtask
    /// codegen` makes docs/man/ with it).
    #[command(hide = true)]
    Man {
        /// Where the pages go.
        dir: std::path::PathBuf,
    },
}

#[derive(Debug, clap::Args)]
pub(crate) struct LogsArgs {
    #[command(subcommand)]
    pub(crate) show: Option<LogsCommand>,

    /// How many exchanges, newest first.
    #[arg(short = 'n', value_name = "N", default_value_t = 10)]
    pub(crate) count: usize,

    /// Only the exchanges whose prompt or answer holds this text (SQLite FTS5: words, any
    /// case).
    #[arg(short = 'q', long = "query", value_name = "TEXT")]
    pub(crate) text: Option<String>,

    /// Only the exchanges of conversation ID.
    #[arg(long, value_name = "ID")]
    pub(crate) cid: Option<String>,

    /// One JSON document: an array of exchanges (with --usage, of totals).
    #[arg(long)]
    pub(crate) json: bool,

    /// Totals instead of exchanges: tokens (input, cached, output, reasoning) and cost, at the
    /// prices in force when each exchange was recorded.
    #[arg(long, conflicts_with_all = ["text", "cid"])]
    pub(crate) usage: bool,

    /// With --usage: only the exchanges since DATE (YYYY-MM-DD, UTC) or the last N days (Nd).
    #[arg(long, value_name = "DATE", requires = "usage")]
    pub(crate) since: Option<String>,

    /// With --usage: one total per model, day or profile.
    #[arg(long, value_enum, default_value = "model", requires = "usage")]
    pub(crate) by: crate::history::GroupBy,
}

#[derive(Debug, Subcommand)]
pub(crate) enum LogsCommand {
    /// One exchange whole: its request and its response as sent and received.
    Show {
        /// The exchange's number (as `gptproto logs` lists it).
        id: i64,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the database's path.
    Path,
}

/// `gptproto config ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum ConfigAction {
    /// Print the configuration file's path (GPTPROTO_CONFIG, else the platform's config
    /// directory).
    Path,
    /// Print the settings that apply (with --profile, GPTPROTO_PROFILE and the environment),
    /// each with where it came from; the key redacted, its command not run.
    Show,
    /// Write a commented starting file (refused if one exists).
    Init,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ModelsArgs {
    /// Print the server's whole answer (OpenAI's list object) as one JSON document.
    #[arg(long)]
    pub(crate) json: bool,

    #[command(flatten)]
    pub(crate) connection: ConnectionArgs,

    /// Diagnostics on stderr (-v, -vv); never the key.
    #[arg(short, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
}

/// Where requests go and how they authenticate: shared by every command.
#[derive(Debug, Default, clap::Args)]
pub(crate) struct ConnectionArgs {
    /// The API base URL [default: the profile's, else https://gptproto.com/v1].
    #[arg(long, env = "GPTPROTO_BASE_URL")]
    pub(crate) base_url: Option<String>,

    /// The API key.
    #[arg(long, env = "GPTPROTO_API_KEY", hide_env_values = true)]
    pub(crate) api_key: Option<String>,

    /// How the key is sent: by the host (auto), or as chosen [default: the profile's, else
    /// auto].
    #[arg(long, value_enum)]
    pub(crate) auth: Option<Auth>,

    /// Whose API it is, when the base URL does not tell (a vLLM or llama.cpp server, a
    /// provider behind a gateway): gptproto, openai, azure, dashscope, deepseek, openrouter,
    /// groq, mistral, xai, perplexity, gemini, vertex, vllm, llama.cpp, ollama, unknown. It
    /// decides the key, the auth, the checks and the quirks handled [default: the profile's,
    /// else by the base URL].
    #[arg(long, env = "GPTPROTO_PROVIDER", value_name = "NAME", value_parser = parse_provider)]
    pub(crate) provider: Option<gptproto::Provider>,

    /// Also trust the CA certificates in this PEM file (a private or corporate CA, a
    /// TLS-inspecting proxy), next to the bundled roots.
    #[arg(long, value_name = "FILE")]
    pub(crate) cacert: Option<std::path::PathBuf>,

    /// Send requests over plain http:// to a host that is not this machine (a model server on
    /// the LAN): the key travels unencrypted [default: the profile's, else no].
    #[arg(long)]
    pub(crate) allow_insecure_http: bool,
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Progress {
    /// A bar on a terminal, plain lines otherwise.
    Auto,
    /// A bar.
    Bar,
    /// A status line every 10 s.
    Plain,
    /// Nothing but the summary.
    None,
}

#[derive(Debug, clap::Args)]
pub(crate) struct BatchArgs {
    /// The requests: JSONL, one `{"custom_id","method","url","body"}` a line (OpenAI's batch
    /// format), or one chat request a line (with an optional `custom_id`; without one the id is
    /// `line-<n>`, and resuming needs the same file).
    pub(crate) input: std::path::PathBuf,

    /// Where answers go, one `{"id","custom_id","response","error":null}` a line.
    #[arg(short, long, value_name = "OUTPUT.jsonl")]
    pub(crate) output: std::path::PathBuf,

    /// Where failures go (default: OUTPUT with `.errors.jsonl` in place of `.jsonl`).
    #[arg(long, value_name = "ERRORS.jsonl")]
    pub(crate) errors: Option<std::path::PathBuf>,

    /// Send again the requests the errors file holds (otherwise they are skipped, as done).
    #[arg(long)]
    pub(crate) retry_errors: bool,

    /// Requests per minute, a ceiling for each model of the run: a server's lower limit (its
    /// headers, its 429s) lowers it (default: told by the server's headers, or probed).
    #[arg(long, value_name = "N")]
    pub(crate) rpm: Option<u64>,

    /// Tokens per minute, a ceiling for each model of the run (default: told by the server's
    /// headers, or found by the 429s that name it).
    #[arg(long, value_name = "N")]
    pub(crate) tpm: Option<u64>,

    /// The most requests in flight (default: as many as the server sustains, learned from its
    /// answers' latency, at most 1,024).
    #[arg(long, value_name = "N")]
    pub(crate) concurrency: Option<usize>,

    /// Retries of one request after a 429, a 5xx or a broken connection (8).
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub(crate) max_retries: u32,

    /// The deadline of each request, in seconds (600).
    #[arg(long, value_name = "SECS", default_value_t = 600.0)]
    pub(crate) timeout: f64,

    /// Run shard K of N: the lines whose custom_id hashes to K (FNV-1a, see docs/batch.md),
    /// with 1/N of the limits; `auto/N` takes K from JOB_COMPLETION_INDEX (a Kubernetes
    /// Indexed Job). OUTPUT gains `.shard-K-of-N` before `.jsonl`.
    #[arg(long, value_name = "K/N")]
    pub(crate) shard: Option<String>,

    /// Stop dispatching before the tokens used and reserved would pass N.
    #[arg(long, value_name = "N")]
    pub(crate) budget_tokens: Option<u64>,

    /// Another model for a line whose model is missing, down, overloaded or rate limited after
    /// its retries (repeatable, tried in order); the output line's response names the model
    /// that answered.
    #[arg(long, value_name = "MODEL")]
    pub(crate) fallback: Vec<String>,

    /// Stop dispatching before what the answers cost plus the most the requests in flight can
    /// cost would pass AMOUNT (at the configuration's prices; `gptproto prices`).
    #[arg(long, value_name = "AMOUNT", value_parser = non_negative)]
    pub(crate) max_cost: Option<f64>,

    /// Progress on stderr: a bar on a terminal, a line every 10 s otherwise.
    #[arg(long, value_enum, default_value_t = Progress::Auto)]
    pub(crate) progress: Progress,

    /// The model of lines whose body names none.
    #[arg(short, long, value_name = "MODEL")]
    pub(crate) model: Option<String>,

    #[command(flatten)]
    pub(crate) connection: ConnectionArgs,

    /// Diagnostics on stderr (-v, -vv); never the key.
    #[arg(short, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
}

/// How the API key is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
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

    /// The model id [default: the profile's, else qwen-turbo].
    #[arg(short, long, env = "GPTPROTO_MODEL")]
    pub(crate) model: Option<String>,

    /// A system message.
    #[arg(short, long)]
    pub(crate) system: Option<String>,

    #[command(flatten)]
    pub(crate) connection: ConnectionArgs,

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

    /// A text file to attach to the prompt, under its name (repeatable; "-" is standard
    /// input, the prompt then being the argument). Binary files and files over 1 MiB are
    /// refused.
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub(crate) files: Vec<String>,

    /// Print the answer as the model sent it, even on a terminal (where it is otherwise
    /// rendered as markdown). Piped, it always is.
    #[arg(long)]
    pub(crate) raw: bool,

    /// Print only the first fenced code block of the answer (the whole answer when it has
    /// none), for `$(gptproto chat -x ...)`.
    #[arg(short = 'x', long)]
    pub(crate) extract: bool,

    /// After the answer, print on stderr the tokens in and out, the time to the first token
    /// and the tokens per second.
    #[arg(short = 'u', long)]
    pub(crate) usage: bool,

    /// Continue the latest conversation (its messages are sent again, before the prompt).
    #[arg(short = 'c', long = "continue", conflicts_with = "cid")]
    pub(crate) continue_last: bool,

    /// Continue conversation ID (as `gptproto logs` lists them).
    #[arg(long, value_name = "ID")]
    pub(crate) cid: Option<String>,

    /// Do not record this exchange in the history (the profile's `log = false` does the same
    /// for every exchange).
    #[arg(long)]
    pub(crate) no_log: bool,

    /// Print the request that would be sent (method, URL, headers with the key redacted, body)
    /// as JSON, and exit without sending it.
    #[arg(long)]
    pub(crate) dry_run: bool,

    /// An image to send with the prompt: a file (sent as a data: URL) or a URL (repeatable).
    #[arg(long, value_name = "PATH|URL")]
    pub(crate) image: Vec<String>,

    /// JSON merged into the request body, e.g. '{"enable_thinking":true}' (over the
    /// profile's `extra`).
    #[arg(long, value_name = "JSON")]
    pub(crate) extra: Option<String>,

    /// Total deadline for the request, in seconds.
    #[arg(long, value_name = "SECS")]
    pub(crate) timeout: Option<f64>,

    /// Retries after the first attempt.
    #[arg(long, value_name = "N")]
    pub(crate) max_retries: Option<u32>,

    /// Another model to try when this one is missing, down, overloaded or rate limited (after
    /// its retries); repeatable, tried in order under the one --timeout; `-u` and `-v` say who
    /// answered. PROFILE:MODEL asks another profile's provider (its base URL and key). Over
    /// the profile's `fallback`.
    #[arg(long, value_name = "[PROFILE:]MODEL")]
    pub(crate) fallback: Vec<String>,

    /// Diagnostics on stderr (-v, -vv); never the key.
    #[arg(short, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
}

/// A finite number ≥ 0.
fn non_negative(value: &str) -> Result<f64, String> {
    value
        .parse::<f64>()
        .ok()
        .filter(|amount| amount.is_finite() && *amount >= 0.0)
        .ok_or_else(|| format!("{value:?}: give an amount ≥ 0"))
}

/// A provider by name (the core's names: [`gptproto::Provider`]).
fn parse_provider(name: &str) -> Result<gptproto::Provider, String> {
    name.parse()
        .map_err(|error: gptproto::proto::Error| error.to_string())
}
