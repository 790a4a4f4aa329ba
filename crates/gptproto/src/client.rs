//! [`Client`] and its builder: where requests go, how they authenticate, how long they may
//! take and how often they are retried.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use gptproto_proto::exchange::{AuthScheme, ClientConfig, DEFAULT_BASE_URL};
use gptproto_proto::retry::RetryPolicy;
use gptproto_proto::validate::ValidationRules;
use gptproto_proto::wire::ChatRequest;
use gptproto_transport::HttpConnector;

use crate::call::{ChatCall, ChatStreamCall};
use crate::error::{Error, Result};
use crate::rt::Jitter;
use crate::telemetry::{Telemetry, TelemetryOptions};

// The transport made when no connector is given, and the builder's settings that only it has:
// hyper over rustls on native targets, the host's fetch on wasm32.
#[cfg(not(target_arch = "wasm32"))]
#[path = "client/hyper.rs"]
mod builtin;
#[cfg(target_arch = "wasm32")]
#[path = "client/fetch.rs"]
mod builtin;

/// The environment variable with the API key.
pub const ENV_API_KEY: &str = "GPTPROTO_API_KEY";
/// The environment variable with the base URL.
pub const ENV_BASE_URL: &str = "GPTPROTO_BASE_URL";

/// Deadlines of a call. `None` means no deadline of that kind.
///
/// ```
/// use std::time::Duration;
/// use gptproto::Timeouts;
///
/// let mut timeouts = Timeouts::default();
/// timeouts.total = Some(Duration::from_secs(120));
/// assert_eq!(Timeouts::none().response, None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// Establishing a connection (TCP, the proxy tunnel, TLS): 5 s by default. It belongs to
    /// the client's built-in transport (connections are shared by calls): a call cannot change
    /// it, and a client with its own [`connector`](ClientBuilder::connector) refuses it. On
    /// wasm32 the JavaScript host makes the connections: the default is unused there, and
    /// setting it is refused.
    pub connect: Option<Duration>,
    /// From sending (each attempt) until the response head: 600 s by default, as the official
    /// SDKs.
    pub response: Option<Duration>,
    /// Between two reads of the response body: 600 s by default. Keep-alive comments count as
    /// reads (the connection is alive); they do not extend the total deadline.
    pub idle: Option<Duration>,
    /// Reading the response body, from its head to its end, streamed or not: 2 h by default
    /// (the longest answers today, 128k tokens at 20 tokens a second, take under 2 h). It
    /// bounds a server that trickles forever (each piece inside the idle timeout, or
    /// keep-alive comments only), which the idle timeout alone does not.
    pub body: Option<Duration>,
    /// The whole call, retries and the streamed body included: none by default.
    pub total: Option<Duration>,
}

/// The default of [`Timeouts::body`].
const BODY_TIMEOUT: Duration = Duration::from_secs(2 * 3600);

impl Default for Timeouts {
    /// The official SDKs' deadlines (connect 5 s, response head 600 s, idle 600 s, no total),
    /// and a body read in at most 2 h.
    fn default() -> Self {
        Self {
            connect: Some(Duration::from_secs(5)),
            response: Some(Duration::from_secs(600)),
            idle: Some(Duration::from_secs(600)),
            body: Some(BODY_TIMEOUT),
            total: None,
        }
    }
}

impl Timeouts {
    /// No deadline at all.
    pub fn none() -> Self {
        Self {
            connect: None,
            response: None,
            idle: None,
            body: None,
            total: None,
        }
    }
}

/// The client's defaults for every call, which a call can override.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) timeouts: Timeouts,
    pub(crate) retry: RetryPolicy,
    /// The largest non-streamed response body read.
    pub(crate) max_body: usize,
    /// The most a streamed answer holds, accumulated.
    pub(crate) max_answer: usize,
}

pub(crate) struct ClientInner {
    pub(crate) config: ClientConfig,
    pub(crate) connector: Arc<dyn HttpConnector>,
    pub(crate) settings: Settings,
    pub(crate) jitter: Jitter,
    pub(crate) telemetry: Arc<Telemetry>,
}

