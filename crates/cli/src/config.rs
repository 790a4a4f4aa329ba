//! The configuration file and its profiles: where it is, what it may say, which profile
//! applies, and the key a profile names.
//!
//! Precedence, for every setting: a flag, then its environment variable, then the profile,
//! then the built-in default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gptproto::proto::price::PriceTable;
use serde::Deserialize;

use crate::args::Auth;
use crate::exit::Failure;

mod key;
mod template;

pub(crate) use key::KeySource;
pub(crate) use template::TEMPLATE;

/// The variable naming the configuration file.
pub(crate) const ENV_CONFIG: &str = "GPTPROTO_CONFIG";

/// The file: the default profile's name, and the profiles.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct File {
    /// The profile used when none is named (else the one called `default`, if any).
    default_profile: Option<String>,
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
    /// Prices per million tokens by model (`[prices."qwen-turbo"]`), for every profile.
    #[serde(default)]
    prices: PriceTable,
}

/// What a profile may set.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct Profile {
    pub(crate) base_url: Option<String>,
    pub(crate) auth: Option<Auth>,
    /// Whose API it is (`provider = "dashscope"`), when the base URL does not tell.
    #[serde(default, deserialize_with = "provider_name")]
    pub(crate) provider: Option<gptproto::Provider>,
    pub(crate) model: Option<String>,
    pub(crate) system: Option<String>,
    pub(crate) temperature: Option<f64>,
    pub(crate) max_tokens: Option<u32>,
    /// JSON merged into every request body (a TOML table).
    pub(crate) extra: Option<toml::Table>,
    /// The name of the environment variable holding the key.
    pub(crate) api_key_env: Option<String>,
    /// A command whose standard output is the key (`pass show gptproto`).
    pub(crate) api_key_cmd: Option<String>,
    /// The key itself (the file must then be readable by its owner only).
    pub(crate) api_key: Option<String>,
    /// A PEM file of CA certificates to trust as well.
    pub(crate) cacert: Option<PathBuf>,
    /// Whether plain `http://` to a host that is not this machine is allowed (`false` by
    /// default: the key would travel unencrypted).
    pub(crate) allow_insecure_http: Option<bool>,
    /// Whether `chat` records its exchanges in the history (`true` by default).
    pub(crate) log: Option<bool>,
    /// Models tried in order when the profile's model fails in a way another could fix.
    pub(crate) fallback: Option<Vec<String>>,
    /// This profile's prices, over the file's (`[profiles.NAME.prices."MODEL"]`).
    pub(crate) prices: Option<PriceTable>,
}

/// A profile's `provider`, by the core's names; an unknown one is an error that lists them.
fn provider_name<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<gptproto::Provider>, D::Error> {
    let name = String::deserialize(deserializer)?;
    name.parse().map(Some).map_err(serde::de::Error::custom)
}

/// How a profile was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Chosen {
    /// `--profile`.
    Flag,
    /// `GPTPROTO_PROFILE`.
    Env,
    /// The file's `default-profile`, or the profile named `default`.
    FileDefault,
}

/// The configuration as loaded: the file's path, and the profile that applies (if any).
#[derive(Debug, Clone)]
pub(crate) struct Loaded {
    pub(crate) path: PathBuf,
    pub(crate) exists: bool,
    /// The profile's name and how it was chosen.
    pub(crate) name: Option<(String, Chosen)>,
    pub(crate) profile: Profile,
    /// The prices that apply: the file's, and the profile's over them.
    pub(crate) prices: PriceTable,
    /// Every profile of the file (another one's provider is a fallback's: `PROFILE:MODEL`).
    pub(crate) profiles: BTreeMap<String, Profile>,
}

impl Loaded {
    /// The profile's name, for messages ("profile work").
    pub(crate) fn profile_name(&self) -> Option<&str> {
        self.name.as_ref().map(|(name, _)| name.as_str())
    }

    /// The key the profile names, and how.
    pub(crate) fn key_source(&self) -> Option<KeySource> {
        KeySource::of(&self.profile)
    }

    /// The file as loaded with another of its profiles chosen (a fallback's provider), or
    /// `None` when it has none of that name.
    pub(crate) fn with_profile(&self, name: &str) -> Option<Result<Self, Failure>> {
        let profile = self.profiles.get(name)?.clone();
        Some(check(&self.path, name, &profile).map(|()| Self {
            path: self.path.clone(),
            exists: self.exists,
            name: Some((name.to_owned(), Chosen::Flag)),
            profile,
            prices: self.prices.clone(),
            profiles: BTreeMap::new(),
        }))
    }
}

/// The configuration file's path: `GPTPROTO_CONFIG`, else `gptproto/config.toml` in the
/// platform's configuration directory (`$XDG_CONFIG_HOME`, `~/.config` on Linux); an error
/// when there is neither (no HOME).
pub(crate) fn path() -> Result<PathBuf, Failure> {
    find_path().ok_or_else(|| {
        Failure::Usage(format!(
            "no configuration directory (HOME is not set?): set {ENV_CONFIG} to a file"
        ))
    })
}

fn find_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(ENV_CONFIG).filter(|path| !path.is_empty()) {
        return Some(PathBuf::from(path));
    }
    dirs::config_dir().map(|dir| dir.join("gptproto").join("config.toml"))
}

