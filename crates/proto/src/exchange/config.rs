//! [`ClientConfig`]: where requests go and how they authenticate.

use std::fmt;

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Uri};

use crate::Error;
pub use crate::provider::AuthScheme;
use crate::provider::{Provider, ProviderProfile, ReasoningReplay};
use crate::validate::ValidationRules;

/// GPTProto's API base URL.
pub const DEFAULT_BASE_URL: &str = "https://gptproto.com/v1";

/// An API key. Its `Debug` and `Display` never show it.
///
/// ```
/// use gptproto_proto::exchange::ApiKey;
///
/// let key = ApiKey::new("sk-secret-value");
/// assert_eq!(format!("{key:?}"), "ApiKey(sk-…)");
/// assert_eq!(key.expose(), "sk-secret-value");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key itself. Keep it out of logs and errors.
    pub fn expose(&self) -> &str {
        &self.0
    }

    fn redacted(&self) -> &'static str {
        if self.0.starts_with("sk-") {
            "sk-…"
        } else {
            "…"
        }
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.redacted())
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.redacted())
    }
}

/// Where requests go and how they authenticate: base URL, API key, auth scheme, default headers
/// and validation rules. Build it with [`ClientConfig::builder`].
#[derive(Clone)]
pub struct ClientConfig {
    base_url: Uri,
    chat_completions: Uri,
    api_key: Option<ApiKey>,
    auth_scheme: AuthScheme,
    authorization: Option<HeaderValue>,
    default_headers: HeaderMap,
    user_agent: HeaderValue,
    /// What every request starts from: content type, user agent, authorization, then the
    /// default headers over them (built once, cloned per request).
    base_headers: HeaderMap,
    /// The provider's profile, with what the builder chose over it (auth, validation,
    /// reasoning replay).
    profile: ProviderProfile,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key)
            .field("auth_scheme", &self.auth_scheme)
            .field("default_headers", &self.default_headers)
            .field("profile", &self.profile)
            .finish()
    }
}

impl ClientConfig {
    /// A builder with GPTProto's defaults: [`DEFAULT_BASE_URL`], raw key auth, no key.
    pub fn builder() -> ClientConfigBuilder {
        ClientConfigBuilder::default()
    }

    /// The base URL (`https://gptproto.com/v1`).
    pub fn base_url(&self) -> &Uri {
        &self.base_url
    }

    /// The chat-completions URL (`{base_url}/chat/completions`).
    pub fn chat_completions_uri(&self) -> &Uri {
        &self.chat_completions
    }

    /// The API key, if any.
    pub fn api_key(&self) -> Option<&ApiKey> {
        self.api_key.as_ref()
    }

    /// How the key is sent: [`AuthScheme::Raw`] or [`AuthScheme::Bearer`] ([`AuthScheme::Auto`]
    /// is resolved for the base URL's host).
    pub fn auth_scheme(&self) -> AuthScheme {
        self.auth_scheme
    }

    /// Whether the server needs an API key to answer and none is given in a header of one's
    /// own (`api-key`, `authorization`): the hosted APIs do ([`ProviderProfile::requires_api_key`]);
    /// the servers people run may not. A client should refuse to start without a key where one
    /// is needed, rather than send requests that can only fail.
    pub fn requires_api_key(&self) -> bool {
        self.profile.requires_api_key && !self.default_headers.keys().any(is_secret_header)
    }

    /// The provider: the base URL's, unless [chosen](ClientConfigBuilder::provider).
    pub fn provider(&self) -> Provider {
        self.profile.provider
    }

    /// What the client does for the provider: its profile, with what the builder chose over
    /// it (the auth scheme, the validation rules, the reasoning replay).
    pub fn profile(&self) -> &ProviderProfile {
        &self.profile
    }

    /// The `Authorization` value (marked sensitive), if there is a key.
    pub fn authorization(&self) -> Option<HeaderValue> {
        self.authorization.clone()
    }

    /// Headers sent with every request.
    pub fn default_headers(&self) -> &HeaderMap {
        &self.default_headers
    }

    /// The `User-Agent` sent.
    pub fn user_agent(&self) -> HeaderValue {
        self.user_agent.clone()
    }

    /// The checks requests pass before they are built: the provider's (GPTProto's on its
    /// hosts, only what every server requires elsewhere), unless set.
    pub fn validation_rules(&self) -> &ValidationRules {
        &self.profile.validation
    }
}