/// A client for chat completions. Cheap to clone: clones share one connection pool.
///
/// ```no_run
/// use gptproto::{ChatRequest, Client};
///
/// # async fn demo() -> Result<(), gptproto::Error> {
/// let client = Client::new()?; // GPTPROTO_API_KEY, GPTPROTO_BASE_URL
/// let answer = client.chat(ChatRequest::new("qwen-turbo").user("who are you?")).await?;
/// println!("{}", answer.text().unwrap_or_default());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<ClientInner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .field("connector", &self.inner.connector)
            .field("settings", &self.inner.settings)
            .finish()
    }
}

impl Client {
    /// A client from the environment: the key from `GPTPROTO_API_KEY`, the base URL from
    /// `GPTPROTO_BASE_URL` (default `https://gptproto.com/v1`), the auth scheme for that host.
    /// GPTProto needs a key: without one this is a configuration error, before any request.
    pub fn new() -> Result<Self> {
        Self::builder().build()
    }

    /// A builder, starting from the environment's key and base URL.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A chat completion: `client.chat(request).await`. Setters on the returned call override
    /// the client's defaults for this call only.
    pub fn chat(&self, request: ChatRequest) -> ChatCall {
        ChatCall::new(self.clone(), request)
    }

    /// A streamed chat completion: `client.chat_stream(request).await` gives a [`ChatStream`]
    /// once the response head is in (an HTTP error is returned here, not as the first item).
    ///
    /// [`ChatStream`]: crate::ChatStream
    pub fn chat_stream(&self, request: ChatRequest) -> ChatStreamCall {
        ChatStreamCall::new(self.clone(), request)
    }

    /// The models the server offers (`GET {base_url}/models`, OpenAI's list format), with the
    /// client's retries and deadlines; errors as [`chat`](Self::chat)'s.
    ///
    /// ```no_run
    /// # async fn demo(client: gptproto::Client) -> Result<(), gptproto::Error> {
    /// for model in client.models().await?.data {
    ///     println!("{}", model.id);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn models(
        &self,
    ) -> impl std::future::Future<Output = Result<gptproto_proto::wire::ModelList>> + Send + 'static
    {
        crate::send::models(self)
    }

    /// The chat-completions URL requests go to.
    pub fn chat_completions_url(&self) -> &http::Uri {
        self.inner.config.chat_completions_uri()
    }
}

/// Builds a [`Client`]. Errors (a bad URL, header or key) are reported by [`build`](Self::build).
pub struct ClientBuilder {
    base_url: Option<String>,
    api_key: Option<String>,
    auth_scheme: AuthScheme,
    headers: Vec<(String, String)>,
    timeouts: Timeouts,
    retry: RetryPolicy,
    max_body: usize,
    max_answer: usize,
    jitter_seed: Option<u64>,
    telemetry: TelemetryOptions,
    /// `None`: by the host.
    validation: Option<ValidationRules>,
    /// The built-in transport's own settings (roots and proxy on native targets).
    builtin: builtin::Settings,
    allow_insecure_http: bool,
    connector: Option<Arc<dyn HttpConnector>>,
    /// The built-in transport's settings set explicitly: refused with a connector of one's own.
    transport_settings: Vec<&'static str>,
    from_env: bool,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("auth_scheme", &self.auth_scheme)
            .field("timeouts", &self.timeouts)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            base_url: None,
            api_key: None,
            auth_scheme: AuthScheme::Auto,
            headers: Vec::new(),
            timeouts: Timeouts::default(),
            retry: RetryPolicy::default(),
            max_body: 64 * 1024 * 1024,
            max_answer: gptproto_proto::DEFAULT_MAX_ANSWER_BYTES,
            jitter_seed: None,
            telemetry: TelemetryOptions::default(),
            validation: None,
            builtin: builtin::Settings::default(),
            allow_insecure_http: false,
            connector: None,
            transport_settings: Vec::new(),
            from_env: true,
        }
    }
}

