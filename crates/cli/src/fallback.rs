//! The models tried when the one asked fails in a way another could fix: `--fallback MODEL`,
//! or `PROFILE:MODEL` for a model of another profile's provider (its base URL, key and
//! provider), and a profile's `fallback = [...]`.

use gptproto::{ChatCall, ChatStreamCall, Client};

use crate::args::ConnectionArgs;
use crate::config::Loaded;
use crate::connection;
use crate::exit::Failure;
use crate::options::ChatOptions;
use crate::settings::{self, Origins};

/// One fallback: a model, on the command's client or on another profile's.
#[derive(Debug, Clone)]
pub(crate) struct Fallback {
    pub(crate) client: Option<Client>,
    pub(crate) model: String,
}

/// Another profile's model (`PROFILE:MODEL`), when the text before the first `:` names a
/// profile of the file; else the whole text is a model (Ollama's `qwen2.5:0.5b`).
fn split<'a>(text: &'a str, loaded: &Loaded) -> (Option<&'a str>, &'a str) {
    match text.split_once(':') {
        Some((profile, model)) if loaded.profiles.contains_key(profile) && !model.is_empty() => {
            (Some(profile), model)
        }
        _ => (None, text),
    }
}

/// The fallbacks as given, each another profile's client built (its key read) once.
pub(crate) fn resolve(
    given: &[String],
    loaded: &Loaded,
    options: &ChatOptions,
) -> Result<Vec<Fallback>, Failure> {
    given
        .iter()
        .map(|text| {
            let (profile, model) = split(text, loaded);
            let client = match profile {
                None => None,
                Some(name) => Some(client_of(name, loaded, options).map_err(
                    |failure| match failure {
                        Failure::Usage(message) => {
                            Failure::Usage(format!("fallback {text}: {message}"))
                        }
                        other => other,
                    },
                )?),
            };
            Ok(Fallback {
                client,
                model: model.to_owned(),
            })
        })
        .collect()
}

/// A client for profile `name`'s provider: its settings alone (no flag or variable of this
/// command's), with this command's deadline and retries.
fn client_of(name: &str, loaded: &Loaded, options: &ChatOptions) -> Result<Client, Failure> {
    let other = loaded
        .with_profile(name)
        .expect("only a profile of the file is split off")?;
    let connection = settings::connection(&ConnectionArgs::default(), Origins(None), &other, true)?;
    connection::chat_client(&connection, options)
}

/// `call` with `fallbacks`, in order.
pub(crate) fn chat(call: ChatCall, fallbacks: &[Fallback]) -> ChatCall {
    fallbacks
        .iter()
        .fold(call, |call, fallback| match &fallback.client {
            Some(client) => call.fallback_on(client, &fallback.model),
            None => call.fallback(&fallback.model),
        })
}

/// `call` with `fallbacks`, in order.
pub(crate) fn stream(call: ChatStreamCall, fallbacks: &[Fallback]) -> ChatStreamCall {
    fallbacks
        .iter()
        .fold(call, |call, fallback| match &fallback.client {
            Some(client) => call.fallback_on(client, &fallback.model),
            None => call.fallback(&fallback.model),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Profile;

    #[test]
    fn a_profile_before_the_colon_is_another_providers_else_it_is_the_models_name() {
        let mut loaded = crate::options::tests::loaded(Profile::default());
        loaded
            .profiles
            .insert("openai".to_owned(), Profile::default());
        assert_eq!(
            split("openai:gpt-4o-mini", &loaded),
            (Some("openai"), "gpt-4o-mini")
        );
        assert_eq!(split("qwen2.5:0.5b", &loaded), (None, "qwen2.5:0.5b"));
        assert_eq!(split("qwen-plus", &loaded), (None, "qwen-plus"));
        assert_eq!(split("openai:", &loaded), (None, "openai:"));
    }
}
