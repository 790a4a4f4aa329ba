//! The settings that apply, each with where it came from: a flag, then its environment
//! variable, then the profile, then the built-in default.

use std::fmt;
use std::path::PathBuf;

use clap::ArgMatches;
use clap::parser::ValueSource;

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
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flag(flag) => write!(f, "{flag}"),
            Self::Env(name) => write!(f, "{name}"),
            Self::Profile(name) => write!(f, "profile {name}"),
            Self::ProfileKey(name, how) => write!(f, "profile {name}, {how}"),
            Self::Default => f.write_str("default"),
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
        key,
        cacert,
        allow_insecure_http,
    })
}

/// Fills in what `gptproto chat` was not given from the profile (and the defaults), and
/// returns where each came from: model, system, temperature, max tokens, extra.
pub(crate) fn apply_to_chat(
    args: &mut ChatArgs,
    origins: Origins<'_>,
    loaded: &Loaded,
) -> Vec<(&'static str, Option<Sourced<String>>)> {
    let profile = loaded.profile.clone();
    let model = pick(
        args.model.take(),
        || origins.of("model", "--model", "GPTPROTO_MODEL"),
        profile.model,
        loaded,
        Some(DEFAULT_MODEL.to_owned()),
    )
    .expect("a default");
    args.model = Some(model.0.clone());
    let system = pick(
        args.system.take(),
        || Source::Flag("--system"),
        profile.system,
        loaded,
        None,
    );
    args.system = system.as_ref().map(|(value, _)| value.clone());
    let temperature = pick(
        args.temperature,
        || Source::Flag("--temperature"),
        profile.temperature,
        loaded,
        None,
    );
    args.temperature = temperature.as_ref().map(|(value, _)| *value);
    let max_tokens = pick(
        args.max_tokens,
        || Source::Flag("--max-tokens"),
        profile.max_tokens,
        loaded,
        None,
    );
    args.max_tokens = max_tokens.as_ref().map(|(value, _)| *value);
    // The profile's extra JSON goes under the flag's: both apply, the flag's last.
    args.profile_extra = profile
        .extra
        .map(|table| serde_json::to_value(table).expect("a TOML table is JSON"));
    let name = loaded.profile_name().unwrap_or_default().to_owned();
    let extra = match (&args.extra, &args.profile_extra) {
        (Some(extra), _) => Some((extra.clone(), Source::Flag("--extra"))),
        (None, Some(extra)) => Some((extra.to_string(), Source::Profile(name))),
        (None, None) => None,
    };
    vec![
        ("model", Some(model)),
        ("system", system),
        (
            "temperature",
            temperature.map(|(value, from)| (value.to_string(), from)),
        ),
        (
            "max-tokens",
            max_tokens.map(|(value, from)| (value.to_string(), from)),
        ),
        ("extra", extra),
    ]
}

/// The model (the profile's or the default once settings are applied).
pub(crate) fn model(args: &ChatArgs) -> &str {
    args.model.as_deref().unwrap_or(DEFAULT_MODEL)
}
