//! [`Client`] and its builder: where requests go, how they authenticate, how long they may
//! take and how often they are retried, and which transport carries them.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use gptproto_proto::call::CallOptions;
pub use gptproto_proto::call::Timeouts;
use gptproto_proto::exchange::{AuthScheme, ClientConfig, ClientConfigBuilder};
use gptproto_proto::provider::{Provider, ReasoningReplay};
use gptproto_proto::retry::RetryPolicy;
use gptproto_proto::validate::ValidationRules;
use gptproto_transport::HttpConnector;

use crate::error::{Error, Result};
use crate::rt::Jitter;
use crate::telemetry::{Telemetry, TelemetryOptions};

// The transport made when no connector is given, and its settings: hyper over rustls on
// native targets, the host's fetch on wasm32.
#[cfg(not(target_arch = "wasm32"))]
#[path = "client/hyper.rs"]
mod builtin;
#[cfg(target_arch = "wasm32")]
#[path = "client/fetch.rs"]
mod builtin;

pub use builtin::BuiltInTransport;

/// The environment variable with the API key.
pub const ENV_API_KEY: &str = "GPTPROTO_API_KEY";
/// The environment variable with the base URL.
pub const ENV_BASE_URL: &str = "GPTPROTO_BASE_URL";

pub(crate) struct ClientInner {
    pub(crate) config: ClientConfig,
    pub(crate) connector: Arc<dyn HttpConnector>,
    /// Every call's deadlines, retries and limits, unless the call overrides them.
    pub(crate) options: CallOptions,
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
            .field("options", &self.inner.options)
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

    /// A builder, starting from the environment's key and base URL, with the built-in
    /// transport.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Where requests go and how they authenticate: the base URL, the key (its `Debug` never
    /// shows it), the auth scheme, the default headers and the validation rules
    /// ([`ClientConfig::validation_rules`]). It builds exactly the requests the client sends
    /// (see [`ChatCall::http_request`](crate::ChatCall::http_request)).
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Every call's deadlines, retries and limits, unless the call overrides them.
    pub fn call_options(&self) -> &CallOptions {
        &self.inner.options
    }

    /// The chat-completions URL requests go to.
    pub fn chat_completions_url(&self) -> &http::Uri {
        self.inner.config.chat_completions_uri()
    }
}

/// Builds a [`Client`]. Errors (a bad URL, header or key) are reported by [`build`](Self::build).
///
/// Where requests go and how they authenticate is the core's [`ClientConfigBuilder`]'s to
/// check, and the setters for it here hand their values to one (so that the client and an
/// embedder's own loop build the same requests). The transport is chosen by type: the
/// built-in one by default, whose settings ([`roots`](Self::roots),
/// [`proxy`](Self::proxy), [`connect_timeout`](Self::connect_timeout),
/// [`allow_insecure_http`](Self::allow_insecure_http)) exist only on
/// `ClientBuilder<BuiltInTransport>`; [`connector`](Self::connector) makes a
/// `ClientBuilder<OwnConnector>`, which has none of them: a setting that would not apply
/// cannot be given.
///
/// ```compile_fail
/// # use std::sync::Arc;
/// # fn demo(connector: Arc<dyn gptproto::HttpConnector>) {
/// // A connector of one's own has no connect timeout of the built-in transport's.
/// gptproto::Client::builder()
///     .connector(connector)
///     .connect_timeout(std::time::Duration::from_secs(1));
/// # }
/// ```
pub struct ClientBuilder<T = BuiltInTransport> {
    config: ClientConfigBuilder,
    options: CallOptions,
    jitter_seed: Option<u64>,
    telemetry: TelemetryOptions,
    from_env: bool,
    transport: T,
}

/// A connector of one's own ([`ClientBuilder::connector`]).
#[derive(Debug, Clone)]
pub struct OwnConnector(Arc<dyn HttpConnector>);

/// How a builder's transport is made: the built-in one from its settings, or a connector of
/// one's own as it is.
pub trait Transport: sealed::Sealed {
    #[doc(hidden)]
    fn into_connector(self) -> Result<Arc<dyn HttpConnector>>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::BuiltInTransport {}
    impl Sealed for super::OwnConnector {}
}

impl Transport for OwnConnector {
    fn into_connector(self) -> Result<Arc<dyn HttpConnector>> {
        Ok(self.0)
    }
}

impl<T: fmt::Debug> fmt::Debug for ClientBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The config builder's Debug redacts the key.
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .field("options", &self.options)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            config: ClientConfig::builder(),
            options: CallOptions::default(),
            jitter_seed: None,
            telemetry: TelemetryOptions::default(),
            from_env: true,
            transport: BuiltInTransport::default(),
        }
    }
}

