//! A conversation: one driver for the two front ends, the plain one (lines read from a
//! terminal's standard input while the answers go to a pipe) and the REPL (rustyline, slash
//! commands, Ctrl-C to cancel an answer). Lines are read on a blocking thread, off the
//! runtime's: while the user types, the runtime keeps serving the connections (HTTP/2 PINGs, a
//! server's GOAWAY, a TLS close), so the next question does not meet a connection that died
//! unnoticed.

mod commands;

use std::io::Write;
use std::time::{Duration, Instant};

use gptproto::{ChatRequest, Client, Message, Role};

use crate::answer::{Text, ask};
use crate::exit::Failure;
use crate::fallback::Fallback;
use crate::input;
use crate::options::{ChatOptions, Output};
use crate::session::{Answer, Session, failure_text};

/// What a front end read.
pub(crate) enum Read {
    /// A message for the model.
    Message(String),
    /// A slash command (without its `/`).
    Command(String),
    /// The user is done.
    Leave,
}

/// Where the user's lines come from. `next` blocks: the driver calls it on a blocking thread.
pub(crate) trait FrontEnd: Send + 'static {
    /// What is said when the conversation starts.
    fn greeting(&self, model: &str) -> String;

    /// The next thing the user said.
    fn next(&mut self) -> Result<Read, Failure>;

    /// Whether Ctrl-C cancels an answer on its way (else it ends the program, as usual).
    fn cancels_with_ctrl_c(&self) -> bool;
}

/// Lines from standard input, an empty one (or `/exit`, or its end) to leave.
pub(crate) struct Lines;

impl FrontEnd for Lines {
    fn greeting(&self, model: &str) -> String {
        format!("gptproto chat with {model} — an empty line or Ctrl-D ends it.")
    }

    fn next(&mut self) -> Result<Read, Failure> {
        eprint!("> ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        let n = std::io::stdin()
            .read_line(&mut line)
            .map_err(Failure::Output)?;
        let line = line.trim_end_matches(['\n', '\r']);
        if n == 0 || line.trim().is_empty() || line.trim() == "/exit" {
            return Ok(Read::Leave);
        }
        Ok(Read::Message(line.to_owned()))
    }

    fn cancels_with_ctrl_c(&self) -> bool {
        false
    }
}

/// A conversation: each answer is kept, so the model sees the whole exchange; a continued
/// conversation shows what was said before.
pub(crate) async fn converse(
    client: &Client,
    fallbacks: &[Fallback],
    mut conversation: ChatRequest,
    options: &ChatOptions,
    mut session: Session,
    mut front: impl FrontEnd,
) -> Result<(), Failure> {
    eprintln!("{}", front.greeting(options.model()));
    show_earlier(&session, options.output)?;
    let mut first = session.earlier().is_empty();
    loop {
        // Off the runtime's thread: the runtime serves the connections meanwhile.
        let (back, read) = tokio::task::spawn_blocking(move || {
            let read = front.next();
            (front, read)
        })
        .await
        .map_err(|error| Failure::Usage(format!("reading the terminal: {error}")))?;
        front = back;
        let line = match read? {
            Read::Leave => return Ok(()),
            Read::Command(command) => {
                if commands::command(&command, &mut conversation, &mut session) {
                    return Ok(());
                }
                continue;
            }
            Read::Message(line) => line,
        };
        let content = if first {
            input::user_content(&line, &options.images)?
        } else {
            gptproto::Content::Text(line)
        };
        first = false;
        conversation = conversation.message(Message::user(content));
        let started = Instant::now();
        let outcome = if front.cancels_with_ctrl_c() {
            tokio::select! {
                outcome = ask(client, conversation.clone(), fallbacks, options.output) => outcome,
                _ = tokio::signal::ctrl_c() => {
                    eprintln!("\n(cancelled)");
                    conversation.messages.pop();
                    continue;
                }
            }
        } else {
            ask(client, conversation.clone(), fallbacks, options.output).await
        };
        settle_turn(&mut conversation, &session, outcome, started.elapsed())?;
    }
}

/// A continued conversation's messages so far: the user's on stderr after a prompt, the
/// answers as answers are shown.
fn show_earlier(session: &Session, output: Output) -> Result<(), Failure> {
    for message in session.earlier() {
        let text = message.text().unwrap_or_default().trim_end();
        match message.role {
            Role::User => eprintln!("> {}", text.replace('\n', "\n  ")),
            Role::Assistant => {
                let mut out = Text::new(output);
                out.push(text)?;
                out.finish()?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// A turn's end in a conversation: recorded; the answer kept, or the question taken back
/// after an API error (said on stderr) so that the conversation goes on.
fn settle_turn(
    conversation: &mut ChatRequest,
    session: &Session,
    outcome: Result<Answer, Failure>,
    took: Duration,
) -> Result<(), Failure> {
    session.record(conversation, outcome.as_ref().map_err(failure_text), took);
    match outcome {
        Ok(answer) => {
            if let Some(choice) = answer.completion.choices.into_iter().next() {
                conversation.messages.push(choice.message);
            }
            Ok(())
        }
        Err(Failure::Api(error)) => {
            eprintln!("gptproto: {error:#}");
            conversation.messages.pop();
            Ok(())
        }
        Err(other) => Err(other),
    }
}