/// Builds a [`ClientConfig`]; errors (a bad URL or header) are reported by
/// [`build`](Self::build), naming what was wrong.
#[derive(Debug, Clone)]
pub struct ClientConfigBuilder {
    /// `None`: [`DEFAULT_BASE_URL`], unless a default is given.
    base_url: Option<String>,
    api_key: Option<ApiKey>,
    auth_scheme: AuthScheme,
    headers: Vec<(String, String)>,
    user_agent: String,
    /// `None`: the provider's.
    validation: Option<ValidationRules>,
    /// `None`: the base URL's.
    provider: Option<Provider>,
    /// `None`: the provider's.
    reasoning_replay: Option<ReasoningReplay>,
}

impl Default for ClientConfigBuilder {
    fn default() -> Self {
        Self {
            base_url: None,
            api_key: None,
            auth_scheme: AuthScheme::Auto,
            headers: Vec::new(),
            user_agent: concat!("gptproto/", env!("CARGO_PKG_VERSION")).to_owned(),
            validation: None,
            provider: None,
            reasoning_replay: None,
        }
    }
}

impl ClientConfigBuilder {
    /// Sets the base URL, e.g. `https://gptproto.com/v1` or `http://127.0.0.1:8080/v1`
    /// ([`DEFAULT_BASE_URL`] when none is set).
    #[must_use]
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into());
        self
    }

    /// Sets the base URL unless one was set (the environment's, say, under the caller's).
    #[must_use]
    pub fn default_base_url(mut self, base_url: Option<impl Into<String>>) -> Self {
        if self.base_url.is_none() {
            self.base_url = base_url.map(Into::into);
        }
        self
    }

    /// Sets the API key, without the whitespace around it (a key pasted with its newline). An
    /// empty key is no key.
    ///
    /// ```
    /// use gptproto_proto::exchange::ClientConfig;
    ///
    /// let config = ClientConfig::builder().api_key(" sk-1\n").build()?;
    /// assert_eq!(config.api_key().unwrap().expose(), "sk-1");
    /// assert!(ClientConfig::builder().api_key("").build()?.api_key().is_none());
    /// # Ok::<(), gptproto_proto::Error>(())
    /// ```
    #[must_use]
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        let key: String = key.into();
        let key = key.trim();
        self.api_key = (!key.is_empty()).then(|| ApiKey::new(key));
        self
    }

    /// Sets the API key unless one was set (as [`api_key`](Self::api_key)).
    #[must_use]
    pub fn default_api_key(self, key: Option<impl Into<String>>) -> Self {
        match key {
            Some(key) if self.api_key.is_none() => self.api_key(key),
            _ => self,
        }
    }

    /// Sets how the key is sent.
    #[must_use]
    pub fn auth_scheme(mut self, scheme: AuthScheme) -> Self {
        self.auth_scheme = scheme;
        self
    }

    /// Adds a header sent with every request.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the `User-Agent`.
    #[must_use]
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Sets the validation rules, whatever the provider (by default the provider's: GPTProto's
    /// on its hosts, only what every server requires elsewhere).
    #[must_use]
    pub fn validation_rules(mut self, rules: ValidationRules) -> Self {
        self.validation = Some(rules);
        self
    }

    /// Chooses the provider, whatever the base URL says: a vLLM or llama.cpp server (no host
    /// tells them), or a provider behind a gateway of one's own. Its profile decides the auth
    /// scheme, the key, the validation rules and the quirks handled, unless set apart.
    ///
    /// ```
    /// use gptproto_proto::exchange::ClientConfig;
    /// use gptproto_proto::provider::{Provider, ReasoningReplay};
    ///
    /// let config = ClientConfig::builder()
    ///     .base_url("https://llm.internal.example/v1")
    ///     .provider(Provider::DeepSeek)
    ///     .api_key("sk-1")
    ///     .build()?;
    /// assert_eq!(config.provider(), Provider::DeepSeek);
    /// assert_eq!(config.profile().reasoning_replay, ReasoningReplay::CurrentTurn);
    /// # Ok::<(), gptproto_proto::Error>(())
    /// ```
    #[must_use]
    pub fn provider(mut self, provider: Provider) -> Self {
        self.provider = Some(provider);
        self
    }

    /// Sets what becomes of earlier answers' reasoning text when a conversation is sent again,
    /// whatever the provider's profile says.
    #[must_use]
    pub fn reasoning_replay(mut self, replay: ReasoningReplay) -> Self {
        self.reasoning_replay = Some(replay);
        self
    }

    /// Checks everything and builds the config.
    pub fn build(self) -> Result<ClientConfig, Error> {
        let base_url = parse_base_url(self.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL))?;
        let chat_completions = join_path(&base_url, "chat/completions")?;
        let mut profile = self
            .provider
            .unwrap_or_else(|| Provider::of_base_url(&base_url))
            .profile();
        let auth_scheme = match self.auth_scheme {
            AuthScheme::Auto => profile.auth_scheme,
            chosen => chosen,
        };
        profile.auth_scheme = auth_scheme;
        if let Some(rules) = self.validation {
            profile.validation = rules;
        }
        if let Some(replay) = self.reasoning_replay {
            profile.reasoning_replay = replay;
        }
        let authorization = match &self.api_key {
            None => None,
            Some(key) => {
                let text = match auth_scheme {
                    AuthScheme::Bearer => format!("Bearer {}", key.expose()),
                    _ => key.expose().to_owned(),
                };
                let mut value = HeaderValue::from_str(&text).map_err(|_| {
                    Error::config(
                        "the API key cannot be sent in a header: it contains control or non-visible characters",
                    )
                })?;
                value.set_sensitive(true);
                Some(value)
            }
        };
        let mut default_headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let header_name = HeaderName::try_from(name.as_str())
                .map_err(|_| Error::config(format!("invalid header name {name:?}")))?;
            let mut header_value = HeaderValue::from_str(value)
                .map_err(|_| Error::config(format!("invalid value for header {name:?}")))?;
            if is_secret_header(&header_name) {
                header_value.set_sensitive(true);
            }
            default_headers.append(header_name, header_value);
        }
        let user_agent = HeaderValue::from_str(&self.user_agent)
            .map_err(|_| Error::config(format!("invalid user agent {:?}", self.user_agent)))?;
        let mut base_headers = HeaderMap::with_capacity(4 + default_headers.len());
        base_headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        base_headers.insert(http::header::USER_AGENT, user_agent.clone());
        if let Some(authorization) = &authorization {
            base_headers.insert(http::header::AUTHORIZATION, authorization.clone());
        }
        layer(&mut base_headers, &default_headers);
        Ok(ClientConfig {
            base_url,
            chat_completions,
            api_key: self.api_key,
            auth_scheme,
            authorization,
            default_headers,
            user_agent,
            base_headers,
            profile,
        })
    }
}

