//! `gptproto chat`'s options, resolved once — flags, then their environment variables, then
//! the profile, then the defaults — into one value that the rest of the command reads. The
//! clap structs (`args.rs`) describe the command line only; nothing writes back into them.

use std::time::Duration;

use gptproto::proto::wire::Stop;
use gptproto::{ChatRequest, ResponseFormat};

use crate::Context;
use crate::args::{ChatArgs, Format};
use crate::exit::Failure;
use crate::input;
use crate::settings::{self, Connection};

/// Everything `gptproto chat` does, decided.
#[derive(Debug)]
pub(crate) struct ChatOptions {
    /// The prompt as given (absent or `-`: standard input).
    pub(crate) prompt: Option<String>,
    /// `--file`s as given (read by `attach`, before anything else reads standard input).
    pub(crate) files: Vec<String>,
    /// `--image`s, sent with the first message.
    pub(crate) images: Vec<String>,
    /// Where requests go and how they authenticate, the key read.
    pub(crate) connection: Connection,
    /// `--timeout` (total deadline), when given.
    pub(crate) timeout: Option<Duration>,
    /// `--max-retries`, when given.
    pub(crate) max_retries: Option<u32>,
    /// Models tried in order when the model fails in a way another could fix: `--fallback`,
    /// else the profile's `fallback`.
    pub(crate) fallbacks: Vec<String>,
    /// The request without the user's message: model, system message, parameters, the
    /// profile's `extra` and then `--extra` merged in.
    pub(crate) request: ChatRequest,
    /// How the answer is shown.
    pub(crate) output: Output,
    /// What the history does.
    pub(crate) history: HistoryOptions,
    /// `--dry-run`: print the request, send nothing.
    pub(crate) dry_run: bool,
}

/// How the answer is shown.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Output {
    /// `--json`: the whole `chat.completion` on stdout, no text.
    pub(crate) json: bool,
    /// `-x`: only the first fenced code block.
    pub(crate) extract: bool,
    /// `--raw`: the text as sent, even on a terminal.
    pub(crate) raw: bool,
    /// `-u`: tokens, time to first token, rate on stderr after the answer.
    pub(crate) usage: bool,
    /// More than one choice asked for (`-n`): shown at the end, each under a heading.
    pub(crate) many_choices: bool,
}

impl Output {
    /// Whether the text is printed (not with `--json` or `-x`).
    pub(crate) fn shows_text(self) -> bool {
        !(self.json || self.extract)
    }
}

/// What the history does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HistoryOptions {
    /// Exchanges are recorded (not with `--no-log`, the profile's `log = false`, or
    /// `--dry-run`, which sends nothing).
    pub(crate) log: bool,
    /// The conversation continued, if any.
    pub(crate) resume: Resume,
}

/// The conversation a chat continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resume {
    /// A new conversation.
    New,
    /// `-c`: the latest.
    Latest,
    /// `--cid ID`.
    Id(String),
}

impl ChatOptions {
    /// Resolves `args` against the environment and the profile of `context`; reads the key
    /// (runs the profile's key command) and the files the options name (a JSON Schema).
    pub(crate) fn resolve(args: ChatArgs, context: &Context<'_>) -> Result<Self, Failure> {
        let settings = settings::chat(&args, context.origins, &context.loaded);
        let connection =
            settings::connection(&args.connection, context.origins, &context.loaded, true)?;
        let timeout = args.timeout.map(total_deadline).transpose()?;
        let mut request = ChatRequest::new(settings.model.0.as_str());
        if let Some((system, _)) = &settings.system {
            request = request.system(system.as_str());
        }
        request.max_tokens = settings.max_tokens.as_ref().map(|(value, _)| *value);
        request.temperature = settings.temperature.as_ref().map(|(value, _)| *value);
        request.n = args.n;
        request.top_p = args.top_p;
        request.seed = args.seed;
        if !args.stop.is_empty() {
            request.stop = Some(Stop::Many(args.stop));
        }
        request.response_format = match &args.response_format {
            None => None,
            Some(Format::Text) => Some(ResponseFormat::Text),
            Some(Format::JsonObject) => Some(ResponseFormat::JsonObject),
            Some(Format::JsonSchema(file)) => Some(input::json_schema_format(file)?),
        };
        let mut request = request.stream(!args.no_stream);
        // The profile's extra JSON goes under the flag's: both apply, the flag's last.
        if let Some(extra) = settings.profile_extra {
            request = request
                .merge_json(extra)
                .map_err(|error| Failure::Usage(format!("the profile's extra: {error}")))?;
        }
        if let Some(extra) = input::extra(args.extra.as_deref())? {
            request = request
                .merge_json(extra)
                .map_err(|error| Failure::Usage(format!("--extra: {error}")))?;
        }
        let resume = match (args.continue_last, args.cid) {
            (_, Some(id)) => Resume::Id(id),
            (true, None) => Resume::Latest,
            (false, None) => Resume::New,
        };
        Ok(Self {
            prompt: args.prompt,
            files: args.files,
            images: args.image,
            connection,
            timeout,
            max_retries: args.max_retries,
            fallbacks: if args.fallback.is_empty() {
                context.loaded.profile.fallback.clone().unwrap_or_default()
            } else {
                args.fallback
            },
            request,
            output: Output {
                json: args.json,
                extract: args.extract,
                raw: args.raw,
                usage: args.usage,
                many_choices: args.n.is_some_and(|n| n > 1),
            },
            history: HistoryOptions {
                log: !args.no_log && context.loaded.profile.log != Some(false) && !args.dry_run,
                resume,
            },
            dry_run: args.dry_run,
        })
    }

