//! The settings that apply, each with where it came from: a flag, then its environment
//! variable, then the profile, then the built-in default.

use std::fmt;
use std::path::PathBuf;

use clap::ArgMatches;
use clap::parser::ValueSource;

use gptproto::Provider;

use crate::args::{Auth, ChatArgs, ConnectionArgs};
use crate::config::Loaded;
use crate::exit::Failure;

/// The built-in base URL.
pub(crate) const DEFAULT_BASE_URL: &str = "https://gptproto.com/v1";
/// The built-in model.
pub(crate) const DEFAULT_MODEL: &str = "qwen-turbo";

/// Where a setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// A flag on the command line.
    Flag(&'static str),
    /// An environment variable.
    Env(&'static str),
    /// The profile (its name).
    Profile(String),
    /// The profile's key source (its name, how).
    ProfileKey(String, String),
    /// The built-in default.
    Default,
    /// Decided by the base URL.
    BaseUrl,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flag(flag) => write!(f, "{flag}"),
            Self::Env(name) => write!(f, "{name}"),
            Self::Profile(name) => write!(f, "profile {name}"),
            Self::ProfileKey(name, how) => write!(f, "profile {name}, {how}"),
            Self::Default => f.write_str("default"),
            Self::BaseUrl => f.write_str("by the base URL"),
        }
    }
}

/// A setting's value and where it came from.
pub(crate) type Sourced<T> = (T, Source);

/// How each argument was given (flag or variable), from clap's matches.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origins<'a>(pub(crate) Option<&'a ArgMatches>);

impl Origins<'_> {
    /// The source of argument `id` that has a value: its flag, or its variable.
    fn of(&self, id: &str, flag: &'static str, env: &'static str) -> Source {
        match self.0.and_then(|matches| matches.value_source(id)) {
            Some(ValueSource::EnvVariable) => Source::Env(env),
            _ => Source::Flag(flag),
        }
    }
}

/// The first of: what was given (a flag or variable), the profile's, the default.
fn pick<T>(
    given: Option<T>,
    given_from: impl FnOnce() -> Source,
    profile: Option<T>,
    loaded: &Loaded,
    default: Option<T>,
) -> Option<Sourced<T>> {
    if let Some(value) = given {
        return Some((value, given_from()));
    }
    if let Some(value) = profile {
        let name = loaded.profile_name().unwrap_or_default().to_owned();
        return Some((value, Source::Profile(name)));
    }
    default.map(|value| (value, Source::Default))
}

/// Where requests go and how they authenticate, resolved.
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) base_url: Sourced<String>,
    pub(crate) auth: Sourced<Auth>,
    /// Whose API it is: what its profile decides (key, auth, checks, quirks).
    pub(crate) provider: Sourced<Provider>,
    /// The key, resolved (or, for `config show`, only where it would come from).
    pub(crate) key: Option<Sourced<Option<String>>>,
    pub(crate) cacert: Option<Sourced<PathBuf>>,
    /// Plain `http://` to a host that is not loopback allowed, and who said so.
    pub(crate) allow_insecure_http: Sourced<bool>,
}