/// Puts `layer`'s headers over `headers`: a name in `layer` replaces all of that name's values.
pub(crate) fn layer(headers: &mut HeaderMap, layer: &HeaderMap) {
    for name in layer.keys() {
        headers.remove(name);
    }
    for (name, value) in layer {
        headers.append(name, value.clone());
    }
}

impl ClientConfig {
    /// The headers every request starts from (see the `base_headers` field).
    pub(crate) fn base_headers(&self) -> &HeaderMap {
        &self.base_headers
    }
}

/// Headers whose values are secrets: marked sensitive (so that `http` and tracing hide them),
/// and not carried to another origin on a redirect.
pub const SECRET_HEADERS: [&str; 5] = [
    "authorization",
    "api-key",
    "x-api-key",
    "cookie",
    "proxy-authorization",
];

pub(crate) fn is_secret_header(name: &HeaderName) -> bool {
    SECRET_HEADERS.contains(&name.as_str())
}

fn parse_base_url(text: &str) -> Result<Uri, Error> {
    if !text.contains("://") {
        return Err(Error::config(format!(
            "base URL {text:?} needs a scheme, e.g. https://gptproto.com/v1"
        )));
    }
    let uri: Uri = text
        .trim()
        .parse()
        .map_err(|error| Error::config(format!("base URL {text:?} is not a URL: {error}")))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => {
            return Err(Error::config(format!(
                "base URL {text:?} has scheme {other:?}; use http or https"
            )));
        }
        None => {
            return Err(Error::config(format!(
                "base URL {text:?} needs a scheme, e.g. https://gptproto.com/v1"
            )));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(Error::config(format!("base URL {text:?} has no host")));
    }
    if uri
        .authority()
        .is_some_and(|authority| authority.as_str().contains('@'))
    {
        return Err(Error::config(
            "base URL must not carry credentials; set the API key instead",
        ));
    }
    Ok(uri)
}

/// `base` with `segment` appended to its path, keeping its query.
fn join_path(base: &Uri, segment: &str) -> Result<Uri, Error> {
    let path = base.path().trim_end_matches('/');
    let path_and_query = match base.query() {
        Some(query) => format!("{path}/{segment}?{query}"),
        None => format!("{path}/{segment}"),
    };
    let mut parts = base.clone().into_parts();
    parts.path_and_query = Some(
        path_and_query
            .parse()
            .map_err(|error| Error::config(format!("base URL path does not parse: {error}")))?,
    );
    Uri::from_parts(parts)
        .map_err(|error| Error::config(format!("base URL does not build: {error}")))
}