/// Loads the file and picks the profile: `named` (from `--profile` or `GPTPROTO_PROFILE`),
/// else the file's default. A file that does not exist is an empty one, unless a profile is
/// named.
pub(crate) fn load(named: Option<(String, Chosen)>) -> Result<Loaded, Failure> {
    // No HOME and no GPTPROTO_CONFIG: no file (a named profile then says where one goes).
    let path = match find_path() {
        Some(path) => path,
        None if named.is_none() => PathBuf::new(),
        None => path()?,
    };
    let read = if path.as_os_str().is_empty() {
        Err(std::io::ErrorKind::NotFound.into())
    } else {
        std::fs::read_to_string(&path)
    };
    let text = match read {
        Ok(text) => Some(text),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => {
            return Err(Failure::Usage(format!(
                "cannot read the configuration file {}: {error}",
                path.display()
            )));
        }
    };
    let exists = text.is_some();
    let mut file = match &text {
        Some(text) => parse(&path, text)?,
        None => File::default(),
    };
    let name = match named {
        Some(named) => Some(named),
        None => file
            .default_profile
            .clone()
            .or_else(|| {
                file.profiles
                    .contains_key("default")
                    .then(|| "default".to_owned())
            })
            .map(|name| (name, Chosen::FileDefault)),
    };
    let profile = match &name {
        None => Profile::default(),
        Some((name, _)) => match file.profiles.get(name) {
            Some(profile) => profile.clone(),
            None if !exists => {
                return Err(Failure::Usage(format!(
                    "profile {name:?}: there is no configuration file at {} (`gptproto config \
                     init` writes one)",
                    path.display()
                )));
            }
            None => {
                let known: Vec<&str> = file.profiles.keys().map(String::as_str).collect();
                return Err(Failure::Usage(format!(
                    "{}: no profile {name:?} (the file has: {})",
                    path.display(),
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                )));
            }
        },
    };
    let mut prices = std::mem::take(&mut file.prices);
    if let Some(own) = &profile.prices {
        prices.extend(own);
    }
    if let Some(problem) = prices.problem() {
        return Err(Failure::Usage(format!("{}: {problem}", path.display())));
    }
    let loaded = Loaded {
        path,
        exists,
        name,
        profile,
        prices,
        profiles: std::mem::take(&mut file.profiles),
    };
    if let Some(name) = loaded.profile_name() {
        check(&loaded.path, name, &loaded.profile)?;
    }
    Ok(loaded)
}

/// Parses the file; an error names the file, the line and the key.
fn parse(path: &Path, text: &str) -> Result<File, Failure> {
    toml::from_str(text).map_err(|error| {
        let line = error
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        let shown = line
            .and_then(|line| text.lines().nth(line - 1))
            .map(str::trim)
            .unwrap_or_default();
        let message = error.message().trim_end();
        match line {
            Some(line) => Failure::Usage(format!(
                "{}, line {line} (`{shown}`): {message}",
                path.display()
            )),
            None => Failure::Usage(format!("{}: {message}", path.display())),
        }
    })
}

/// What a profile may not say: two sources of one key, or a key in a file others can read.
fn check(path: &Path, name: &str, profile: &Profile) -> Result<(), Failure> {
    let sources = [
        profile.api_key_env.is_some(),
        profile.api_key_cmd.is_some(),
        profile.api_key.is_some(),
    ];
    if sources.iter().filter(|set| **set).count() > 1 {
        return Err(Failure::Usage(format!(
            "{}: profile {name:?} gives more than one of api-key-env, api-key-cmd and api-key: \
             keep one",
            path.display()
        )));
    }
    if profile.api_key.is_some() {
        key::check_private(path, name)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<File, String> {
        parse(Path::new("/c/config.toml"), text).map_err(|failure| match failure {
            Failure::Usage(message) => message,
            other => format!("{other:?}"),
        })
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_key() {
        let error = parsed("[profiles.work]\nmodel = \"m\"\ntemperature = \"hot\"\n").unwrap_err();
        assert!(
            error.starts_with("/c/config.toml, line 3 (`temperature = \"hot\"`): "),
            "{error}"
        );
        let error = parsed("[profiles.work]\nmodle = \"m\"\n").unwrap_err();
        assert!(
            error.contains("line 2 (`modle = \"m\"`)") && error.contains("unknown field"),
            "{error}"
        );
        let error = parsed("[profiles.work\n").unwrap_err();
        assert!(error.contains("line 1"), "{error}");
    }

    #[test]
    fn the_template_parses_and_sets_nothing() {
        let file = parsed(TEMPLATE).unwrap();
        assert!(file.default_profile.is_none());
        let default = &file.profiles["default"];
        assert!(default.base_url.is_none() && default.model.is_none());
    }

    #[test]
    fn kebab_case_keys() {
        let file = parsed(
            "default-profile = \"local\"\n[profiles.local]\nbase-url = \"http://localhost:8080/v1\"\nmax-tokens = 100\nauth = \"bearer\"\nextra = { enable_thinking = true }\n",
        )
        .unwrap();
        let local = &file.profiles["local"];
        assert_eq!(file.default_profile.as_deref(), Some("local"));
        assert_eq!(local.max_tokens, Some(100));
        assert_eq!(local.auth, Some(Auth::Bearer));
        assert_eq!(
            local.extra.as_ref().unwrap()["enable_thinking"].as_bool(),
            Some(true)
        );
    }
}
