//! `gptproto`: chat with GPTProto or any OpenAI-compatible server from the command line.
//!
//! ```text
//! gptproto chat "who are you?"                      streamed to stdout
//! echo "who are you?" | gptproto chat --json        the chat.completion object
//! gptproto chat                                     interactive, on a terminal
//! gptproto batch requests.jsonl -o answers.jsonl    a file of requests, under rate limits
//! gptproto models                                   the models the server offers
//! gptproto chat -c "and then?"                      continue the last conversation
//! gptproto logs -q invoice                          search the history
//! ```
//!
//! Exit status: 0 success; 2 usage or invalid input; 3 authentication or permission;
//! 4 rate limited after retries; 5 server or network error or timeout; 6 request rejected;
//! 7 protocol error; `batch`: 8 some lines failed, 130 interrupted.
//!
//! With `OTEL_EXPORTER_OTLP_ENDPOINT` set, each request's span and the GenAI metrics are
//! exported over OTLP/HTTP and flushed before exiting (`docs/observability.md`).

mod answer;
mod args;
mod attach;
mod batch;
mod chat;
mod config;
mod config_cmd;
mod connection;
mod conversation;
mod cost;
mod exit;
mod extract;
mod fallback;
mod history;
mod input;
mod logs;
mod models;
mod options;
mod render;
mod repl;
mod session;
mod settings;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::args::{Cli, Command};
use crate::config::{Chosen, Loaded};
use crate::exit::Failure;
use crate::settings::Origins;

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    let profile = cli.profile.clone().map(|name| {
        let chosen = match matches.value_source("profile") {
            Some(clap::parser::ValueSource::EnvVariable) => Chosen::Env,
            _ => Chosen::Flag,
        };
        (name, chosen)
    });
    let origins = Origins(matches.subcommand().map(|(_, matches)| matches));
    // OTLP export when the standard variables ask for it; flushed before exiting.
    let otlp = match gptproto::otel::Otlp::from_env() {
        Ok(otlp) => otlp,
        Err(error) => {
            eprintln!("gptproto: {error:#}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let context = |profile| config::load(profile).map(|loaded| Context { origins, loaded });
    let result = match cli.command {
        Command::Chat(args) => {
            init_tracing(args.verbose, otlp.as_ref());
            // One thread: one call.
            context(profile)
                .and_then(|context| on_runtime(false, chat::run(args, context)))
                .map(|()| 0)
        }
        Command::Models(args) => {
            init_tracing(args.verbose, otlp.as_ref());
            context(profile)
                .and_then(|context| on_runtime(false, models::run(args, context)))
                .map(|()| 0)
        }
        Command::Logs(args) => logs::run(&args).map(|()| 0),
        Command::Prices { json } => config::load(profile)
            .and_then(|loaded| cost::show_prices(&loaded, json))
            .map(|()| 0),
        Command::Config { action } => config_cmd::run(&action, profile).map(|()| 0),
        Command::Completions { shell } => {
            let mut command = Cli::command();
            clap_complete::generate(shell, &mut command, "gptproto", &mut std::io::stdout());
            Ok(0)
        }
        Command::Man { dir } => manual_pages(&dir).map(|()| 0),
        Command::Batch(args) => {
            init_tracing(args.verbose, otlp.as_ref());
            // Two worker threads: the batch and its connections.
            context(profile).and_then(|context| on_runtime(true, batch::run(args, context)))
        }
    };
    if let Some(otlp) = otlp
        && let Err(error) = otlp.shutdown()
    {
        // The answer is given: a failed export is said, not an error of the command.
        eprintln!("gptproto: warning: {error:#}");
    }
    match result {
        Ok(status) => ExitCode::from(status),
        Err(failure) => ExitCode::from(report(failure)),
    }
}

/// What a command starts from: how its arguments were given, and the configuration.
pub(crate) struct Context<'a> {
    pub(crate) origins: Origins<'a>,
    pub(crate) loaded: Loaded,
}

/// Writes `gptproto.1` and `gptproto-<command>.1` for each visible command into `dir`.
fn manual_pages(dir: &std::path::Path) -> Result<(), Failure> {
    std::fs::create_dir_all(dir)?;
    let command = Cli::command();
    let mut pages = vec![("gptproto".to_owned(), command.clone())];
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        // The page's title is its command's name (leaked: a one-shot command, a few bytes).
        let name: &'static str = Box::leak(format!("gptproto-{}", sub.get_name()).into_boxed_str());
        pages.push((name.to_owned(), sub.clone().name(name)));
    }
    for (name, page) in pages {
        let mut roff = Vec::new();
        clap_mangen::Man::new(page).render(&mut roff)?;
        std::fs::write(dir.join(format!("{name}.1")), roff)?;
    }
    Ok(())
}

/// Runs `command` on a tokio runtime (two worker threads if `workers`, else the current one).
fn on_runtime<T>(
    workers: bool,
    command: impl std::future::Future<Output = Result<T, Failure>>,
) -> Result<T, Failure> {
    let mut builder = if workers {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(2);
        builder
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = builder.enable_all().build().map_err(Failure::Runtime)?;
    runtime.block_on(command)
}

/// Says what failed on stderr; the exit status.
fn report(failure: Failure) -> u8 {
    match failure {
        Failure::Usage(message) => {
            eprintln!("gptproto: {message}");
            exit::USAGE
        }
        Failure::Api(error) => {
            eprintln!("gptproto: {error:#}");
            if let Some(hint) = exit::hint(&error) {
                eprintln!("gptproto: hint: {hint}");
            }
            exit::code_of(&error)
        }
        Failure::Output(error) if error.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Failure::Output(error) => {
            eprintln!("gptproto: cannot write the output: {error}");
            exit::NETWORK
        }
        Failure::Runtime(error) => {
            eprintln!("gptproto: cannot start the runtime: {error}");
            exit::NETWORK
        }
    }
}

/// `-v`: the client's spans and events on stderr (debug); `-vv`: trace, and the HTTP and TLS
/// libraries' own messages at info. They carry no header and no key. With OTLP export, the
/// call spans go to the exporter too.
fn init_tracing(verbose: u8, otlp: Option<&gptproto::otel::Otlp>) {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    if verbose == 0 && otlp.is_none() {
        return;
    }
    let filter = if verbose == 1 {
        "gptproto=debug,gptproto_transport=debug"
    } else {
        "info,gptproto=trace,gptproto_transport=trace,gptproto_proto=trace"
    };
    let log = (verbose > 0).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .with_filter(tracing_subscriber::EnvFilter::new(filter))
    });
    tracing_subscriber::registry()
        .with(otlp.map(gptproto::otel::Otlp::layer))
        .with(log)
        .init();
}