/// Setters that hand their value to the builder's [`ClientConfigBuilder`], whose setter of the
/// same name says what it does.
macro_rules! config_setters {
    ($($(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            $(#[$doc])*
            #[must_use]
            pub fn $name(mut self, $($arg: $ty),*) -> Self {
                self.config = self.config.$name($($arg),*);
                self
            }
        )*
    };
}

impl<T: Transport> ClientBuilder<T> {
    config_setters! {
        /// The base URL (default: `GPTPROTO_BASE_URL`, else `https://gptproto.com/v1`).
        base_url(url: impl Into<String>);
        /// The API key (default: `GPTPROTO_API_KEY`), trimmed; an empty key is no key.
        /// Without one no `Authorization` is sent, which servers on this machine may accept;
        /// GPTProto does not, and [`build`](Self::build) refuses it there.
        api_key(key: impl Into<String>);
        /// How the key is sent. By default ([`AuthScheme::Auto`]) the raw key on GPTProto's
        /// hosts (its documented header) and `Bearer <key>` everywhere else (OpenAI, DeepSeek,
        /// vLLM, Ollama, OpenRouter, ...); choose one to override it.
        auth_scheme(scheme: AuthScheme);
        /// A header sent with every request.
        header(name: impl Into<String>, value: impl Into<String>);
        /// The validation rules requests pass before sending, whatever the provider. By
        /// default the provider's: GPTProto's on its hosts (`n` at most 10, OpenAI's numeric
        /// ranges), only what every server requires on servers people run themselves.
        validation_rules(rules: ValidationRules);
        /// The provider, whatever the base URL says (a vLLM or llama.cpp server, a provider
        /// behind a gateway of one's own): its [profile](crate::ProviderProfile) decides the auth
        /// scheme, whether a key is needed, the validation rules and the quirks handled
        /// (reasoning sent back or not, thinking streamed). By default the base URL's
        /// ([`Provider::of_base_url`]).
        provider(provider: Provider);
        /// What becomes of earlier answers' reasoning text when a conversation is sent
        /// again, whatever the provider's profile says.
        reasoning_replay(replay: ReasoningReplay);
        /// The `User-Agent` sent (`gptproto/<version>` by default).
        user_agent(user_agent: impl Into<String>);
    }

    /// All the deadlines of a call ([`Timeouts`]).
    #[must_use]
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.options.timeouts = timeouts;
        self
    }

    /// The whole call's deadline, retries and streamed body included (none by default).
    #[must_use]
    pub fn timeout(mut self, total: impl Into<Option<Duration>>) -> Self {
        self.options.timeouts.total = total.into();
        self
    }

    /// The deadline for the response head, per attempt (600 s by default).
    #[must_use]
    pub fn response_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.options.timeouts.response = timeout.into();
        self
    }

    /// The longest wait between two reads of a body (600 s by default).
    #[must_use]
    pub fn idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.options.timeouts.idle = timeout.into();
        self
    }

    /// The longest a response body may take to read, from its head to its end (2 h by
    /// default; see [`Timeouts::body`]).
    #[must_use]
    pub fn body_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.options.timeouts.body = timeout.into();
        self
    }

    /// Retries after the first attempt (2 by default).
    #[must_use]
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.options.retry.max_retries = retries;
        self
    }

    /// The whole retry policy.
    #[must_use]
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.options.retry = policy;
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

    /// The largest non-streamed response body read (64 MiB by default).
    #[must_use]
    pub fn max_response_body(mut self, bytes: usize) -> Self {
        self.options.max_body = bytes;
        self
    }

    /// The most a streamed answer may hold once accumulated (64 MiB by default, as a
    /// non-streamed body): past it the stream ends with an error for which
    /// [`Error::is_answer_limit`] is true, carrying the answer so far. See
    /// [`ChunkAccumulator::retained_bytes`](gptproto_proto::ChunkAccumulator::retained_bytes)
    /// for what counts.
    #[must_use]
    pub fn max_streamed_answer(mut self, bytes: usize) -> Self {
        self.options.max_answer = bytes;
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
    /// does not parse; no API key for GPTProto; TLS that cannot be set up.
    pub fn build(self) -> Result<Client> {
        let env = |name: &str| {
            self.from_env
                .then(|| std::env::var(name).ok())
                .flatten()
                .filter(|value| !value.trim().is_empty())
        };
        let config = self
            .config
            .default_base_url(env(ENV_BASE_URL))
            .default_api_key(env(ENV_API_KEY))
            .build()?;
        if config.requires_api_key() && config.api_key().is_none() {
            return Err(Error::config(format!(
                "no API key: {} ({}) needs one; set {ENV_API_KEY}, or give it to \
                 ClientBuilder::api_key",
                config.provider(),
                config.base_url()
            )));
        }
        let connector = self.transport.into_connector()?;
        let telemetry = Arc::new(Telemetry::new(&self.telemetry, &config));
        Ok(Client {
            inner: Arc::new(ClientInner {
                telemetry,
                config,
                connector,
                options: self.options,
                jitter: Jitter::new(self.jitter_seed),
            }),
        })
    }

    /// The same builder with another transport.
    fn with_transport<U>(self, transport: U) -> ClientBuilder<U> {
        ClientBuilder {
            config: self.config,
            options: self.options,
            jitter_seed: self.jitter_seed,
            telemetry: self.telemetry,
            from_env: self.from_env,
            transport,
        }
    }
}

impl ClientBuilder<BuiltInTransport> {
    /// Uses this HTTP connector instead of the built-in transport. The built-in transport's
    /// settings are not on the builder it gives: configure them on the connector.
    #[must_use]
    pub fn connector(self, connector: Arc<dyn HttpConnector>) -> ClientBuilder<OwnConnector> {
        self.with_transport(OwnConnector(connector))
    }

    /// Allows plain `http://` to hosts that are not loopback (refused by default: the API key
    /// would travel in clear).
    #[must_use]
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.transport.allow_insecure_http = allow;
        self
    }
}