/// The connection's settings; `read_key`: read the profile's key (run its command) now.
pub(crate) fn connection(
    args: &ConnectionArgs,
    origins: Origins<'_>,
    loaded: &Loaded,
    read_key: bool,
) -> Result<Connection, Failure> {
    let profile = &loaded.profile;
    let base_url = pick(
        args.base_url.clone(),
        || origins.of("base_url", "--base-url", "GPTPROTO_BASE_URL"),
        profile.base_url.clone(),
        loaded,
        Some(DEFAULT_BASE_URL.to_owned()),
    )
    .expect("a default");
    let auth = pick(
        args.auth,
        || Source::Flag("--auth"),
        profile.auth,
        loaded,
        Some(Auth::Auto),
    )
    .expect("a default");
    let provider = pick(
        args.provider,
        || origins.of("provider", "--provider", "GPTPROTO_PROVIDER"),
        profile.provider,
        loaded,
        None,
    )
    .unwrap_or_else(|| (provider_of(&base_url.0), Source::BaseUrl));
    let key = match (&args.api_key, loaded.key_source()) {
        (Some(key), _) => Some((
            Some(key.clone()),
            origins.of("api_key", "--api-key", "GPTPROTO_API_KEY"),
        )),
        (None, Some(source)) => {
            let name = loaded.profile_name().unwrap_or_default();
            let value = if read_key {
                Some(source.resolve(profile, name)?)
            } else {
                None
            };
            Some((
                value,
                Source::ProfileKey(name.to_owned(), source.describe()),
            ))
        }
        (None, None) => None,
    };
    let cacert = pick(
        args.cacert.clone(),
        || Source::Flag("--cacert"),
        profile.cacert.clone(),
        loaded,
        None,
    );
    let allow_insecure_http = pick(
        args.allow_insecure_http.then_some(true),
        || Source::Flag("--allow-insecure-http"),
        profile.allow_insecure_http,
        loaded,
        Some(false),
    )
    .expect("a default");
    Ok(Connection {
        base_url,
        auth,
        provider,
        key,
        cacert,
        allow_insecure_http,
    })
}

/// The provider a base URL names (the core's decision); one that does not parse is the client
/// builder's error to give.
fn provider_of(base_url: &str) -> Provider {
    base_url
        .trim()
        .parse()
        .map_or(Provider::Unknown, |uri| Provider::of_base_url(&uri))
}

/// The settings of `gptproto chat` a profile can give, each with where it came from.
#[derive(Debug)]
pub(crate) struct ChatSettings {
    pub(crate) model: Sourced<String>,
    pub(crate) system: Option<Sourced<String>>,
    pub(crate) temperature: Option<Sourced<f64>>,
    pub(crate) max_tokens: Option<Sourced<u32>>,
    /// `--extra` as given, else the profile's `extra` (as `config show` names it).
    pub(crate) extra: Option<Sourced<String>>,
    /// The profile's `extra`, applied before `--extra`.
    pub(crate) profile_extra: Option<serde_json::Value>,
}

/// What `gptproto chat` was given, else the profile's, else the defaults: model, system,
/// temperature, max tokens, extra.
pub(crate) fn chat(args: &ChatArgs, origins: Origins<'_>, loaded: &Loaded) -> ChatSettings {
    let profile = &loaded.profile;
    let model = pick(
        args.model.clone(),
        || origins.of("model", "--model", "GPTPROTO_MODEL"),
        profile.model.clone(),
        loaded,
        Some(DEFAULT_MODEL.to_owned()),
    )
    .expect("a default");
    let system = pick(
        args.system.clone(),
        || Source::Flag("--system"),
        profile.system.clone(),
        loaded,
        None,
    );
    let temperature = pick(
        args.temperature,
        || Source::Flag("--temperature"),
        profile.temperature,
        loaded,
        None,
    );
    let max_tokens = pick(
        args.max_tokens,
        || Source::Flag("--max-tokens"),
        profile.max_tokens,
        loaded,
        None,
    );
    let profile_extra = profile
        .extra
        .as_ref()
        .map(|table| serde_json::to_value(table).expect("a TOML table is JSON"));
    let name = loaded.profile_name().unwrap_or_default().to_owned();
    let extra = match (&args.extra, &profile_extra) {
        (Some(extra), _) => Some((extra.clone(), Source::Flag("--extra"))),
        (None, Some(extra)) => Some((extra.to_string(), Source::Profile(name))),
        (None, None) => None,
    };
    ChatSettings {
        model,
        system,
        temperature,
        max_tokens,
        extra,
        profile_extra,
    }
}

impl ChatSettings {
    /// Each setting as `config show` prints it.
    pub(crate) fn rows(self) -> Vec<(&'static str, Option<Sourced<String>>)> {
        vec![
            ("model", Some(self.model)),
            ("system", self.system),
            ("temperature", self.temperature.map(shown)),
            ("max-tokens", self.max_tokens.map(shown)),
            ("extra", self.extra),
        ]
    }
}

fn shown<T: ToString>((value, from): Sourced<T>) -> Sourced<String> {
    (value.to_string(), from)
}