impl ClientBuilder {
    /// The base URL (default: `GPTPROTO_BASE_URL`, else `https://gptproto.com/v1`).
    #[must_use]
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The API key (default: `GPTPROTO_API_KEY`). Without one no `Authorization` is sent,
    /// which servers on this machine may accept; GPTProto does not, and
    /// [`build`](Self::build) refuses it there.
    #[must_use]
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// How the key is sent. By default ([`AuthScheme::Auto`]) the raw key on GPTProto's hosts
    /// (its documented header) and `Bearer <key>` everywhere else (OpenAI, DeepSeek, vLLM,
    /// Ollama, OpenRouter, ...); choose one to override it.
    #[must_use]
    pub fn auth_scheme(mut self, scheme: AuthScheme) -> Self {
        self.auth_scheme = scheme;
        self
    }

    /// A header sent with every request.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// All the deadlines.
    #[must_use]
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        if timeouts.connect != self.timeouts.connect {
            self.transport_settings.push("connect timeout");
        }
        self.timeouts = timeouts;
        self
    }

    /// The whole call's deadline, retries and streamed body included.
    #[must_use]
    pub fn timeout(mut self, total: Duration) -> Self {
        self.timeouts.total = Some(total);
        self
    }

    /// The connect deadline (TCP, the proxy tunnel and TLS), for the built-in transport.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.connect = Some(timeout);
        self.transport_settings.push("connect timeout");
        self
    }

    /// The deadline for the response head, per attempt.
    #[must_use]
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.response = Some(timeout);
        self
    }

    /// The longest wait between two reads of a body.
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.idle = Some(timeout);
        self
    }

    /// Retries after the first attempt (2 by default).
    #[must_use]
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.retry.max_retries = retries;
        self
    }

    /// Draws the retry backoff's jitter from a generator seeded with `seed` instead of the
    /// process's: the same seed gives the same delays (tests in virtual time, reproducible
    /// runs). Clients built with one seed still spread their retries apart from other
    /// processes' only if their seeds differ.
    #[must_use]
    pub fn retry_jitter_seed(mut self, seed: u64) -> Self {
        self.jitter_seed = Some(seed);
        self
    }

    /// The whole retry policy.
    #[must_use]
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The validation rules requests pass before sending, whatever the host. By default
    /// GPTProto's on its hosts (`n` at most 10, OpenAI's numeric ranges) and only what every
    /// server requires elsewhere.
    #[must_use]
    pub fn validation_rules(mut self, rules: ValidationRules) -> Self {
        self.validation = Some(rules);
        self
    }

    /// The longest a response body may take to read, from its head to its end (2 h by
    /// default; see [`Timeouts::body`]).
    #[must_use]
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.body = Some(timeout);
        self
    }

    /// The largest non-streamed response body read (64 MiB by default).
    #[must_use]
    pub fn max_response_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// The most a streamed answer may hold once accumulated (64 MiB by default, as a
    /// non-streamed body): past it the stream ends with an error for which
    /// [`Error::is_answer_limit`] is true, carrying the answer so far. See
    /// [`ChunkAccumulator::retained_bytes`](gptproto_proto::ChunkAccumulator::retained_bytes)
    /// for what counts.
    #[must_use]
    pub fn max_streamed_answer(mut self, bytes: usize) -> Self {
        self.max_answer = bytes;
        self
    }

    /// Allows plain `http://` to hosts that are not loopback (the built-in transport).
    #[must_use]
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self.transport_settings.push("allow_insecure_http");
        self
    }

    /// Uses this HTTP connector instead of the built-in hyper transport. The built-in
    /// transport's settings (roots, proxy, connect timeout, insecure HTTP) do not apply to it:
    /// [`build`](Self::build) refuses them rather than ignore them.
    #[must_use]
    pub fn connector(mut self, connector: Arc<dyn HttpConnector>) -> Self {
        self.connector = Some(connector);
        self
    }

    /// The provider the calls' telemetry names (`gen_ai.provider.name`). By default it is
    /// told from the base URL's host: `gptproto` for GPTProto, the GenAI conventions' name for
    /// OpenAI, Azure OpenAI, DeepSeek, Groq, Mistral, xAI, Perplexity and Gemini, `dashscope`
    /// and `openrouter`, and `openai` (the API's flavour) for any other server.
    #[must_use]
    pub fn provider_name(mut self, name: impl Into<String>) -> Self {
        self.telemetry.provider = Some(name.into());
        self
    }

    /// Records prompts and answers on the calls' spans (`gen_ai.input.messages`,
    /// `gen_ai.output.messages`, `gen_ai.system_instructions`, `gen_ai.tool.definitions`).
    /// Off by default, unless `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`; this
    /// switch wins over the variable. Headers (the API key) are never recorded.
    ///
    /// ```
    /// let client = gptproto::Client::builder()
    ///     .api_key("sk-test")
    ///     .capture_message_content(true)
    ///     .message_content_limit(16 * 1024)
    ///     .build()?;
    /// # Ok::<(), gptproto::Error>(())
    /// ```
    #[must_use]
    pub fn capture_message_content(mut self, capture: bool) -> Self {
        self.telemetry.capture = Some(capture);
        self
    }

    /// The most bytes of text each captured content attribute holds (64 KiB by default): text
    /// past it is cut at a character boundary with a note of how many bytes were left out.
    #[must_use]
    pub fn message_content_limit(mut self, bytes: usize) -> Self {
        self.telemetry.content_limit = Some(bytes);
        self
    }

    /// Ignores `GPTPROTO_API_KEY` and `GPTPROTO_BASE_URL`.
    #[must_use]
    pub fn ignore_env(mut self) -> Self {
        self.from_env = false;
        self
    }

    /// Checks everything and builds the client.
    ///
    /// Errors (each a configuration error naming what is wrong): a base URL or header that
    /// does not parse; no API key for GPTProto; the built-in transport's settings given with a
    /// connector of one's own; TLS that cannot be set up.
    pub fn build(self) -> Result<Client> {
        let env = |name: &str| {
            self.from_env
                .then(|| std::env::var(name).ok())
                .flatten()
                .filter(|value| !value.trim().is_empty())
        };
        let base_url = self
            .base_url
            .clone()
            .or_else(|| env(ENV_BASE_URL))
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        let mut config = ClientConfig::builder()
            .base_url(base_url)
            .auth_scheme(self.auth_scheme);
        if let Some(rules) = self.validation.clone() {
            config = config.validation_rules(rules);
        }
        if let Some(key) = self.api_key.clone().or_else(|| env(ENV_API_KEY)) {
            config = config.api_key(key.trim());
        }
        for (name, value) in &self.headers {
            config = config.header(name, value);
        }
        let config = config.build()?;
        if config.requires_api_key() && config.api_key().is_none() {
            return Err(Error::config(format!(
                "no API key: GPTProto ({}) needs one; set {ENV_API_KEY}, or give it to \
                 ClientBuilder::api_key",
                config.base_url()
            )));
        }
        let connector = match self.connector {
            Some(_) if !self.transport_settings.is_empty() => {
                let mut settings = self.transport_settings;
                settings.dedup();
                return Err(Error::config(format!(
                    "{} set with a connector of one's own: they belong to the built-in \
                     transport; configure them on the connector",
                    settings.join(", ")
                )));
            }
            Some(connector) => connector,
            None => self.builtin.connector(
                self.timeouts.connect,
                self.allow_insecure_http,
                &self.transport_settings,
            )?,
        };
        let telemetry = Arc::new(Telemetry::new(
            &self.telemetry,
            config.chat_completions_uri(),
        ));
        Ok(Client {
            inner: Arc::new(ClientInner {
                telemetry,
                config,
                connector,
                settings: Settings {
                    timeouts: self.timeouts,
                    retry: self.retry,
                    max_body: self.max_body,
                    max_answer: self.max_answer,
                },
                jitter: Jitter::new(self.jitter_seed),
            }),
        })
    }
}
