//! `gptproto chat` at a terminal, the REPL's front end of a conversation
//! (`conversation::converse`): line editing and a remembered input history (rustyline),
//! multi-line input, slash commands, Ctrl-C to cancel an answer in flight, Ctrl-D to leave.

use std::path::PathBuf;

use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

use crate::conversation::{FrontEnd, Read};
use crate::exit::Failure;

/// The terminal's front end: rustyline, its input history remembered beside the history.
pub(crate) struct Editor {
    editor: DefaultEditor,
    remembered: Option<PathBuf>,
}

impl Editor {
    /// The editor, with what was typed before when it is remembered (`remembered`).
    pub(crate) fn new(remembered: Option<PathBuf>) -> Result<Self, Failure> {
        let mut editor = DefaultEditor::new()
            .map_err(|error| Failure::Usage(format!("cannot use the terminal: {error}")))?;
        if let Some(path) = &remembered {
            let _ = editor.load_history(path);
        }
        Ok(Self { editor, remembered })
    }
}

impl FrontEnd for Editor {
    fn greeting(&self, model: &str) -> String {
        format!("gptproto chat with {model} — /help for commands, Ctrl-D to leave.")
    }

    fn next(&mut self) -> Result<Read, Failure> {
        loop {
            let Some(line) = read_message(&mut self.editor)? else {
                return Ok(Read::Leave);
            };
            if let Some(path) = &self.remembered {
                let _ = self.editor.append_history(path);
            }
            let trimmed = line.trim();
            if trimmed.is_empty() {
                continue;
            }
            return Ok(match trimmed.strip_prefix('/') {
                Some(command) => Read::Command(command.to_owned()),
                None => Read::Message(line),
            });
        }
    }

    fn cancels_with_ctrl_c(&self) -> bool {
        true
    }
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
