//! `gptproto`: chat with GPTProto or any OpenAI-compatible server from the command line.
//!
//! ```text
//! gptproto chat "who are you?"                      streamed to stdout
//! echo "who are you?" | gptproto chat --json        the chat.completion object
//! gptproto chat                                     interactive, on a terminal
//! ```
//!
//! Exit status: 0 success; 2 usage or invalid input; 3 authentication or permission;
//! 4 rate limited after retries; 5 server or network error or timeout; 6 request rejected;
//! 7 protocol error.

mod args;
mod chat;
mod exit;
mod input;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::exit::Failure;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Command::Chat(args) = cli.command;
    init_tracing(args.verbose);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("gptproto: cannot start the runtime: {error}");
            return ExitCode::from(exit::NETWORK);
        }
    };
    match runtime.block_on(chat::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("gptproto: {message}");
            ExitCode::from(exit::USAGE)
        }
        Err(Failure::Api(error)) => {
            eprintln!("gptproto: {error:#}");
            if error.is_certificate() {
                eprintln!(
                    "gptproto: hint: --cacert FILE trusts a CA's certificate (PEM) next to the bundled roots"
                );
            }
            ExitCode::from(exit::code_of(&error))
        }
        Err(Failure::Output(error)) if error.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(Failure::Output(error)) => {
            eprintln!("gptproto: cannot write the answer: {error}");
            ExitCode::from(exit::NETWORK)
        }
    }
}

/// `-v`: the client's spans and events on stderr (debug); `-vv`: trace, and the HTTP and TLS
/// libraries' own messages at info. They carry no header and no key.
fn init_tracing(verbose: u8) {
    if verbose == 0 {
        return;
    }
    let filter = if verbose == 1 {
        "gptproto=debug,gptproto_transport=debug"
    } else {
        "info,gptproto=trace,gptproto_transport=trace,gptproto_proto=trace"
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}