    /// The model asked.
    pub(crate) fn model(&self) -> &str {
        &self.request.model
    }
}

/// `--timeout SECS` as a deadline: a positive number of seconds.
fn total_deadline(seconds: f64) -> Result<Duration, Failure> {
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|timeout| !timeout.is_zero())
        .ok_or_else(|| {
            Failure::Usage(format!(
                "--timeout {seconds}: give a positive number of seconds"
            ))
        })
}

#[cfg(test)]
pub(crate) mod tests {
    use clap::{CommandFactory, FromArgMatches};

    use super::*;
    use crate::args::{Cli, Command};
    use crate::config::{Chosen, Loaded, Profile};
    use crate::settings::{Origins, Source};

    /// A file loaded with `profile` chosen (as `work`).
    pub(crate) fn loaded(profile: Profile) -> Loaded {
        Loaded {
            path: "gptproto.toml".into(),
            exists: true,
            name: Some(("work".to_owned(), Chosen::Flag)),
            profile,
            prices: Default::default(),
            profiles: Default::default(),
        }
    }

    fn resolved(line: &[&str], profile: Profile) -> ChatOptions {
        let matches = Cli::command()
            .try_get_matches_from(line.iter().copied())
            .unwrap();
        let Cli {
            command: Command::Chat(args),
            ..
        } = Cli::from_arg_matches(&matches).unwrap()
        else {
            panic!("not chat");
        };
        let context = Context {
            origins: Origins(matches.subcommand().map(|(_, matches)| matches)),
            loaded: loaded(profile),
        };
        ChatOptions::resolve(args, &context).unwrap()
    }

    #[test]
    fn flags_over_the_profile_over_the_defaults_decided_once() {
        let profile = Profile {
            base_url: Some("http://127.0.0.1:9/v1".to_owned()),
            model: Some("profile-model".to_owned()),
            system: Some("be brief".to_owned()),
            temperature: Some(0.5),
            extra: Some(toml::toml! { a = 1
            b = 1 }),
            log: Some(false),
            ..Profile::default()
        };
        let options = resolved(
            &[
                "gptproto",
                "chat",
                "--api-key",
                "k",
                "-m",
                "flag-model",
                "--extra",
                r#"{"a":2}"#,
                "--timeout",
                "2.5",
                "-n",
                "2",
                "--json",
                "hi",
            ],
            profile,
        );
        assert_eq!(options.model(), "flag-model");
        let body = serde_json::to_value(&options.request).unwrap();
        assert_eq!(body["messages"][0]["content"], "be brief");
        assert_eq!(body["temperature"], 0.5);
        // Both extras, the flag's last.
        assert_eq!((body["a"].clone(), body["b"].clone()), (2.into(), 1.into()));
        assert_eq!(options.timeout, Some(Duration::from_millis(2500)));
        assert!(options.output.many_choices && !options.output.shows_text());
        assert_eq!(
            options.history,
            HistoryOptions {
                log: false,
                resume: Resume::New
            }
        );
        assert_eq!(
            options.connection.base_url.1,
            Source::Profile("work".to_owned())
        );
        assert_eq!(options.prompt.as_deref(), Some("hi"));

        let defaults = resolved(
            &["gptproto", "chat", "--api-key", "k", "--cid", "c-1"],
            Profile::default(),
        );
        assert_eq!(defaults.model(), crate::settings::DEFAULT_MODEL);
        assert!(defaults.request.is_stream() && defaults.output.shows_text());
        assert_eq!(defaults.history.resume, Resume::Id("c-1".to_owned()));
        assert!(defaults.history.log);
    }

    #[test]
    fn a_timeout_that_is_not_a_positive_number_of_seconds_is_refused() {
        for seconds in [0.0, -1.0, f64::NAN] {
            let error = total_deadline(seconds).unwrap_err();
            assert!(format!("{error:?}").contains("--timeout"), "{error:?}");
        }
    }
}
