//! `gptproto chat` at a terminal: line editing and a remembered input history (rustyline),
//! multi-line input, slash commands, Ctrl-C to cancel an answer in flight, Ctrl-D to leave.

use std::io::Write;

use gptproto::{ChatRequest, Client, Message, Role};
use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

use crate::args::ChatArgs;
use crate::chat::{ask, model, settle_turn, show_earlier};
use crate::exit::Failure;
use crate::input;
use crate::session::Session;

const HELP: &str = "\
/model [NAME]   the model (say which, or switch)
/system [TEXT]  the system message (say it, or set it; empty clears it)
/clear          a new conversation (the system message stays)
/save FILE      the conversation to FILE (.json: the messages; else a markdown transcript)
/help           this
/exit, Ctrl-D   leave
\"\"\"             on a line of its own: start (and end) a message of several lines;
                a line ending in \\ also goes on.
Ctrl-C cancels an answer on its way, or the line being typed.";

pub(crate) async fn run(
    client: &Client,
    mut conversation: ChatRequest,
    args: &ChatArgs,
    mut session: Session,
) -> Result<(), Failure> {
    let mut editor = DefaultEditor::new()
        .map_err(|error| Failure::Usage(format!("cannot use the terminal: {error}")))?;
    let remembered = session.input_history();
    if let Some(path) = &remembered {
        let _ = editor.load_history(path);
    }
    eprintln!(
        "gptproto chat with {} — /help for commands, Ctrl-D to leave.",
        model(args)
    );
    show_earlier(&session, args)?;
    let mut first = session.earlier().is_empty();
    loop {
        let Some(line) = read_message(&mut editor)? else {
            break;
        };
        if let Some(path) = &remembered {
            let _ = editor.append_history(path);
        }
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(command) = trimmed.strip_prefix('/') {
            if command_line(command, &mut conversation, &mut session)? {
                break;
            }
            continue;
        }
        let content = if first {
            input::user_content(&line, &args.image)?
        } else {
            gptproto::Content::Text(line.clone())
        };
        first = false;
        conversation = conversation.message(Message::user(content));
        let started = std::time::Instant::now();
        let outcome = tokio::select! {
            outcome = ask(client, conversation.clone(), args) => outcome,
            _ = tokio::signal::ctrl_c() => {
                eprintln!("\n(cancelled)");
                conversation.messages.pop();
                continue;
            }
        };
        settle_turn(&mut conversation, &session, outcome, started.elapsed())?;
    }
    Ok(())
}

/// The next message typed (several lines between `"""` lines, or lines ending in `\`);
/// `None` to leave (Ctrl-D).
fn read_message(editor: &mut DefaultEditor) -> Result<Option<String>, Failure> {
    let mut message = String::new();
    let mut block = false;
    loop {
        let prompt = if block || !message.is_empty() {
            "… "
        } else {
            "> "
        };
        match editor.readline(prompt) {
            Ok(line) => {
                if !block && message.is_empty() && line.trim() == "\"\"\"" {
                    block = true;
                    continue;
                }
                if block {
                    if line.trim() == "\"\"\"" {
                        let _ = editor.add_history_entry(message.as_str());
                        return Ok(Some(message));
                    }
                    if !message.is_empty() {
                        message.push('\n');
                    }
                    message.push_str(&line);
                    continue;
                }
                if let Some(head) = line.strip_suffix('\\') {
                    message.push_str(head);
                    message.push('\n');
                    continue;
                }
                message.push_str(&line);
                let _ = editor.add_history_entry(message.as_str());
                return Ok(Some(message));
            }
            // Ctrl-C while typing: the line is dropped.
            Err(ReadlineError::Interrupted) => {
                message.clear();
                block = false;
            }
            Err(ReadlineError::Eof) => return Ok(None),
            Err(error) => {
                return Err(Failure::Usage(format!("cannot read the terminal: {error}")));
            }
        }
    }
}

/// A slash command; `true` to leave.
fn command_line(
    command: &str,
    conversation: &mut ChatRequest,
    session: &mut Session,
) -> Result<bool, Failure> {
    let (name, argument) = command
        .split_once(char::is_whitespace)
        .map_or((command, ""), |(name, rest)| (name, rest.trim()));
    match name {
        "exit" | "quit" => return Ok(true),
        "help" => eprintln!("{HELP}"),
        "model" if argument.is_empty() => eprintln!("model: {}", conversation.model),
        "model" => {
            conversation.model = argument.to_owned();
            eprintln!("model: {argument}");
        }
        "system" if argument.is_empty() => match system(conversation) {
            Some(text) => eprintln!("system: {text}"),
            None => eprintln!("no system message"),
        },
        "system" => {
            conversation
                .messages
                .retain(|message| !matches!(message.role, Role::System | Role::Developer));
            conversation.messages.insert(0, Message::system(argument));
            eprintln!("system message set");
        }
        "clear" => {
            conversation
                .messages
                .retain(|message| matches!(message.role, Role::System | Role::Developer));
            session.restart();
            eprintln!("a new conversation");
        }
        "save" if argument.is_empty() => eprintln!("/save FILE"),
        "save" => match save(conversation, argument) {
            Ok(()) => eprintln!("saved to {argument}"),
            Err(error) => eprintln!("gptproto: cannot save to {argument}: {error}"),
        },
        other => eprintln!("no command /{other} (/help lists them)"),
    }
    Ok(false)
}

fn system(conversation: &ChatRequest) -> Option<String> {
    conversation
        .messages
        .iter()
        .find(|message| matches!(message.role, Role::System | Role::Developer))
        .and_then(|message| message.text().map(str::to_owned))
}

/// The conversation as JSON messages (a `.json` file) or as a markdown transcript.
fn save(conversation: &ChatRequest, path: &str) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    if path.ends_with(".json") {
        serde_json::to_writer_pretty(&mut file, &conversation.messages)
            .map_err(std::io::Error::other)?;
        return writeln!(file);
    }
    writeln!(file, "# Conversation with {}\n", conversation.model)?;
    for message in &conversation.messages {
        let text = message.text().unwrap_or_default();
        match message.role {
            Role::System | Role::Developer => writeln!(file, "**System:** {text}\n")?,
            Role::User => writeln!(file, "**You:** {text}\n")?,
            _ => writeln!(file, "{text}\n")?,
        }
    }
    Ok(())
}
