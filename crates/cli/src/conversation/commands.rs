//! The slash commands a conversation takes at the terminal.

use std::io::Write;

use gptproto::{ChatRequest, Message, Role};

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

/// A slash command; `true` to leave.
pub(crate) fn command(
    command: &str,
    conversation: &mut ChatRequest,
    session: &mut Session,
) -> bool {
    let (name, argument) = command
        .split_once(char::is_whitespace)
        .map_or((command, ""), |(name, rest)| (name, rest.trim()));
    match name {
        "exit" | "quit" => return true,
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
    false
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
